package redisstore

import (
	"testing"

	"github.com/infuse-go/infuse"
)

func testSetModeScript(t *testing.T, h *luaBed) {
	ok := setModeArgs{Mode: infuse.ModeForcedOpen, FromInc: "abc", FromGen: "4"}
	refusesArguments(t, h, ok, map[string]any{"mode": 3, "from_inc": "a b", "from_gen": -1})
	refusesLate(t, h, ok, func() { h.closed("abc", 4, 2) })
	for _, c := range []struct {
		i, g  string
		moves bool
	}{{"abc", "4", true}, {"abc", "3", false}, {"abd", "4", false}, {"x", "0", true}} {
		h.closed("abc", 4, 2)
		before := h.state()
		r := h.run(setModeArgs{Mode: infuse.ModeDisabled, FromInc: c.i, FromGen: c.g})
		if r.changed != c.moves || c.moves && (r.mode != infuse.ModeDisabled || r.gen != 5) || !c.moves && !sameMap(before, h.state()) {
			t.Errorf("from %s/%s: %+v", c.i, c.g, r)
		}
	}
	for _, c := range []struct {
		what string
		from func()
		md   infuse.Mode
		st   infuse.State
		f    int
		oa   bool // now
	}{
		{"forced open from closed", func() { h.closed("abc", 4, 2) }, infuse.ModeForcedOpen, infuse.Open, 2, true},
		{"disabled from open", func() { h.open("abc", 4, 5000) }, infuse.ModeDisabled, infuse.Closed, 0, true},
		{"disabled from closed", func() { h.closed("abc", 4, 2) }, infuse.ModeDisabled, infuse.Closed, 0, false},
		{"released from forced open", func() { h.open("abc", 4, 5000); h.c.HSet(bg, h.key, "md", 1) }, infuse.ModeNormal,
			infuse.Closed, 0, true},
		{"forced open from half-open", func() { h.halfOpen("abc", 4, 5, 60000) }, infuse.ModeForcedOpen, infuse.Open, 0, true},
	} {
		c.from()
		n := h.changes()
		before := h.now()
		r := h.run(setModeArgs{Mode: c.md, FromInc: "abc", FromGen: "4"})
		if r.mode != c.md || r.state != c.st || r.failures != c.f || r.gen != 5 || !r.changed || h.changes() != n+1 ||
			r.trials != 0 || h.c.Exists(bg, h.key+":t").Val() != 0 || h.field("md") != int64(c.md) {
			t.Errorf("%s: %+v", c.what, r)
		}
		if c.oa {
			within(t, c.what+": opened", r.openedAt, before, h.now())
		} else if r.openedAt != 0 {
			t.Errorf("%s: opened at %d", c.what, r.openedAt)
		}
	}
	// Over garbage: the seed's generation is the caller's.
	h.put("st", -1)
	h.ctx.SeedInc, h.ctx.SeedGen = "abc", 4
	if r := h.run(ok); !r.corrupt || !r.changed || r.gen != 6 || r.mode != infuse.ModeForcedOpen {
		t.Errorf("over garbage: %+v", r)
	}
}
