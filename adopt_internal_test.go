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
	// transition, when set, answers Transition.
	transition func(t storage.Transition) (storage.Snapshot, bool, error)
	merges     bool
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

func (b *stubBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	if b.s.transition != nil {
		return b.s.transition(t)
	}
	return b.Binding.Transition(ctx, t)
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

// changesOf records a breaker's state changes.
func changesOf(b *Breaker) *[]Event {
	var evs []Event
	b.AddListener(ListenFor(ListenerFunc(func(ev Event) { evs = append(evs, ev) }), EventStateChange))
	return &evs
}

// A store that records who made a transition (storage.Snapshot.Maker) decides
// whether the breaker reports it as its own or another's, whichever way
// the snapshot reaches it (Observe or Made); a change to the state the
// breaker already had is reported only by the member that made it.
func TestTheStoresRecordOfTheMakerDecidesWhoReportsAChange(t *testing.T) {
	st := &stubStore{}
	b := newInternal(t, Config{Storage: st, Clock: &manualClock{now: time.Unix(1000, 0)}})
	evs := changesOf(b)
	gen := b.Generation()
	for i, c := range []struct {
		tell     func(storage.Snapshot)
		s        storage.Snapshot
		reported bool
		remote   bool
		what     string
	}{
		{st.cfg.Observe, storage.Snapshot{State: Open, From: Closed, Maker: storage.MakerHere}, true, false, "observed, made here"},
		{st.cfg.Made, storage.Snapshot{State: HalfOpen, From: Open, Maker: storage.MakerElsewhere}, true, true, "made for it, made elsewhere"},
		{st.cfg.Observe, storage.Snapshot{State: HalfOpen, From: HalfOpen, Maker: storage.MakerElsewhere}, false, true, "to the same state, elsewhere"},
		{st.cfg.Observe, storage.Snapshot{State: HalfOpen, From: HalfOpen, Maker: storage.MakerHere}, true, false, "to the same state, here"},
		{st.cfg.Made, storage.Snapshot{State: Closed, From: HalfOpen}, true, false, "made for it, maker unknown"},
		{st.cfg.Observe, storage.Snapshot{State: Open, From: Closed}, true, true, "observed, maker unknown"},
	} {
		gen++
		c.s.Generation = gen
		*evs = nil
		c.tell(c.s)
		if b.Generation() != gen || b.State() != c.s.State {
			t.Fatalf("%d (%s): the breaker is at %d, %v; want %d, %v", i, c.what, b.Generation(), b.State(), gen, c.s.State)
		}
		if len(*evs) != map[bool]int{true: 1, false: 0}[c.reported] {
			t.Fatalf("%d (%s): events %+v; want reported %v", i, c.what, *evs, c.reported)
		}
		if c.reported && ((*evs)[0].Remote != c.remote || (*evs)[0].To != c.s.State || (*evs)[0].Generation != gen) {
			t.Fatalf("%d (%s): %+v; want Remote %v", i, c.what, (*evs)[0], c.remote)
		}
	}
}

// A transition this breaker made that its store tells of (Made, made
// here) only after newer ones is reported once, marked Late, from what
// the store recorded; the breaker stays where it is. One it reported
// already, or one made elsewhere, or told by Observe, is not reported.
func TestAChangeMadeHereAndLearnedLateIsReportedOnceAsLate(t *testing.T) {
	st := &stubStore{}
	b := newInternal(t, Config{Storage: st, Clock: &manualClock{now: time.Unix(1000, 0)}})
	evs := changesOf(b)
	g := b.Generation()
	st.cfg.Observe(storage.Snapshot{State: Open, From: Closed, Generation: g + 2, Maker: storage.MakerHere}) // reported now
	st.cfg.Observe(storage.Snapshot{State: HalfOpen, From: Open, Generation: g + 5})
	*evs = nil
	late := storage.Snapshot{State: Closed, From: HalfOpen, Generation: g + 4, Maker: storage.MakerHere}
	st.cfg.Made(late)
	if len(*evs) != 1 {
		t.Fatalf("a late change made here: events %+v, want one", *evs)
	}
	if ev := (*evs)[0]; !ev.Late || ev.Remote || ev.From != HalfOpen || ev.To != Closed || ev.Generation != g+4 {
		t.Fatalf("the late change: %+v", ev)
	}
	if b.State() != HalfOpen || b.Generation() != g+5 {
		t.Fatalf("a late change moved the breaker to %v at %d", b.State(), b.Generation())
	}
	*evs = nil
	st.cfg.Made(late)                                                                                          // told again
	st.cfg.Made(storage.Snapshot{State: Open, From: Closed, Generation: g + 2, Maker: storage.MakerHere})      // reported when it came
	st.cfg.Made(storage.Snapshot{State: Open, From: Closed, Generation: g + 3, Maker: storage.MakerElsewhere}) // not this breaker's
	st.cfg.Observe(storage.Snapshot{State: Open, From: Closed, Generation: g + 1, Maker: storage.MakerHere})   // not through Made
	if len(*evs) != 0 {
		t.Fatalf("events %+v; want none", *evs)
	}
	// A breaker with no listener reports nothing, and remembers what it
	// made all the same.
	quiet := newInternal(t, Config{Name: "quiet", Storage: st, Clock: &manualClock{now: time.Unix(1000, 0)}})
	qg := quiet.Generation()
	st.cfg.Observe(storage.Snapshot{State: Open, From: Closed, Generation: qg + 3})
	st.cfg.Made(storage.Snapshot{State: Open, From: Closed, Generation: qg + 1, Maker: storage.MakerHere})
	qevs := changesOf(quiet)
	st.cfg.Made(storage.Snapshot{State: Open, From: Closed, Generation: qg + 1, Maker: storage.MakerHere})
	st.cfg.Made(storage.Snapshot{State: Open, From: Closed, Generation: qg + 2, Maker: storage.MakerHere})
	if len(*qevs) != 1 || (*qevs)[0].Generation != qg+2 {
		t.Fatalf("a quiet breaker's late changes, told again with a listener: %+v; want only the new one", *qevs)
	}
}

// A change that one call's answer brings without saying who made it,
// while another call of the breaker to its store is in flight, waits to
// learn its maker: the other call's answer claims it when it made it
// (Remote false), and when it did not, the change goes out as another
// breaker's once that call ends, not before.
func TestAChangeOfUnknownMakerWaitsForTheCallsInFlight(t *testing.T) {
	for _, claimed := range []bool{false, true} {
		clock := &manualClock{now: time.Unix(1000, 0)}
		st := &stubStore{}
		b := newInternal(t, Config{Storage: st, Clock: clock, ResetTimeout: time.Second})
		if err := b.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.now = clock.now.Add(time.Second)
		evs := changesOf(b)
		half := storage.Snapshot{State: HalfOpen, Generation: b.Generation() + 1, Trials: 1}
		inFirst, answerFirst := make(chan struct{}), make(chan struct{})
		calls := 0
		st.acquire = func() (storage.Permit, storage.Snapshot, bool) {
			calls++
			if calls == 1 { // the first call: its answer waits
				close(inFirst)
				<-answerFirst
				if claimed {
					return storage.Permit{Generation: half.Generation, ID: 1}, half, true
				}
			}
			return storage.Permit{}, half, false
		}
		first := make(chan error, 1)
		go func() { first <- b.Call(context.Background(), func(context.Context) error { return nil }) }()
		<-inFirst
		if err := b.Call(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrOpen) {
			t.Fatalf("the second call: %v, want no permit", err)
		}
		if b.State() != HalfOpen || len(*evs) != 0 {
			t.Fatalf("claimed %v: with a call in flight, state %v, events %+v; want half-open and no event yet", claimed, b.State(), *evs)
		}
		close(answerFirst)
		err := <-first
		if len(*evs) != 1 || (*evs)[0].Remote == claimed || (*evs)[0].From != Open || (*evs)[0].To != HalfOpen {
			t.Fatalf("claimed %v: once the first call ended (%v): events %+v", claimed, err, *evs)
		}
	}
}

// A store that merges outcomes answers a Report with the fleet's run of
// failures in the breaker's generation: the breaker takes it. An answer
// that shows a newer generation it did not make (another member's trip)
// is not taken from there: the store tells of it itself (Observe), so
// that the breaker can tell who made it.
func TestABreakerTakesTheFleetsRunFromAReportsAnswer(t *testing.T) {
	st := &stubStore{}
	b := newInternal(t, Config{Storage: st, FailMax: 10, Clock: &manualClock{now: time.Unix(1000, 0)}})
	gen := b.Generation()
	st.report = func(g uint64, _ storage.Outcome) (storage.Snapshot, bool) {
		return storage.Snapshot{State: Closed, Generation: g, Failures: 6}, false
	}
	fail := func(context.Context) error { return errors.New("failed") }
	_ = b.Call(context.Background(), fail)
	if c := b.Counts(); c.ConsecutiveFailures != 6 {
		t.Fatalf("the fleet's run of 6 in the answer: the breaker counts %d", c.ConsecutiveFailures)
	}
	st.report = func(g uint64, _ storage.Outcome) (storage.Snapshot, bool) {
		return storage.Snapshot{State: Open, Generation: g + 1, Failures: 10, Cause: storage.CauseFailures}, false
	}
	_ = b.Call(context.Background(), fail)
	if b.State() != Closed || b.Generation() != gen {
		t.Fatalf("an answer showing another's newer trip was taken: %v at %d", b.State(), b.Generation())
	}
}
