package redisstore

import (
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// changesAnswer is what the changes script answers.
type changesAnswer struct {
	epoch string
	seq   int64
	token string
	flag  int64
	items []any
}

func (h *luaBed) changesSince(since int64, limit int, epoch, token string) changesAnswer {
	h.t.Helper()
	v, err := h.bucket(changesArgs{Since: since, Limit: limit, Epoch: epoch, Token: token})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := decodeChanges(v); err != nil {
		h.t.Errorf("changes since %d: %v", since, err)
	}
	a := v.([]any)
	return changesAnswer{a[0].(string), a[1].(int64), a[2].(string), a[3].(int64), a[4].([]any)}
}

func testChangesScript(t *testing.T, h *luaBed) {
	for _, bad := range []changesArgs{{Since: -1, Limit: 1}, {Limit: -1}} {
		_, err := h.bucket(bad)
		h.refused(err, "since "+strconv.FormatInt(bad.Since, 10)+" limit "+strconv.Itoa(bad.Limit))
	}
	seqKey, logKey, chain := h.l.bucket[h.k][0], h.l.bucket[h.k][1], h.l.base[h.k]+"chain"
	// No counter, a reader that knew none: nothing.
	if a := h.changesSince(0, 10, "", ""); a.epoch != "" || a.seq != 0 || a.flag != 0 || len(a.items) != 0 {
		t.Errorf("no counter: %+v", a)
	}
	// A reader that knew a counter that is gone: read everything.
	if a := h.changesSince(0, 10, "e", "t"); a.flag != 2 {
		t.Errorf("a counter gone: %+v", a)
	}
	// Five changes of three breakers.
	h.c.Set(bg, seqKey, "e:5:t5", 0)
	h.c.ZAdd(bg, logKey, redis.Z{Score: 2, Member: "a"}, redis.Z{Score: 4, Member: "b"}, redis.Z{Score: 5, Member: h.kn})
	for n := 1; n <= 5; n++ {
		h.c.ZAdd(bg, chain, redis.Z{Score: float64(n), Member: strconv.Itoa(n) + ":t" + strconv.Itoa(n)})
	}
	h.open("abc", 4, 0)
	// From the start: everything, oldest first, each with its state.
	a := h.changesSince(0, 10, "", "")
	if a.epoch != "e" || a.seq != 5 || a.token != "t5" || a.flag != 0 || len(a.items) != 3 {
		t.Fatalf("from the start: %+v", a)
	}
	for i, want := range []struct {
		name string
		seq  int64
	}{{"a", 2}, {"b", 4}, {h.kn, 5}} {
		it := a.items[i].([]any)
		if it[0] != want.name || it[1] != want.seq {
			t.Errorf("item %d: %v", i, it)
		}
	}
	if st := a.items[2].([]any)[2].([]any); st[1] != int64(1) || st[2] != int64(4) {
		t.Errorf("state %v", st)
	}
	if st := a.items[0].([]any)[2].([]any); st[0] != int64(1) {
		t.Errorf("the state of a breaker gone: %v", st)
	}
	// Since 0 of a known epoch: everything, no token to check; since 1,
	// its token checked.
	if a := h.changesSince(0, 10, "e", ""); a.flag != 0 || len(a.items) != 3 {
		t.Errorf("since 0 of epoch e: %+v", a)
	}
	if a := h.changesSince(1, 10, "e", "x"); a.flag != 2 {
		t.Errorf("since 1 of another history: %+v", a)
	}
	// Since change 2 (its token checked): what changed after.
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 0 || len(a.items) != 2 || a.seq != 5 {
		t.Errorf("since 2: %+v", a)
	}
	if a := h.changesSince(4, 10, "e", "t4"); a.flag != 0 || len(a.items) != 1 {
		t.Errorf("since 4: %+v", a)
	}
	// Since the last: nothing.
	if a := h.changesSince(5, 10, "e", "t5"); a.flag != 0 || len(a.items) != 0 || a.seq != 5 || a.token != "t5" {
		t.Errorf("since 5: %+v", a)
	}
	// Another epoch, a counter behind, another history (token): read
	// everything.
	for _, c := range []struct {
		since        int64
		epoch, token string
	}{{2, "f", "t2"}, {6, "e", "t6"}, {2, "e", "x"}, {2, "", "t2"}} {
		if a := h.changesSince(c.since, 10, c.epoch, c.token); a.flag != 2 || len(a.items) != 0 || a.seq != 5 {
			t.Errorf("since %d of %s/%s: %+v", c.since, c.epoch, c.token, a)
		}
	}
	h.c.ZAdd(bg, chain, redis.Z{Score: 2, Member: "2:t2bis"})
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 2 {
		t.Errorf("two changes 2: %+v", a)
	}
	h.c.ZRem(bg, chain, "2:t2bis")
	// At most limit, the counter as of the last answered.
	a = h.changesSince(0, 2, "", "")
	if a.flag != 0 || len(a.items) != 2 || a.seq != 4 || a.token != "t4" {
		t.Errorf("limit 2: %+v", a)
	}
	a = h.changesSince(2, 1, "e", "t2")
	if len(a.items) != 1 || a.seq != 4 || a.token != "t4" {
		t.Errorf("limit 1 since 2: %+v", a)
	}
	h.c.ZRem(bg, chain, "4:t4")
	h.c.ZAdd(bg, chain, redis.Z{Score: 4, Member: "4:" + string(make([]byte, 0)) + "t123456789012345678"})
	if a := h.changesSince(2, 1, "e", "t2"); a.seq != 4 || a.token != "" {
		t.Errorf("a token too long: %+v", a)
	}
	h.c.ZRem(bg, chain, "4:t123456789012345678")
	// A token of 16 characters is one, of 17 none.
	for _, tok := range []string{"t123456789012345", "t1234567890123456"} {
		h.c.ZRemRangeByScore(bg, chain, "4", "4")
		h.c.ZAdd(bg, chain, redis.Z{Score: 4, Member: "4:" + tok})
		want := tok
		if len(tok) > 16 {
			want = ""
		}
		if a := h.changesSince(2, 1, "e", "t2"); a.seq != 4 || a.token != want {
			t.Errorf("a token of %d: %+v", len(tok), a)
		}
	}
	h.c.ZRemRangeByScore(bg, chain, "4", "4")
	if a := h.changesSince(2, 1, "e", "t2"); a.seq != 4 || a.token != "" {
		t.Errorf("no token: %+v", a)
	}
	// The log cut ("") since: read everything, and what it has.
	h.c.ZAdd(bg, logKey, redis.Z{Score: 3, Member: ""})
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 1 || len(a.items) != 2 {
		t.Errorf("cut: %+v", a)
	}
	// The log lost what the counter says: read everything.
	h.c.Del(bg, logKey)
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 1 || len(a.items) != 0 {
		t.Errorf("no log: %+v", a)
	}
	h.c.Set(bg, logKey, "x", 0)
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 1 {
		t.Errorf("a log of another type: %+v", a)
	}
	h.c.Del(bg, logKey)
	h.c.Set(bg, chain, "x", 0)
	if a := h.changesSince(2, 10, "e", "t2"); a.flag != 2 {
		t.Errorf("a chain of another type: %+v", a)
	}
	// The largest counter.
	h.c.Set(bg, seqKey, "e:9007199254740991:t", 0)
	if a := h.changesSince(0, 10, "", ""); a.epoch != "e" || a.seq != 1<<53-1 {
		t.Errorf("the largest counter: %+v", a)
	}
	// A counter that is garbage: none.
	h.c.Set(bg, seqKey, "e:x:t", 0)
	if a := h.changesSince(0, 10, "", ""); a.epoch != "" || a.seq != 0 || a.flag != 0 {
		t.Errorf("garbage: %+v", a)
	}
}
