package redisstore_test

// Faults found by a fourth review, each failing on the version before:
// data loss and failovers, callers that give up, scripts run too late,
// half-open costs.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// isScript tells a command running script name (EVALSHA or EVAL).
func isScript(c redis.Cmder, name string) bool {
	a := c.Args()
	if len(a) < 2 {
		return false
	}
	s, _ := a[0].(string)
	switch {
	case strings.EqualFold(s, "evalsha"):
		return a[1] == redisstore.ScriptHash(name)
	case strings.EqualFold(s, "eval"):
		body, _ := a[1].(string)
		h := sha1.Sum([]byte(body))
		return hex.EncodeToString(h[:]) == redisstore.ScriptHash(name)
	}
	return false
}

func hasScript(cmds []redis.Cmder, name string) bool {
	for _, c := range cmds {
		if isScript(c, name) {
			return true
		}
	}
	return false
}

func sameBucket(name string) string {
	for i := 0; ; i++ {
		o := "n" + strconv.Itoa(i)
		if o != name && bucketOfName(o) == bucketOfName(name) {
			return o
		}
	}
}

// A failover to a replica that missed the bucket's last change: the
// counter keeps its epoch and goes back, then climbs back to the value a
// member had seen before its next poll. The member notices (the token of
// the change it saw last is not the counter's) and reads the bucket: it
// learns of an operator's ForceOpen made right after the failover.
func TestAFailoverToAReplicaBehindIsNoticed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "rv4c", RefreshInterval: 100 * time.Millisecond}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	q := sameBucket("db")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Hour}
	cfg.Name = "db"
	xdb, _ := newBreaker(t, sx, cfg)
	ydb, _ := newBreaker(t, sy, cfg)
	cfg.Name = q
	xq, _ := newBreaker(t, sx, cfg)
	yq, _ := newBreaker(t, sy, cfg)
	_ = xq
	if err := yq.Open(bg); err != nil { // one change, so the bucket has a counter
		t.Fatal(err)
	}
	if err := yq.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)

	base := strings.TrimSuffix(sx.Key("db"), "b:db")
	keys := []string{base + "seq", base + "log", sx.Key("db"), sx.Key(q)}
	// The replica's copy, as of now.
	dumps := map[string]string{}
	for _, k := range keys {
		if v, err := c.Dump(bg, k).Result(); err == nil {
			dumps[k] = v
		}
	}
	t.Logf("replica's counter %q", c.Get(bg, base+"seq").Val())
	// A change the replica misses.
	if err := yq.Open(bg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x sees q open", func() bool { return xq.State() == infuse.Open })
	t.Logf("master's counter %q, seen by x", c.Get(bg, base+"seq").Val())
	// Failover: the replica's data.
	for _, k := range keys {
		c.Del(bg, k)
		if v, ok := dumps[k]; ok {
			if err := c.RestoreReplace(bg, k, 0, v).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Right after it, the operator forces db open (through y).
	if err := ydb.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("counter after the operator's ForceOpen %q", c.Get(bg, base+"seq").Val())
	time.Sleep(2 * time.Second) // twenty polls
	t.Logf("redis db %v; x: %v/%v, y: %v/%v", c.HGetAll(bg, sx.Key("db")).Val(), xdb.State(), xdb.Mode(), ydb.State(), ydb.Mode())
	if xdb.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("member x never learned that db was forced open: %v/%v (Redis md=%s)", xdb.State(), xdb.Mode(),
			c.HGet(bg, sx.Key("db"), "md").Val())
	}
}

var _ = errors.New
var _ atomic.Bool
var _ = context.Background

// Redis loses its data while the fleet's breaker is forced open (or
// open); a member that starts after the loss binds (it starts closed) and
// reports one failure, which writes an idle closed state. The members that
// knew the forced mode put it back above every generation seen: a loss and
// a new member do not end an operator's ForceOpen.
func TestDataLossAndANewMemberKeepAForcedOpen(t *testing.T) {
	for _, mode := range []string{"forced-open", "open"} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			c := srv.Client(t)
			opts := redisstore.Options{Namespace: "rv4e" + mode, RefreshInterval: 500 * time.Millisecond}
			sx := newStore(t, srv, opts)
			cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour}
			x, _ := newBreaker(t, sx, cfg)
			if mode == "forced-open" {
				if err := x.ForceOpen(bg); err != nil {
					t.Fatal(err)
				}
			} else if err := x.Open(bg); err != nil {
				t.Fatal(err)
			}
			syncStore(t, sx)
			c.FlushAll(bg)
			// A member that starts now (a new pod).
			sz := newStore(t, srv, opts)
			z, _ := newBreaker(t, sz, cfg)
			_ = z.Call(bg, boom) // one failure: reported, not a trip
			syncStore(t, sz)
			t.Logf("redis after z's report: %v", c.HGetAll(bg, sx.Key("db")).Val())
			time.Sleep(2 * time.Second)
			syncStore(t, sx)
			syncStore(t, sz)
			t.Logf("redis %v; x %v/%v; z %v/%v", c.HGetAll(bg, sx.Key("db")).Val(), x.State(), x.Mode(), z.State(), z.Mode())
			if x.State() != infuse.Open || z.State() != infuse.Open {
				t.Fatalf("the fleet's %s breaker was closed by data loss and one failure of a new member: x %v/%v, z %v/%v",
					mode, x.State(), x.Mode(), z.State(), z.Mode())
			}
		})
	}
}

// A caller whose context ends while its trial permit is asked for is no
// Redis failure: nothing is counted, no listener hears of it, the store
// stays on Redis; and the lease Redis may have granted is given back.
func TestACallerThatGivesUpIsNoRedisFailure(t *testing.T) {
	srv := redistest.Start(t)
	g := &gate{}
	opts := redisstore.Options{Namespace: "rv4a", OpTimeout: 500 * time.Millisecond}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond}
	el := &errLog{}
	cfg.Listeners = []infuse.Listener{el}
	x, _ := newBreaker(t, sx, cfg)
	cfg.Listeners = nil
	y, _ := newBreaker(t, sy, cfg)
	cfg.Name = "other"
	xo, _ := newBreaker(t, sx, cfg)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond) // the open period is over

	// Redis runs the acquire script at once; its answer takes 20ms to come
	// back. The caller gives up after 5ms.
	f := func(cmds []redis.Cmder, next func() error) error {
		err := next()
		if hasScript(cmds, "acquire") {
			time.Sleep(20 * time.Millisecond)
		}
		return err
	}
	g.around.Store(&f)
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(5*time.Millisecond, cancel)
	err := x.Call(ctx, func(ctx context.Context) error { return ctx.Err() })
	g.around.Store(nil)
	t.Logf("cancelled call: %v; store errors %d; listener saw %v", err, sx.Errors(), el.errs)
	oerr := xo.Open(bg) // another breaker of the same process
	t.Logf("another breaker's Open right after: %v", oerr)
	bad := false
	if sx.Errors() != 0 || len(el.errs) != 0 {
		t.Errorf("a caller's cancellation counted as a store error (%d, %v)", sx.Errors(), el.errs)
		bad = true
	}
	if oerr != nil {
		t.Errorf("another breaker of the process went local-only: %v", oerr)
		bad = true
	}
	// The fleet's trials.
	deadline := time.Now().Add(3 * time.Second)
	got := false
	for time.Now().Before(deadline) && !got {
		for _, b := range []*infuse.Breaker{x, y} {
			if err := b.Call(bg, succeed); err == nil {
				got = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	syncStore(t, sx)
	st := srv.Client(t).HGetAll(bg, sx.Key("db")).Val()
	lease := srv.Client(t).ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val()
	t.Logf("redis %v leases %v; x %v y %v", st, lease, x.State(), y.State())
	if !got {
		t.Errorf("no member got a trial for 3s: the lease granted to the cancelled request is held (%v)", lease)
		bad = true
	}
	_ = bad
}

// Redis runs the acquire script at once but its answer comes back after
// OpTimeout: the caller goes on locally, and the lease Redis granted is
// given back (its number is the binding's), not held for TrialLease.
func TestALostAcquireAnswerGivesTheLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	g := &gate{}
	opts := redisstore.Options{Namespace: "rv4a2", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	var once atomic.Bool
	f := func(cmds []redis.Cmder, next func() error) error {
		err := next()
		if hasScript(cmds, "acquire") && once.CompareAndSwap(false, true) {
			time.Sleep(150 * time.Millisecond)
		}
		return err
	}
	g.around.Store(&f)
	// The trial x runs alone takes a while (a slow dependency).
	err := x.Call(bg, func(context.Context) error { time.Sleep(300 * time.Millisecond); return nil })
	g.around.Store(nil)
	t.Logf("x's trial: %v, x %v", err, x.State())
	deadline := time.Now().Add(3 * time.Second)
	got := false
	for time.Now().Before(deadline) && !got {
		for _, b := range []*infuse.Breaker{x, y} {
			if err := b.Call(bg, succeed); err == nil {
				got = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	lease := srv.Client(t).ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val()
	t.Logf("redis %v leases %v; x %v y %v", srv.Client(t).HGetAll(bg, sx.Key("db")).Val(), lease, x.State(), y.State())
	if !got {
		t.Fatalf("no member got a trial for 3s after one late answer: the lease is held (%v)", lease)
	}
}

// A script Redis runs past its caller's deadline (a reply stalled on its
// way back, a step of a clock) does nothing and says so: the caller
// handles it as a failure of Redis (it acts locally and shares it later),
// never as a quiet refusal (a ForceOpen returning nil and doing nothing).
func TestAScriptRunTooLateIsAnError(t *testing.T) {
	t.Run("ForceOpen, stalls", func(t *testing.T) {
		srv := redistest.Start(t)
		g := &gate{}
		opts := redisstore.Options{Namespace: "rv4b1", OpTimeout: 300 * time.Millisecond}
		sx := gatedStore(t, srv, opts, g)
		x, _ := newBreaker(t, sx, infuse.Config{FailMax: 3, ResetTimeout: time.Minute})
		syncStore(t, sx)
		// One answer stalls 150ms on its way back (a GC pause, a busy host).
		f := func(cmds []redis.Cmder, next func() error) error {
			err := next()
			if hasScript(cmds, "transition") {
				time.Sleep(150 * time.Millisecond)
			}
			return err
		}
		g.around.Store(&f)
		// Confirmed in time, or (on a host slower than the stall's margin)
		// made here and pushed: either way Redis ends closed, and the
		// member's idea of Redis's clock comes from a stalled answer.
		_ = x.Open(bg)
		_ = x.Close(bg)
		eventually(t, "the close reaches Redis", func() bool {
			return x.State() == infuse.Closed && storedState(t, srv, sx, "db") == "0" && !sx.Pending()
		})
		// Later, ForceOpen's script takes 200ms to reach Redis: within
		// OpTimeout (300ms).
		f2 := func(cmds []redis.Cmder, next func() error) error {
			if hasScript(cmds, "setMode") {
				time.Sleep(200 * time.Millisecond)
			}
			return next()
		}
		g.around.Store(&f2)
		var err error
		d := timed(func() { err = x.ForceOpen(bg) })
		g.around.Store(nil)
		syncStore(t, sx)
		t.Logf("ForceOpen: %v in %v; x %v/%v; redis %v", err, d, x.State(), x.Mode(), srv.Client(t).HGetAll(bg, sx.Key("db")).Val())
		if err == nil && x.Mode() != infuse.ModeForcedOpen {
			t.Fatalf("ForceOpen returned nil, answered in %v (OpTimeout 300ms), and did nothing: %v/%v", d, x.State(), x.Mode())
		}
	})
	t.Run("Settle, clock step", func(t *testing.T) {
		srv := redistest.Start(t)
		opts := redisstore.Options{Namespace: "rv4b2", OpTimeout: 300 * time.Millisecond}
		sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
		cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond}
		x, _ := newBreaker(t, sx, cfg)
		y, _ := newBreaker(t, sy, cfg)
		_ = x.Call(bg, boom)
		syncStore(t, sx)
		syncStore(t, sy)
		time.Sleep(150 * time.Millisecond)
		// During x's trial, Redis's host clock steps 1s ahead (or x's back).
		err := x.Call(bg, func(context.Context) error { sx.ShiftOffsets(-1000); return nil })
		t.Logf("trial: %v; x %v", err, x.State())
		deadline := time.Now().Add(3 * time.Second)
		closed := false
		for time.Now().Before(deadline) && !closed {
			_ = y.Call(bg, succeed)
			closed = y.State() == infuse.Closed
			time.Sleep(50 * time.Millisecond)
		}
		lease := srv.Client(t).ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val()
		t.Logf("redis %v leases %v; x %v y %v", srv.Client(t).HGetAll(bg, sx.Key("db")).Val(), lease, x.State(), y.State())
		if !closed {
			t.Fatalf("a successful trial, answered in time, was dropped and its lease kept: no trial for 3s (%v)", lease)
		}
	})
	t.Run("Open, clock step", func(t *testing.T) {
		srv := redistest.Start(t)
		sx := newStore(t, srv, redisstore.Options{Namespace: "rv4b3"})
		x, _ := newBreaker(t, sx, infuse.Config{FailMax: 3, ResetTimeout: time.Minute})
		_ = x.Call(bg, boom)
		syncStore(t, sx)
		sx.ShiftOffsets(-5000) // OpTimeout is 2s here
		err := x.Open(bg)
		t.Logf("Open: %v; x %v", err, x.State())
		if err == nil && x.State() != infuse.Open {
			t.Fatalf("Open returned nil and the breaker is %v", x.State())
		}
	})
}

// The FailMax-th failure whose report Redis runs too late still trips the
// breaker (locally, then shared).
func TestALateTrippingReportStillTrips(t *testing.T) {
	srv := redistest.Start(t)
	sx := newStore(t, srv, redisstore.Options{Namespace: "rv4b4"})
	x, _ := newBreaker(t, sx, infuse.Config{FailMax: 3, ResetTimeout: time.Minute})
	_ = x.Call(bg, boom)
	_ = x.Call(bg, boom)
	syncStore(t, sx)
	sx.ShiftOffsets(-5000)
	err := x.Call(bg, boom)
	syncStore(t, sx)
	t.Logf("third failure: %v; x %v %+v; redis %v", err, x.State(), x.Counts(), srv.Client(t).HGetAll(bg, sx.Key("db")).Val())
	if !errors.Is(err, infuse.ErrTripped) && x.State() != infuse.Open {
		t.Fatalf("the FailMax-th failure neither tripped nor was counted: %v, run %d", x.State(), x.Counts().ConsecutiveFailures)
	}
}

// After a data loss, a member raises Redis's state to one above the
// generation it knew; another member had seen one more. A raise takes a
// new incarnation, so that member never takes it for the generation it
// knew (it was left open for good, rejecting every call, while the fleet
// was closed).
func TestARaiseNeverTakesAGenerationSeen(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	gx := &gate{}
	var blockReads atomic.Bool
	fx := func(cmds []redis.Cmder, next func() error) error {
		if blockReads.Load() && (hasScript(cmds, "changes") || hasScript(cmds, "read")) {
			for _, c := range cmds {
				c.SetErr(errCut)
			}
			return errCut
		}
		return next()
	}
	gx.around.Store(&fx)
	ox := redisstore.Options{Namespace: "rv4f", OpTimeout: 2 * time.Second, RefreshInterval: 100 * time.Millisecond}
	ow := ox
	ow.RefreshInterval = 5 * time.Second
	sx := gatedStore(t, srv, ox, gx)
	sw := newStore(t, srv, ow)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: 300 * time.Millisecond}
	x, _ := newBreaker(t, sx, cfg)
	w, _ := newBreaker(t, sw, cfg)
	syncStore(t, sx)
	syncStore(t, sw)
	_ = w.Open(bg)
	_ = w.Close(bg)
	syncStore(t, sx)
	t.Logf("x %v gen %d, w %v gen %d, redis %v", x.State(), x.Generation()>>20, w.State(), w.Generation()>>20, c.HGetAll(bg, sx.Key("db")).Val())
	// x misses w's next change (its reads fail for a moment).
	blockReads.Store(true)
	_ = w.Open(bg)
	time.Sleep(50 * time.Millisecond)
	t.Logf("x %v gen %d (missed it), w %v gen %d", x.State(), x.Generation()>>20, w.State(), w.Generation()>>20)
	// Redis restarts empty; a new member binds and reports one failure.
	c.FlushAll(bg)
	sz := newStore(t, srv, ox)
	z, _ := newBreaker(t, sz, cfg)
	_ = z.Call(bg, boom)
	syncStore(t, sz)
	t.Logf("redis after z: %v", c.HGetAll(bg, sx.Key("db")).Val())
	blockReads.Store(false)
	time.Sleep(time.Second) // x's polls raise; w reads the raised state from the hint
	rejected := 0
	for range 60 { // 6s: past w's open period many times, and past w's own poll
		if err := w.Call(bg, succeed); errors.Is(err, infuse.ErrOpen) {
			rejected++
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("w rejected %d of 60 calls over 6s", rejected)
	syncStore(t, sx)
	syncStore(t, sz)
	t.Logf("redis %v; x %v gen %d; z %v gen %d; w %v gen %d", c.HGetAll(bg, sx.Key("db")).Val(),
		x.State(), x.Generation()>>20, z.State(), z.Generation()>>20, w.State(), w.Generation()>>20)
	if w.State() != x.State() {
		t.Fatalf("w stays %v at generation %d while Redis and the fleet are %v at that generation", w.State(), w.Generation()>>20, x.State())
	}
}

// While a trial runs, the calls every member rejects do not each ask
// Redis for a permit: a member asks at most once per FlushInterval while
// it knows every permit held.
func TestHalfOpenRejectionsDoNotEachAskRedis(t *testing.T) {
	srv := redistest.Start(t)
	g := &gate{}
	var acquires atomic.Int64
	f := func(cmds []redis.Cmder, next func() error) error {
		for _, c := range cmds {
			if isScript(c, "acquire") {
				acquires.Add(1)
			}
		}
		return next()
	}
	g.around.Store(&f)
	opts := redisstore.Options{Namespace: "rv4g"}
	sx := newStore(t, srv, opts)
	sy := gatedStore(t, srv, opts, g)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	_ = x.Call(bg, boom)
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		_ = x.Call(bg, func(context.Context) error { time.Sleep(500 * time.Millisecond); return nil })
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	acquires.Store(0)
	rejected := 0
	start := time.Now()
	for i := 0; i < 2000; i++ {
		if err := y.Call(bg, succeed); errors.Is(err, infuse.ErrOpen) {
			rejected++
		}
	}
	d := time.Since(start)
	<-done
	t.Logf("y: %d calls rejected in %v, %d acquire scripts sent to Redis", rejected, d, acquires.Load())
	if acquires.Load() > 100 {
		t.Errorf("%d rejected half-open calls cost %d scripts", rejected, acquires.Load())
	}
}

// A lease key of another type while half-open is replaced, not a script
// error on every member's permit.
func TestGarbageLeaseKeyWhileHalfOpen(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "rv4d", OpTimeout: 500 * time.Millisecond}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, HalfOpenMaxCalls: 2}
	x, _ := newBreaker(t, sx, cfg)
	el := &errLog{}
	cfg.Listeners = []infuse.Listener{el}
	y, _ := newBreaker(t, sy, cfg)
	defer func() { t.Logf("y's store errors: %v", el.errs) }()
	_ = x.Call(bg, boom)
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		_ = x.Call(bg, func(context.Context) error {
			c.Del(bg, sx.Key("db")+":t")
			c.Set(bg, sx.Key("db")+":t", "garbage", 0)
			time.Sleep(300 * time.Millisecond)
			return nil
		})
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	err := y.Call(bg, succeed)
	<-done
	t.Logf("y's call: %v; y errors %d", err, sy.Errors())
	if sy.Errors() != 0 {
		t.Fatalf("a lease key of another type made y's acquire fail: %d store errors", sy.Errors())
	}
}

// The bucket's change log lost on its own (evicted under a volatile-*
// maxmemory policy) while its counter survives: a reader whose counter is
// behind reads the whole bucket rather than taking "no change logged" for
// "nothing changed".
func TestALostLogIsNoticed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	gx := &gate{}
	var blockReads atomic.Bool
	fx := func(cmds []redis.Cmder, next func() error) error {
		if blockReads.Load() && (hasScript(cmds, "changes") || hasScript(cmds, "read")) {
			for _, c := range cmds {
				c.SetErr(errCut)
			}
			return errCut
		}
		return next()
	}
	gx.around.Store(&fx)
	opts := redisstore.Options{Namespace: "rv4c2", OpTimeout: 2 * time.Second, RefreshInterval: 100 * time.Millisecond}
	sx := gatedStore(t, srv, opts, gx)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	_ = y.Open(bg)
	_ = y.Close(bg)
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(300 * time.Millisecond) // x's polls: its counter is the bucket's
	blockReads.Store(true)
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(sx.Key("db"), "b:db")
	time.Sleep(300 * time.Millisecond)
	t.Logf("before: x %v/%v errors %d; seq %q log %v", x.State(), x.Mode(), sx.Errors(), c.Get(bg, base+"seq").Val(), c.ZRangeWithScores(bg, base+"log", 0, -1).Val())
	c.Del(bg, base+"log")
	blockReads.Store(false)
	time.Sleep(2 * time.Second)
	t.Logf("redis %v; x %v/%v; y %v/%v", c.HGetAll(bg, sx.Key("db")).Val(), x.State(), x.Mode(), y.State(), y.Mode())
	if x.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("x never learned of the ForceOpen: %v/%v", x.State(), x.Mode())
	}
}
