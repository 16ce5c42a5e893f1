package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/storage"
	"github.com/redis/go-redis/v9"
)

// The scripts check the generation a member saw themselves, not only the
// binding before them: a batch of outcomes or a trial's answer that reaches
// Redis after the breaker moved on changes nothing. These tests send the
// scripts what a binding's own checks never let through.

func twoBindings(t *testing.T, ns string) (*Store, *binding, *binding) {
	t.Helper()
	srv := redistest.Start(t)
	opts := Options{Namespace: ns, OpTimeout: 2 * time.Second}
	s1, s2 := New(srv.Client(t), opts), New(srv.Client(t), opts)
	t.Cleanup(func() { _ = s1.Close(); _ = s2.Close() })
	pol := func() storage.Policy {
		return storage.Policy{FailMax: 3, ResetTimeout: time.Hour, SuccessThreshold: 1, HalfOpenMaxCalls: 1}
	}
	bind := func(s *Store) *binding {
		b, err := s.Bind(storage.BindConfig{Name: "dep", Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		return b.(*binding)
	}
	return s1, bind(s1), bind(s2)
}

func stored(t *testing.T, s *Store) Info {
	t.Helper()
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	i, err := s.Breaker(context.Background(), "dep")
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestAReportOfAnOlderGenerationChangesNothing(t *testing.T) {
	s, a, b := twoBindings(t, "staleReport")
	ctx := context.Background()
	a.Report(a.Snapshot().Generation, storage.OutcomeFailure)
	stored(t, s)
	a.mu.Lock()
	old := a.conf
	a.mu.Unlock()
	if old.gen == 0 {
		t.Fatal("the member has no confirmed generation")
	}
	for _, to := range []infuse.State{infuse.Open, infuse.Closed} {
		if _, _, err := b.Transition(ctx, storage.Transition{To: to}); err != nil {
			t.Fatal(err)
		}
	}
	now := stored(t, s)
	// Five failures of the old generation: enough to trip it, were they
	// counted in the new one.
	a.mu.Lock()
	c := a.call(0, reportArgs{FromInc: old.inc, FromGen: strconv.FormatUint(old.gen, 10), Before: 5, FailMax: 3,
		Resets: old.resets, Binding: a.id})
	a.mu.Unlock()
	if _, _, _, err := s.run(ctx, a, c); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s); got.State != infuse.Closed || got.Generation != now.Generation || got.Failures != 0 {
		t.Fatalf("after a report of generation %d: %+v, want generation %d closed with no failures", old.gen, got, now.Generation)
	}
}

func TestATrialAnswerOfAnOlderGenerationChangesNothing(t *testing.T) {
	s, a, b := twoBindings(t, "staleSettle")
	ctx := context.Background()
	if _, _, err := b.Transition(ctx, storage.Transition{To: infuse.HalfOpen}); err != nil {
		t.Fatal(err)
	}
	half := stored(t, s)
	// A lease of the current half-open period, with the number a stale
	// answer carries.
	a.mu.Lock()
	inc := a.conf.inc
	a.mu.Unlock()
	leases := s.Key("dep") + ":t"
	if err := s.client.ZAdd(ctx, leases, redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "77"}).Err(); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	c := a.call(0, settleArgs{FromInc: inc, FromGen: strconv.FormatUint(half.Generation-1, 10), Permit: 77,
		Outcome: storage.OutcomeFailure, SuccessThreshold: 1, RanMs: -1})
	a.mu.Unlock()
	if _, _, _, err := s.run(ctx, a, c); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s); got.State != infuse.HalfOpen || got.Generation != half.Generation {
		t.Fatalf("after a failed trial of generation %d: %+v, want generation %d half-open", half.Generation-1, got, half.Generation)
	}
	if err := s.client.ZScore(ctx, leases, "77").Err(); err != nil {
		t.Fatalf("the stale answer took the current lease: %v", err)
	}
}
