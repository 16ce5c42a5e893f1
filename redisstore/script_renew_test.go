package redisstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func testRenewScript(t *testing.T, h *luaBed) {
	ttl := 10 * time.Minute
	refusesOwn(t, h, renewScript, h.l.bucket[h.k], h.head(), renewArgs{Member: "m1", TTL: ttl.Milliseconds(),
		KNames: []string{h.kn}}, map[string]any{"ttl": "x"})
	base := h.l.base[h.k]
	key := func(kn string) string { return base + "b:" + kn }
	sum := h.l.bucket[h.k][2]
	now := h.now()
	line := func(st, x int64) string {
		return strconv.FormatInt(st, 10) + " 5 " + strconv.FormatInt(now-1000, 10) + " 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(x, 10)
	}
	// The bucket's keys and the member's registration, whatever their
	// TTL was.
	own := []string{h.l.bucket[h.k][0], h.l.bucket[h.k][1], base + "chain", sum, h.l.bucket[h.k][3], h.l.bucket[h.k][4],
		base + "r:m1"}
	h.c.Set(bg, own[0], "e:1:t", 0)
	h.c.ZAdd(bg, own[1], redis.Z{Score: 1, Member: "a"})
	h.c.ZAdd(bg, own[2], redis.Z{Score: 1, Member: "1:t"})
	h.c.HSet(bg, own[4], "a", "1 0 0 "+strconv.FormatInt(now+time.Hour.Milliseconds(), 10))
	h.c.HSet(bg, own[5], "a", 1)
	h.c.SAdd(bg, own[6], "a")
	h.c.PExpire(bg, own[5], time.Second*30)
	// The breakers: an open one, a half-open one with leases, a disabled
	// one, an idle one, garbage; keys lost with a line current and not
	// idle, idle, expired; none at all.
	state := func(kn string, st, md int64) {
		h.c.HSet(bg, key(kn), "st", st, "g", 5, "oa", now-1000, "f", 0, "s", 0, "ps", 0, "md", md, "tr", 1, "i", "abc",
			"rs", 0, "op", 0, "mk", "")
		h.c.PExpire(bg, key(kn), time.Minute)
	}
	state("open", 1, 0)
	state("half", 2, 0)
	h.c.ZAdd(bg, key("half")+":t", redis.Z{Score: float64(now + 60000), Member: 1}, redis.Z{Score: float64(now - 1), Member: 2},
		redis.Z{Score: float64(now + 2*time.Hour.Milliseconds()), Member: 3}, redis.Z{Score: float64(now + 120000), Member: 4})
	h.c.PExpire(bg, key("half")+":t", time.Minute)
	state("disabled", 0, 2)
	state("idle", 0, 0)
	h.c.HSet(bg, key("garbage"), "st", 9)
	h.c.HSet(bg, sum, "lost", line(1, now+60000), "lostidle", line(0, now+60000), "lostold", line(1, now-1000))
	before := h.now()
	v, err := h.bucket(renewArgs{Member: "m1", TTL: ttl.Milliseconds(),
		KNames: []string{"open", "half", "disabled", "idle", "garbage", "lost", "lostidle", "lostold", "none"}})
	after := h.now()
	if err != nil || v != int64(1) {
		t.Fatalf("renew: %v %v", v, err)
	}
	for _, k := range own {
		h.ttlNear(k, ttl)
	}
	// Each breaker that shares something: its key, its leases, its line.
	for _, kn := range []string{"open", "half", "disabled", "lost"} {
		h.ttlNear(key(kn), ttl)
		f := strings.Fields(h.c.HGet(bg, sum, kn).Val())
		if len(f) != 13 {
			t.Errorf("%s's line %v", kn, f)
			continue
		}
		x, _ := strconv.ParseInt(f[12], 10, 64)
		within(t, kn+"'s line's expiry", x, before+ttl.Milliseconds(), after+ttl.Milliseconds())
		if want := map[string]string{"open": "0", "half": "2", "disabled": "0", "lost": "0"}[kn]; f[5] != want {
			t.Errorf("%s's line counts %s trials, want %s", kn, f[5], want)
		}
	}
	h.ttlNear(key("half")+":t", ttl)
	// The key lost is put back from its line.
	if s := h.c.HGetAll(bg, key("lost")).Val(); s["st"] != "1" || s["g"] != "5" || s["i"] != "abc" || s["f"] != "3" {
		t.Errorf("put back: %v", s)
	}
	// The idle one is left to expire, garbage as it is; nothing made of
	// an idle or expired line, or of nothing.
	if ttl := h.c.PTTL(bg, key("idle")).Val(); ttl > time.Minute || ttl <= 0 {
		t.Errorf("the idle key's TTL %v", ttl)
	}
	if h.c.HExists(bg, sum, "idle").Val() {
		t.Errorf("an idle line written")
	}
	if got := h.c.HGetAll(bg, key("garbage")).Val(); len(got) != 1 || got["st"] != "9" {
		t.Errorf("garbage: %v", got)
	}
	if n := h.c.Exists(bg, key("lostidle"), key("lostold"), key("none"), key("none")+":t").Val(); n != 0 {
		t.Errorf("%d keys made of nothing", n)
	}
	if h.c.HGet(bg, sum, "lostold").Val() != line(1, now-1000) {
		t.Errorf("an expired line renewed")
	}
	// An open breaker's leases (none should be there) are left alone.
	h.c.ZAdd(bg, key("open")+":t", redis.Z{Score: float64(now + 60000), Member: 1})
	h.c.PExpire(bg, key("open")+":t", time.Minute)
	if _, err := h.bucket(renewArgs{Member: "m1", TTL: ttl.Milliseconds(), KNames: []string{"open"}}); err != nil {
		t.Fatal(err)
	}
	if got := h.c.PTTL(bg, key("open")+":t").Val(); got > time.Minute {
		t.Errorf("an open breaker's leases renewed: %v", got)
	}
}
