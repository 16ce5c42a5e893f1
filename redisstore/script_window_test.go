package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
)

// winBucket is the window buckets' length in the window script's tests:
// some eight years, so that the current bucket does not move while they
// run (it is Redis's time over winBucket, checked on every answer).
const winBucket = int64(250e9)

// windowOf runs the window script for member on the breakers of entries.
func (h *luaBed) windowOf(member string, entries ...windowEntry) ([]reply, error) {
	args := windowScript.args.append(h.head(), windowArgs{Member: member})
	for _, e := range entries {
		args = contextList.append(args, e.ctx)
		args = windowScript.item.append(args, e.args)
	}
	v, err := h.eval(windowScript, h.l.bucket[h.k], args...)
	if err != nil {
		return nil, err
	}
	return decodeReplies(v)
}

// window runs the window script for member on the breaker, and checks
// that Redis's bucket is still b.
func (h *luaBed) window(member string, a windowItemArgs, b int64) reply {
	h.t.Helper()
	rs, err := h.windowOf(member, windowEntry{ctx: h.ctx, args: a})
	if err != nil {
		h.t.Fatalf("window %+v: %v", a, err)
	}
	if len(rs) != 1 {
		h.t.Fatalf("window: %d answers", len(rs))
	}
	if a.BucketMs == winBucket && rs[0].now/winBucket != b {
		h.t.Fatalf("the window's bucket moved from %d during the test", b)
	}
	return rs[0]
}

func testWindowScript(t *testing.T, h *luaBed) {
	b := h.now() / winBucket
	bs := func(kind string, at int64) string { return kind + strconv.FormatInt(at, 10) }
	wkey := h.key + ":w:abc:4" // the window of generation abc/4
	win := h.l.bucket[h.k][3]
	item := windowItemArgs{FromInc: "abc", FromGen: "4", BucketMs: winBucket, Buckets: 2, MinMembers: 1}
	with := func(f func(a *windowItemArgs)) windowItemArgs {
		a := item
		f(&a)
		return a
	}
	fresh := func(f int64) {
		h.closed("abc", 4, f)
		keys := h.c.Keys(bg, h.key+":w:*").Val()
		if len(keys) > 0 {
			h.c.Del(bg, keys...)
		}
		h.c.Del(bg, win)
	}

	// The arguments: the member, then each item's context and its own;
	// every item is checked before any is merged.
	fresh(0)
	before := h.dump()
	ok := with(func(a *windowItemArgs) { a.Calls, a.Failures = 2, 2 })
	good := windowScript.args.append(h.head(), windowArgs{Member: "m1"})
	good = contextList.append(good, h.ctx)
	good = windowScript.item.append(good, ok)
	own := 3 + 1 + len(contextList.fields) // where an item's own arguments start
	refuse := func(what string, args []any) {
		t.Helper()
		_, err := h.eval(windowScript, h.l.bucket[h.k], args...)
		h.refused(err, what)
	}
	refuse("no member", h.head())
	refuse("an item of one argument", append(append([]any(nil), good[:4]...), h.kn))
	refuse("an item cut short", good[:len(good)-1])
	for _, c := range []struct {
		name string
		v    any
	}{
		{"from_inc", "A"}, {"from_gen", "x"}, {"calls", -1}, {"failures", cMax}, {"slow", "1.5"}, {"bucket_ms", 0},
		{"buckets", -1}, {"failure_rate", "-0.5"}, {"failure_rate", "nan"}, {"slow_rate", "inf"}, {"slow_rate", "1e999"},
		{"slow_rate", "x"}, {"min_calls", "x"}, {"min_members", -1}, {"requests", cMax}, {"throttle_k", "-1"},
		{"throttle_k", "inf"}, {"throttle_max", "nan"},
	} {
		args := append([]any(nil), good...)
		args[own+windowScript.item.index(c.name)] = c.v
		refuse(c.name+" = "+toString(c.v), args)
	}
	args := append([]any(nil), good...)
	args[3+1+contextList.index("seed_st")] = 3
	refuse("a context's seed_st = 3", args)
	// A second item bad: the first is not merged.
	args = append(append([]any(nil), good...), good[4:]...)
	args[len(good)+len(contextList.fields)+windowScript.item.index("calls")] = "x"
	refuse("a second item's calls = x", args)
	if got := h.dump(); !sameMap(got, before) {
		t.Errorf("a refused window wrote: %v, was %v", got, before)
	}
	// No item: no answer.
	if rs, err := h.windowOf("m1"); err != nil || len(rs) != 0 {
		t.Errorf("no item: %v %v", rs, err)
	}

	// Requests alone, with a throttle: counted in the current bucket;
	// the line has the requests, K and the maximum rejection rate; no
	// call, so no trip whatever the rates.
	fresh(0)
	r := h.window("m1", with(func(a *windowItemArgs) {
		a.Requests, a.ThrottleK, a.ThrottleMax, a.FailureRate = 1, 1, 0.5, 0.5
	}), b)
	if !r.hasWindow || r.wCalls != 0 || r.wRequests != 1 || r.changed || r.state != infuse.Closed {
		t.Errorf("requests alone: %+v", r)
	}
	if got := h.c.HGetAll(bg, wkey).Val(); len(got) != 1 || got[bs("r", b)] != "1" {
		t.Errorf("requests alone: window %v", got)
	}
	if n := h.c.Exists(bg, wkey+":m"+strconv.FormatInt(b, 10)).Val(); n != 0 {
		t.Errorf("requests alone: a member of failures recorded")
	}
	line := h.c.HGet(bg, win, h.kn).Val()
	fw, good2 := decodeWindow(line)
	if !good2 || fw.requests != 1 || fw.throttle != (infuse.Throttle{K: 1, MaxRejectRate: 0.5}) {
		t.Errorf("the line %q", line)
	}
	within(t, "the line's expiry", fw.expires, r.now+3*winBucket, r.now+3*winBucket)
	h.ttlNear(wkey, time.Duration(3*winBucket)*time.Millisecond)

	// Calls, failures and slow calls, two members: summed; the line
	// without a throttle has four numbers; the members of failures kept
	// as long as the window.
	fresh(1)
	for range 3 { // a new line expires with the TTL (whatever the sweep does)
		h.c.Del(bg, win)
		h.window("m1", with(func(a *windowItemArgs) {}), b)
		h.ttlNear(win, time.Hour)
	}
	r = h.window("m1", with(func(a *windowItemArgs) { a.Calls, a.Failures, a.Slow, a.Requests = 3, 1, 2, 5 }), b)
	if !r.hasWindow || r.wCalls != 3 || r.wFailures != 1 || r.wSlow != 2 || r.wRequests != 5 || r.changed ||
		r.gen != 4 || r.failures != 1 {
		t.Errorf("a first growth: %+v", r)
	}
	r = h.window("m2", with(func(a *windowItemArgs) { a.Calls = 2 }), b)
	if r.wCalls != 5 || r.wFailures != 1 || r.wSlow != 2 || r.wRequests != 5 {
		t.Errorf("a second growth: %+v", r)
	}
	if got := h.c.HGetAll(bg, wkey).Val(); len(got) != 4 || got[bs("c", b)] != "5" || got[bs("f", b)] != "1" ||
		got[bs("s", b)] != "2" || got[bs("r", b)] != "5" {
		t.Errorf("the window %v", got)
	}
	members := wkey + ":m" + strconv.FormatInt(b, 10)
	if got := h.c.SMembers(bg, members).Val(); len(got) != 1 || got[0] != "m1" {
		t.Errorf("members of failures %v", got)
	}
	h.ttlNear(members, time.Duration(3*winBucket)*time.Millisecond)
	if fw, ok := decodeWindow(h.c.HGet(bg, win, h.kn).Val()); !ok || fw.calls != 5 || fw.failures != 1 || fw.slow != 2 ||
		len(h.c.HGet(bg, win, h.kn).Val()) == 0 || fw.requests != 0 {
		t.Errorf("the line %q", h.c.HGet(bg, win, h.kn).Val())
	}
	// A window of another type is replaced.
	h.c.Del(bg, wkey)
	h.c.Set(bg, wkey, "x", 0)
	if r := h.window("m1", with(func(a *windowItemArgs) { a.Calls = 1 }), b); r.wCalls != 1 {
		t.Errorf("a window in a string: %+v", r)
	}

	// Not closed, or another generation: the breaker's reply alone,
	// nothing merged.
	for _, c := range []struct {
		set  func()
		i, g string
	}{
		{func() { h.open("abc", 4, 0) }, "abc", "4"},
		{func() { h.halfOpen("abc", 4) }, "abc", "4"},
		{func() { fresh(0) }, "abc", "3"},
		{func() { fresh(0) }, "abd", "4"},
	} {
		c.set()
		h.c.Del(bg, wkey)
		r := h.window("m1", with(func(a *windowItemArgs) { a.FromInc, a.FromGen, a.Calls = c.i, c.g, 1 }), b)
		if r.hasWindow || r.changed || r.gen != 4 || h.c.Exists(bg, wkey, h.key+":w:"+c.i+":"+c.g).Val() != 0 {
			t.Errorf("a window of %s/%s on state %v: %+v", c.i, c.g, r.state, r)
		}
	}

	// When the window trips: MinCalls calls, and a failure rate or a
	// slow-call rate reached (0: off); never disabled.
	for _, c := range []struct {
		calls, fails, slow int64
		fr, sr             float64
		minCalls           int
		md                 int
		trip               bool
		cause              storage.Cause // the trip's, recorded with its maker
	}{
		{4, 2, 0, 0.5, 0, 4, 0, true, storage.CauseFailureRate},
		{4, 1, 0, 0.5, 0, 4, 0, false, 0},
		{3, 3, 0, 0.5, 0, 4, 0, false, 0},
		{4, 4, 4, 0, 0, 0, 0, false, 0},
		{4, 4, 1, 0, 0.5, 0, 0, false, 0},
		{4, 0, 2, 0, 0.5, 4, 0, true, storage.CauseSlowCallRate},
		{4, 4, 2, 0, 0.5, 4, 0, true, storage.CauseSlowCallRate}, // failures, with no failure rate set
		{4, 0, 1, 0, 0.5, 4, 0, false, 0},
		{4, 0, 4, 0.5, 0.5, 4, 0, true, storage.CauseSlowCallRate},
		{4, 1, 4, 0.5, 0.5, 4, 0, true, storage.CauseSlowCallRate}, // failures below their rate
		{4, 2, 4, 0.5, 0.5, 4, 0, true, storage.CauseFailureRate},  // both: the failure rate first
		{4, 2, 4, 1.5, 0.5, 4, 0, true, storage.CauseSlowCallRate}, // a failure rate no run reaches
		{4, 4, 0, 0.5, 0, 4, 2, false, 0},
		{4, 4, 4, 0.5, 0.5, 4, 2, false, 0},
	} {
		fresh(2)
		h.c.HSet(bg, h.key, "md", c.md)
		n := h.changes()
		r := h.window("m1", with(func(a *windowItemArgs) {
			a.Calls, a.Failures, a.Slow, a.FailureRate, a.SlowRate, a.MinCalls = c.calls, c.fails, c.slow, c.fr, c.sr, c.minCalls
		}), b)
		if r.changed != c.trip || !r.hasWindow || r.wCalls != c.calls || r.wFailures != c.fails || r.wSlow != c.slow {
			t.Errorf("%+v: %+v", c, r)
		}
		if c.trip && (r.state != infuse.Open || r.gen != 5 || r.failures != 2 || r.maker != h.ctx.Binding ||
			r.from != infuse.Closed || r.cause != c.cause || h.changes() != n+1 || h.state()["st"] != "1") ||
			!c.trip && (r.state != infuse.Closed || r.gen != 4 || h.changes() != n || h.state()["st"] != "0") {
			t.Errorf("%+v: %+v, %d changes", c, r, h.changes()-n)
		}
	}

	// FleetMinMembers: as many members must have reported failures in
	// the window's buckets (a set of another type is none).
	fresh(0)
	item.MinMembers, item.FailureRate, item.MinCalls = 2, 0.5, 1
	h.c.SAdd(bg, wkey+":m"+strconv.FormatInt(b-2, 10), "m8") // outside the window
	h.c.Set(bg, wkey+":m"+strconv.FormatInt(b-1, 10), "x", 0)
	for _, c := range []struct {
		member      string
		calls, fail int64
		trip        bool
	}{{"m1", 2, 2, false}, {"m1", 1, 1, false}, {"m2", 1, 0, false}, {"m2", 1, 1, true}} {
		r := h.window(c.member, with(func(a *windowItemArgs) { a.Calls, a.Failures = c.calls, c.fail }), b)
		if r.changed != c.trip {
			t.Errorf("%s's %d calls, %d failures: %+v", c.member, c.calls, c.fail, r)
		}
	}
	if h.c.Exists(bg, wkey+":m"+strconv.FormatInt(b-1, 10)).Val() != 0 {
		t.Errorf("a set of members of another type kept")
	}
	fresh(0)
	h.c.SAdd(bg, wkey+":m"+strconv.FormatInt(b-1, 10), "m8") // within the window
	if r := h.window("m1", with(func(a *windowItemArgs) { a.Calls, a.Failures = 1, 1 }), b); !r.changed {
		t.Errorf("two members, one a bucket ago: %+v", r)
	}
	// FleetMinMembers 1: no member counted (the failures may have come
	// from a member that reported none).
	fresh(0)
	item.MinMembers = 1
	h.c.HSet(bg, wkey, bs("c", b), 2, bs("f", b), 2)
	if r := h.window("m1", with(func(a *windowItemArgs) { a.Requests = 1 }), b); !r.changed {
		t.Errorf("failures of no member, FleetMinMembers 1: %+v", r)
	}

	// The window's fields: only those the script writes count (a kind,
	// a bucket of this window written as fmt writes it, a count a bucket
	// can hold); the rest go.
	fresh(0)
	item.FailureRate = 0
	h.c.HSet(bg, wkey,
		bs("c", b), 1, bs("c", b-1), 2, bs("c", b-2), 100, bs("c", b+1), 100, "c0"+strconv.FormatInt(b, 10), 100,
		bs("x", b), 100, "c", 100, bs("c", b)+".0", 100,
		bs("f", b), cMax, bs("f", b-1), cMax-1,
		bs("s", b), 0, bs("s", b-1), -1, bs("r", b), "1.5", bs("r", b-1), 3)
	r = h.window("m1", item, b)
	if r.wCalls != 3 || r.wFailures != 3 || r.wSlow != 0 || r.wRequests != 3 || r.changed {
		t.Errorf("the window's fields: %+v", r)
	}
	want := map[string]string{bs("c", b): "1", bs("c", b-1): "2", bs("f", b-1): strconv.Itoa(cMax - 1), bs("s", b): "0",
		bs("r", b-1): "3"}
	if got := h.c.HGetAll(bg, wkey).Val(); !sameMap(got, want) {
		t.Errorf("the window's fields kept: %v, want %v", got, want)
	}
	// A window of one bucket: the one before is out.
	r = h.window("m1", with(func(a *windowItemArgs) { a.Buckets = 1 }), b)
	if r.wCalls != 1 || r.wFailures != 0 || r.wRequests != 0 {
		t.Errorf("a window of one bucket: %+v", r)
	}
	// Bucket 0 is one; a field alone to drop is dropped.
	h.c.HSet(bg, wkey, "x", 1, bs("c", 0), 5)
	r = h.window("m1", with(func(a *windowItemArgs) { a.Buckets = b + 1 }), b)
	want = map[string]string{bs("c", 0): "5", bs("c", b): "1", bs("s", b): "0"}
	if got := h.c.HGetAll(bg, wkey).Val(); r.wCalls != 6 || !sameMap(got, want) {
		t.Errorf("a window from bucket 0 on: %+v, fields %v", r, got)
	}

	// Several breakers in one call, answered in order; one Redis holds
	// nothing of, from its seed.
	fresh(0)
	other := h.ctx
	other.KName = "dep2"
	rs, err := h.windowOf("m1", windowEntry{ctx: h.ctx, args: with(func(a *windowItemArgs) { a.Calls = 1 })},
		windowEntry{ctx: other, args: with(func(a *windowItemArgs) { a.FromInc, a.FromGen, a.Calls = "", "1", 2 })})
	if err != nil || len(rs) != 2 || rs[0].wCalls != 1 || rs[0].gen != 4 || rs[1].wCalls != 2 || rs[1].gen != 1 {
		t.Fatalf("two breakers: %+v %v", rs, err)
	}
	if got := h.c.HGet(bg, h.l.base[h.k]+"b:dep2:w::1", bs("c", b)).Val(); got != "2" {
		t.Errorf("the seeded breaker's window: %q", got)
	}

	// A real bucket length: Redis's clock picks the bucket.
	fresh(0)
	r = h.window("m1", with(func(a *windowItemArgs) { a.BucketMs, a.Buckets, a.Calls = 1000, 10, 1 }), 0)
	if got := h.c.HGet(bg, wkey, bs("c", r.now/1000)).Val(); got != "1" {
		t.Errorf("a bucket of a second: %v", h.c.HGetAll(bg, wkey).Val())
	}
	h.ttlNear(wkey, 11*time.Second)
}
