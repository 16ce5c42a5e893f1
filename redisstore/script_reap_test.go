package redisstore

import (
	"testing"
	"time"
)

func testReapScript(t *testing.T, h *luaBed) {
	refusesOwn(t, h, reapScript, h.l.bucket[h.k], h.head(), reapArgs{Member: "m1"}, nil)
	regs, nmem := h.l.base[h.k]+"r:m1", h.l.bucket[h.k][4]
	hour := time.Hour.Milliseconds()
	if _, err := h.bucket(registerArgs{Member: "m1", TTL: hour, KNames: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bucket(registerArgs{Member: "m2", TTL: hour, KNames: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	h.c.HSet(bg, nmem, "c", 0) // lost count
	reap := func(m string) {
		t.Helper()
		if v, err := h.bucket(reapArgs{Member: m}); err != nil || v != int64(1) {
			t.Fatalf("reap %s: %v %v", m, v, err)
		}
	}
	// Each of its names counted down, gone at 0 or below; its set gone.
	reap("m1")
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 1 || got["a"] != "1" {
		t.Errorf("counts after the reap: %v", got)
	}
	if h.c.Exists(bg, regs).Val() != 0 {
		t.Errorf("the reaped member's set left")
	}
	// A member reaped again, or never registered: nothing.
	reap("m1")
	reap("m9")
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 1 || got["a"] != "1" {
		t.Errorf("counts after reaping none: %v", got)
	}
	// A count that is no number is dropped; a set of another type is
	// deleted, nothing counted down.
	h.c.SAdd(bg, regs, "d", "a")
	h.c.HSet(bg, nmem, "d", "x")
	reap("m1")
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 0 {
		t.Errorf("counts after reaping over garbage: %v", got)
	}
	h.c.Set(bg, regs, "x", 0)
	h.c.HSet(bg, nmem, "a", 3)
	reap("m1")
	if h.c.Exists(bg, regs).Val() != 0 || h.c.HGet(bg, nmem, "a").Val() != "3" {
		t.Errorf("a set in a string: %v", h.c.HGetAll(bg, nmem).Val())
	}
}
