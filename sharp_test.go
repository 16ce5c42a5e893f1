package infuse_test

// Behaviours a planted bug once slipped past (issue 12's list): each test
// fails if the behaviour changes.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

// A call that lasts exactly SlowCallDuration is not slow: slow means
// longer than it.
func TestACallOfExactlySlowCallDurationIsNotSlow(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{Window: infuse.CountWindow(10), MinCalls: 1,
		SlowCallDuration: time.Second, SlowCallRate: 0.5})
	if err := b.Call(bg, func(context.Context) error { clock.Advance(time.Second); return nil }); err != nil {
		t.Fatal(err)
	}
	if m := b.Metrics(); m.SlowCalls != 0 || b.State() != infuse.Closed {
		t.Fatalf("a call of exactly SlowCallDuration counted slow: %+v", m)
	}
	_ = b.Call(bg, func(context.Context) error { clock.Advance(time.Second + time.Nanosecond); return nil })
	if m := b.Metrics(); b.State() != infuse.Open {
		t.Fatalf("a call a nanosecond longer was not slow: %+v", m)
	}
}

// An ExcludeFunc that panics excludes nothing: the error counts as a
// failure.
func TestAPanickingExcludeFuncExcludesNothing(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, ExcludeFunc: func(error) bool { panic("bad predicate") }})
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("the failure was excluded: %v", err)
	}
}

// SetResetTimeout during an open period moves its end, and RetryAfter
// follows.
func TestRetryAfterFollowsSetResetTimeout(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	_ = b.Call(bg, boom)
	clock.Advance(10 * time.Second)
	b.SetResetTimeout(20 * time.Second)
	if got := b.RetryAfter(); got != 10*time.Second {
		t.Fatalf("RetryAfter %v after SetResetTimeout, want 10s", got)
	}
	var oe *infuse.OpenError
	if err := b.Call(bg, succeed); !errors.As(err, &oe) || oe.RetryAfter != 10*time.Second {
		t.Fatalf("the rejection says %v", err)
	}
}

// Execute's own path for a breaker that is not plainly closed (a listener
// attached, open, half-open) refuses what Call refuses, and a closed
// breaker's Execute records its successes in the window and the totals.
func TestExecuteOffTheFastPath(t *testing.T) {
	run := func(b *infuse.Breaker, ctx context.Context) (bool, error) {
		ran := false
		_, err := infuse.Execute(ctx, b, func(context.Context) (int, error) { ran = true; return 1, nil })
		return ran, err
	}
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, HalfOpenMaxCalls: 1})
	var events []infuse.EventKind
	b.AddListener(infuse.ListenerFunc(func(ev infuse.Event) { events = append(events, ev.Kind) }))
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	var nilCtx context.Context
	if ran, err := run(b, cancelled); ran || err != context.Canceled {
		t.Fatalf("cancelled: ran %v, err %v", ran, err)
	}
	if ran, err := run(b, nilCtx); ran || err == nil {
		t.Fatalf("nil ctx: ran %v, err %v", ran, err)
	}
	if _, err := infuse.Execute[int](bg, b, nil); err == nil {
		t.Fatal("nil fn accepted")
	}
	if ran, err := run(b, bg); !ran || err != nil || len(events) == 0 {
		t.Fatalf("closed with a listener: ran %v, err %v, events %v", ran, err, events)
	}
	_ = b.Open(bg)
	if ran, err := run(b, bg); ran || !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("open: ran %v, err %v", ran, err)
	}
	_ = b.HalfOpen(bg)
	done, err := b.Allow(bg) // holds the one trial permit
	if err != nil {
		t.Fatal(err)
	}
	var oe *infuse.OpenError
	if ran, err := run(b, bg); ran || !errors.As(err, &oe) || oe.Reason != infuse.ReasonNoPermit {
		t.Fatalf("half-open, no permit free: ran %v, err %v", ran, err)
	}
	done(nil)

	w, _ := newBreaker(t, infuse.Config{Name: "window", Window: infuse.CountWindow(10), FailureRate: 0.5})
	w.Totals() // counting from here
	for range 3 {
		if ran, err := run(w, bg); !ran || err != nil {
			t.Fatal(ran, err)
		}
	}
	if m := w.Metrics(); m.Calls != 3 || m.Counts != (infuse.Counts{}) {
		t.Fatalf("the window holds %d calls after 3 successes: %+v", m.Calls, m)
	}
	if tot := w.Totals(); tot.Successes != 3 {
		t.Fatalf("Totals after 3 successes: %+v", tot)
	}
}

// Totals.Add adds every field.
func TestTotalsAddAddsEveryField(t *testing.T) {
	a := infuse.Totals{Successes: 1, Failures: 2, Ignored: 3, Rejections: 4, Transitions: 5, StoreErrors: 6}
	b := infuse.Totals{Successes: 10, Failures: 20, Ignored: 30, Rejections: 40, Transitions: 50, StoreErrors: 60}
	want := infuse.Totals{Successes: 11, Failures: 22, Ignored: 33, Rejections: 44, Transitions: 55, StoreErrors: 66}
	if got := a.Add(b); got != want {
		t.Fatalf("Add = %+v, want %+v", got, want)
	}
}

// Without a window both rates are -1; SetResetTimeout below 1 restores
// the default.
func TestNoWindowNoRatesAndResetTimeoutDefault(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	if m := b.Metrics(); m.FailureRate != -1 || m.SlowCallRate != -1 {
		t.Fatalf("rates without a window: %v, %v", m.FailureRate, m.SlowCallRate)
	}
	b.SetResetTimeout(time.Nanosecond)
	if d := b.ResetTimeout(); d != time.Nanosecond {
		t.Fatalf("SetResetTimeout(1ns): %v", d)
	}
	for _, d := range []time.Duration{0, -1} {
		b.SetResetTimeout(d)
		if got := b.ResetTimeout(); got != time.Minute {
			t.Fatalf("SetResetTimeout(%v): %v, want the default 1m", d, got)
		}
	}
}

// The slow-call rate is slow calls over calls: one slow call in ten is
// not half.
func TestOneSlowCallInTenIsNotHalf(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{Window: infuse.CountWindow(10), MinCalls: 10,
		SlowCallRate: 0.5, SlowCallDuration: time.Second})
	_ = b.Call(bg, func(context.Context) error { clock.Advance(2 * time.Second); return nil })
	for range 9 {
		_ = b.Call(bg, succeed)
	}
	if m := b.Metrics(); b.State() != infuse.Closed || m.SlowCallRate != 0.1 {
		t.Fatalf("one slow call in ten: %v, %+v", b.State(), m)
	}
}

// The open period a backoff gives is a pure function of the generation
// and the trips, the same on every member and in every version of the
// library (members of a fleet in a rolling upgrade agree on it).
func TestBackoffOpenPeriodsArePinned(t *testing.T) {
	p := infuse.Policy{ResetTimeout: 10 * time.Second, Backoff: infuse.Backoff{Multiplier: 2}}
	for trips, want := range map[int]time.Duration{0: 10 * time.Second, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second} {
		if got := p.OpenFor(infuse.Snapshot{Generation: 7, Trips: trips}); got != want {
			t.Errorf("no Max, %d trips: %v, want %v", trips, got, want)
		}
	}
	p.Backoff.Max = 30 * time.Second
	if got := p.OpenFor(infuse.Snapshot{Generation: 7, Trips: 4}); got != 30*time.Second {
		t.Errorf("Max 30s, 4 trips: %v", got)
	}
	p.Backoff = infuse.Backoff{Multiplier: 1000}
	if got := p.OpenFor(infuse.Snapshot{Trips: 1 << 20}); got != 1<<62 { // MaxInt64/2, as a float64
		t.Errorf("a huge backoff: %v, want the cap %v", got, time.Duration(1<<62))
	}
	p.Backoff = infuse.Backoff{Multiplier: 1, Jitter: 0.5}
	for gen, want := range []time.Duration{10665615751, 10911897341, 6134503420, 9314558177} {
		// Within a microsecond: an architecture may fuse a multiply and an
		// add, which rounds once instead of twice.
		if got := p.OpenFor(infuse.Snapshot{Generation: uint64(gen + 1), Trips: 1}); got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("jitter 0.5, generation %d: %v, want %v", gen+1, got, want)
		}
	}
}

// BindConfig.Check fills only what was left nil.
func TestBindConfigCheckKeepsWhatIsGiven(t *testing.T) {
	var errs []error
	var windows []infuse.WindowCounts
	c, err := infuse.BindConfig{Name: "x", OnError: func(err error) { errs = append(errs, err) },
		ObserveWindow: func(w infuse.WindowCounts) { windows = append(windows, w) }}.Check()
	if err != nil {
		t.Fatal(err)
	}
	c.OnError(errBoom)
	c.ObserveWindow(infuse.WindowCounts{Calls: 1})
	if len(errs) != 1 || len(windows) != 1 {
		t.Fatalf("Check replaced the given callbacks: %v, %v", errs, windows)
	}
}

// Removing an excluded error of a type == cannot compare removes nothing
// and does not panic; a nil one matches nothing.
func TestRemoveExcludedOfAnUncomparableError(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	b.AddExcluded(uncomparable{[]string{"y"}}, errBoom)
	b.RemoveExcluded(uncomparable{[]string{"y"}}, nil)
	if got := b.Excluded(); len(got) != 2 {
		t.Fatalf("Excluded() = %v, want both still", got)
	}
	b.RemoveExcluded(errBoom)
	if got := b.Excluded(); len(got) != 1 {
		t.Fatalf("Excluded() = %v after removing errBoom", got)
	}
}

// kindsAsked is an EventFilter that records the kinds it is asked about.
type kindsAsked struct{ asked []infuse.EventKind }

func (k *kindsAsked) Wants(kind infuse.EventKind) bool {
	k.asked = append(k.asked, kind)
	return true
}
func (*kindsAsked) OnEvent(infuse.Event) {}

// A filter is asked about each kind of event once, and about nothing else.
func TestAnEventFilterIsAskedAboutEachKind(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	f := &kindsAsked{}
	b.AddListener(f)
	for i, k := range f.asked {
		if k != infuse.EventKind(i+1) || k.String() == "EventKind(?)" {
			t.Fatalf("asked about %v", f.asked)
		}
	}
	if len(f.asked) < int(infuse.EventStoreCall) {
		t.Fatalf("asked about %v only", f.asked)
	}
}
