package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// Outage tests. The bound a call may wait on Redis is OpTimeout, and none
// at all would pass without the bound: a paused server never answers. A
// busy host (a CPU hog per core beside a test with the race detector)
// wakes a timer a few hundred ms late, so the bound is checked with a
// margin of a second against a wait that would last seconds without it
// (callBound), or exactly, on virtual time, against a Redis in memory
// (TestBindWaitsOpTimeout). When a member takes Redis for unreachable
// depends on the evidence (see health.go): a killed server says so once
// the client gives up dialing it (about 400ms with go-redis's default
// dial retries), a paused one by its silence, DownAfter after the first
// request it left unanswered; the tests wait for that outcome, with a
// generous deadline, rather than for a time.

const (
	opTimeout = 100 * time.Millisecond
	downAfter = 250 * time.Millisecond
)

func faultOptions(ns string) redisstore.Options {
	return redisstore.Options{
		Namespace: ns, OpTimeout: opTimeout, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 50 * time.Millisecond, DownAfter: downAfter,
	}
}

// tripAlone calls b with failures until it trips on them with Redis out of
// reach (it takes as long as the store needs to know that Redis is),
// each call waiting OpTimeout at most: bound, with a margin.
func tripAlone(t *testing.T, b *infuse.Breaker, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if d := timed(func() { err = b.Call(bg, boom) }); d > bound {
			t.Fatalf("a failing call took %v with Redis out of reach; the bound is %v (OpTimeout %v)", d, bound, opTimeout)
		}
		if errors.Is(err, infuse.ErrTripped) || errors.Is(err, infuse.ErrOpen) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no local trip 10s into the outage: %v, %v", err, b.State())
		}
	}
}

// traffic calls a and b, two goroutines each, a's first failing every
// failEvery-th call, until stop, which returns the slowest call.
func traffic(a, b *infuse.Breaker, failEvery int) (stop func() time.Duration) {
	var done atomic.Bool
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i, br := range []*infuse.Breaker{a, b, a, b} {
		wg.Go(func() {
			for n := 0; !done.Load(); n++ {
				fn := succeed
				if i == 0 && n%failEvery == 0 {
					fn = boom
				}
				d := timed(func() { _ = br.Call(bg, fn) })
				for old := slowest.Load(); int64(d) > old && !slowest.CompareAndSwap(old, int64(d)); old = slowest.Load() {
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return func() time.Duration {
		done.Store(true)
		wg.Wait()
		return time.Duration(slowest.Load())
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

// New and Bind return with Redis down (their bounds, exactly, on virtual
// time: TestBindWaitsOpTimeout), the breaker protects itself, and the
// fleet learns of its trip when Redis is back.
func TestRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	store := newStore(t, srv, faultOptions("down"))
	b, r := newBreaker(t, store, infuse.Config{FailMax: 2, ResetTimeout: time.Minute})
	// It protects itself: it trips on its own failures.
	_ = b.Call(bg, boom)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip with Redis down: %v", err)
	}
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("after the local trip: %v", err)
	}
	eventually(t, "the outage is reported", func() bool { return r.Count(infuse.EventStoreError) > 0 && store.Errors() > 0 })
	// When Redis is back, the fleet learns of the trip.
	srv.Restart()
	defer func() {
		if t.Failed() {
			t.Logf("stored %v, errors %d, state %v gen %d", srv.Client(t).HGetAll(bg, store.Key("db")).Val(), store.Errors(), b.State(), b.Generation())
		}
	}()
	eventually(t, "the local trip reaches Redis", func() bool { return storedState(t, srv, store, "db") == "1" })
	// A member that binds now learns of it: from its Bind, or, if Redis
	// answers that later than OpTimeout (a busy host), once it does.
	other := newStore(t, srv, faultOptions("down"))
	late, _ := newBreaker(t, other, infuse.Config{FailMax: 2, ResetTimeout: time.Minute})
	eventually(t, "a member bound late learns of the trip", func() bool { return late.State() == infuse.Open })
}

// No call waits more than OpTimeout (callBound) while Redis is killed and
// back; a member protects itself alone meanwhile, and the fleet converges.
func TestRedisKilledDuringTraffic(t *testing.T) {
	srv := redistest.Start(t)
	cfg := infuse.Config{FailMax: 5, ResetTimeout: 200 * time.Millisecond}
	opts := faultOptions("kill")
	opts.DownAfter = slowDownAfter
	sa, sb := patientStore(t, srv, opts), patientStore(t, srv, opts)
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)

	stop := traffic(a, b, 3)
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	// During the outage a keeps protecting itself.
	tripAlone(t, a, callBound)
	srv.Restart()
	time.Sleep(300 * time.Millisecond)
	if d := stop(); d > callBound {
		t.Fatalf("a call waited %v; the bound is %v (OpTimeout %v)", d, callBound, opTimeout)
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

// A closed-state call never waits on a paused Redis; a call that would
// change the shared state waits OpTimeout at most; a breaker protects
// itself alone once Redis's silence has lasted DownAfter, and Redis learns
// what it did once it answers again.
//
// The closed-state calls go to a store on which every wait on Redis lasts
// a minute (OpTimeout, DownAfter, its client's timeouts): one that waited
// on Redis in any way, a request of its own or a lock held across one,
// would take that long with Redis paused; each must end within patience.
// The calls that may wait are bounded by callBound.
func TestPausedRedisNeverBlocksClosedCalls(t *testing.T) {
	srv := redistest.Start(t)
	patient := patientStore(t, srv, redisstore.Options{Namespace: "pause-closed", OpTimeout: time.Minute,
		DownAfter: time.Minute, RetryInterval: time.Minute})
	pb, _ := newBreaker(t, patient, infuse.Config{FailMax: 3})
	opts := faultOptions("pause")
	opts.DownAfter = slowDownAfter
	store := patientStore(t, srv, opts)
	b, r := newBreaker(t, store, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond})
	// Both breakers have reached Redis before it pauses. Bind waits
	// OpTimeout at most, and on a busy host Redis may answer later: a
	// breaker paused before its first answer never reached Redis, and its
	// trip and recovery made alone end in the closed state its first
	// answer holds anyway, for which Redis keeps nothing.
	syncStore(t, patient)
	syncStore(t, store)
	_ = pb.Call(bg, boom) // failures to send, so the background has work
	_ = b.Call(bg, boom)
	g0 := storedGen(t, srv, store, "db")
	srv.Pause()
	defer srv.Resume()

	// Closed-state calls, successes and failures, never wait.
	for i, fn := range []func(context.Context) error{succeed, succeed, boom} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = pb.Call(bg, fn)
		}()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatalf("closed-state call %d still waits %v into it, with Redis paused", i, patience)
		}
	}
	wantState(t, pb, infuse.Closed)
	// The tripping call and a trial wait at most OpTimeout; the breaker
	// trips alone once Redis's silence has lasted DownAfter.
	tripAlone(t, b, callBound)
	// The silence is reported: counted, and told to the breaker's listeners.
	e0 := r.Count(infuse.EventStoreError)
	if store.Errors() == 0 || e0 == 0 {
		t.Fatalf("a breaker alone with Redis paused, and no error reported: %d counted, %d told", store.Errors(), e0)
	}
	time.Sleep(100 * time.Millisecond)
	var err error
	if d := timed(func() { err = b.Call(bg, succeed) }); d > callBound {
		t.Fatalf("a trial took %v with Redis paused; the bound is %v (OpTimeout %v)", d, callBound, opTimeout)
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
	// The moves it made alone reach Redis, under a generation of their own.
	eventually(t, "Redis learns the breaker closed again", func() bool {
		return storedState(t, srv, store, "db") == "0" && storedGen(t, srv, store, "db") > g0
	})
}

// A busy host wakes a timer a few hundred ms late: a bound asserted on
// real time needs a margin it does not reach, against a wait far longer
// without the bound. On a patientStore with DownAfter slowDownAfter, a
// call that waited for its request rather than OpTimeout would wait until
// the request's own deadline, OpTimeout+DownAfter, or for the client's
// dial retries (a second apart): seconds. callBound, OpTimeout and a
// second, is well under that. patience bounds a call that should not wait
// at all, on a store whose every wait on Redis lasts a minute.
const (
	slowDownAfter = 3 * time.Second
	callBound     = opTimeout + time.Second
	patience      = 5 * time.Second
)

// patientStore is a store on srv with opts whose client waits a minute
// for Redis (to read, to write, for a connection) and a second between
// its retries of a dial: only the store's own bounds, and its callers',
// cut a wait short. The client runs hooks (a gate, say).
func patientStore(t *testing.T, srv *redistest.Server, opts redisstore.Options, hooks ...redis.Hook) *redisstore.Store {
	t.Helper()
	o := redistest.Options(srv.Addr)
	o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = time.Minute, time.Minute, time.Minute
	o.DialerRetryTimeout = time.Second
	c := redis.NewClient(o)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// storedGen is the generation Redis holds for a breaker; 0 if none.
func storedGen(t *testing.T, srv *redistest.Server, s *redisstore.Store, name string) int64 {
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	g, _ := srv.Client(t).HGet(ctx, s.Key(name), "g").Int64()
	return g
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

// Listeners run without the store's locks: one that calls the breaker
// back on a store error (a manual close) does not deadlock.
func TestListenerMayCallBackOnStoreError(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, faultOptions("lock"))
	var br *infuse.Breaker
	done := make(chan struct{})
	l := infuse.ListenerFunc(func(e infuse.Event) {
		if e.Kind == infuse.EventStoreError && br != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_ = br.Close(ctx) // a manual close when the store fails
			cancel()
		}
	})
	br, _ = newBreaker(t, s, infuse.Config{FailMax: 1, ResetTimeout: 50 * time.Millisecond, Listeners: []infuse.Listener{l}})
	_ = br.Call(bg, boom)
	wantState(t, br, infuse.Open)
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	go func() {
		_ = br.Call(bg, succeed) // Acquire fails on Redis: OnError under b.mu
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("deadlock: the listener's Close waits for the binding's mutex held by Acquire")
	}
}

// A trial whose outcome could not reach Redis gives its lease back once
// Redis answers: the fleet's trials are not held up for TrialLease.
func TestUnsettledTrialGivesItsLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, faultOptions("settle"))
	br, _ := newBreaker(t, s, infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 2, HalfOpenMaxCalls: 1})
	_ = br.Call(bg, boom)
	wantState(t, br, infuse.Open)
	time.Sleep(150 * time.Millisecond)
	err := br.Call(bg, func(context.Context) error { srv.Pause(); return nil })
	t.Logf("trial: %v, state %v", err, br.State())
	srv.Resume()
	deadline := time.Now().Add(3 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = br.Call(bg, succeed); last == nil {
			t.Logf("second trial admitted; state %v", br.State())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := srv.Client(t)
	t.Logf("redis: %v leases %v errors %d", c.HGetAll(bg, s.Key("db")).Val(), c.ZRangeWithScores(bg, s.Key("db")+":t", 0, -1).Val(), s.Errors())
	t.Fatalf("no trial admitted for 3s after Redis came back: %v (state %v)", last, br.State())
}

// Close does not queue its own sends behind a round in flight on a paused
// Redis (with a client whose timeouts ignore contexts).
func TestCloseDoesNotWaitBehindASend(t *testing.T) {
	srv := redistest.Start(t)
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	store := redisstore.New(cl, redisstore.Options{Namespace: "close2"})
	b, _ := newBreaker(t, store, infuse.Config{FailMax: 5})
	time.Sleep(100 * time.Millisecond)
	srv.Pause()
	defer srv.Resume()
	_ = b.Call(bg, boom) // queued: the sender sends it and waits on Redis
	time.Sleep(20 * time.Millisecond)
	d := timed(func() { _ = store.Close() })
	t.Logf("Close took %v (OpTimeout 100ms)", d)
	if d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// A member that starts while Redis is unreachable and trips alone keeps
// its trip, and pushes it, when Redis first answers with a closed state.
func TestTripBeforeTheFirstBindIsKept(t *testing.T) {
	srv := redistest.Start(t)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
	sx := newStore(t, srv, faultOptions("first"))
	x, _ := newBreaker(t, sx, cfg)
	_ = x.Call(bg, boom) // Redis holds a closed state with a run of 1
	syncStore(t, sx)
	srv.Pause()
	sy := newStore(t, srv, faultOptions("first"))
	y, _ := newBreaker(t, sy, cfg)
	for range 3 {
		_ = y.Call(bg, boom)
	}
	if err := y.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("local trip: %v", err)
	}
	srv.Resume()
	time.Sleep(500 * time.Millisecond)
	t.Logf("y=%v x=%v stored st=%q", y.State(), x.State(), storedState(t, srv, sy, "db"))
	wantState(t, y, infuse.Open)
}
