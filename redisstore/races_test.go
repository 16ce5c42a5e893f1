package redisstore_test

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// gate is a go-redis hook: while blocked, every command fails at once (a
// member cut off from Redis while the rest of the fleet reaches it).
type gate struct {
	blocked atomic.Bool
	// per pipeline: a function that may delay before or after the call.
	around atomic.Pointer[func(cmds []redis.Cmder, next func() error) error]
}

var errCut = errors.New("gate: cut off")

func (g *gate) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.blocked.Load() {
			return nil, errCut
		}
		return next(ctx, network, addr)
	}
}

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if g.blocked.Load() {
			cmd.SetErr(errCut)
			return errCut
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if g.blocked.Load() {
			for _, c := range cmds {
				c.SetErr(errCut)
			}
			return errCut
		}
		if f := g.around.Load(); f != nil {
			return (*f)(cmds, func() error { return next(ctx, cmds) })
		}
		return next(ctx, cmds)
	}
}

func gatedStore(t *testing.T, srv *redistest.Server, opts redisstore.Options, g *gate) *redisstore.Store {
	t.Helper()
	c := redis.NewClient(redistest.Options(srv.Addr))
	c.AddHook(g)
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func raceOpts(ns string) redisstore.Options {
	return redisstore.Options{Namespace: ns, OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 50 * time.Millisecond}
}

// Races and sequences of faults, each found by a review of this store
// and failing on its first version.

// A member cut off from Redis trips and then makes more moves alone;
// meanwhile an operator forces the breaker open through another member.
// When the member is back, its automatic moves do not end the operator's
// forced mode (once, a forced open was taken for the member's own trip,
// and its later moves pushed as an operator's).
func TestForcedOpenSurvivesMovesMadeAlone(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("r1")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond}
	sx := newStore(t, srv, opts)
	g := &gate{}
	sy := gatedStore(t, srv, opts, g)
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)

	g.blocked.Store(true)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip: %v", err)
	}
	if err := x.ForceOpen(bg); err != nil { // the operator, through x
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := y.Call(bg, succeed); err != nil { // a local trial: half-open, then closed
		t.Fatalf("local trial: %v", err)
	}
	t.Logf("y alone: %v gen %d", y.State(), y.Generation())
	g.blocked.Store(false)
	time.Sleep(time.Second)
	syncStore(t, sx)
	syncStore(t, sy)
	st := srv.Client(t).HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis %v; x %v/%v; y %v/%v", st, x.State(), x.Mode(), y.State(), y.Mode())
	if st["md"] != "1" || x.Mode() != infuse.ModeForcedOpen || y.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("the operator's ForceOpen was undone by a member's automatic moves: redis md=%q st=%q, x %v/%v, y %v/%v",
			st["md"], st["st"], x.State(), x.Mode(), y.State(), y.Mode())
	}
}

// A member that starts while Redis is unreachable and trips alone does
// not end a mode an operator forced before it first reached Redis.
func TestDisableSurvivesAPushAfterTheFirstBind(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("r2")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Minute}
	sx := newStore(t, srv, opts)
	x, _ := newBreaker(t, sx, cfg)
	if err := x.Disable(bg); err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	g.blocked.Store(true)
	sy := gatedStore(t, srv, opts, g)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip: %v", err)
	}
	g.blocked.Store(false)
	time.Sleep(time.Second)
	syncStore(t, sx)
	syncStore(t, sy)
	st := srv.Client(t).HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis %v; x %v/%v; y %v/%v", st, x.State(), x.Mode(), y.State(), y.Mode())
	if st["md"] != "2" || x.Mode() != infuse.ModeDisabled {
		t.Fatalf("the operator's Disable was undone by a new member's automatic trip: redis md=%q st=%q, x %v/%v",
			st["md"], st["st"], x.State(), x.Mode())
	}
}

// A trip made before Redis first answered, on a name Redis holds nothing
// for, is stored once: the bind seeds Redis with it, and it is not pushed
// again as a second trip (with a Backoff, a longer open period).
func TestTripBeforeTheFirstBindIsStoredOnce(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("r3")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Minute, Backoff: infuse.Backoff{Multiplier: 2}}
	g := &gate{}
	g.blocked.Store(true)
	sy := gatedStore(t, srv, opts, g)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip: %v", err)
	}
	g.blocked.Store(false)
	time.Sleep(time.Second)
	syncStore(t, sy)
	c := srv.Client(t)
	st := c.HGetAll(bg, sy.Key("db")).Val()
	sx := newStore(t, srv, opts)
	x, _ := newBreaker(t, sx, cfg)
	t.Logf("redis %v; y retry %v; x (joined) retry %v", st, y.RetryAfter(), x.RetryAfter())
	if st["tr"] != "1" {
		t.Fatalf("one trip stored as tr=%q (gen %q): a joining member's open period is %v, not ~1m",
			st["tr"], st["g"], x.RetryAfter())
	}
}

// Two callers of one member trip one closed generation: the first one's
// script is slow (it trips locally after OpTimeout), the second's trips
// Redis but its answer comes back after that. One trip, one ErrTripped.
func TestOneTripOneErrTripped(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("r4")
	opts.RetryInterval = time.Second
	g := &gate{}
	s := gatedStore(t, srv, opts, g)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Minute}
	b, _ := newBreaker(t, s, cfg)
	_ = b.Call(bg, boom) // loads the scripts
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, s)

	var n atomic.Int32
	var slowUntil atomic.Int64
	f := func(cmds []redis.Cmder, next func() error) error {
		if u := slowUntil.Load(); u != 0 {
			// answers from Redis reach this member slowly meanwhile
			err := next()
			time.Sleep(time.Until(time.Unix(0, u)))
			return err
		}
		if len(cmds) == 1 {
			a := cmds[0].Args()
			// the report script with its trip flag
			if report, trip := redisstore.IsReport(a); report && trip {
				k := n.Add(1)
				t.Logf("trip report %d", k)
				switch k {
				case 3:
					err := next()
					t.Logf("report 3 %v answer %v", a, cmds[0])
					return err
				case 1: // never reaches Redis in time
					time.Sleep(150 * time.Millisecond)
					for _, c := range cmds {
						c.SetErr(context.DeadlineExceeded)
					}
					return context.DeadlineExceeded
				case 2: // runs at once; its answer is slow
					slowUntil.Store(time.Now().Add(70 * time.Millisecond).UnixNano())
					err := next()
					t.Logf("report 2 answer %v", cmds[0])
					time.Sleep(70 * time.Millisecond)
					return err
				}
			}
		}
		return next()
	}
	g.around.Store(&f)

	var tripped atomic.Int32
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			err := b.Call(bg, boom)
			t.Logf("caller %d: %v", i, err)
			if errors.Is(err, infuse.ErrTripped) {
				tripped.Add(1)
			}
		})
	}
	wg.Wait()
	g.around.Store(nil)
	time.Sleep(200 * time.Millisecond)
	st := srv.Client(t).HGetAll(bg, s.Key("db")).Val()
	t.Logf("redis g=%s tr=%s st=%s; breaker %v gen %d", st["g"], st["tr"], st["st"], b.State(), b.Generation())
	if tripped.Load() != 1 {
		t.Fatalf("%d callers got ErrTripped for one trip (Redis tr=%s)", tripped.Load(), st["tr"])
	}
}

// A batch sent to a Redis that stalls is given up on by the client and
// sent again, while Redis runs the first copy when it wakes: the failures
// are counted once.
func TestStalledBatchIsCountedOnce(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r5", OpTimeout: 100 * time.Millisecond} // RetryInterval 1s
	g := &gate{}
	hk := func(cmds []redis.Cmder, next func() error) error {
		start := time.Now()
		err := next()
		if len(cmds) == 1 && len(cmds[0].Args()) > 8 {
			t.Logf("%s sent %d args at %s: %v (%v)", cmds[0].Name(), len(cmds[0].Args()), start.Format("05.000"), cmds[0].Err(), time.Since(start).Round(time.Millisecond))
		}
		return err
	}
	g.around.Store(&hk)
	s := gatedStore(t, srv, opts, g)
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 100, ResetTimeout: time.Minute})
	_ = b.Call(bg, boom) // loads the report script
	syncStore(t, s)
	_ = b.Call(bg, succeed)
	syncStore(t, s)
	time.Sleep(20 * time.Millisecond)
	srv.Pause()
	for range 3 {
		_ = b.Call(bg, boom)
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the client gives up after 200ms
	t0 := time.Now()
	srv.Resume()
	for range 25 {
		time.Sleep(100 * time.Millisecond)
		t.Logf("%v: f=%s errors=%d", time.Since(t0).Round(time.Millisecond), srv.Client(t).HGet(bg, s.Key("db"), "f").Val(), s.Errors())
	}
	syncStore(t, s)
	f := srv.Client(t).HGet(bg, s.Key("db"), "f").Val()
	t.Logf("stored run %s, breaker's %d", f, b.Counts().ConsecutiveFailures)
	if f != "3" {
		t.Fatalf("3 failures stored as a run of %s", f)
	}
}

func bucketOfName(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % 16)
}

// Redis loses a bucket (FLUSHALL; or a failover to a replica a few
// changes behind) and, before the next poll, the bucket's new counter
// reaches the value members had seen. Members notice (the counter's epoch
// is new) and read the bucket: none misses a change.
func TestACounterThatStartsAgainIsNoticed(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r6", OpTimeout: 2 * time.Second} // RefreshInterval 1s
	// two names in one bucket
	var other string
	for i := 0; ; i++ {
		other = "n" + strconv.Itoa(i)
		if other != "db" && bucketOfName(other) == bucketOfName("db") {
			break
		}
	}
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Hour}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg.Name = "db"
	adb, _ := newBreaker(t, sa, cfg)
	bdb, _ := newBreaker(t, sb, cfg)
	cfg.Name = other
	aother, _ := newBreaker(t, sa, cfg)
	_, _ = newBreaker(t, sb, cfg)

	_ = aother.Call(bg, boom) // change 1 in the bucket
	syncStore(t, sa)
	syncStore(t, sb)

	c := srv.Client(t)
	c.FlushAll(bg)
	// Right after the loss: the operator forces db open (change 1 again),
	// and a member's open breaker is restored and closed (changes 2, 3).
	if err := adb.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if err := aother.Close(bg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // three polls
	t.Logf("redis db %v; a: %v/%v, b: %v/%v", c.HGetAll(bg, sa.Key("db")).Val(), adb.State(), adb.Mode(), bdb.State(), bdb.Mode())
	if bdb.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("member b never learned that db was forced open: %v/%v (Redis: md=%s)", bdb.State(), bdb.Mode(),
			c.HGet(bg, sa.Key("db"), "md").Val())
	}
}

// A member's tripping call times out while an operator closes the
// breaker through another member (a new closed generation, run 0): a
// failure of the old generation is not counted in the new one.
func TestStaleBatchNotCountedInANewGeneration(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("r7")
	opts.RetryInterval = time.Second
	cfg := infuse.Config{FailMax: 2, ResetTimeout: time.Minute}
	g := &gate{}
	sa := gatedStore(t, srv, opts, g)
	sx := newStore(t, srv, opts)
	a, _ := newBreaker(t, sa, cfg)
	x, _ := newBreaker(t, sx, cfg)
	_ = a.Call(bg, boom) // loads the scripts; Redis run 1
	_ = a.Call(bg, succeed)
	syncStore(t, sa)
	syncStore(t, sx)
	var n atomic.Int32
	f := func(cmds []redis.Cmder, next func() error) error {
		if len(cmds) == 1 {
			if _, trip := redisstore.IsReport(cmds[0].Args()); trip && n.Add(1) == 1 {
				time.Sleep(150 * time.Millisecond) // never reaches Redis in time
				cmds[0].SetErr(context.DeadlineExceeded)
				return context.DeadlineExceeded
			}
		}
		return next()
	}
	g.around.Store(&f)
	_ = a.Call(bg, boom)
	syncStore(t, sa) // Redis run 1
	done := make(chan error, 1)
	go func() { done <- a.Call(bg, boom) }() // a's view: 2, its tripping call hangs
	time.Sleep(30 * time.Millisecond)
	if err := x.Close(bg); err != nil { // the operator: a new closed generation
		t.Fatal(err)
	}
	t.Logf("tripping call: %v", <-done)
	g.around.Store(nil)
	time.Sleep(300 * time.Millisecond)
	syncStore(t, sa)
	syncStore(t, sx)
	st := srv.Client(t).HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis %v; a %v (%d), x %v (%d)", st, a.State(), a.Counts().ConsecutiveFailures, x.State(), x.Counts().ConsecutiveFailures)
	if st["st"] != "0" || st["f"] != "0" {
		t.Fatalf("after the operator's Close, a failure of the old generation counts: st=%s f=%s", st["st"], st["f"])
	}
}

// Close sends what is gathered and leaves the fleet even while a round of
// sends is in flight.
func TestCloseLeavesUnderTraffic(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r8", OpTimeout: 100 * time.Millisecond}
	g := &gate{}
	s := gatedStore(t, srv, opts, g)
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 100})
	syncStore(t, s)
	f := func(cmds []redis.Cmder, next func() error) error {
		if report, _ := redisstore.IsReport(cmds[0].Args()); len(cmds) == 1 && report {
			time.Sleep(20 * time.Millisecond) // a report on its way: Redis is healthy
		}
		return next()
	}
	g.around.Store(&f)
	_ = b.Call(bg, boom)
	time.Sleep(5 * time.Millisecond)
	_ = s.Close()
	c := srv.Client(t)
	time.Sleep(50 * time.Millisecond)
	// Its heartbeat is of long ago (the next member's reaps it) and its
	// registrations are gone.
	live := c.ZCount(bg, "r8:v2:members", "1", "+inf").Val()
	nmem := c.HGetAll(bg, "r8:v2:{r8."+strconv.Itoa(bucketOfName("db"))+"}:nmem").Val()
	t.Logf("live members %d, nmem %v", live, nmem)
	if live != 0 || len(nmem) != 0 {
		t.Fatalf("Close with a healthy Redis did not leave: %d live members, nmem %v", live, nmem)
	}
}

// fakeRedis is a Redis server in memory (net.Pipe), so that a test can
// run in a synctest bubble, on virtual time: with hung, it takes every
// connection and never answers (a paused server); otherwise, or once
// stopped, it refuses them (a server down).
type fakeRedis struct {
	hung  bool
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func (f *fakeRedis) dial(context.Context, string, string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.hung {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	c, srv := net.Pipe()
	f.conns = append(f.conns, srv)
	f.wg.Go(func() { _, _ = io.Copy(io.Discard, srv) })
	return c, nil
}

// client is a client of f with o's options (Addr and Dialer set).
func (f *fakeRedis) client(o redis.Options) *redis.Client {
	o.Addr, o.Dialer = "127.0.0.1:6379", f.dial // an IP: no lookup
	return redis.NewClient(&o)
}

// stop ends every connection, refuses new ones, and waits for the
// server's goroutines. Stopped first, it lets a store close in a bubble
// at once: a goroutine waiting on a mutex held across a request that
// never ends would stop the bubble's clock (a mutex is no durable block).
func (f *fakeRedis) stop() {
	f.mu.Lock()
	f.hung = false
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// bindBound checks, on virtual time, that New waits for nothing and that
// each Bind on a store of a client of f with co waits OpTimeout at most,
// for the subscription, the counters and the bind script together. On
// virtual time the bound is exact and a busy host cannot stretch it: on a
// real paused server, a loaded 2-core host with the race detector woke
// Bind's timers up to 340ms late, past any margin worth asserting.
func bindBound(t *testing.T, f *fakeRedis, co redis.Options, opts redisstore.Options) {
	redistest.Quiet()
	synctest.Test(t, func(t *testing.T) {
		cl := f.client(co)
		var s *redisstore.Store
		defer func() {
			f.stop()
			if s != nil {
				_ = s.Close()
			}
			_ = cl.Close()
			// go-redis's dial retries and its subscription's loop run
			// out: every goroutine of the bubble ends before it does.
			time.Sleep(time.Minute)
		}()
		if d := timed(func() { s = redisstore.New(cl, opts) }); d != 0 {
			t.Fatalf("New took %v", d)
		}
		want := opts.OpTimeout
		if want == 0 {
			want = 100 * time.Millisecond // the default
		}
		for _, name := range []string{"db", "second"} {
			d := timed(func() { _, _ = newBreaker(t, s, infuse.Config{Name: name}) })
			t.Logf("Bind of %q took %v (OpTimeout %v)", name, d, want)
			if d > want {
				t.Fatalf("Bind of %q took %v, OpTimeout is %v", name, d, want)
			}
		}
	})
}

// The first Bind on a store waits OpTimeout at most, for the
// subscription, the counters and the bind script together, Redis paused
// (connections taken, nothing answered) or down (connections refused).
func TestBindWaitsOpTimeout(t *testing.T) {
	co := redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1} // as redistest's clients
	opts := redisstore.Options{Namespace: "r9", OpTimeout: 200 * time.Millisecond}
	t.Run("paused", func(t *testing.T) { bindBound(t, &fakeRedis{hung: true}, co, opts) })
	t.Run("down", func(t *testing.T) { bindBound(t, &fakeRedis{}, co, opts) })
}

// The same with go-redis's default client options (ReadTimeout 3s,
// contexts not honoured) and the default OpTimeout (100ms).
func TestBindWaitsOpTimeoutWithADefaultClient(t *testing.T) {
	bindBound(t, &fakeRedis{hung: true}, redis.Options{}, redisstore.Options{Namespace: "r9b"})
}
