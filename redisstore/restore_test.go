package redisstore_test

// Faults found by a sixth review, each failing on the version before:
// restores from the summary line, stale pushes, caller deadlines.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A member cut off from Redis (its view: generation 1, closed) trips,
// probes and closes alone, while the fleet trips (generation 4). Its push
// of Closed from generation 1 is refused; and so it is when the state key
// was evicted meanwhile (its summary line puts generation 4 back, which is
// not the member's): a member that never saw the breaker open does not
// close it.
func TestAStalePushDoesNotCloseTheFleetsOpen(t *testing.T) {
	for _, evict := range []bool{false, true} {
		t.Run(map[bool]string{false: "Kept", true: "Evicted"}[evict], func(t *testing.T) { stalePush(t, evict) })
	}
}

func stalePush(t *testing.T, evict bool) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r6a", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 200 * time.Millisecond}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	x, _ := newBreaker(t, sx, infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 1, HalfOpenMaxCalls: 1})
	y, _ := newBreaker(t, sy, infuse.Config{FailMax: 1, ResetTimeout: time.Hour})
	syncStore(t, sx)
	syncStore(t, sy)

	g.blocked.Store(true)
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if err := y.Release(bg); err != nil {
		t.Fatal(err)
	}
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("y trip: %v", err)
	}
	syncStore(t, sy)
	t.Logf("redis after y: %v", c.HGetAll(bg, sy.Key("db")).Val())

	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("x local trip: %v", err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := x.Call(bg, succeed); err != nil {
		t.Fatalf("x local trial: %v", err)
	}
	t.Logf("x alone: %v gen %d", x.State(), x.Generation())

	if evict {
		c.Del(bg, sy.Key("db")) // the summary line still holds generation 4, open
	}

	f := func(cmds []redis.Cmder, next func() error) error {
		if hasScript(cmds, "changes") || hasScript(cmds, "read") {
			time.Sleep(600 * time.Millisecond) // x's reads are slow; its push goes first
		}
		return next()
	}
	g.around.Store(&f)
	g.blocked.Store(false)
	time.Sleep(1500 * time.Millisecond)
	g.around.Store(nil)
	syncStore(t, sx)
	syncStore(t, sy)
	st := c.HGetAll(bg, sy.Key("db")).Val()
	t.Logf("redis %v; x %v y %v", st, x.State(), y.State())
	if st["st"] != "1" || y.State() != infuse.Open {
		t.Fatalf("the fleet's open breaker (generation 4, tripped by y) was closed by x's stale push from generation 1: redis %v, y %v", st, y.State())
	}
}

// A member saw the breaker forced open and is cut off; an operator
// releases it and forces it open again through another member, which then
// goes away; nobody renews the key, which expires after TTL. The member
// back finds the change it missed with no key: it keeps the breaker forced
// open (its own view, and the fleet's last state), never takes it for
// closed.
func TestAnExpiredForcedOpenIsNotTakenAsClosed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r6b", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 200 * time.Millisecond, TTL: 3 * time.Second, IdleTTL: time.Second}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	sz := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Second}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	ocfg := cfg
	ocfg.Name = sameBucket("db")
	_, _ = newBreaker(t, sz, ocfg) // keeps the bucket's keys renewed
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	if x.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("x %v", x.Mode())
	}
	g.blocked.Store(true)
	if err := y.Release(bg); err != nil {
		t.Fatal(err)
	}
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("redis: %v", c.HGetAll(bg, sy.Key("db")).Val())
	_ = sy.Close() // y's process goes away
	time.Sleep(4 * time.Second)
	t.Logf("after TTL: key exists %d", c.Exists(bg, sy.Key("db")).Val())
	g.blocked.Store(false)
	time.Sleep(1500 * time.Millisecond)
	st := c.HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis %v; x %v/%v", st, x.State(), x.Mode())
	if x.Mode() != infuse.ModeForcedOpen || st["md"] != "1" {
		t.Fatalf("forced open (x's view and the fleet's last state) undone: x %v/%v, redis %v", x.State(), x.Mode(), st)
	}
}

// More than eight batches of one binding wait to be sent again after an
// outage; their pipeline runs but its answers are lost. Sent again, each
// batch is merged once.
func TestManyRetriedBatchesAreCountedOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r6c", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: time.Second}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	x, _ := newBreaker(t, sx, infuse.Config{FailMax: 1000, ResetTimeout: time.Minute})
	syncStore(t, sx)
	g.blocked.Store(true)
	const n = 12
	for i := 0; i < n; i++ {
		_ = x.Call(bg, boom)
		time.Sleep(120 * time.Millisecond) // a send round fails; the batch waits to be sent again
	}
	var dropped atomic.Bool
	f := func(cmds []redis.Cmder, next func() error) error {
		if hasScript(cmds, "report") && dropped.CompareAndSwap(false, true) {
			err := next()
			reports := 0
			for _, c := range cmds {
				if isScript(c, "report") {
					reports++
				}
				c.SetErr(errCut) // the answers are lost
			}
			t.Logf("pipeline of %d reports ran; answers lost (%v)", reports, err)
			return errCut
		}
		return next()
	}
	g.around.Store(&f)
	g.blocked.Store(false)
	time.Sleep(500 * time.Millisecond)
	g.around.Store(nil)
	syncStore(t, sx)
	got := c.HGet(bg, sx.Key("db"), "f").Val()
	t.Logf("Redis f=%s; x %+v", got, x.Counts())
	if got != "12" {
		t.Fatalf("%d failures, merged run %s in Redis", n, got)
	}
}

// A trial permit asked for by a caller with a few ms left: a script run
// past the caller's own deadline is the caller's business, not a failure of
// Redis (no error counted, the store not degraded).
//
// The store's own requests (the sender's, the reader's) wait a minute, so
// that a busy host that stalls one of them past a second fails none: what
// counts here is what the callers' tight deadlines do.
func TestATightCallerDeadlineIsNoRedisFailure(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r6d", RetryInterval: 20 * time.Millisecond, RefreshInterval: time.Second,
		DownAfter: time.Minute}
	g := &gate{}
	sx := patientStore(t, srv, opts, g)
	f := func(cmds []redis.Cmder, next func() error) error {
		time.Sleep(time.Millisecond) // a network: 1ms each way
		err := next()
		time.Sleep(time.Millisecond)
		return err
	}
	el := &errLog{}
	x, _ := newBreaker(t, sx, infuse.Config{FailMax: 1, ResetTimeout: 10 * time.Millisecond, HalfOpenMaxCalls: 1 << 20,
		SuccessThreshold: 1 << 20, Listeners: []infuse.Listener{el}})
	syncStore(t, sx)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	g.around.Store(&f)
	if shiftR6 != 0 {
		sx.ShiftOffsets(shiftR6) // the offset's estimate off by a round trip and a ms of truncation
	}
	e0 := sx.Errors()
	late := 0
	for i := 0; i < 400; i++ {
		left := time.Duration(2500+i*10) * time.Microsecond
		ctx, cancel := context.WithTimeout(bg, left)
		_, err := x.Allow(ctx)
		if ctx.Err() == nil && err != nil {
			late++
		}
		cancel()
		time.Sleep(25 * time.Millisecond)
	}
	t.Logf("store errors %d; rejected with the context alive %d; x %v; %v", sx.Errors()-e0, late, x.State(), el.errs)
	if sx.Errors() != e0 {
		t.Fatalf("a healthy Redis counted %d failures for callers' tight deadlines", sx.Errors()-e0)
	}
}

var shiftR6 int64

// HalfOpenMaxCalls 1: a caller with a few ms left whose acquire runs past
// its deadline does not grant itself a local permit beside the fleet's one
// lease.
//
// The members' own requests wait a minute (as above): a member whose
// requests all go unanswered for DownAfter takes Redis for unreachable and
// may run a trial of its own (docs/fleets.md), which a busy host's stall
// of a second would make here, but no caller's deadline.
func TestATightCallerDeadlineGivesNoSecondTrial(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r6e", RetryInterval: 20 * time.Millisecond, RefreshInterval: time.Second,
		TrialLease: time.Minute}
	g := &gate{}
	opts.DownAfter = time.Minute
	sx := patientStore(t, srv, opts, g)
	sy := patientStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 10 * time.Millisecond, HalfOpenMaxCalls: 1, SuccessThreshold: 1}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sx)
	time.Sleep(20 * time.Millisecond)
	f := func(cmds []redis.Cmder, next func() error) error {
		time.Sleep(time.Millisecond)
		err := next()
		time.Sleep(time.Millisecond)
		return err
	}
	g.around.Store(&f)
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(bg, time.Duration(2500+i*10)*time.Microsecond)
		d, err := x.Allow(ctx)
		cancel()
		if err != nil {
			time.Sleep(25 * time.Millisecond)
			continue
		}
		// x holds a trial; the fleet's limit is one.
		dy, erry := y.Allow(bg)
		if erry == nil {
			dy(context.Canceled)
			d(context.Canceled)
			t.Fatalf("attempt %d: x and y both run a trial, HalfOpenMaxCalls 1 (x's store errors %d)", i, sx.Errors())
		}
		d(context.Canceled)
		syncStore(t, sx)
		syncStore(t, sy)
		time.Sleep(25 * time.Millisecond)
	}
}

// A renewal on its way (its names read before a Detach) reaches Redis
// after the breaker's unregistering: it does not register it again.
func TestARenewalDoesNotRegisterADetachedBreaker(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r6f", TTL: 900 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond}
	x, _ := newBreaker(t, sx, cfg)
	ocfg := cfg
	ocfg.Name = sameBucket("db")
	_, _ = newBreaker(t, sx, ocfg) // x's member keeps the bucket
	syncStore(t, sx)
	entered := make(chan struct{})
	var once atomic.Bool
	f := func(cmds []redis.Cmder, next func() error) error {
		if hasScript(cmds, "renew") && once.CompareAndSwap(false, true) {
			close(entered)
			time.Sleep(150 * time.Millisecond) // on its way
		}
		return next()
	}
	g.around.Store(&f)
	<-entered
	_ = x.Detach()
	time.Sleep(1500 * time.Millisecond)
	info, err := sy.Breaker(bg, "db")
	t.Logf("db: %+v, %v", info, err)
	if err == nil && info.Members > 0 {
		t.Fatalf("a breaker no member has bound is listed with %d members", info.Members)
	}
}

// Half-open, HalfOpenMaxCalls 1, one member holds the lease; the state key
// alone is evicted. Its summary line puts the state back with its leases:
// no second trial, and the holder's outcome counts.
func TestASummaryRestoreKeepsLiveLeases(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r6g", TrialLease: time.Minute}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 50 * time.Millisecond, HalfOpenMaxCalls: 1, SuccessThreshold: 1}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sx)
	time.Sleep(80 * time.Millisecond)
	done, err := y.Allow(bg)
	if err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	t.Logf("before: %v leases %v", c.HGetAll(bg, sx.Key("db")).Val(), c.ZRange(bg, sx.Key("db")+":t", 0, -1).Val())
	c.Del(bg, sx.Key("db")) // evicted; its leases key is not
	d2, err := x.Allow(bg)
	if err == nil {
		d2(nil)
		done(nil)
		t.Fatalf("x got a second trial while y's lease was alive: redis %v", c.HGetAll(bg, sx.Key("db")).Val())
	}
	done(nil)
}

// A member cut off at generation 1 is disabled locally; the fleet is
// forced open meanwhile, and its key is evicted. The stale push is refused
// (from the generation put back from the summary line, it is not from the
// member's), and the fleet stays forced open.
func TestAStaleModePushDoesNotUndoAForcedOpen(t *testing.T) {
	for _, evict := range []bool{false, true} {
		srv := redistest.Start(t)
		c := srv.Client(t)
		ns := "r6h0"
		if evict {
			ns = "r6h1"
		}
		opts := redisstore.Options{Namespace: ns, OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
			RefreshInterval: 200 * time.Millisecond}
		g := &gate{}
		sx := gatedStore(t, srv, opts, g)
		sy := newStore(t, srv, opts)
		cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour}
		x, _ := newBreaker(t, sx, cfg)
		y, _ := newBreaker(t, sy, cfg)
		syncStore(t, sx)
		syncStore(t, sy)
		g.blocked.Store(true)
		_ = x.Disable(bg) // locally: Redis is out of reach
		if err := y.ForceOpen(bg); err != nil {
			t.Fatal(err)
		}
		if evict {
			c.Del(bg, sy.Key("db"))
		}
		f := func(cmds []redis.Cmder, next func() error) error {
			if hasScript(cmds, "changes") || hasScript(cmds, "read") {
				time.Sleep(600 * time.Millisecond)
			}
			return next()
		}
		g.around.Store(&f)
		g.blocked.Store(false)
		time.Sleep(1500 * time.Millisecond)
		g.around.Store(nil)
		syncStore(t, sx)
		syncStore(t, sy)
		st := c.HGetAll(bg, sy.Key("db")).Val()
		t.Logf("evicted %v: redis %v; x %v y %v", evict, st, x.Mode(), y.Mode())
		if st["md"] != "1" {
			t.Errorf("evicted %v: the fleet's forced open (generation 2) replaced by x's stale Disable: redis %v", evict, st)
		}
	}
}
