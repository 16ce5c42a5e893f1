package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// An operator starts a shadow for the fleet: every member runs the
// candidate, whose state is the fleet's; the live breakers keep
// protecting; stopping it stops it everywhere.
func TestShadowIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "shadow", Shadows: true, RefreshInterval: 50 * time.Millisecond}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	op := newStore(t, srv, redisstore.Options{Namespace: "shadow", Operator: true})
	cfg := infuse.Config{Name: "api", FailMax: 100, ResetTimeout: time.Minute}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)

	if err := op.SetShadow(bg, "api", &infuse.Candidate{FailMax: -1}); err == nil {
		t.Fatal("an invalid candidate accepted")
	}
	cand := infuse.Candidate{FailMax: 4, ResetTimeout: time.Minute}
	if err := op.SetShadow(bg, "api", &cand); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both members run the shadow", func() bool { return a.Shadow() != nil && b.Shadow() != nil })
	if got, bad, err := op.Shadows(bg); err != nil || bad != 0 || got["api"] != cand {
		t.Fatalf("Shadows: %v %d %v", got, bad, err)
	}
	// Two failures on each member: four in the fleet, the candidate's
	// FailMax, merged in Redis.
	for _, br := range []*infuse.Breaker{a, b, a, b} {
		if err := br.Call(bg, boom); errors.Is(err, infuse.ErrOpen) {
			t.Fatal("a live breaker rejected a call")
		}
	}
	syncStore(t, sa)
	syncStore(t, sb)
	eventually(t, "the candidate opens fleet-wide", func() bool {
		return a.Shadow().Breaker().State() == infuse.Open && b.Shadow().Breaker().State() == infuse.Open
	})
	wantState(t, a, infuse.Closed)
	wantState(t, b, infuse.Closed)
	_ = b.Call(bg, succeed)
	if n := b.Shadow().WouldHaveRejected(); n != 1 {
		t.Fatalf("would have rejected %d, want 1", n)
	}
	list, err := op.Breakers(bg)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, i := range list {
		if i.Name == "api"+infuse.ShadowSuffix {
			found = i.State == infuse.Open && i.Members == 2
		}
	}
	if !found {
		t.Fatalf("the listing has no open candidate with 2 members: %+v", list)
	}
	if err := op.SetShadow(bg, "api", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shadow stops on both members", func() bool { return a.Shadow() == nil && b.Shadow() == nil })
}

// A store without Options.Shadows never starts one, and a shadow the
// program started itself is not stopped by the store.
func TestShadowsAreOptIn(t *testing.T) {
	srv := redistest.Start(t)
	plain := newStore(t, srv, redisstore.Options{Namespace: "optin", RefreshInterval: 50 * time.Millisecond})
	following := newStore(t, srv, redisstore.Options{Namespace: "optin", Shadows: true, RefreshInterval: 50 * time.Millisecond})
	a, _ := newBreaker(t, plain, infuse.Config{Name: "api"})
	own, _ := newBreaker(t, following, infuse.Config{Name: "own"})
	mine, err := own.StartShadow(infuse.Candidate{FailMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.SetShadow(bg, "api", &infuse.Candidate{FailMax: 2}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if a.Shadow() != nil || own.Shadow() != mine {
		t.Fatalf("shadows %v, %v", a.Shadow(), own.Shadow())
	}
	// Garbage in the hash is left out and counted.
	c := srv.Client(t)
	c.HSet(bg, "optin:v2:shadows", "x", "{not json", "y", `{"failMax":-3}`, "z", `{"failMax":2,"extra":1}`)
	got, bad, err := plain.Shadows(bg)
	if err != nil || bad != 3 || len(got) != 1 {
		t.Fatalf("Shadows with garbage: %v %d %v", got, bad, err)
	}
}

// largest records the biggest reply string of a script a client runs.
type largest struct{ n atomic.Int64 }

func (l *largest) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *largest) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		l.see(cmd)
		return err
	}
}
func (l *largest) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			l.see(c)
		}
		return err
	}
}
func (l *largest) see(cmd redis.Cmder) {
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for n := int64(len(x)); n > l.n.Load() && !l.n.CompareAndSwap(l.n.Load(), n); {
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	if c, ok := cmd.(*redis.Cmd); ok {
		walk(c.Val())
	}
	if c, ok := cmd.(*redis.StringCmd); ok {
		walk(c.Val())
	}
}

// A hostile shadows hash costs a member little: a huge value is never
// transferred (it is left out, counted, and the good shadows still run);
// a hash of too many fields is read not at all; and a candidate too costly
// to run is refused.
func TestAHostileShadowsHashIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "hostile", Shadows: true, RefreshInterval: 50 * time.Millisecond}
	l := &largest{}
	c := redis.NewClient(redistest.Options(srv.Addr))
	c.AddHook(l)
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, opts)
	t.Cleanup(func() { _ = s.Close() })
	a, _ := newBreaker(t, s, infuse.Config{Name: "api"})
	op := newStore(t, srv, redisstore.Options{Namespace: "hostile", Operator: true})
	raw := srv.Client(t)
	raw.HSet(bg, "hostile:v2:shadows", "junk", strings.Repeat("x", 8<<20))
	if err := op.SetShadow(bg, "api", &infuse.Candidate{FailMax: 2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the good shadow runs beside the junk", func() bool { return a.Shadow() != nil })
	if got, bad, err := op.Shadows(bg); err != nil || bad != 1 || len(got) != 1 {
		t.Fatalf("Shadows beside an 8 MB value: %d good, %d bad, %v", len(got), bad, err)
	}
	if n := l.n.Load(); n > 4096 {
		t.Fatalf("a member read a reply of %d bytes", n)
	}

	// More fields than a member reads: none is read.
	fields := make([]any, 0, 600)
	for i := range 300 {
		fields = append(fields, fmt.Sprintf("f%d", i), "{}")
	}
	raw.HSet(bg, "hostile:v2:shadows", fields...)
	raw.HIncrBy(bg, "hostile:v2:shadows", "", 1)
	if got, bad, err := op.Shadows(bg); err != nil || len(got) != 0 || bad != 302 {
		t.Fatalf("Shadows with 302 fields: %d good, %d bad, %v", len(got), bad, err)
	}

	// A candidate too costly to run: refused.
	for _, cand := range []infuse.Candidate{
		{Window: infuse.TimeWindow(time.Hour, time.Second), FailureRate: 0.5},
		{Window: infuse.TimeWindow(3600*time.Millisecond, time.Millisecond), FailureRate: 0.5},
		{Window: infuse.CountWindow(1 << 20), FailureRate: 0.5},
	} {
		var ce *infuse.ConfigError
		if err := op.SetShadow(bg, "api", &cand); !errors.As(err, &ce) {
			t.Fatalf("SetShadow(%v): %v, want a *ConfigError", cand, err)
		}
	}
}

// Reading the shadows never holds up a real trip: with the shadows' reads
// stuck, a trip made elsewhere still reaches a member that follows them.
func TestStuckShadowsDoNotDelayATrip(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "stuck", Shadows: true, RefreshInterval: 50 * time.Millisecond}
	stuck := make(chan struct{})
	c := redis.NewClient(redistest.Options(srv.Addr))
	c.AddHook(shadowsStuck{stuck})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, opts)
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(func() { close(stuck) }) // before the store's Close, which waits for its goroutines
	cfg := infuse.Config{Name: "api", FailMax: 1, ResetTimeout: time.Minute}
	follower, _ := newBreaker(t, s, cfg)
	other := newStore(t, srv, redisstore.Options{Namespace: "stuck"})
	tripper, _ := newBreaker(t, other, cfg)
	time.Sleep(200 * time.Millisecond) // the shadows' reads are stuck by now
	if err := tripper.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	eventually(t, "the trip reaches the member whose shadows' reads are stuck", func() bool {
		return follower.State() == infuse.Open
	})
}

// shadowsStuck holds every read of the shadows hash until stuck closes.
type shadowsStuck struct{ stuck chan struct{} }

func (h shadowsStuck) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h shadowsStuck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.HasSuffix(s, ":v2:shadows") {
				<-h.stuck
				break
			}
		}
		return next(ctx, cmd)
	}
}
func (h shadowsStuck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
