package redisstore

import (
	"testing"

	"github.com/infuse-go/infuse"
)

func testRaiseScript(t *testing.T, h *luaBed) {
	ok := raiseArgs{FromInc: "abc", FromGen: "4", ToGen: 9}
	refusesArguments(t, h, ok, map[string]any{"to_gen": gMax, "restore": 3, "from_inc": "ABC"})
	// From the generation Redis holds, to one above: lifted under a new
	// incarnation, its leases void, announced.
	for _, c := range []struct {
		i, g  string
		to    uint64
		lifts bool
	}{{"abc", "4", 9, true}, {"abc", "4", 5, true}, {"abc", "4", 4, false}, {"abc", "4", 3, false}, {"abc", "3", 9, false},
		{"abd", "4", 9, false}, {"abc", "4", 0, false}} {
		h.halfOpen("abc", 4, 5, 60000)
		h.c.HSet(bg, h.key, "mk", "4:me.2:1:7", "rs", 3)
		before := h.state()
		n := h.changes()
		r := h.run(raiseArgs{FromInc: c.i, FromGen: c.g, ToGen: c.to})
		if r.changed != c.lifts || c.lifts && (r.gen != c.to || r.inc != h.ctx.Nonce || r.maker != "" || r.trials != 0 ||
			r.state != infuse.HalfOpen || r.resets != 3 || h.changes() != n+1 || h.c.Exists(bg, h.key+":t").Val() != 0) ||
			!c.lifts && (!sameMap(before, h.state()) || r.trials != 1 || h.changes() != n) {
			t.Errorf("%s/%s to %d: %+v", c.i, c.g, c.to, r)
		}
	}
	// restore 1: an idle state there gives way to the seed (open, here),
	// keeping its resets; not a state that is not idle.
	h.ctx.SeedState, h.ctx.SeedElapsed, h.ctx.SeedFailures, h.ctx.SeedTrips = infuse.Open, 5000, 3, 2
	for _, c := range []struct {
		from    func()
		restore int
		st      infuse.State
	}{
		{func() { h.closed("abc", 4, 1) }, 1, infuse.Open},
		{func() { h.closed("abc", 4, 1) }, 0, infuse.Closed},
		{func() { h.closed("abc", 4, 1) }, 2, infuse.Closed},
		{func() { h.closed("abc", 4, 1); h.c.HSet(bg, h.key, "md", 2) }, 1, infuse.Closed},
		{func() { h.halfOpen("abc", 4) }, 1, infuse.HalfOpen},
	} {
		c.from()
		h.c.HSet(bg, h.key, "rs", 6)
		before := h.now()
		r := h.run(raiseArgs{FromInc: "abc", FromGen: "4", ToGen: 9, Restore: c.restore})
		if r.state != c.st || r.gen != 9 || r.resets != 6 || !r.changed {
			t.Errorf("restore %d: %+v", c.restore, r)
		}
		if c.st == infuse.Open && c.restore == 1 {
			within(t, "opened", r.openedAt, before-5000, h.now()-5000)
			if r.failures != 3 || r.trips != 2 {
				t.Errorf("restore 1: %+v", r)
			}
		}
	}
	// restore 2: an idle state that records no close takes the seed's
	// (restore 1: the seed, which records it).
	h.ctx.SeedState, h.ctx.SeedElapsed = infuse.Closed, 5000
	for _, c := range []struct {
		oa      int64
		md      int64
		restore int
		taken   bool
	}{{0, 0, 2, true}, {77, 0, 2, false}, {0, 0, 0, false}, {0, 0, 1, true}, {0, 2, 2, false}} {
		h.closed("abc", 4, 0)
		h.c.HSet(bg, h.key, "oa", c.oa, "md", c.md)
		before := h.now()
		r := h.run(raiseArgs{FromInc: "abc", FromGen: "4", ToGen: 9, Restore: c.restore})
		if c.taken {
			within(t, "closed", r.openedAt, before-5000, h.now()-5000)
		} else if r.openedAt != c.oa {
			t.Errorf("oa %d, mode %d, restore %d: opened at %d", c.oa, c.md, c.restore, r.openedAt)
		}
	}
	// It restores nothing.
	h.put()
	n := h.changes()
	if r := h.run(ok); !r.absent || r.corrupt || len(h.state()) != 0 || h.changes() != n {
		t.Errorf("no state: %+v", r)
	}
	h.put("st", 1, "g", 4, "i", "abc", "oa", "x")
	if r := h.run(ok); !r.absent || !r.corrupt || h.state()["oa"] != "x" {
		t.Errorf("garbage: %+v", r)
	}
}
