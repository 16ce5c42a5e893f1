package redisstore

import (
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/redis/go-redis/v9"
)

func testAcquireScript(t *testing.T, h *luaBed) {
	acq := acquireArgs{OpenMs: 10000, MaxCalls: 1, LeaseMs: 30000, Expiry: infuse.ExpiryFrees, Permit: 77}
	refusesArguments(t, h, acq, map[string]any{"open_ms": -1, "max_calls": "x", "lease_ms": tMax, "expiry": 3, "permit": "a"})
	refusesLate(t, h, acq, func() { h.open("abc", 4, 60000) })
	leases := h.key + ":t"
	// Open: a lease once the open period has passed, moving to
	// half-open; none before, none while forced open.
	for _, c := range []struct {
		ago, openMs int64
		md          int64
		grants      bool
	}{{60000, 10000, 0, true}, {5000, 10000, 0, false}, {60000, 10000, 1, false}, {60000, 10000, 2, true},
		{-60000, 0, 0, false}} {
		h.open("abc", 4, c.ago)
		h.c.HSet(bg, h.key, "md", c.md)
		before := h.state()
		n := h.changes()
		a := acq
		a.OpenMs = c.openMs
		now := h.now()
		r := h.run(a)
		if c.grants != (r.extra == 77) || c.grants != r.changed || c.grants && (r.state != infuse.HalfOpen || r.gen != 5 ||
			r.trials != 1 || r.from != infuse.Open || h.changes() != n+1) || !c.grants && (!sameMap(before, h.state()) || h.changes() != n) {
			t.Errorf("open %d ms ago for %d, mode %d: %+v", c.ago, c.openMs, c.md, r)
		}
		if c.grants {
			exp := int64(h.c.ZScore(bg, leases, "77").Val())
			within(t, "lease's expiry", exp, now+30000, h.now()+30000)
		}
	}
	// The open period ends at its very ms.
	h.atNow(func(T int64) reply {
		h.put("st", 1, "g", 4, "oa", T-10000, "i", "abc")
		r := h.run(acq)
		if r.extra != 77 {
			t.Errorf("open since %d for 10000 ms, at %d: %+v", T-10000, r.now, r)
		}
		return r
	})
	// Half-open: leases while fewer than max_calls are held, numbered as
	// asked (or by the state when asked for none); the same asked again
	// (a client's retry) is granted again, not twice.
	h.halfOpen("abc", 4, 5, 60000)
	h.c.HSet(bg, h.key, "ps", 7)
	for _, c := range []struct {
		max    int
		permit uint64
		id     uint64
		trials int
	}{{1, 6, 0, 1}, {2, 6, 6, 2}, {2, 6, 6, 2}, {2, 8, 0, 2}, {3, 0, 9, 3}, {4, 5, 5, 3}} {
		r := h.run(acquireArgs{OpenMs: 10000, MaxCalls: c.max, LeaseMs: 30000, Expiry: infuse.ExpiryFrees, Permit: c.permit})
		if r.extra != c.id || r.trials != c.trials || r.changed || r.state != infuse.HalfOpen {
			t.Errorf("max %d, permit %d: %+v", c.max, c.permit, r)
		}
	}
	if ps := h.field("ps"); ps != 9 {
		t.Errorf("permits counted %d, want 9", ps)
	}
	// Expired leases: the breaker opens again, closes, or nothing more
	// as the breaker's TrialExpiry says.
	for _, c := range []struct {
		expiry infuse.TrialExpiry
		st     infuse.State
		id     uint64
	}{{infuse.ExpiryOpens, infuse.Open, 0}, {infuse.ExpiryCloses, infuse.Closed, 0}, {infuse.ExpiryFrees, infuse.HalfOpen, 77}} {
		h.halfOpen("abc", 4, 5, -1000)
		n := h.changes()
		a := acq
		a.Expiry = c.expiry
		r := h.run(a)
		if r.state != c.st || r.extra != c.id || h.c.ZScore(bg, leases, "5").Err() != redis.Nil {
			t.Errorf("expiry %v: %+v", c.expiry, r)
		}
		if c.st != infuse.HalfOpen && (!r.changed || r.gen != 5 || h.changes() != n+1 || c.st == infuse.Open && r.failures != 1) {
			t.Errorf("expiry %v: %+v", c.expiry, r)
		}
	}
	// Leases, none expired: nothing happens whatever TrialExpiry says.
	h.halfOpen("abc", 4, 5, 60000)
	if r := h.run(acquireArgs{OpenMs: 10000, MaxCalls: 2, LeaseMs: 30000, Expiry: infuse.ExpiryOpens, Permit: 77}); r.changed ||
		r.state != infuse.HalfOpen || r.extra != 77 || r.trials != 2 {
		t.Errorf("no lease expired, ExpiryOpens: %+v", r)
	}
	// The smallest and the largest permit numbers are the caller's.
	for _, id := range []uint64{1, 1<<53 - 1} {
		h.halfOpen("abc", 4)
		h.c.HSet(bg, h.key, "ps", 7)
		if r := h.run(acquireArgs{OpenMs: 10000, MaxCalls: 1, LeaseMs: 30000, Expiry: infuse.ExpiryFrees, Permit: id}); r.extra != id {
			t.Errorf("permit %d: granted %d", id, r.extra)
		}
	}
	// A lease no member could hold (past the TTL) is dropped.
	h.halfOpen("abc", 4, 5, 2*time.Hour.Milliseconds())
	if r := h.run(acq); r.extra != 77 || h.c.ZScore(bg, leases, "5").Err() != redis.Nil {
		t.Errorf("a lease past the TTL: %+v", r)
	}
	// Closed: none.
	h.closed("abc", 4, 0)
	if r := h.run(acq); r.extra != 0 || r.changed || h.c.Exists(bg, leases).Val() != 0 {
		t.Errorf("closed: %+v", r)
	}
	// Leases of another type are replaced.
	h.halfOpen("abc", 4)
	h.c.Set(bg, leases, "x", 0)
	if r := h.run(acq); r.extra != 77 || r.trials != 1 {
		t.Errorf("leases in a string: %+v", r)
	}
	// Over garbage: restored from the seed, said, and a lease if it can.
	h.put("st", 1, "g", "x")
	h.ctx.SeedState, h.ctx.SeedElapsed, h.ctx.SeedGen, h.ctx.SeedInc = infuse.Open, 60000, 4, "abc"
	n := h.changes()
	if r := h.run(acq); !r.corrupt || r.extra != 77 || r.state != infuse.HalfOpen || r.gen != 6 || h.changes() != n+1 {
		t.Errorf("over garbage: %+v", r)
	}
	h.put("st", 1, "g", "x")
	h.ctx.SeedElapsed = 0
	n = h.changes()
	if r := h.run(acq); !r.corrupt || r.extra != 0 || r.state != infuse.Open || r.changed || h.changes() != n+1 {
		t.Errorf("over garbage, open: %+v", r)
	}
}
