package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/storage"
)

// A trip this member's sender made, learned while one of the breaker's
// own calls is in flight, is held for that call's answer (it may be the
// call's own doing). When another member's newer change arrives first,
// the breaker hears of the held trip before it, as its own: otherwise the
// trip would be reported by no member at all (a busy host makes this
// order common: the call's answer is late).
func TestAHeldTripOutrunByAnothersChangeIsStillReportedAsMade(t *testing.T) {
	srv := redistest.Start(t)
	opts := Options{Namespace: "held", OpTimeout: 2 * time.Second}
	s1, s2 := New(srv.Client(t), opts), New(srv.Client(t), opts)
	t.Cleanup(func() { _ = s1.Close(); _ = s2.Close() })
	pol := func() storage.Policy {
		return storage.Policy{FailMax: 3, ResetTimeout: time.Hour, SuccessThreshold: 1, HalfOpenMaxCalls: 1}
	}
	type told struct {
		made bool
		s    storage.Snapshot
	}
	var mu sync.Mutex
	var heard []told
	// changes is what the breaker heard of transitions, after generation
	// gen: the sender may send the failures in more than one batch (it
	// often does on a quiet host), and the counts of the generation
	// before the trip may be told, in order, before it.
	changes := func(gen uint64) []told {
		mu.Lock()
		defer mu.Unlock()
		var c []told
		for _, h := range heard {
			if h.s.Generation > gen {
				c = append(c, h)
			}
		}
		return c
	}
	bound, err := s1.Bind(storage.BindConfig{Name: "dep", Policy: pol,
		Observe: func(s storage.Snapshot) { mu.Lock(); heard = append(heard, told{false, s}); mu.Unlock() },
		Made:    func(s storage.Snapshot) { mu.Lock(); heard = append(heard, told{true, s}); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	a := bound.(*binding)
	other, err := s2.Bind(storage.BindConfig{Name: "dep", Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	syncOf := func(s *Store) {
		t.Helper()
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	syncOf(s1)
	syncOf(s2)

	a.mu.Lock()
	a.inflight++ // one of the breaker's calls waits on Redis
	a.mu.Unlock()
	gen := a.Snapshot().Generation
	for range 3 {
		a.Report(gen, storage.OutcomeFailure)
	}
	syncOf(s1) // the sender's batch trips the fleet
	if s := a.Snapshot(); s.State != infuse.Open {
		t.Fatalf("after three failures sent: %v", s.State)
	}
	trip := a.Snapshot().Generation
	if c := changes(gen); len(c) != 0 {
		t.Fatalf("the trip was told while a call that may have made it was in flight: %+v", c)
	}

	// Another member moves the breaker on; this one learns of it before
	// its call answers.
	if _, _, err := other.Transition(ctx, storage.Transition{From: storage.AnyGeneration, To: infuse.HalfOpen}); err != nil {
		t.Fatal(err)
	}
	syncOf(s2)
	// Synced after the binding learned it, so that the breaker has been
	// told too.
	for deadline := time.Now().Add(30 * time.Second); ; {
		syncOf(s1)
		if a.Snapshot().Generation > trip {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member never learned of the other's change")
		}
	}
	a.mu.Lock()
	fire := a.ownEnd(nil) // the call ends in an error: it claims nothing
	a.mu.Unlock()
	if fire != nil {
		fire(a.Snapshot())
	}

	got := changes(gen)
	if len(got) < 2 {
		t.Fatalf("heard %+v, want the trip made here, then the other's change", got)
	}
	if first := got[0]; !first.made || first.s.Generation != trip || first.s.State != infuse.Open {
		t.Fatalf("first heard %+v, want the trip (generation %#x) as made here", first, trip)
	}
	if second := got[1]; second.made || second.s.State != infuse.HalfOpen {
		t.Fatalf("then heard %+v, want the other's half-open, observed", second)
	}
}
