package redisstore

import (
	"strconv"
	"strings"
	"testing"

	"github.com/infuse-go/infuse"
)

func testReportScript(t *testing.T, h *luaBed) {
	refusesArguments(t, h, reportArgs{FromInc: "abc", FromGen: "4", Before: 1, FailMax: 3, Binding: "me.1", Batch: 1},
		map[string]any{"from_gen": "x", "before": -1, "saw": 2, "after": "x", "fail_max": cMax, "force": "", "resets": -1,
			"binding": "B", "batch": "-1", "again": 3})
	rep := func(before, after int, saw bool, failMax int) reportArgs {
		return reportArgs{FromInc: "abc", FromGen: "4", Before: before, Saw: saw, After: after, FailMax: failMax, Binding: "me.1"}
	}
	refusesLate(t, h, rep(3, 0, false, 3), func() { h.closed("abc", 4, 0) })
	for _, c := range []struct {
		what       string
		f, md      int64
		a          reportArgs
		trip       bool
		f2, resets int64
	}{
		{"failures below FailMax", 1, 0, rep(1, 0, false, 3), false, 2, 0},
		{"failures to FailMax", 1, 0, rep(2, 0, false, 3), true, 3, 0},
		{"failures past FailMax", 2, 0, rep(5, 0, false, 3), true, 3, 0},
		{"a success resets", 2, 0, rep(0, 1, true, 3), false, 1, 1},
		{"a success after failures", 0, 0, rep(1, 0, true, 3), false, 0, 1},
		{"a success after none", 0, 0, rep(0, 2, true, 3), false, 2, 0},
		{"failures after a success trip", 1, 0, rep(0, 3, true, 3), true, 3, 1},
		{"failures after a success below", 1, 0, rep(0, 2, true, 3), false, 2, 1},
		{"disabled: no trip", 2, 2, rep(5, 0, false, 3), false, 7, 0},
		{"disabled: a success resets", 2, 2, rep(1, 1, true, 3), false, 1, 1},
		{"disabled: a success after none", 0, 2, rep(0, 1, true, 3), false, 1, 0},
		{"disabled: a success after one", 0, 2, rep(1, 0, true, 3), false, 0, 1},
		{"disabled: clamped", cMax - 2, 2, rep(5, 0, false, 3), false, cMax - 1, 0},
	} {
		h.closed("abc", 4, c.f)
		h.c.HSet(bg, h.key, "md", c.md)
		n := h.changes()
		r := h.run(c.a)
		if r.changed != c.trip || int64(r.failures) != c.f2 || int64(r.resets) != c.resets || h.field("f") != c.f2 {
			t.Errorf("%s: %+v, stored %v", c.what, r, h.state())
		}
		if c.trip && (r.state != infuse.Open || r.gen != 5 || r.maker != "me.1" || h.changes() != n+1) ||
			!c.trip && (r.state != infuse.Closed || r.gen != 4 || h.changes() != n) {
			t.Errorf("%s: %+v, %d changes", c.what, r, h.changes()-n)
		}
		if r.trials != 0 {
			t.Errorf("%s: trials %d", c.what, r.trials)
		}
	}
	// The caller's own view reached FailMax: it trips whatever the run,
	// unless a success reset the run since it looked; never disabled.
	for _, c := range []struct {
		rs, resets, md int64
		trip           bool
	}{{2, 2, 0, true}, {3, 2, 0, false}, {2, 2, 2, false}} {
		h.closed("abc", 4, 0)
		h.c.HSet(bg, h.key, "rs", c.rs, "md", c.md)
		a := rep(1, 0, false, 3)
		a.Force, a.Resets = true, uint64(c.resets)
		if r := h.run(a); r.changed != c.trip || r.failures != 3 && c.trip {
			t.Errorf("forced with resets %d (Redis %d), mode %d: %+v", c.resets, c.rs, c.md, r)
		}
	}
	// Of another generation, or not closed: nothing.
	for _, c := range []struct {
		st      int64
		i, g    string
		changes bool
	}{{0, "abc", "5", false}, {0, "abd", "4", false}, {1, "abc", "4", false}, {2, "abc", "4", false}} {
		h.put("st", c.st, "g", c.g, "i", c.i, "f", 1, "oa", h.now())
		before := h.state()
		if r := h.run(rep(5, 0, false, 3)); r.changed || !sameMap(h.state(), before) {
			t.Errorf("a report of abc/4 on %d %s/%s: %+v", c.st, c.i, c.g, r)
		}
	}

	// Batches are merged once: the last eight numbers of each binding
	// are kept, for IdleTTL, with a batch older than all eight.
	dk := h.key + ":d"
	h.closed("abc", 4, 0)
	h.c.Del(bg, dk)
	batch := func(id uint64, binding string) reply {
		a := rep(1, 0, false, 100)
		a.Batch, a.Binding = id, binding
		return h.run(a)
	}
	for id := uint64(1); id <= 3; id++ {
		batch(id, "me.1")
	}
	if r := batch(2, "me.1"); r.failures != 3 {
		t.Errorf("batch 2 again: merged, %d failures", r.failures)
	}
	if r := batch(2, "me.2"); r.failures != 4 {
		t.Errorf("another binding's batch 2: not merged, %d failures", r.failures)
	}
	if got := h.c.HGet(bg, dk, "me.1").Val(); got != "3,2,1" {
		t.Errorf("batches kept: %q", got)
	}
	if ttl := h.c.PTTL(bg, dk).Val(); ttl <= 0 || ttl.Milliseconds() > h.ctx.IdleTTL {
		t.Errorf("batches' TTL %v", ttl)
	}
	for id := uint64(4); id <= 10; id++ {
		batch(id, "me.1")
	}
	if got := h.c.HGet(bg, dk, "me.1").Val(); got != "10,9,8,7,6,5,4,3" {
		t.Errorf("batches kept: %q", got)
	}
	// merged tells whether batch id of binding is merged, with what that
	// binding's batches were before (kept, unless "").
	merged := func(id uint64, binding, kept string) bool {
		if kept != "" {
			h.c.HSet(bg, dk, binding, kept)
		}
		f := h.field("f")
		return int64(batch(id, binding).failures) == f+1
	}
	for _, c := range []struct {
		id            uint64
		binding, kept string
		merged        bool
	}{
		{2, "me.1", "", false}, // older than the last eight
		{3, "me.1", "", false}, // the oldest of them
		{11, "me.1", "", true},
		{2, "me.3", "9,8,7,6,5,4,3", true},      // older than seven kept
		{1, "me.4", "x,y,z,a,b,c,d,e", true},    // older than garbage
		{1, "me.4", "9,x,8,7,6,5,4,3,2", false}, // older than eight, among garbage
		{3, "me.4", "10,9,8,7,6,5,4,2", true},   // within the last eight, not among them
		{3, "me.4", "10,9,8,7,6,5,4,3.0", true}, // as old as the oldest, not it
		{0, "me.5", "", true},                   // 0 is no batch: merged every time
		{0, "me.5", "", true},
	} {
		if got := merged(c.id, c.binding, c.kept); got != c.merged {
			t.Errorf("batch %d of %s after %q: merged %v", c.id, c.binding, c.kept, got)
		}
	}
	if h.c.HExists(bg, dk, "me.5").Val() {
		t.Errorf("batch 0 kept")
	}
	// Bindings come and go: past 256, all are forgotten but the last.
	fields := []any{}
	for i := range 255 {
		fields = append(fields, "b."+strconv.Itoa(i), "1")
	}
	h.c.Del(bg, dk)
	h.c.HSet(bg, dk, fields...)
	batch(1, "me.6")
	if n := h.c.HLen(bg, dk).Val(); n != 256 {
		t.Errorf("256 bindings: %d kept", n)
	}
	batch(2, "me.6")
	if n := h.c.HLen(bg, dk).Val(); n != 256 {
		t.Errorf("256 bindings, one again: %d kept", n)
	}
	batch(1, "me.7")
	if n := h.c.HLen(bg, dk).Val(); n != 1 || h.c.HGet(bg, dk, "me.7").Val() != "1" {
		t.Errorf("257 bindings: %d kept", n)
	}
	// A hash of another type is replaced.
	h.c.Del(bg, dk)
	h.c.Set(bg, dk, "x", 0)
	batch(1, "me.8")
	if h.c.HGet(bg, dk, "me.8").Val() != "1" {
		t.Errorf("batches in a string")
	}
	// A report that trips records its maker, from closed.
	h.closed("abc", 4, 2)
	if r := h.run(rep(1, 0, false, 3)); r.maker != "me.1" || r.from != infuse.Closed || !strings.HasPrefix(h.state()["mk"], "5:me.1:0:") {
		t.Errorf("the maker of a trip: %+v", r)
	}
	// From Redis's garbage, replaced from the seed: a report of the
	// seed's generation counts; announced.
	h.put("st", 5)
	h.ctx.SeedInc, h.ctx.SeedGen = "abc", 4
	n := h.changes()
	if r := h.run(rep(1, 0, false, 3)); !r.corrupt || r.failures != 1 || r.gen != 5 || h.changes() != n+1 {
		t.Errorf("a report over garbage: %+v", r)
	}
}
