package redisstore

import (
	"testing"
	"time"
)

func testUnregisterScript(t *testing.T, h *luaBed) {
	refusesOwn(t, h, unregisterScript, h.l.bucket[h.k], h.head(), unregisterArgs{Member: "m1", KNames: []string{"a"}}, nil)
	regs, nmem := h.l.base[h.k]+"r:m1", h.l.bucket[h.k][4]
	hour := time.Hour.Milliseconds()
	for _, m := range []string{"m1", "m2"} {
		if _, err := h.bucket(registerArgs{Member: m, TTL: hour, KNames: []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	h.c.HSet(bg, nmem, "b", 1) // as if m2 had been reaped from b alone
	unregister := func(m string, knames ...string) {
		t.Helper()
		if v, err := h.bucket(unregisterArgs{Member: m, KNames: knames}); err != nil || v != int64(1) {
			t.Fatalf("unregister %s %v: %v %v", m, knames, v, err)
		}
	}
	// A name the member has: its count down, gone at 0; one it has not
	// (or no longer): nothing.
	unregister("m1", "a", "b", "c")
	unregister("m1", "a")
	unregister("m3", "a")
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 1 || got["a"] != "1" {
		t.Errorf("counts %v", got)
	}
	if n := h.c.Exists(bg, regs).Val(); n != 0 {
		t.Errorf("m1's set left")
	}
	// Below 0 (counts lost): gone too.
	h.c.HSet(bg, nmem, "a", 0)
	unregister("m2", "a")
	if h.c.HExists(bg, nmem, "a").Val() {
		t.Errorf("a count below 0 kept: %v", h.c.HGetAll(bg, nmem).Val())
	}
	// A count that is no number is dropped; a set of another type
	// replaced (and nothing counted down).
	h.c.SAdd(bg, regs, "d")
	h.c.HSet(bg, nmem, "d", "x", "e", 2)
	unregister("m1", "d")
	if h.c.HExists(bg, nmem, "d").Val() {
		t.Errorf("a count of garbage kept")
	}
	h.c.Del(bg, regs)
	h.c.Set(bg, regs, "x", 0)
	unregister("m1", "e")
	if h.c.HGet(bg, nmem, "e").Val() != "2" || h.c.Exists(bg, regs).Val() != 0 {
		t.Errorf("a set in a string: %v", h.c.HGetAll(bg, nmem).Val())
	}
}
