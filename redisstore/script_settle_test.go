package redisstore

import (
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
	"github.com/redis/go-redis/v9"
)

func testSettleScript(t *testing.T, h *luaBed) {
	ok := settleArgs{FromInc: "abc", FromGen: "4", Permit: 5, Outcome: storage.OutcomeSuccess, SuccessThreshold: 2, RanMs: -1}
	refusesArguments(t, h, ok, map[string]any{"from_gen": "4.0", "permit": "", "outcome": 3, "success_threshold": cMax,
		"ran_ms": "x", "lease_ms": -1})
	refusesLate(t, h, ok, func() { h.halfOpen("abc", 4, 5, 60000) })
	leases := h.key + ":t"
	// The generation check, the lease's.
	for _, c := range []struct {
		st     int64
		i, g   string
		permit uint64
		takes  bool
	}{{2, "abc", "4", 5, true}, {2, "abc", "3", 5, false}, {2, "abd", "4", 5, false}, {2, "abc", "4", 6, false},
		{1, "abc", "4", 5, false}, {0, "abc", "4", 5, false}} {
		h.halfOpen("abc", 4, 5, 60000)
		h.c.HSet(bg, h.key, "st", c.st)
		before := h.state()
		a := ok
		a.FromInc, a.FromGen, a.Permit = c.i, c.g, c.permit
		r := h.run(a)
		taken := h.c.ZScore(bg, leases, "5").Err() == redis.Nil
		if taken != c.takes || c.takes != (h.field("s") == 1) || !c.takes && !sameMap(before, h.state()) {
			t.Errorf("permit %d of %s/%s, state %d: %+v", c.permit, c.i, c.g, c.st, r)
		}
	}
	// Successes up to SuccessThreshold close it, from now.
	h.halfOpen("abc", 4, 5, 60000, 6, 60000, 7, 60000)
	n := h.changes()
	if r := h.run(ok); r.changed || r.successes != 1 || r.trials != 2 || r.state != infuse.HalfOpen || h.changes() != n {
		t.Errorf("a first success: %+v", r)
	}
	ok.Permit = 6
	before := h.now()
	r := h.run(ok)
	if !r.changed || r.state != infuse.Closed || r.gen != 5 || r.successes != 0 || r.trials != 0 || h.changes() != n+1 ||
		h.c.Exists(bg, leases).Val() != 0 || r.maker != h.ctx.Binding || r.from != infuse.HalfOpen {
		t.Errorf("a second success: %+v", r)
	}
	within(t, "closed", r.openedAt, before, h.now())
	// A failure opens it again: from the grant plus how long the trial
	// ran, never later than now; from now when that is not known.
	now := h.now()
	for _, c := range []struct {
		expiry, lease, ran int64 // expiry from now
		lo, hi             int64 // opened, from now
	}{
		{20000, 30000, 1000, -9000, -8000},
		{20000, 30000, -1, 0, 1000},
		{20000, 30000, 50000, 0, 1000},
		{20000, now + 1000000, 0, -now, -now},
	} {
		h.halfOpen("abc", 4, 5, c.expiry)
		before := h.now()
		r := h.run(settleArgs{FromInc: "abc", FromGen: "4", Permit: 5, Outcome: storage.OutcomeFailure, SuccessThreshold: 2,
			RanMs: c.ran, LeaseMs: c.lease})
		if !r.changed || r.state != infuse.Open || r.failures != 1 || r.gen != 5 || r.trips != 2 {
			t.Errorf("a failure: %+v", r)
		}
		within(t, "opened again", r.openedAt, before+c.lo-1000, h.now()+c.hi)
		if c.lo == c.hi && r.openedAt != 0 {
			t.Errorf("opened before 0: %d", r.openedAt)
		}
	}
	// A lease whose expiry is garbage: from now.
	h.halfOpen("abc", 4)
	h.c.ZAdd(bg, leases, redis.Z{Score: -5, Member: 5})
	before = h.now()
	r = h.run(settleArgs{FromInc: "abc", FromGen: "4", Permit: 5, Outcome: storage.OutcomeFailure, RanMs: 0, LeaseMs: 1})
	within(t, "opened", r.openedAt, before, h.now())
	// A lease granted at 0 (expiring at 0): from 0.
	h.halfOpen("abc", 4)
	h.c.ZAdd(bg, leases, redis.Z{Score: 0, Member: 5})
	if r := h.run(settleArgs{FromInc: "abc", FromGen: "4", Permit: 5, Outcome: storage.OutcomeFailure, RanMs: 0, LeaseMs: 1}); r.openedAt != 0 {
		t.Errorf("a lease expiring at 0: opened at %d", r.openedAt)
	}
	// Leases of another type: replaced, and nothing settled.
	h.halfOpen("abc", 4)
	h.c.Set(bg, leases, "x", 0)
	if r := h.run(ok); r.changed || r.successes != 0 || h.c.Type(bg, leases).Val() == "string" {
		t.Errorf("leases in a string: %+v", r)
	}
}
