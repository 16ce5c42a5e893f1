package redisstore

import (
	"testing"

	"github.com/infuse-go/infuse"
)

func testTransitionScript(t *testing.T, h *luaBed) {
	refusesArguments(t, h, transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.Open},
		map[string]any{"from_inc": "A", "from_gen": "", "to": 3, "failures": -1, "manual": "yes", "shift_ms": "1.5",
			"cause": 64})
	// The last cause the scripts take: 63 (storage.Cause's are far below).
	h.closed("abc", 4, 0)
	if err := h.withArg(transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.Open}, "cause", 63); err != nil {
		t.Errorf("cause 63: %v", err)
	}
	refusesLate(t, h, transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.Open}, func() { h.closed("abc", 4, 0) })
	// The generation check: from another generation, or over a forced
	// mode unless manual, nothing; "0" moves from any.
	for _, c := range []struct {
		i, g   string
		md     int64
		manual bool
		moves  bool
	}{
		{"abc", "4", 0, false, true},
		{"abc", "3", 0, false, false},
		{"abc", "5", 0, false, false},
		{"abd", "4", 0, false, false},
		{"", "4", 0, false, false},
		{"abc", "4", 1, false, false},
		{"abc", "4", 2, false, false},
		{"abc", "4", 1, true, true},
		{"abc", "3", 1, true, false},
		{"zz", "0", 1, false, true},
		{"zz", "0", 0, false, true},
	} {
		h.closed("abc", 4, 2)
		h.c.HSet(bg, h.key, "md", c.md)
		before := h.state()
		n := h.changes()
		r := h.run(transitionArgs{FromInc: c.i, FromGen: c.g, To: infuse.Open, Failures: 3, Manual: c.manual})
		if c.moves != r.changed || c.moves && (r.gen != 5 || r.state != infuse.Open || r.mode != 0 || h.changes() != n+1) ||
			!c.moves && (!sameMap(h.state(), before) || h.changes() != n) {
			t.Errorf("from %s/%s over mode %d, manual %v: %+v", c.i, c.g, c.md, c.manual, r)
		}
	}
	// Each move: its fields.
	now := h.now()
	for _, c := range []struct {
		what       string
		from       func()
		a          transitionArgs
		st         infuse.State
		f, tr      int64
		oaLo, oaHi int64 // from now
	}{
		{"a trip", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Open, Failures: 3}, infuse.Open, 3, 2, 0, 1000},
		{"to half-open", func() { h.open("abc", 4, 5000) }, transitionArgs{To: infuse.HalfOpen, Failures: 3}, infuse.HalfOpen, 0, 1, -1, -1},
		{"a recovery", func() { h.halfOpen("abc", 4) }, transitionArgs{To: infuse.Closed}, infuse.Closed, 0, 0, 0, 1000},
		{"a close from closed", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Closed}, infuse.Closed, 0, 0, -1, -1},
		{"a hold", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Open, ShiftMs: 60000}, infuse.Open, 0, 2, 60000, 61000},
		{"a hold extending an open period", func() { h.open("abc", 4, 5000) }, transitionArgs{To: infuse.Open, ShiftMs: 60000},
			infuse.Open, 0, 1, 60000, 61000},
		{"an opening shifted back", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Open, ShiftMs: -5000},
			infuse.Open, 0, 2, -5000, -4000},
		{"an opening shifted before 0", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Open, ShiftMs: -now - 1000000},
			infuse.Open, 0, 2, -1, -1},
		{"a recovery made earlier", func() { h.halfOpen("abc", 4) }, transitionArgs{To: infuse.Closed, ShiftMs: -5000},
			infuse.Closed, 0, 0, -5000, -4000},
		{"a recovery before 0", func() { h.halfOpen("abc", 4) }, transitionArgs{To: infuse.Closed, ShiftMs: -now - 1000000},
			infuse.Closed, 0, 0, -2, -2},
		{"a recovery shifted ahead", func() { h.halfOpen("abc", 4) }, transitionArgs{To: infuse.Closed, ShiftMs: 5000},
			infuse.Closed, 0, 0, 0, 1000},
		{"a close from closed shifted", func() { h.closed("abc", 4, 2) }, transitionArgs{To: infuse.Closed, ShiftMs: -5000},
			infuse.Closed, 0, 0, -1, -1},
		{"to half-open shifted", func() { h.open("abc", 4, 5000) }, transitionArgs{To: infuse.HalfOpen, ShiftMs: 5000},
			infuse.HalfOpen, 0, 1, -1, -1},
	} {
		c.from()
		h.c.HSet(bg, h.key, "tr", 1, "s", 1, "op", 9)
		c.a.FromInc, c.a.FromGen = "abc", "4"
		before := h.now()
		r := h.run(c.a)
		after := h.now()
		if r.state != c.st || int64(r.failures) != c.f || int64(r.trips) != c.tr || r.successes != 0 || h.field("op") != 0 ||
			r.gen != 5 || !r.changed || r.maker != h.ctx.Binding {
			t.Errorf("%s: %+v", c.what, r)
		}
		if c.oaLo < 0 && c.oaLo == c.oaHi {
			if want := -1 - c.oaLo; r.openedAt != want {
				t.Errorf("%s: opened at %d, want %d", c.what, r.openedAt, want)
			}
		} else {
			within(t, c.what+": opened", r.openedAt, before+c.oaLo, after+c.oaHi)
		}
	}
	// The run of trips is bounded.
	h.closed("abc", 4, 2)
	h.c.HSet(bg, h.key, "tr", cMax-1)
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.Open}); r.trips != cMax-1 {
		t.Errorf("trips past the limit: %d", r.trips)
	}
	h.c.HSet(bg, h.key, "tr", cMax-2)
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "5", To: infuse.Open}); r.trips != cMax-1 {
		t.Errorf("trips to the limit: %d", r.trips)
	}
	// So is the generation.
	h.closed("abc", gMax-1, 2)
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "8796093022207", To: infuse.Open}); r.gen != gMax-1 {
		t.Errorf("the last generation: %d", r.gen)
	}
	// Leases go with the generation.
	h.halfOpen("abc", 4, 1, 60000)
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.HalfOpen}); r.trials != 0 || h.c.Exists(bg, h.key+":t").Val() != 0 {
		t.Errorf("leases kept: %+v", r)
	}
	// Over garbage, from the seed's generation: moves, and says so.
	h.put("st", "x")
	h.ctx.SeedInc, h.ctx.SeedGen = "abc", 4
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "4", To: infuse.Open}); !r.corrupt || !r.changed || r.gen != 6 {
		t.Errorf("over garbage: %+v", r)
	}
	h.put("st", "x")
	if r := h.run(transitionArgs{FromInc: "abc", FromGen: "3", To: infuse.Open}); !r.corrupt || r.changed || r.gen != 5 {
		t.Errorf("over garbage, another generation: %+v", r)
	}
}
