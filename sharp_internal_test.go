package infuse

// The package's own tests of paths no public call can single out: the
// coarse-clock rejection, the reuse of a rejection's error, the running
// totals a merging store reads, a store's answers the memory store never
// gives. Each pins a behaviour a mutation of the code once changed
// unnoticed (make mutate).

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse/internal/coarse"
	"github.com/infuse-go/infuse/storage"
)

// stubStore binds through a MemoryStorage and lets a test replace what
// its binding answers.
type stubStore struct {
	mem     *MemoryStorage
	cfg     BindConfig
	snap    *Snapshot // Snapshot's answer, when set
	acquire func() (Permit, Snapshot, bool)
	report  func(gen uint64, o Outcome) (Snapshot, bool)
	merges  bool
}

func (s *stubStore) Bind(cfg BindConfig) (Binding, error) {
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
	Binding
	s *stubStore
}

func (b *stubBinding) Snapshot() Snapshot {
	if b.s.snap != nil {
		return *b.s.snap
	}
	return b.Binding.Snapshot()
}

func (b *stubBinding) Acquire(ctx context.Context) (Permit, Snapshot, bool) {
	if b.s.acquire != nil {
		return b.s.acquire()
	}
	return b.Binding.Acquire(ctx)
}

func (b *stubBinding) Report(gen uint64, o Outcome) (Snapshot, bool) {
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

// A merging store reads the closed generation's running totals of every
// call, whichever goroutine (and so whichever shard) recorded it; outside
// the closed state, or without a time window kept for it, there are none.
func TestCountedIsEveryCallOfTheClosedGeneration(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	st := &stubStore{merges: true}
	b := newInternal(t, Config{Storage: st, Clock: clock, FailMax: 1000, Window: TimeWindow(10*time.Second, time.Second),
		FailureRate: 0.9, SlowCallRate: 0.9, SlowCallDuration: time.Second})
	if c, ok := st.cfg.Counted(); !ok || c != (WindowCounts{Generation: b.Generation()}) {
		t.Fatalf("Counted() of a fresh breaker = %+v, %v", c, ok)
	}
	// 64 goroutines alive at once, on 64 stacks, so that their calls
	// spread over the shards (see shard.go).
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 64 {
		wg.Go(func() {
			var err error
			if i%4 == 0 {
				err = errors.New("failed")
			}
			<-start
			_ = b.Call(context.Background(), func(context.Context) error { return err })
		})
	}
	close(start)
	wg.Wait()
	_ = b.Call(context.Background(), func(context.Context) error { clock.now = clock.now.Add(2 * time.Second); return nil })
	want := WindowCounts{Generation: b.Generation(), Calls: 65, Failures: 16, SlowCalls: 1}
	if c, ok := st.cfg.Counted(); !ok || c != want {
		t.Fatalf("Counted() = %+v, %v; want %+v", c, ok, want)
	}
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, ok := st.cfg.Counted(); ok {
		t.Fatalf("Counted() of an open breaker = %+v, true", c)
	}

	for _, cfg := range []Config{
		{Storage: &stubStore{merges: true}, Window: CountWindow(10), FailureRate: 0.5},
		{Storage: &stubStore{}, Window: TimeWindow(time.Minute, time.Second), FailureRate: 0.5},
	} {
		st := cfg.Storage.(*stubStore)
		cfg.Clock = clock
		newInternal(t, cfg)
		if c, ok := st.cfg.Counted(); ok {
			t.Errorf("%v, merging %v: Counted() = %+v, true", cfg.Window, st.merges, c)
		}
	}
}

// With the real clock and an open period of at least coarse.MinOpen, a
// rejection reads the coarse clock and says what is left of the period;
// near its end, or for a shorter period, the slow path decides.
func TestRejectFastReadsTheCoarseClock(t *testing.T) {
	b := newInternal(t, Config{ResetTimeout: coarse.MinOpen})
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := b.cur.Load()
	fast := func() error {
		t.Helper()
		coarse.Read() // starts the clock if stopped
		return b.rejectFast(e)
	}
	err := fast()
	if err == nil {
		t.Fatal("no fast rejection of an open period of coarse.MinOpen")
	}
	if left := openError(t, err).RetryAfter; left > coarse.MinOpen || left < coarse.MinOpen-coarse.Margin {
		t.Fatalf("RetryAfter = %v just after opening for %v", left, coarse.MinOpen)
	}
	b.SetResetTimeout(coarse.MinOpen - 1)
	if err := fast(); err != nil {
		t.Fatalf("a period below coarse.MinOpen rejected fast: %v", err)
	}
	b.SetResetTimeout(time.Minute)
	e.open.mono -= int64(10 * time.Second)
	// The coarse clock may run behind by more than a tick on a busy
	// machine: RetryAfter is then that much long, within a second here.
	err = fast()
	if err == nil {
		t.Fatal("no fast rejection 10s into a minute")
	}
	if left := openError(t, err).RetryAfter; left > 51*time.Second || left < 49*time.Second {
		t.Fatalf("RetryAfter = %v 10s into a minute", left)
	}
	e.open.mono -= int64(45 * time.Second) // 5s left: within a tenth of the period
	if err := fast(); err != nil {
		t.Fatalf("rejected fast %v before the end of the period: %v", openError(t, err).RetryAfter, err)
	}
}

// A breaker that joins a store's open period measures it from the store's
// OpenedAt, through the real clock too; a store's generation 0 is 1.
func TestAJoiningBreakerTakesTheStoresOpenPeriodAndGeneration(t *testing.T) {
	st := &stubStore{snap: &Snapshot{State: Open, Generation: 5, Trips: 1, OpenedAt: time.Now().Add(-10 * time.Second)}}
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
	st = &stubStore{snap: &Snapshot{State: Closed}}
	if g := newInternal(t, Config{Storage: st}).Generation(); g != 1 {
		t.Fatalf("a store's generation 0 became %d, want 1", g)
	}
}

// A rejection reuses its error while RetryAfter stays within a
// millisecond above what is left, never below it.
func TestRejectOpenReusesItsErrorWithinAMillisecond(t *testing.T) {
	b := newInternal(t, Config{Clock: &manualClock{now: time.Unix(1000, 0)}})
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := b.cur.Load()
	const left = 10 * time.Second
	first := openError(t, b.rejectOpen(e, left, reuseNever))
	for _, c := range []struct {
		left time.Duration
		same bool
	}{
		{left, true},
		{left - time.Millisecond + 1, true},
		{left - time.Millisecond, false},
		{left + 1, false},
	} {
		got := openError(t, b.rejectOpen(e, c.left, reuseNever))
		if (got == first) != c.same || (!c.same && got.RetryAfter != c.left) {
			t.Fatalf("left %v after %v: same error %v (RetryAfter %v), want same %v", c.left, first.RetryAfter, got == first, got.RetryAfter, c.same)
		}
		first = got
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
		s      Snapshot
		left   time.Duration
		reason Reason
		change bool
	}{
		{Snapshot{State: Open, Trips: 2, OpenedAt: clock.now.Add(-20 * time.Second)}, 40 * time.Second, ReasonOpen, false},
		{Snapshot{State: HalfOpen}, 0, ReasonNoPermit, true},
		{Snapshot{State: Open, Mode: ModeForcedOpen, OpenedAt: clock.now.Add(-20 * time.Second)}, 0, ReasonForcedOpen, true},
	} {
		gen++
		c.s.Generation = gen
		changes = nil
		st.acquire = func() (Permit, Snapshot, bool) { return Permit{}, c.s, false }
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

// An EventKind outside the known ones has no name, at either end.
func TestEventKindStringOutsideTheKinds(t *testing.T) {
	for _, k := range []EventKind{0, EventKind(len(eventKindNames))} {
		if s := k.String(); s != "EventKind(?)" {
			t.Errorf("EventKind(%d).String() = %q", k, s)
		}
	}
	if s := EventKind(len(eventKindNames) - 1).String(); s == "EventKind(?)" {
		t.Errorf("the last kind has no name")
	}
}

// A breaker whose store merges outcomes later (Report trips nothing)
// trips itself at FailMax consecutive failures, counts no more than
// FailMax of them while disabled, and never trips then.
func TestABreakerTripsItselfWhenTheStoreDoesNot(t *testing.T) {
	st := &stubStore{report: func(uint64, Outcome) (Snapshot, bool) { return Snapshot{}, false }}
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
		b.adopt(Snapshot{State: Closed, Generation: e.gen, Failures: 3}, o)
		if n := e.failures.Load(); n != 5 {
			t.Fatalf("an answer (origin %d) with 3 failures lowered 5 to %d", o, n)
		}
	}
	for _, o := range []origin{observed, made} {
		e.failures.Store(5)
		b.adopt(Snapshot{State: Closed, Generation: e.gen, Failures: 3}, o)
		if n := e.failures.Load(); n != 3 {
			t.Fatalf("the store's own word (origin %d) of 3 failures left %d", o, n)
		}
	}
}

// Each limit of Config is inclusive: the limit itself is valid, one past
// it is a *ConfigError.
func TestConfigLimitsAreInclusive(t *testing.T) {
	rate := func(c Config) Config { c.FailureRate = 0.5; return c }
	for _, c := range []struct {
		ok, bad Config
	}{
		{Config{FailMax: storage.MaxCount}, Config{FailMax: storage.MaxCount + 1}},
		{Config{FailMax: 0}, Config{FailMax: -1}},
		{Config{FleetMinMembers: 1000}, Config{FleetMinMembers: 1001}},
		{rate(Config{Window: CountWindow(10), MinCalls: storage.MaxCount}), rate(Config{Window: CountWindow(10), MinCalls: storage.MaxCount + 1})},
		{Config{Backoff: Backoff{Multiplier: 1}}, Config{Backoff: Backoff{Multiplier: 0.999}}},
		{Config{Backoff: Backoff{Multiplier: 1000}}, Config{Backoff: Backoff{Multiplier: 1000.001}}},
		{Config{Backoff: Backoff{Multiplier: 2, Jitter: 1}}, Config{Backoff: Backoff{Multiplier: 2, Jitter: 1.001}}},
		{Config{Backoff: Backoff{Multiplier: 2, Max: 0}}, Config{Backoff: Backoff{Multiplier: 2, Max: -1}}},
		{rate(Config{Window: CountWindow(storage.MaxWindowCalls)}), rate(Config{Window: CountWindow(storage.MaxWindowCalls + 1)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Second)}), rate(Config{Window: TimeWindow(0, time.Second)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Second)}), rate(Config{Window: TimeWindow(time.Second, 0)})},
		{rate(Config{Window: TimeWindow(time.Second, time.Millisecond)}), rate(Config{Window: TimeWindow(time.Second, time.Millisecond-1)})},
		{rate(Config{Window: TimeWindow(storage.MaxWindowBuckets*time.Second, time.Second)}), rate(Config{Window: TimeWindow(storage.MaxWindowBuckets*time.Second+1, time.Second)})},
	} {
		c.ok.Name, c.bad.Name = "x", "x"
		if _, err := c.ok.validate(); err != nil {
			t.Errorf("%+v: %v", c.ok, err)
		}
		var ce *ConfigError
		if _, err := c.bad.validate(); !errors.As(err, &ce) {
			t.Errorf("%+v: %v, want a *ConfigError", c.bad, err)
		}
	}
}
