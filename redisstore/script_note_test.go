package redisstore

import (
	"testing"
)

func testNoteScript(t *testing.T, h *luaBed) {
	ok := noteArgs{FromInc: "abc", FromGen: "4", Op: 30000}
	refusesArguments(t, h, ok, map[string]any{"op": -1, "from_gen": "four"})
	for _, c := range []struct {
		what  string
		from  func()
		i, g  string
		noted bool
	}{
		{"open", func() { h.open("abc", 4, 0) }, "abc", "4", true},
		{"open, another generation", func() { h.open("abc", 4, 0) }, "abc", "3", false},
		{"open, another incarnation", func() { h.open("abc", 4, 0) }, "abd", "4", false},
		{"closed after a recovery", func() { h.closed("abc", 4, 0); h.c.HSet(bg, h.key, "oa", 5) }, "abc", "4", true},
		{"closed at 1", func() { h.closed("abc", 4, 0); h.c.HSet(bg, h.key, "oa", 1) }, "abc", "4", true},
		{"closed", func() { h.closed("abc", 4, 0) }, "abc", "4", false},
		{"disabled after a recovery", func() { h.closed("abc", 4, 0); h.c.HSet(bg, h.key, "oa", 5, "md", 2) }, "abc", "4", false},
		{"half-open", func() { h.halfOpen("abc", 4) }, "abc", "4", false},
	} {
		c.from()
		h.c.HSet(bg, h.key, "op", 7)
		before := h.state()
		n := h.changes()
		r := h.run(noteArgs{FromInc: c.i, FromGen: c.g, Op: 30000})
		if got := h.field("op"); c.noted != (got == 30000) || r.changed || h.changes() != n ||
			!c.noted && !sameMap(before, h.state()) {
			t.Errorf("%s: op %d, %+v", c.what, got, r)
		}
		if c.noted && h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Err() != nil {
			t.Errorf("%s: no summary", c.what)
		}
	}
	// The largest note.
	h.open("abc", 4, 0)
	if r := h.run(noteArgs{FromInc: "abc", FromGen: "4", Op: tMax - 1}); h.field("op") != tMax-1 || r.corrupt {
		t.Errorf("the largest note: %+v", r)
	}
	// It restores nothing.
	h.put()
	if r := h.run(ok); !r.absent || r.corrupt || len(h.state()) != 0 {
		t.Errorf("no state: %+v", r)
	}
	h.put("st", 1, "g", 4, "i", "abc", "f", "x")
	if r := h.run(ok); !r.absent || !r.corrupt || h.state()["op"] != "" {
		t.Errorf("garbage: %+v", r)
	}
	// Its trials.
	h.halfOpen("abc", 4, 5, 60000)
	if r := h.run(ok); r.trials != 1 {
		t.Errorf("trials %d", r.trials)
	}
}
