package redisstore

import (
	"strconv"
	"testing"

	"github.com/infuse-go/infuse"
)

func testBindScript(t *testing.T, h *luaBed) {
	refusesArguments(t, h, bindArgs{Member: "m1"}, nil)
	regs := h.l.base[h.k] + "r:m1"
	nmem := h.l.bucket[h.k][4]

	// Nothing stored, an idle seed: Redis stores nothing (extra 1).
	h.put()
	h.ctx.SeedInc, h.ctx.SeedGen = "x", 1
	r := h.run(bindArgs{Member: "m1"})
	if r.gen != 1 || r.inc != "x" || r.changed || r.extra != 1 || r.corrupt || len(h.state()) != 0 || h.seq() != "" {
		t.Errorf("an idle seed: %+v", r)
	}
	if h.c.SIsMember(bg, regs, h.kn).Val() != true || h.c.HGet(bg, nmem, h.kn).Val() != "1" {
		t.Errorf("the member is not registered")
	}
	if ttl := h.c.PTTL(bg, regs).Val(); ttl <= 0 {
		t.Errorf("registration's TTL %v", ttl)
	}
	// An operator's store is not registered.
	h.c.Del(bg, regs, nmem)
	h.run(bindArgs{})
	if h.c.Exists(bg, regs, nmem).Val() != 0 || h.c.Exists(bg, h.l.base[h.k]+"r:").Val() != 0 {
		t.Errorf("an operator registered")
	}

	// The key expired, its line idle: the line's identity, if not older
	// than the seed's, and when it closed.
	sum := h.l.bucket[h.k][2]
	for _, c := range []struct {
		seedGen uint64
		expired bool
		taken   bool
	}{{1, false, true}, {5, false, true}, {6, false, false}, {5, true, true}} {
		x := h.now() + 60000
		if c.expired {
			x = h.now() - 60000
		}
		h.c.HSet(bg, sum, h.kn, "0 5 77 0 0 0 0 0 0 abc 0 "+strconv.FormatInt(x, 10))
		h.ctx.SeedGen = c.seedGen
		r := h.run(bindArgs{})
		if taken := r.inc == "abc" && r.gen == 5 && r.openedAt == 77; taken != c.taken || r.extra != 1 || len(h.state()) != 0 {
			t.Errorf("seed %d, line expired %v: %+v", c.seedGen, c.expired, r)
		}
	}
	// The key expired, its line not idle: put back if the line is
	// current (a key lost on its own), announced; not if it expired.
	h.ctx.SeedGen = 1
	h.c.HSet(bg, sum, h.kn, "1 5 77 3 0 0 0 1 0 abc 0 "+strconv.FormatInt(h.now()-60000, 10))
	if r := h.run(bindArgs{}); r.extra != 1 || r.gen != 1 || r.state != infuse.Closed || len(h.state()) != 0 {
		t.Errorf("an expired open line: %+v", r)
	}
	h.c.HSet(bg, sum, h.kn, "1 5 77 3 0 0 0 1 0 abc 0 "+strconv.FormatInt(h.now()+60000, 10))
	n := h.changes()
	if r := h.run(bindArgs{}); r.extra != 0 || r.gen != 5 || r.state != infuse.Open || !r.changed || h.state()["g"] != "5" ||
		h.changes() != n+1 {
		t.Errorf("a current open line: %+v", r)
	}
	// An open seed: a new identity, announced.
	h.put()
	h.c.HDel(bg, sum, h.kn)
	h.ctx.SeedState, h.ctx.SeedGen, h.ctx.SeedElapsed = infuse.Open, 3, 1000
	n = h.changes()
	if r := h.run(bindArgs{}); r.extra != 0 || r.gen != 4 || r.inc != h.ctx.Nonce || !r.changed || h.state()["st"] != "1" ||
		h.changes() != n+1 {
		t.Errorf("an open seed: %+v", r)
	}
	// Garbage, an idle seed: replaced, announced, said.
	h.ctx.SeedState, h.ctx.SeedGen, h.ctx.SeedElapsed = infuse.Closed, 3, 0
	h.put("st", 7, "g", 2)
	n = h.changes()
	if r := h.run(bindArgs{}); !r.corrupt || !r.changed || r.extra != 0 || r.gen != 4 || h.state()["st"] != "0" ||
		h.changes() != n+1 {
		t.Errorf("garbage: %+v", r)
	}
	// A state: as it is, with its trials; nothing written.
	h.halfOpen("abc", 9, 1, 60000)
	h.c.HSet(bg, h.key, "rs", 4)
	n = h.changes()
	if r := h.run(bindArgs{}); r.changed || r.corrupt || r.extra != 0 || r.gen != 9 || r.trials != 1 || r.resets != 4 ||
		h.changes() != n {
		t.Errorf("a half-open state: %+v", r)
	}
}
