package redisstore

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func testReleaseScript(t *testing.T, h *luaBed) {
	ok := releaseArgs{FromInc: "abc", FromGen: "4", Permits: []uint64{5, 6}}
	refusesArguments(t, h, releaseArgs{FromInc: "abc", FromGen: "4", Permits: []uint64{5}},
		map[string]any{"from_inc": "-", "from_gen": "x", "permits": "x"})
	leases := h.key + ":t"
	// Any permit numbered, whatever the generation; every one of them.
	h.halfOpen("abc", 9, 5, 60000, 6, 60000, 7, 60000)
	h.c.HSet(bg, h.key, "mk", "9:me.1:1:5")
	before := h.state()
	r := h.run(ok)
	if r.trials != 1 || r.changed || r.gen != 9 || r.maker != "me.1" || !sameMap(before, h.state()) ||
		h.c.ZScore(bg, leases, "7").Err() != nil {
		t.Errorf("release 5, 6 of 7: %+v", r)
	}
	if r := h.run(releaseArgs{FromGen: "0", Permits: []uint64{7}}); r.trials != 0 || h.c.Exists(bg, leases).Val() != 0 {
		t.Errorf("release the last: %+v", r)
	}
	// A number that is none: a permit refused, the others not released.
	h.halfOpen("abc", 9, 5, 60000)
	args := h.args(releaseArgs{FromGen: "0", Permits: []uint64{5, 6}})
	args[len(args)-1] = "x"
	_, err := h.eval(releaseScript, h.l.scriptKeys(h.k, h.kn), args...)
	h.refused(err, "a permit x")
	if h.c.ZScore(bg, leases, "5").Err() != nil {
		t.Errorf("a refused release released")
	}
	// No permit at all: nothing.
	if r := h.run(releaseArgs{FromGen: "0"}); r.trials != 1 {
		t.Errorf("no permit: %+v", r)
	}
	// Not half-open: leases left alone (none should be there).
	h.open("abc", 9, 0)
	h.c.ZAdd(bg, leases, redis.Z{Score: float64(h.now() + 60000), Member: 5})
	h.run(ok)
	if h.c.ZScore(bg, leases, "5").Err() != nil {
		t.Errorf("released a lease of an open state")
	}
	// It restores nothing: no state, or garbage, answers as none.
	h.put()
	n := h.changes()
	if r := h.run(ok); !r.absent || r.corrupt || len(h.state()) != 0 || h.changes() != n {
		t.Errorf("no state: %+v", r)
	}
	h.put("st", 9)
	if r := h.run(ok); !r.absent || !r.corrupt || h.state()["st"] != "9" {
		t.Errorf("garbage: %+v", r)
	}
	// Leases of another type: replaced.
	h.halfOpen("abc", 9)
	h.c.Set(bg, leases, "x", 0)
	if r := h.run(ok); r.trials != 0 || r.absent {
		t.Errorf("leases in a string: %+v", r)
	}
}
