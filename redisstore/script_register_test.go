package redisstore

import (
	"testing"
	"time"
)

func testRegisterScript(t *testing.T, h *luaBed) {
	hour := time.Hour.Milliseconds()
	refusesOwn(t, h, registerScript, h.l.bucket[h.k], h.head(), registerArgs{Member: "m1", TTL: hour, KNames: []string{"a"}},
		map[string]any{"ttl": -1})
	refusesOwn(t, h, registerScript, h.l.bucket[h.k], h.head(), registerArgs{Member: "m1", TTL: hour},
		map[string]any{"ttl": tMax})
	regs, nmem := h.l.base[h.k]+"r:m1", h.l.bucket[h.k][4]
	register := func(a registerArgs) {
		t.Helper()
		if v, err := h.bucket(a); err != nil || v != int64(1) {
			t.Fatalf("register %v: %v %v", a, v, err)
		}
	}
	// No name: nothing.
	register(registerArgs{Member: "m1", TTL: hour})
	if n := h.c.Exists(bg, regs, nmem).Val(); n != 0 {
		t.Errorf("no name registered %d keys", n)
	}
	// Each name once per member, counted once per member; the member's
	// set and the counts kept for ttl.
	register(registerArgs{Member: "m1", TTL: hour, KNames: []string{"a", "b"}})
	register(registerArgs{Member: "m1", TTL: hour, KNames: []string{"a"}})
	register(registerArgs{Member: "m2", TTL: 10 * time.Minute.Milliseconds(), KNames: []string{"a"}})
	if got := h.c.SMembers(bg, regs).Val(); len(got) != 2 {
		t.Errorf("m1 has %v", got)
	}
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 2 || got["a"] != "2" || got["b"] != "1" {
		t.Errorf("counts %v", got)
	}
	h.ttlNear(regs, time.Hour)
	h.ttlNear(h.l.base[h.k]+"r:m2", 10*time.Minute)
	h.ttlNear(nmem, 10*time.Minute) // the last registration's
	// A set or a count of another type is replaced; a count that is
	// no number starts again.
	h.c.Del(bg, regs)
	h.c.Set(bg, regs, "x", 0)
	h.c.HSet(bg, nmem, "c", "x")
	register(registerArgs{Member: "m1", TTL: hour, KNames: []string{"c"}})
	if h.c.SIsMember(bg, regs, "c").Val() != true || h.c.HGet(bg, nmem, "c").Val() != "1" || h.c.HGet(bg, nmem, "a").Val() != "2" {
		t.Errorf("over garbage: %v, %v", h.c.SMembers(bg, regs).Val(), h.c.HGetAll(bg, nmem).Val())
	}
	h.c.Del(bg, nmem)
	h.c.Set(bg, nmem, "x", 0)
	register(registerArgs{Member: "m3", TTL: hour, KNames: []string{"a"}})
	if got := h.c.HGetAll(bg, nmem).Val(); len(got) != 1 || got["a"] != "1" {
		t.Errorf("counts in a string, replaced: %v", got)
	}
}
