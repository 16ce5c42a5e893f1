package infuse

// How a breaker takes what its store answers (adopt), with a store whose
// answers a test chooses: answers the memory store never gives.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse/internal/coarse"
	"github.com/infuse-go/infuse/storage"
)

// stubStore binds through a MemoryStorage and lets a test replace what
// its binding answers.
type stubStore struct {
	mem     *MemoryStorage
	cfg     storage.BindConfig
	snap    *storage.Snapshot // Snapshot's answer, when set
	acquire func() (storage.Permit, storage.Snapshot, bool)
	report  func(gen uint64, o storage.Outcome) (storage.Snapshot, bool)
	merges  bool
}

func (s *stubStore) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	if s.mem == nil {
		s.mem = NewMemoryStorage()
	}
	s.cfg = cfg
	inner, err := s.mem.Bind(cfg)
	if err != nil {
		return nil, err
	}
	return &stubBinding{Binding: inner, s: s}, nil
}

type stubBinding struct {
	storage.Binding
	s *stubStore
}

func (b *stubBinding) Snapshot() storage.Snapshot {
	if b.s.snap != nil {
		return *b.s.snap
	}
	return b.Binding.Snapshot()
}

func (b *stubBinding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	if b.s.acquire != nil {
		return b.s.acquire()
	}
	return b.Binding.Acquire(ctx)
}

func (b *stubBinding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	if b.s.report != nil {
		return b.s.report(gen, o)
	}
	return b.Binding.Report(gen, o)
}

func (b *stubBinding) MergesWindows() bool { return b.s.merges }

func newInternal(t *testing.T, cfg Config) *Breaker {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = t.Name()
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openError(t *testing.T, err error) *OpenError {
	t.Helper()
	var oe *OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("%v is not an *OpenError", err)
	}
	return oe
}

// A breaker that joins a store's open period measures it from the store's
// OpenedAt, through the real clock too; a store's generation 0 is 1.
func TestAJoiningBreakerTakesTheStoresOpenPeriodAndGeneration(t *testing.T) {
	st := &stubStore{snap: &storage.Snapshot{State: Open, Generation: 5, Trips: 1, OpenedAt: time.Now().Add(-10 * time.Second)}}
	b := newInternal(t, Config{Storage: st, ResetTimeout: time.Minute})
	if g := b.Generation(); g != 5 {
		t.Fatalf("Generation() = %d, want the store's 5", g)
	}
	coarse.Read()
	err := b.rejectFast(b.cur.Load())
	if err == nil {
		t.Fatal("no fast rejection")
	}
	if left := openError(t, err).RetryAfter; left > 51*time.Second || left < 49*time.Second {
		t.Fatalf("RetryAfter = %v, 10s into a minute the store started", left)
	}
	st = &stubStore{snap: &storage.Snapshot{State: Closed}}
	if g := newInternal(t, Config{Storage: st}).Generation(); g != 1 {
		t.Fatalf("a store's generation 0 became %d, want 1", g)
	}
}

// A trial refused because the store holds a newer open period says what
// is left of it; refused while forced open or half-open, nothing.
func TestARefusedTrialSaysWhatTheStoreLeft(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	st := &stubStore{}
	b := newInternal(t, Config{Storage: st, Clock: clock, ResetTimeout: time.Minute})
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.now = clock.now.Add(2 * time.Minute)
	var changes []Event
	b.AddListener(ListenerFunc(func(ev Event) {
		if ev.Kind == EventStateChange {
			changes = append(changes, ev)
		}
	}))
	gen := b.Generation()
	for _, c := range []struct {
		s      storage.Snapshot
		left   time.Duration
		reason Reason
		change bool
	}{
		{storage.Snapshot{State: Open, Trips: 2, OpenedAt: clock.now.Add(-20 * time.Second)}, 40 * time.Second, ReasonOpen, false},
		{storage.Snapshot{State: HalfOpen}, 0, ReasonNoPermit, true},
		{storage.Snapshot{State: Open, Mode: ModeForcedOpen, OpenedAt: clock.now.Add(-20 * time.Second)}, 0, ReasonForcedOpen, true},
	} {
		gen++
		c.s.Generation = gen
		changes = nil
		st.acquire = func() (storage.Permit, storage.Snapshot, bool) { return storage.Permit{}, c.s, false }
		oe := openError(t, b.Call(context.Background(), func(context.Context) error { return nil }))
		if oe.RetryAfter != c.left || oe.Reason != c.reason || oe.State != c.s.State {
			t.Errorf("refused with %+v: %+v; want RetryAfter %v, %v", c.s, oe, c.left, c.reason)
		}
		// Another member's change, told in the answer: the listener
		// hears of it before the call returns, as remote.
		if c.change && (len(changes) != 1 || !changes[0].Remote || changes[0].To != c.s.State) {
			t.Errorf("refused with %+v: state changes %+v", c.s, changes)
		}
		if c.s.State == Open && c.s.Mode != ModeForcedOpen {
			clock.now = clock.now.Add(time.Minute) // the period over again
		}
	}
}

// A breaker whose store merges outcomes later (Report trips nothing)
// trips itself at FailMax consecutive failures, counts no more than
// FailMax of them while disabled, and never trips then.
func TestABreakerTripsItselfWhenTheStoreDoesNot(t *testing.T) {
	st := &stubStore{report: func(uint64, storage.Outcome) (storage.Snapshot, bool) { return storage.Snapshot{}, false }}
	b := newInternal(t, Config{Storage: st, FailMax: 3, Clock: &manualClock{now: time.Unix(1000, 0)}})
	fail := func(context.Context) error { return errors.New("failed") }
	for i := 1; i <= 2; i++ {
		if err := b.Call(context.Background(), fail); errors.Is(err, ErrTripped) || b.State() != Closed {
			t.Fatalf("failure %d of 3: %v, %v", i, err, b.State())
		}
	}
	if err := b.Call(context.Background(), fail); !errors.Is(err, ErrTripped) || b.State() != Open {
		t.Fatalf("failure 3 of 3: %v, %v", err, b.State())
	}
	if err := b.Disable(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := b.Call(context.Background(), fail); errors.Is(err, ErrTripped) {
			t.Fatal("a disabled breaker tripped")
		}
	}
	if c := b.Counts(); c.ConsecutiveFailures != 3 || b.State() != Closed {
		t.Fatalf("disabled after 5 failures: %+v, %v; want 3 counted (FailMax), closed", c, b.State())
	}
}

// An answer to the breaker's own call only ever raises its counters (a
// concurrent call's newer answer may have come first); what the store
// tells on its own is taken as it is.
func TestOwnAnswersOnlyRaiseTheCounters(t *testing.T) {
	b := newInternal(t, Config{FailMax: 100, Clock: &manualClock{now: time.Unix(1000, 0)}})
	e := b.cur.Load()
	e.failures.Store(5)
	for _, o := range []origin{answerMade, answer} {
		b.adopt(storage.Snapshot{State: Closed, Generation: e.gen, Failures: 3}, o)
		if n := e.failures.Load(); n != 5 {
			t.Fatalf("an answer (origin %d) with 3 failures lowered 5 to %d", o, n)
		}
	}
	for _, o := range []origin{observed, made} {
		e.failures.Store(5)
		b.adopt(storage.Snapshot{State: Closed, Generation: e.gen, Failures: 3}, o)
		if n := e.failures.Load(); n != 3 {
			t.Fatalf("the store's own word (origin %d) of 3 failures left %d", o, n)
		}
	}
}
