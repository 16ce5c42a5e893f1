package redisstore_test

// Garbage in every key infuse writes, each in a test that failed on the
// first version of this layout: a member must never stall, desync or fail
// a script on it.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A change counter of garbage (negative, beyond 2^53, not a number) is
// replaced: it does not silence its bucket's hints and polls.
func TestGarbageChangeCounter(t *testing.T) {
	for _, v := range []string{"-1000000", "9007199254740993", "9223372036854775000", "0x10", "abc"} {
		t.Run(v, func(t *testing.T) {
			srv := redistest.Start(t)
			opts := redisstore.Options{Namespace: "neg", RefreshInterval: 50 * time.Millisecond}
			sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
			cfg := infuse.Config{Name: "db", FailMax: 1, ResetTimeout: time.Minute}
			c := srv.Client(t)
			base := strings.TrimSuffix(sa.Key("db"), "b:db")
			if err := c.Set(bg, base+"seq", v, 0).Err(); err != nil {
				t.Fatal(err)
			}
			a, _ := newBreaker(t, sa, cfg)
			b, _ := newBreaker(t, sb, cfg)
			time.Sleep(200 * time.Millisecond)
			_ = a.Call(bg, boom)
			wantState(t, a, infuse.Open)
			deadline := time.Now().Add(3 * time.Second)
			for b.State() != infuse.Open && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("seq now %q; b state %v; errors a=%d b=%d", c.Get(bg, base+"seq").Val(), b.State(), sa.Errors(), sb.Errors())
			wantState(t, b, infuse.Open)
		})
	}
}

// A string where the window script expects a set of failing members
// (w:...:m<b>) is dropped, not an error on every send.
func TestGarbageWindowMemberSets(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "wm"}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{Name: "db", FailMax: 1000, Window: infuse.TimeWindow(10*time.Second, time.Second),
		FailureRate: 0.5, MinCalls: 4, FleetMinMembers: 2}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	c := srv.Client(t)
	now := c.Time(bg).Val().UnixMilli() / 1000
	for i := now - 12; i < now+30; i++ {
		c.Set(bg, fmt.Sprintf("%s:w::1:m%d", sa.Key("db"), i), "garbage", time.Minute)
	}
	calls(a, 5, 0)
	calls(b, 5, 0)
	time.Sleep(time.Second)
	t.Logf("a=%v b=%v errors a=%d b=%d", a.State(), b.State(), sa.Errors(), sb.Errors())
	if sa.Errors()+sb.Errors() > 0 {
		t.Fatalf("window script errors on garbage (%d, %d)", sa.Errors(), sb.Errors())
	}
	wantState(t, a, infuse.Open)
}

// A lease no member could have taken (a score of 1e300) is not counted:
// it does not hold a half-open breaker's trials for ever.
func TestGarbageLeaseScore(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "lease", RefreshInterval: 50 * time.Millisecond}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 2, HalfOpenMaxCalls: 1}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	_ = a.Call(bg, boom)
	time.Sleep(150 * time.Millisecond)
	if err := a.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, infuse.HalfOpen)
	c := srv.Client(t)
	c.ZAdd(bg, sa.Key("db")+":t", redis.Z{Score: 1e300, Member: "junk"})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if a.Call(bg, succeed) == nil || b.Call(bg, succeed) == nil {
			t.Logf("a trial was admitted: a=%v b=%v", a.State(), b.State())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no trial for 2s: a=%v b=%v errors %d %d", a.State(), b.State(), sa.Errors(), sb.Errors())
}

// Window lines of breakers that never had a state key are swept once
// expired.
func TestWindowLinesAreSwept(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{Namespace: "leak"})
	c := srv.Client(t)
	var names []string
	for i := 0; len(names) < 20; i++ {
		n := fmt.Sprintf("h%d", i)
		if strings.TrimSuffix(s.Key(n), "b:"+n) == strings.TrimSuffix(s.Key("db"), "b:db") {
			names = append(names, n)
		}
	}
	base := strings.TrimSuffix(s.Key("db"), "b:db")
	for _, n := range names {
		b, _ := newBreaker(t, s, infuse.Config{Name: n, Window: infuse.TimeWindow(time.Second, time.Second), FailureRate: 0.9, MinCalls: 100})
		calls(b, 0, 3)
		syncStore(t, s)
		_ = b.Detach()
	}
	t.Logf("win lines: %d", c.HLen(bg, base+"win").Val())
	time.Sleep(2500 * time.Millisecond)
	// lots of saves in the bucket, so the summary's cleanup runs many times
	d, _ := newBreaker(t, s, infuse.Config{Name: "db", FailMax: 1, ResetTimeout: time.Millisecond})
	for range 200 {
		_ = d.Call(bg, boom)
		_ = d.Close(bg)
	}
	syncStore(t, s)
	t.Logf("win lines after expiry and cleanup: %d, ttl %v, sum lines %d", c.HLen(bg, base+"win").Val(), c.PTTL(bg, base+"win").Val(), c.HLen(bg, base+"sum").Val())
	if c.HLen(bg, base+"win").Val() >= int64(len(names)) {
		t.Fatal("expired window lines are never removed")
	}
}

// errLog keeps the store errors a breaker's listeners see.
type errLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errLog) OnEvent(e infuse.Event) {
	if e.Kind == infuse.EventStoreError {
		l.mu.Lock()
		l.errs = append(l.errs, e.Err.Error())
		l.mu.Unlock()
	}
}

// busyHost is the error of a request that Redis ran past its deadline: on
// a busy host (a CPU hog per core) a member's request waits longer than
// OpTimeout before it is sent, and its script refuses to act so late.
// That is the host's doing, never the data's.
const busyHost = "too late"

// count is how many of the errors l saw say what.
func (l *errLog) count(what string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.errs {
		if strings.Contains(e, what) {
			n++
		}
	}
	return n
}

// unexpected are the errors l saw that say none of expected.
func (l *errLog) unexpected(expected ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for _, e := range l.errs {
		ok := false
		for _, x := range expected {
			ok = ok || strings.Contains(e, x)
		}
		if !ok {
			bad = append(bad, e)
		}
	}
	return bad
}

// Garbage of every kind in every key of a bucket and a breaker: the fleet
// still trips and closes together, the listing works, and the only errors
// are reports of replaced data (and, on a busy host, of requests run too
// late, which the garbage has no part in).
func TestGarbageInEveryKey(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	kinds := map[string]func(key string){
		"string": func(k string) { c.Set(bg, k, "garbage", 0) },
		"neg":    func(k string) { c.Set(bg, k, "-5", 0) },
		"list":   func(k string) { c.RPush(bg, k, "x") },
		"set":    func(k string) { c.SAdd(bg, k, "x") },
		"zset":   func(k string) { c.ZAdd(bg, k, redis.Z{Score: 1e300, Member: "x"}) },
		"hash":   func(k string) { c.HSet(bg, k, "x", "y", "", "zz", "db", "1e400") },
	}
	suffixes := []string{"seq", "log", "sum", "win", "nmem", "b:db", "b:db:t"}
	n := 0
	for _, suf := range suffixes {
		for kind, set := range kinds {
			n++
			ns := fmt.Sprintf("g%d", n)
			t.Run(suf+"/"+kind, func(t *testing.T) {
				opts := redisstore.Options{Namespace: ns, RefreshInterval: 50 * time.Millisecond, WindowInterval: 20 * time.Millisecond}
				sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
				base := strings.TrimSuffix(sa.Key("db"), "b:db")
				set(base + suf)
				// window keys of generation 1 too
				if suf == "b:db:t" {
					now := c.Time(bg).Val().UnixMilli() / 1000
					for i := now - 12; i < now+30; i++ {
						set(fmt.Sprintf("%sb:db:w::1:m%d", base, i))
					}
					set(base + "b:db:w::1")
				}
				la, lb := &errLog{}, &errLog{}
				cfg := infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond, Window: infuse.TimeWindow(10*time.Second, time.Second),
					FailureRate: 0.9, MinCalls: 1000, FleetMinMembers: 2}
				cfg.Listeners = []infuse.Listener{la}
				a, _ := newBreaker(t, sa, cfg)
				cfg.Listeners = []infuse.Listener{lb}
				b, _ := newBreaker(t, sb, cfg)
				calls(a, 1, 1)
				calls(b, 1, 0)
				for i := 0; i < 5 && a.State() != infuse.Open; i++ {
					_ = a.Call(bg, boom)
				}
				eventually(t, "b sees the trip", func() bool { return b.State() == infuse.Open })
				time.Sleep(150 * time.Millisecond)
				for i := 0; i < 50 && a.State() != infuse.Closed; i++ {
					_ = a.Call(bg, succeed)
					time.Sleep(10 * time.Millisecond)
				}
				eventually(t, "b sees the close", func() bool { return b.State() == infuse.Closed })
				if _, err := sa.Breakers(bg); err != nil {
					t.Errorf("Breakers: %v", err)
				}
				bad := append(la.unexpected("replaced it", busyHost), lb.unexpected("replaced it", busyHost)...)
				if len(bad) > 0 {
					t.Errorf("%d errors, first: %s", len(bad), bad[0])
				}
			})
		}
	}
}

// Garbage in the dedup hash (b:db:d) and counters Go and Lua could read
// differently: no script error, no desync.
func TestGarbageInNewKeys(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	cases := map[string]func(base string){
		"d-string": func(b string) { c.Set(bg, b+"b:db:d", "x", 0) },
		"d-list":   func(b string) { c.RPush(bg, b+"b:db:d", "x") },
		"d-zset":   func(b string) { c.ZAdd(bg, b+"b:db:d", redis.Z{Score: 1, Member: "x"}) },
		"seq-max":  func(b string) { c.Set(bg, b+"seq", "e:9007199254740990", 0) },
		"seq-plus": func(b string) { c.Set(bg, b+"seq", "e:+5", 0) },
		"seq-up":   func(b string) { c.Set(bg, b+"seq", "E:5", 0) },
		"seq-long": func(b string) { c.Set(bg, b+"seq", strings.Repeat("a", 33)+":5", 0) },
		"seq-zero": func(b string) { c.Set(bg, b+"seq", "e:0", 0) },
	}
	i := 0
	for name, set := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			ns := "rvg" + name
			opts := redisstore.Options{Namespace: ns, RefreshInterval: 50 * time.Millisecond, RetryInterval: 50 * time.Millisecond}
			sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
			base := strings.TrimSuffix(sa.Key("db"), "b:db")
			set(base)
			la, lb := &errLog{}, &errLog{}
			cfg := infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond}
			cfg.Listeners = []infuse.Listener{la}
			a, _ := newBreaker(t, sa, cfg)
			cfg.Listeners = []infuse.Listener{lb}
			b, _ := newBreaker(t, sb, cfg)
			for k := 0; k < 2; k++ {
				for i := 0; i < 5 && a.State() != infuse.Open; i++ {
					_ = a.Call(bg, boom)
					time.Sleep(5 * time.Millisecond)
				}
				eventually(t, "b sees the trip", func() bool { return b.State() == infuse.Open })
				time.Sleep(150 * time.Millisecond)
				for i := 0; i < 50 && a.State() != infuse.Closed; i++ {
					_ = a.Call(bg, succeed)
					time.Sleep(10 * time.Millisecond)
				}
				eventually(t, "b sees the close", func() bool { return b.State() == infuse.Closed })
			}
			t.Logf("seq %q; errors a=%d b=%d", c.Get(bg, base+"seq").Val(), sa.Errors(), sb.Errors())
			// Every error counts, a breaker's or the reader's, but for
			// the requests a busy host made late.
			late := la.count(busyHost) + lb.count(busyHost)
			if n := sa.Errors() + sb.Errors() - int64(late); n > 0 {
				t.Fatalf("store errors: %d, %d (%d of them run too late): %v %v", sa.Errors(), sb.Errors(), late, la.unexpected(), lb.unexpected())
			}
		})
	}
}
