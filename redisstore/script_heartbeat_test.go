package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func testHeartbeatScript(t *testing.T, h *luaBed) {
	keys := []string{h.l.members}
	stale := time.Minute.Milliseconds()
	ok := heartbeatArgs{Member: "m1", TTL: time.Hour.Milliseconds(), StaleMs: stale}
	refusesOwn(t, h, heartbeatScript, keys, nil, ok, map[string]any{"ttl": -1, "stale_ms": "x"})
	beat := func(a heartbeatArgs) []any {
		t.Helper()
		v, err := h.eval(heartbeatScript, keys, scriptArgs(a)...)
		if err != nil {
			t.Fatalf("heartbeat %+v: %v", a, err)
		}
		return v.([]any)
	}
	// A member not listed is told so (1), then listed at Redis's time,
	// the list kept for ttl.
	before := h.now()
	if got := beat(ok); len(got) != 1 || got[0] != int64(1) {
		t.Errorf("a first heartbeat: %v", got)
	}
	within(t, "m1's heartbeat", int64(h.c.ZScore(bg, h.l.members, "m1").Val()), before, h.now())
	h.ttlNear(h.l.members, time.Hour)
	if got := beat(ok); len(got) != 1 || got[0] != int64(0) {
		t.Errorf("a second heartbeat: %v", got)
	}
	// Members silent for stale_ms are claimed, eight at a time, for 5 s:
	// put 5 s ahead of stale.
	now := h.now()
	for i := range 10 {
		h.c.ZAdd(bg, h.l.members, redis.Z{Score: float64(now - stale - 60000 - int64(i)), Member: "s" + strconv.Itoa(i)})
	}
	h.c.ZAdd(bg, h.l.members, redis.Z{Score: float64(now - stale + 30000), Member: "fresh"})
	before = h.now()
	got := beat(ok)
	after := h.now()
	if len(got) != 9 || got[0] != int64(0) {
		t.Fatalf("claimed %v", got)
	}
	for _, m := range got[1:] {
		score := int64(h.c.ZScore(bg, h.l.members, m.(string)).Val())
		within(t, "claimed "+m.(string), score, before-stale+5000, after-stale+5000)
	}
	if got := beat(ok); len(got) != 3 {
		t.Errorf("claimed next %v", got)
	}
	if got := beat(ok); len(got) != 1 {
		t.Errorf("claimed again within 5 s: %v", got)
	}
	// A list of another type is replaced.
	h.c.Del(bg, h.l.members)
	h.c.Set(bg, h.l.members, "x", 0)
	if got := beat(ok); len(got) != 1 || got[0] != int64(1) || h.c.ZCard(bg, h.l.members).Val() != 1 {
		t.Errorf("a list in a string: %v", got)
	}
}
