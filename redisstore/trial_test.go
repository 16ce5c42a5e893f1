package redisstore_test

// Faults found by a seventh review, each failing on the version before:
// leases of trials settled alone or after Close, restarts after idle
// expiry; and the outcome path's allocations.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A trial that succeeds (below SuccessThreshold) while the store is
// degraded by a brief error elsewhere gives its Redis lease back: the
// fleet's only trial slot is not held for TrialLease.
func TestASettleWhileDegradedGivesItsLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r7a", OpTimeout: 100 * time.Millisecond, RetryInterval: 300 * time.Millisecond,
		RefreshInterval: 20 * time.Millisecond}
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 2, HalfOpenMaxCalls: 1}
	sx := newStore(t, srv, opts)
	g := &gate{}
	sy := gatedStore(t, srv, opts, g)
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	err := y.Call(bg, func(context.Context) error {
		// a blip on y's connection while the trial runs: the poll fails
		g.blocked.Store(true)
		time.Sleep(60 * time.Millisecond)
		g.blocked.Store(false)
		return nil
	})
	if err != nil {
		t.Fatalf("trial: %v", err)
	}
	rc := srv.Client(t)
	time.Sleep(500 * time.Millisecond) // the blip is long over
	syncStore(t, sx)
	syncStore(t, sy)
	leases := rc.ZCard(bg, sx.Key("db")+":t").Val()
	st := rc.HGetAll(bg, sx.Key("db")).Val()
	t.Logf("redis %v leases %d; x %v y %v", st, leases, x.State(), y.State())
	admitted := 0
	for range 20 {
		if x.Call(bg, succeed) == nil {
			admitted++
		}
		if y.Call(bg, succeed) == nil {
			admitted++
		}
		time.Sleep(10 * time.Millisecond)
	}
	if leases != 0 || admitted == 0 {
		t.Fatalf("the settled trial's lease is still held (%d leases); %d trials admitted in the fleet since; redis s=%s", leases, admitted, st["s"])
	}
}

// A breaker that tripped once and has been quiet for IdleTTL has no key; a
// member that starts then takes the identity the old members know (from
// the summary line), so the failures of all add up and FailMax of them
// trip the breaker.
func TestARestartAfterIdleExpiryKeepsFailures(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r7b", IdleTTL: 300 * time.Millisecond}
	cfg := infuse.Config{FailMax: 3, ResetTimeout: 50 * time.Millisecond}
	sa := newStore(t, srv, opts)
	sb := newStore(t, srv, opts)
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	for range 3 {
		_ = a.Call(bg, boom)
	}
	wantState(t, a, infuse.Open)
	time.Sleep(60 * time.Millisecond)
	if err := a.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, infuse.Closed)
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Closed)
	time.Sleep(600 * time.Millisecond) // quiet: the key expires
	if n := srv.Client(t).Exists(bg, sa.Key("db")).Val(); n != 0 {
		t.Fatalf("key still there")
	}
	sc := newStore(t, srv, opts) // a member restarts (a deploy)
	c, _ := newBreaker(t, sc, cfg)
	for _, x := range []struct {
		br *infuse.Breaker
		s  *redisstore.Store
	}{{c, sc}, {a, sa}, {b, sb}} {
		_ = x.br.Call(bg, boom)
		syncStore(t, x.s)
	}
	syncStore(t, sa)
	syncStore(t, sb)
	syncStore(t, sc)
	st := srv.Client(t).HGetAll(bg, sa.Key("db")).Val()
	t.Logf("redis %v; a %v %+v, b %v, c %v", st, a.State(), a.Counts(), b.State(), c.State())
	if st["st"] != "1" {
		t.Fatalf("three failures, one from each member, FailMax 3: redis holds st=%s f=%s g=%s", st["st"], st["f"], st["g"])
	}
}

// A closed-state failure, a failure then a success, and an open breaker's
// rejection allocate nothing.
func TestOutcomesAllocateNothing(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{Namespace: "r7c"})
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 1 << 30})
	b2, _ := newBreaker(t, s, infuse.Config{Name: "open", FailMax: 1, ResetTimeout: time.Hour})
	_ = b2.Call(bg, boom)
	for range 1000 {
		_ = b.Call(bg, boom)
	}
	fail := testing.AllocsPerRun(10000, func() { _ = b.Call(bg, boom) })
	alt := testing.AllocsPerRun(10000, func() { _ = b.Call(bg, boom); _ = b.Call(bg, succeed) })
	rej := testing.AllocsPerRun(10000, func() { _ = b2.Call(bg, succeed) })
	t.Logf("allocs: failure %.2f, failure+success %.2f, rejection %.2f", fail, alt, rej)
}

// A member shut down (Store.Close) while its trial runs gives the trial's
// lease back: the fleet is not left without a trial for TrialLease.
func TestACloseDuringATrialGivesTheLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r7d"}
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, HalfOpenMaxCalls: 1}
	sx := newStore(t, srv, opts)
	sy := newStore(t, srv, opts)
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	_ = x.Call(bg, boom)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	if err := y.Call(bg, func(context.Context) error { _ = sy.Close(); return errBoom }); !errors.Is(err, infuse.ErrTripped) {
		t.Logf("trial: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	syncStore(t, sx)
	leases := srv.Client(t).ZCard(bg, sx.Key("db")+":t").Val()
	admitted := 0
	for range 50 {
		if x.Call(bg, succeed) == nil {
			admitted++
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("x %v, leases %d, admitted %d, redis %v", x.State(), leases, admitted, srv.Client(t).HGetAll(bg, sx.Key("db")).Val())
	if admitted == 0 {
		t.Fatalf("a failed trial of a member that closed its store blocks the fleet's trials (%d leases held)", leases)
	}
}
