package redisstore_test

// Binding, and the first answers of Redis after an outage.

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// latency delays every round trip (a Redis some 20ms away).
type latency time.Duration

func (l latency) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(time.Duration(l))
		return next(ctx, network, addr)
	}
}
func (l latency) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		time.Sleep(time.Duration(l))
		return next(ctx, cmd)
	}
}
func (l latency) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		time.Sleep(time.Duration(l))
		return next(ctx, cmds)
	}
}

// With a Redis some milliseconds away, the first Bind after New reaches
// it within OpTimeout (it does not spend it waiting for the store's own
// start).
func TestFirstBindAfterNewWithSomeLatency(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(redistest.Options(srv.Addr))
	c.AddHook(latency(10 * time.Millisecond))
	defer c.Close()
	s := redisstore.New(c, redisstore.Options{Namespace: "rv5"})
	defer s.Close()
	_, r := newBreaker(t, s, infuse.Config{})
	t.Logf("store errors %d, listener store errors %d", s.Errors(), r.Count(infuse.EventStoreError))
	if s.Errors() > 0 {
		t.Fatalf("the first Bind after New failed on a healthy Redis ~10ms away (%d store errors)", s.Errors())
	}
}

// A member that could not reach Redis at Bind trips alone; while the
// sender's bind seeds Redis with that trip, an operator disables the
// breaker on this member: the Disable is kept and shared.
func TestDisableDuringTheSeedingBindIsKept(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("rv2")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Minute}
	g := &gate{}
	g.blocked.Store(true)
	sy := gatedStore(t, srv, opts, g)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("local trip: %v", err)
	}
	var once atomic.Bool
	f := func(cmds []redis.Cmder, next func() error) error {
		if len(cmds) == 1 && hasScript(cmds, "bind") && once.CompareAndSwap(false, true) {
			err := y.Disable(bg) // the operator, while the bind is on its way
			t.Logf("Disable during the bind: %v; y %v/%v", err, y.State(), y.Mode())
		}
		return next()
	}
	g.around.Store(&f)
	g.blocked.Store(false)
	time.Sleep(time.Second)
	syncStore(t, sy)
	st := srv.Client(t).HGetAll(bg, sy.Key("db")).Val()
	t.Logf("bind intercepted: %v; redis %v; y %v/%v", once.Load(), st, y.State(), y.Mode())
	if !once.Load() {
		t.Fatal("the bind was not intercepted")
	}
	if y.Mode() != infuse.ModeDisabled || st["md"] != "2" {
		t.Fatalf("the operator's Disable was dropped: y %v/%v, redis md=%q st=%q", y.State(), y.Mode(), st["md"], st["st"])
	}
}

// A member cut off from Redis trips, probes, closes and trips again alone.
// When Redis is back it pushes its state, Open, once: the answer to its own
// push is not taken for a trip Redis made by itself (which would push again:
// two generations, and with a Backoff a doubled open period).
func TestOwnPushIsNotTakenForRedisMove(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("rv3")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, Backoff: infuse.Backoff{Multiplier: 2}}
	sx := newStore(t, srv, opts)
	g := &gate{}
	sy := gatedStore(t, srv, opts, g)
	x, rx := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)
	c := srv.Client(t)
	g0 := c.HGet(bg, sx.Key("db"), "g").Val()

	g.blocked.Store(true)
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) { // Open
		t.Fatalf("local trip: %v", err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := y.Call(bg, succeed); err != nil { // HalfOpen, Closed
		t.Fatalf("local trial: %v", err)
	}
	if err := y.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) { // Open
		t.Fatalf("second local trip: %v", err)
	}
	t.Logf("y alone: %v trips=%d gen %d", y.State(), y.Counts(), y.Generation())
	opensBefore := rx.Count(infuse.EventStateChange)
	g.blocked.Store(false)
	time.Sleep(time.Second)
	syncStore(t, sx)
	syncStore(t, sy)
	st := c.HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis before g=%s, now %v; x %v retry %v; y %v retry %v; x saw %d state changes",
		g0, st, x.State(), x.RetryAfter(), y.State(), y.RetryAfter(), rx.Count(infuse.EventStateChange)-opensBefore)
	if st["tr"] != "1" {
		t.Fatalf("one trip over a closed breaker stored as tr=%s (g %s -> %s): the member pushed its state twice", st["tr"], g0, st["g"])
	}
}
