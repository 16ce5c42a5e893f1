package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/internal/redistest"
	"github.com/infuse-go/infuse/redisstore"
)

// Outage tests. The bound a call may wait on Redis is OpTimeout; the
// assertions allow a generous margin over it for a loaded 2-core machine
// with the race detector, and none at all would pass without the bound: a
// paused server never answers.

const (
	opTimeout = 100 * time.Millisecond
	margin    = 150 * time.Millisecond
)

func faultOptions(ns string) redisstore.Options {
	return redisstore.Options{
		Namespace: ns, OpTimeout: opTimeout, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 50 * time.Millisecond,
	}
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// eventually polls cond every few milliseconds until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func storedState(t *testing.T, srv *redistest.Server, s *redisstore.Store, name string) string {
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	return srv.Client(t).HGet(ctx, s.Key(name), "st").Val()
}

func TestRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	var store *redisstore.Store
	if d := timed(func() { store = newStore(t, srv, faultOptions("down")) }); d > margin {
		t.Fatalf("New took %v with Redis down", d)
	}
	var b *infuse.Breaker
	var r *infusetest.Recorder
	if d := timed(func() { b, r = newBreaker(t, store, infuse.Config{FailMax: 2, ResetTimeout: time.Minute}) }); d > opTimeout+margin {
		t.Fatalf("infuse.New took %v with Redis down", d)
	}
	// It protects itself: it trips on its own failures.
	_ = b.Call(bg, boom)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip with Redis down: %v", err)
	}
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("after the local trip: %v", err)
	}
	if r.Count(infuse.EventStoreError) == 0 || store.Errors() == 0 {
		t.Fatal("the outage was not reported")
	}
	// When Redis is back, the fleet learns of the trip.
	srv.Restart()
	defer func() {
		if t.Failed() {
			t.Logf("stored %v, errors %d, state %v gen %d", srv.Client(t).HGetAll(bg, store.Key("db")).Val(), store.Errors(), b.State(), b.Generation())
		}
	}()
	eventually(t, "the local trip reaches Redis", func() bool { return storedState(t, srv, store, "db") == "1" })
	other := newStore(t, srv, faultOptions("down"))
	late, _ := newBreaker(t, other, infuse.Config{FailMax: 2, ResetTimeout: time.Minute})
	wantState(t, late, infuse.Open)
}

func TestRedisKilledDuringTraffic(t *testing.T) {
	srv := redistest.Start(t)
	cfg := infuse.Config{FailMax: 5, ResetTimeout: 200 * time.Millisecond}
	sa, sb := newStore(t, srv, faultOptions("kill")), newStore(t, srv, faultOptions("kill"))
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)

	var stop atomic.Bool
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i, br := range []*infuse.Breaker{a, b, a, b} {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				fn := succeed
				if i == 0 && n%3 == 0 { // a sees failures now and then
					fn = boom
				}
				d := timed(func() { _ = br.Call(bg, fn) })
				for old := slowest.Load(); int64(d) > old && !slowest.CompareAndSwap(old, int64(d)); old = slowest.Load() {
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	// During the outage a keeps protecting itself.
	for range cfg.FailMax {
		_ = a.Call(bg, boom)
	}
	if a.State() == infuse.Closed {
		t.Fatal("a did not trip on its own failures with Redis down")
	}
	srv.Restart()
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > opTimeout+margin {
		t.Fatalf("a call waited %v; the bound is %v", d, opTimeout)
	}
	// The fleet converges: both members and Redis agree.
	eventually(t, "the members converge", func() bool {
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		if sa.Sync(ctx) != nil || sb.Sync(ctx) != nil {
			return false
		}
		return a.State() == b.State() && a.Generation() == b.Generation()
	})
}

func TestPausedRedisNeverBlocksClosedCalls(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, faultOptions("pause"))
	b, _ := newBreaker(t, store, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond})
	_ = b.Call(bg, boom) // a failure to send, so the background has work
	srv.Pause()
	defer srv.Resume()

	// Closed-state calls, successes and failures, never wait.
	for range 2 {
		if d := timed(func() { _ = b.Call(bg, succeed) }); d > 20*time.Millisecond {
			t.Fatalf("a closed-state success took %v with Redis paused", d)
		}
	}
	if d := timed(func() { _ = b.Call(bg, boom) }); d > 20*time.Millisecond {
		t.Fatalf("a closed-state failure took %v with Redis paused", d)
	}
	// The tripping call and a trial wait at most OpTimeout.
	_ = b.Call(bg, boom)
	var err error
	if d := timed(func() { err = b.Call(bg, boom) }); d > opTimeout+margin {
		t.Fatalf("the tripping call took %v with Redis paused", d)
	}
	if !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("tripping call: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if d := timed(func() { err = b.Call(bg, succeed) }); d > opTimeout+margin {
		t.Fatalf("a trial took %v with Redis paused", d)
	}
	if err != nil {
		t.Fatalf("the trial: %v", err)
	}
	wantState(t, b, infuse.Closed)

	srv.Resume()
	defer func() {
		if t.Failed() {
			t.Logf("stored %v, errors %d, state %v gen %d", srv.Client(t).HGetAll(bg, store.Key("db")).Val(), store.Errors(), b.State(), b.Generation())
		}
	}()
	eventually(t, "Redis learns the breaker closed again", func() bool { return storedState(t, srv, store, "db") == "0" })
}

func TestCloseReturnsWithRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	store := redisstore.New(srv.Client(t), faultOptions("close"))
	b, _ := newBreaker(t, store, infuse.Config{FailMax: 1})
	srv.Pause()
	defer srv.Resume()
	_ = b.Call(bg, boom)
	if d := timed(func() { _ = store.Close() }); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}
