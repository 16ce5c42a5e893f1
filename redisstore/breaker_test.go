package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

var (
	bg      = context.Background()
	errBoom = errors.New("boom")
)

func succeed(context.Context) error { return nil }
func boom(context.Context) error    { return errBoom }

func newBreaker(t testing.TB, store *redisstore.Store, cfg infuse.Config) (*infuse.Breaker, *infusetest.Recorder) {
	t.Helper()
	r := &infusetest.Recorder{}
	cfg.Storage = store
	cfg.Listeners = append(cfg.Listeners, r)
	if cfg.Name == "" {
		cfg.Name = "db"
	}
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

func wantState(t testing.TB, b *infuse.Breaker, want infuse.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

// With one process, a breaker on the Redis store behaves as on the memory
// store: pybreaker's sequence, end to end.
func TestOneProcessBehavesAsMemory(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{})
	b, r := newBreaker(t, store, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 2})

	for i := 1; i <= 2; i++ {
		if err := b.Call(bg, boom); err != errBoom {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if got := b.Counts().ConsecutiveFailures; got != 2 {
		t.Fatalf("count %d, want 2", got)
	}
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) || !errors.Is(err, errBoom) {
		t.Fatalf("tripping failure: %v", err)
	}
	wantState(t, b, infuse.Open)
	var oe *infuse.OpenError
	if err := b.Call(bg, succeed); !errors.As(err, &oe) || oe.RetryAfter <= 0 || oe.RetryAfter > 100*time.Millisecond {
		t.Fatalf("call while open: %v", err)
	}
	sleepPastOpenPeriod(b)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatalf("first trial: %v", err)
	}
	wantState(t, b, infuse.HalfOpen)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("failed trial: %v", err)
	}
	wantState(t, b, infuse.Open)
	sleepPastOpenPeriod(b)
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, succeed)
	wantState(t, b, infuse.Closed)
	want := "closed->open,open->half-open,half-open->open,open->half-open,half-open->closed"
	if got := r.Transitions(); got != want {
		t.Fatalf("transitions %q, want %q", got, want)
	}
	if store.Errors() != 0 {
		t.Fatalf("%d store errors", store.Errors())
	}
}

// sleepPastOpenPeriod waits out b's open period, as b counts it, and a
// margin: Redis decides the trial on its own clock, and a member's count of
// how long ago the breaker opened may be behind it by the time a reply
// took to arrive (well under 20ms on loopback, even on a loaded machine).
func sleepPastOpenPeriod(b *infuse.Breaker) {
	time.Sleep(b.RetryAfter() + 20*time.Millisecond)
}

// members is one breaker on each of two stores: two processes as far as
// Redis can tell.
type members struct {
	a, b   *infuse.Breaker
	ra, rb *infusetest.Recorder // what a and b's listeners saw
	sa, sb *redisstore.Store
	srv    *redistest.Server
}

func twoMembers(t *testing.T, cfg infuse.Config) members {
	t.Helper()
	m := members{srv: redistest.Start(t)}
	m.sa = newStore(t, m.srv, redisstore.Options{Namespace: "fleet"})
	m.sb = newStore(t, m.srv, redisstore.Options{Namespace: "fleet"})
	m.a, m.ra = newBreaker(t, m.sa, cfg)
	m.b, m.rb = newBreaker(t, m.sb, cfg)
	return m
}

func TestTripReachesEveryMember(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	a, b, rb, sa, sb := m.a, m.b, m.rb, m.sa, m.sb
	if err := a.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
	if got := rb.Transitions(); got != "closed->open(remote)" {
		t.Fatalf("b's transitions %q", got)
	}
	if left := b.RetryAfter(); left < 55*time.Second {
		t.Fatalf("b's RetryAfter %v: the open period is a minute from the trip", left)
	}
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("b let a call through: %v", err)
	}
}

func TestFailuresOfEveryMemberAddUp(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 3, ResetTimeout: time.Minute})
	a, b, sa, sb := m.a, m.b, m.sa, m.sb
	_ = a.Call(bg, boom)
	syncStore(t, sa)
	_ = b.Call(bg, boom)
	syncStore(t, sb)
	syncStore(t, sa)
	if got := a.Counts().ConsecutiveFailures; got != 2 {
		t.Fatalf("a sees a run of %d, want the merged 2", got)
	}
	if err := a.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("third merged failure: %v", err)
	}
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
}

func TestSuccessAnywhereResetsTheRun(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 3, ResetTimeout: time.Minute})
	a, b, sa, sb := m.a, m.b, m.sa, m.sb
	_ = a.Call(bg, boom)
	_ = a.Call(bg, boom)
	syncStore(t, sa)
	syncStore(t, sb)
	_ = b.Call(bg, succeed) // b knows the merged run is 2, so it reports
	syncStore(t, sb)
	syncStore(t, sa)
	if got := a.Counts().ConsecutiveFailures; got != 0 {
		t.Fatalf("a's run %d after b's success, want 0", got)
	}
	_ = a.Call(bg, boom)
	_ = a.Call(bg, boom)
	wantState(t, a, infuse.Closed)
}

func TestOneTrialForTheWholeFleet(t *testing.T) {
	srv := redistest.Start(t)
	const members = 6
	var breakers []*infuse.Breaker
	var stores []*redisstore.Store
	for range members {
		s := newStore(t, srv, redisstore.Options{Namespace: "trial"})
		b, _ := newBreaker(t, s, infuse.Config{FailMax: 1, ResetTimeout: 50 * time.Millisecond, HalfOpenMaxCalls: 2})
		breakers, stores = append(breakers, b), append(stores, s)
	}
	_ = breakers[0].Call(bg, boom)
	for _, s := range stores {
		syncStore(t, s)
	}
	time.Sleep(60 * time.Millisecond)
	var mu sync.Mutex
	nRan, nRejected := 0, 0
	release := make(chan struct{})
	var wg sync.WaitGroup
	for _, b := range breakers {
		wg.Go(func() {
			err := b.Call(bg, func(context.Context) error {
				mu.Lock()
				nRan++
				mu.Unlock()
				<-release
				return nil
			})
			if errors.Is(err, infuse.ErrOpen) {
				mu.Lock()
				nRejected++
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		done := nRan+nRejected == members || (nRan == 2 && nRejected == members-2)
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if nRan != 2 || nRejected != members-2 {
		t.Fatalf("%d trials ran and %d were rejected across %d members; want HalfOpenMaxCalls = 2 trials", nRan, nRejected, members)
	}
}

func TestJoiningMemberKeepsOpenState(t *testing.T) {
	srv := redistest.Start(t)
	sa := newStore(t, srv, redisstore.Options{Namespace: "join"})
	a, _ := newBreaker(t, sa, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	_ = a.Call(bg, boom)
	sb := newStore(t, srv, redisstore.Options{Namespace: "join"})
	b, rb := newBreaker(t, sb, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, InitialState: infuse.Closed})
	wantState(t, b, infuse.Open)
	if rb.Count(infuse.EventStateChange) != 0 {
		t.Fatalf("joining emitted %q", rb.Transitions())
	}
	syncStore(t, sa)
	wantState(t, a, infuse.Open)
}

func TestNamespacesAreIsolated(t *testing.T) {
	srv := redistest.Start(t)
	sa := newStore(t, srv, redisstore.Options{Namespace: "one"})
	sb := newStore(t, srv, redisstore.Options{Namespace: "two"})
	a, _ := newBreaker(t, sa, infuse.Config{FailMax: 1})
	b, _ := newBreaker(t, sb, infuse.Config{FailMax: 1})
	_ = a.Call(bg, boom)
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Closed)
	c := srv.Client(t)
	keys, err := c.Keys(bg, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "one:") && !strings.HasPrefix(k, "two:") {
			t.Fatalf("key %q outside the namespaces", k)
		}
	}
}

func TestKeysCarryATTL(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{TTL: time.Hour})
	b, _ := newBreaker(t, store, infuse.Config{Name: "ttl", HalfOpenMaxCalls: 1})
	_ = b.HalfOpen(bg)
	done, err := b.Allow(bg) // a trial lease, so both keys exist
	if err != nil {
		t.Fatal(err)
	}
	defer done(nil)
	c := srv.Client(t)
	key := store.Key("ttl")
	for _, k := range []string{key, key + ":t"} {
		ttl, err := c.PTTL(bg, k).Result()
		if err != nil || ttl <= 0 || ttl > time.Hour {
			t.Fatalf("PTTL(%s) = %v, %v; want a TTL of at most an hour", k, ttl, err)
		}
	}
	if !strings.Contains(key, "{") || !strings.HasSuffix(key, "}:b:ttl") {
		t.Fatalf("key %q: want the breaker's name after its bucket's hash tag", key)
	}
}

func TestKeysExpireWhenUnused(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{TTL: 200 * time.Millisecond, RefreshInterval: time.Hour})
	b, _ := newBreaker(t, store, infuse.Config{Name: "gone"})
	_ = b.Open(bg)
	_ = store.Close()
	c := srv.Client(t)
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(bg, store.Key("gone")).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestForeignDataIsReplacedAndReported(t *testing.T) {
	for name, spoil := range map[string]func(c *redis.Client, key string){
		"string": func(c *redis.Client, key string) { c.Set(bg, key, "garbage", 0) },
		"fields": func(c *redis.Client, key string) { c.HSet(bg, key, "st", "7", "g", "x") },
		"list":   func(c *redis.Client, key string) { c.RPush(bg, key, "a") },
	} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			store := newStore(t, srv, redisstore.Options{})
			c := srv.Client(t)
			spoil(c, store.Key("db"))
			b, r := newBreaker(t, store, infuse.Config{FailMax: 1})
			wantState(t, b, infuse.Closed)
			if store.Errors() == 0 || r.Count(infuse.EventStoreError) == 0 {
				t.Fatalf("foreign data not reported: %d errors", store.Errors())
			}
			if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
				t.Fatalf("breaker on replaced data: %v", err)
			}
			if got := c.HGet(bg, store.Key("db"), "st").Val(); got != "1" {
				t.Fatalf("stored state %q, want open", got)
			}
		})
	}
}

func TestManualTransitionsHoldFleetWide(t *testing.T) {
	m := twoMembers(t, infuse.Config{ResetTimeout: time.Minute})
	a, b, sa, sb := m.a, m.b, m.sa, m.sb
	if err := a.Open(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sb)
	syncStore(t, sa)
	wantState(t, a, infuse.Closed)
}

// pybreaker's F1 and F4 through Redis: failures from many goroutines all
// count, and however many fail at once the run stops at FailMax with one
// ErrTripped (pybreaker's Redis storage overshoots by up to its threads).
func TestConcurrentFailuresThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{})
	b, r := newBreaker(t, store, infuse.Config{FailMax: 300, ResetTimeout: time.Minute})
	var tripped sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 3 {
		tripped.Go(func() {
			for range 200 {
				if errors.Is(b.Call(bg, boom), infuse.ErrTripped) {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}
		})
	}
	tripped.Wait()
	if n != 1 {
		t.Fatalf("%d calls returned ErrTripped, want 1", n)
	}
	wantState(t, b, infuse.Open)
	if got := b.Counts().ConsecutiveFailures; got != 300 {
		t.Fatalf("tripping run %d, want FailMax 300", got)
	}
	syncStore(t, store)
	if got := r.Count(infuse.EventStateChange); got != 1 {
		t.Fatalf("%d state changes: %q", got, r.Transitions())
	}
}
