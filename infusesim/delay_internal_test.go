package infusesim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
	"github.com/infuse-go/infuse/storagetest"
)

// The delayed store is a Storage like any other: news takes a
// millisecond of virtual time, and the suite's Sync runs the queue dry.
func TestDelayStoreKeepsTheStorageContract(t *testing.T) {
	en := newEngine(simOrigin) // one clock for the suite; each case gets a fresh state
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) infuse.Storage {
			return &delayStore{shared: infuse.NewMemoryStorage(), en: en, delay: time.Millisecond}
		},
		Clock:   &en.clock,
		Advance: func(d time.Duration) { en.runUntil(en.clock.since() + d) },
		Sync:    func(*testing.T, infuse.Storage) { en.runAll() },
	})
}

// observer keeps what a binding observed, and when.
type observer struct {
	mu   sync.Mutex
	seen []observed
	en   *engine
}

type observed struct {
	at   time.Duration
	snap storage.Snapshot
}

func (o *observer) observe(s storage.Snapshot) {
	o.mu.Lock()
	o.seen = append(o.seen, observed{o.en.clock.since(), s})
	o.mu.Unlock()
}

func (o *observer) last() (observed, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		return observed{}, false
	}
	return o.seen[len(o.seen)-1], true
}

func bindDelayed(t *testing.T, d *delayStore, failMax int) (storage.Binding, *observer) {
	t.Helper()
	o := &observer{en: d.en}
	b, err := d.Bind(storage.BindConfig{
		Name: "x", Clock: &d.en.clock, Observe: o.observe,
		Policy: func() storage.Policy {
			return storage.Policy{FailMax: failMax, ResetTimeout: time.Second, SuccessThreshold: 1, HalfOpenMaxCalls: 1}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, o
}

// A transition reaches the other members Delay after it is made; the
// member that made it has it at once.
func TestDelayedTransitionReachesOthersAfterTheDelay(t *testing.T) {
	const delay = 5 * time.Millisecond
	en := newEngine(simOrigin)
	d := &delayStore{shared: infuse.NewMemoryStorage(), en: en, delay: delay}
	a, _ := bindDelayed(t, d, 3)
	b, ob := bindDelayed(t, d, 3)
	s, changed, _ := a.Transition(context.Background(), storage.Transition{From: a.Snapshot().Generation, To: infuse.Open})
	if !changed || a.Snapshot().Generation != s.Generation {
		t.Fatalf("the member that tripped has %+v, want %+v at once", a.Snapshot(), s)
	}
	en.runUntil(delay - 1)
	if b.Snapshot().State != infuse.Closed {
		t.Fatalf("the other member knew of the trip before the delay: %+v", b.Snapshot())
	}
	en.runUntil(delay)
	if got, ok := ob.last(); !ok || got.at != delay || got.snap.Generation != s.Generation || b.Snapshot().State != infuse.Open {
		t.Fatalf("after the delay the other member observed %+v and holds %+v", got, b.Snapshot())
	}
}

// Outcomes reach the shared state Delay after the call, and a trip on
// the merged count comes back to every member Delay after that.
func TestDelayedReportsTripTheSharedStateAndComeBack(t *testing.T) {
	const delay = 2 * time.Millisecond
	en := newEngine(simOrigin)
	d := &delayStore{shared: infuse.NewMemoryStorage(), en: en, delay: delay}
	a, oa := bindDelayed(t, d, 3)
	b, ob := bindDelayed(t, d, 3)
	gen := a.Snapshot().Generation
	a.Report(gen, storage.OutcomeFailure)
	a.Report(gen, storage.OutcomeFailure)
	b.Report(gen, storage.OutcomeFailure)
	en.runUntil(delay - 1)
	if s := b.Snapshot(); s.Failures != 0 {
		t.Fatalf("reports arrived before the delay: %+v", s)
	}
	en.runUntil(2*delay - 1)
	if a.Snapshot().State != infuse.Closed || b.Snapshot().State != infuse.Closed {
		t.Fatal("the members heard of the trip in less than a round trip")
	}
	en.runAll()
	for i, o := range []*observer{oa, ob} {
		got, ok := o.last()
		if !ok || got.at != 2*delay || got.snap.State != infuse.Open {
			t.Fatalf("member %d observed %+v; want the trip at %v", i, got, 2*delay)
		}
	}
}

// The first trial permit of a half-open period comes a round trip (2 ×
// Delay) after the open period ends, as a live fleet's does.
func TestTheFirstTrialWaitsARoundTrip(t *testing.T) {
	en := newEngine(simOrigin)
	d := &delayStore{shared: infuse.NewMemoryStorage(), en: en, delay: time.Millisecond, trialTrip: true}
	b, err := infuse.New(infuse.Config{Name: "rt", Storage: d, Clock: &en.clock, FailMax: 1, ResetTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	en.runUntil(en.clock.since() + time.Second + time.Millisecond)
	if _, err := b.Allow(context.Background()); err == nil {
		t.Fatal("a permit 1 ms after the open period, before the round trip")
	}
	en.runUntil(en.clock.since() + time.Millisecond)
	if _, err := b.Allow(context.Background()); err != nil {
		t.Fatalf("no permit a round trip after the open period: %v", err)
	}
}
