package infuse_test

// The Go-specific rules (ARCHITECTURE.md, "The state machine") and the
// cases pybreaker's own suite leaves out.

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

func TestPanicCountsAsFailureAndGoesOn(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, Listeners: []infuse.Listener{&r}})
	got := func() (v any) {
		defer func() { v = recover() }()
		_ = b.Call(bg, func(context.Context) error { panic("kaboom") })
		return nil
	}()
	if got != "kaboom" {
		t.Fatalf("recovered %v, want the function's own panic value", got)
	}
	wantState(t, b, infuse.Open)
	var pe *infuse.PanicError
	for _, e := range r.Events() {
		if e.Kind == infuse.EventFailure && errors.As(e.Err, &pe) {
			break
		}
	}
	if pe == nil || pe.Value != "kaboom" {
		t.Fatalf("no failure event with the panic value: %q", r.Trace())
	}
}

func TestPanicInExecuteAndTrialCountsAsFailure(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 2, ResetTimeout: time.Second})
	mustPanic(t, func() {
		_, _ = infuse.Execute(bg, b, func(context.Context) (int, error) { panic(errBoom) })
	})
	wantCounts(t, b, 1, 0)
	trip(t, b)
	clock.Advance(time.Second)
	mustPanic(t, func() { _ = b.Call(bg, func(context.Context) error { panic(1) }) })
	wantState(t, b, infuse.Open) // the panicking trial re-opened it
	clock.Advance(time.Second)
	if err := b.Call(bg, succeed); err != nil { // and its permit was given back
		t.Fatal(err)
	}
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	f()
}

func TestGoexitCountsAsNothing(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{ResetTimeout: time.Second})
	_ = b.HalfOpen(bg)
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.Call(bg, func(context.Context) error { runtime.Goexit(); return nil }) })
	wg.Wait()
	wantState(t, b, infuse.HalfOpen)
	if err := b.Call(bg, succeed); err != nil { // the permit came back
		t.Fatal(err)
	}
	_ = clock
}

func TestCallersOwnCancellationIsNeitherSuccessNorFailure(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Listeners: []infuse.Listener{&r}})
	_ = b.Call(bg, boom)
	ctx, cancel := context.WithCancel(bg)
	err := b.Call(ctx, func(ctx context.Context) error {
		cancel()
		return ctx.Err()
	})
	if err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
	wantCounts(t, b, 1, 0) // not reset, not increased
	if r.Count(infuse.EventIgnored) != 1 {
		t.Fatalf("events %q, want one ignored", r.Trace())
	}
	// context.Canceled from something else, with the caller's ctx alive,
	// is a failure.
	_ = b.Call(bg, func(context.Context) error { return context.Canceled })
	wantCounts(t, b, 2, 0)
}

func TestCancelledTrialGivesItsPermitBack(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	_ = b.HalfOpen(bg)
	ctx, cancel := context.WithCancel(bg)
	_ = b.Call(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })
	wantState(t, b, infuse.HalfOpen)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatalf("the cancelled trial kept its permit: %v", err)
	}
	wantState(t, b, infuse.Closed)
}

func TestDoneContextDoesNotRun(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	ran := false
	if err := b.Call(ctx, func(context.Context) error { ran = true; return nil }); err != context.Canceled || ran {
		t.Fatalf("err = %v, ran = %v", err, ran)
	}
	if _, err := infuse.Execute(ctx, b, func(context.Context) (int, error) { ran = true; return 0, nil }); err != context.Canceled || ran {
		t.Fatalf("Execute: err = %v, ran = %v", err, ran)
	}
	if _, err := b.Allow(ctx); err != context.Canceled {
		t.Fatalf("Allow: err = %v", err)
	}
	if err := b.Open(ctx); err != context.Canceled {
		t.Fatalf("Open: err = %v", err)
	}
	wantState(t, b, infuse.Closed)
}

// A deadline that expires while the function runs is the classic sign of a
// slow dependency: it counts.
func TestCallersDeadlineIsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := newBreaker(t, infuse.Config{})
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		err := b.Call(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if err != context.DeadlineExceeded {
			t.Fatalf("err = %v", err)
		}
		wantCounts(t, b, 1, 0)
	})
}

func TestNilArgumentsAreErrorsNotPanics(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	var nilCtx context.Context // the point is a nil context
	if err := b.Call(nilCtx, succeed); err == nil {
		t.Fatal("nil ctx accepted")
	}
	if err := b.Call(bg, nil); err == nil {
		t.Fatal("nil fn accepted")
	}
	_ = b.Open(bg)
	if err := b.Call(bg, nil); err == nil {
		t.Fatal("nil fn accepted while open")
	}
	if _, err := infuse.Execute[int](bg, b, nil); err == nil {
		t.Fatal("nil fn accepted by Execute")
	}
	if _, err := b.Allow(nilCtx); err == nil {
		t.Fatal("nil ctx accepted by Allow")
	}
	if err := b.Close(nilCtx); err == nil {
		t.Fatal("nil ctx accepted by Close")
	}
	wantCounts(t, b, 0, 0)
}

func TestPanickingListenerChangesNothing(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{FailMax: 2, Listeners: []infuse.Listener{
		infuse.ListenerFunc(func(infuse.Event) { panic("listener") }),
		&r,
	}})
	if err := b.Call(bg, boom); err != errBoom {
		t.Fatalf("err = %v", err)
	}
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("err = %v: a panicking listener stopped the trip", err)
	}
	wantState(t, b, infuse.Open)
	if got := r.Trace(); got != "before-call,failure,before-call,failure,closed->open" {
		t.Fatalf("later listener saw %q", got)
	}
}

func TestListenerPanicDuringFunctionPanicIsContained(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Listeners: []infuse.Listener{
		infuse.ListenerFunc(func(infuse.Event) { panic("listener") }),
	}})
	got := func() (v any) {
		defer func() { v = recover() }()
		_ = b.Call(bg, func(context.Context) error { panic("fn") })
		return nil
	}()
	if got != "fn" {
		t.Fatalf("recovered %v, want the function's panic", got)
	}
}

func TestListenerMayCallTheBreaker(t *testing.T) {
	var b *infuse.Breaker
	var r infusetest.Recorder
	b, _ = newBreaker(t, infuse.Config{FailMax: 1, Listeners: []infuse.Listener{
		infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventStateChange && e.To == infuse.Open {
				_ = b.Close(bg) // re-entrant: no deadlock
			}
			_ = b.State()
		}),
		&r,
	}})
	_ = b.Call(bg, boom)
	wantState(t, b, infuse.Closed)
	if got := r.Transitions(); got != "closed->open,open->closed" {
		t.Fatalf("transitions = %q, want them in order", got)
	}
}

func TestNoLockHeldWhileFunctionRuns(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	err := b.Call(bg, func(ctx context.Context) error {
		// Every method from inside the function: any lock held would
		// deadlock here.
		_ = b.State()
		_ = b.Counts()
		b.SetFailMax(7)
		b.AddListener(infuse.ListenerFunc(func(infuse.Event) {}))()
		b.AddExcluded(errLookup)
		if err := b.Call(ctx, succeed); err != nil {
			return err
		}
		return b.Open(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Open)
}

func TestExcludedErrorDuringHalfOpenCloses(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Exclude: []error{errLookup}})
	_ = b.HalfOpen(bg)
	if err := b.Call(bg, func(context.Context) error { return errLookup }); err != errLookup {
		t.Fatalf("err = %v", err)
	}
	wantState(t, b, infuse.Closed)
}

// E3: among many callers racing at the end of the open period, exactly one
// moves the breaker to half-open and runs the trial; the others are
// rejected at once, never queued.
func TestExactlyOneTrialAfterTimeout(t *testing.T) {
	var r infusetest.Recorder
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: 10 * time.Millisecond, Listeners: []infuse.Listener{&r}})
	trip(t, b)
	clock.Advance(10 * time.Millisecond)
	release := make(chan struct{})
	var ran, rejected atomicCount
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			err := b.Call(bg, func(context.Context) error { ran.add(); <-release; return errBoom })
			if errors.Is(err, infuse.ErrOpen) {
				rejected.add()
			}
		})
	}
	waitFor(t, func() bool { return ran.get()+rejected.get() == 5 || (ran.get() == 1 && rejected.get() == 4) })
	close(release)
	wg.Wait()
	if ran.get() != 1 || rejected.get() != 4 {
		t.Fatalf("%d trials ran, %d rejected; want 1 and 4", ran.get(), rejected.get())
	}
	if got := strings.Count(r.Transitions(), "open->half-open"); got != 1 {
		t.Fatalf("%d transitions to half-open: %q", got, r.Transitions())
	}
}

func TestHalfOpenMaxCallsTrialsRunAtOnce(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{HalfOpenMaxCalls: 3, SuccessThreshold: 3})
	_ = b.HalfOpen(bg)
	release := make(chan struct{})
	var running atomicCount
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_ = b.Call(bg, func(context.Context) error { running.add(); <-release; return nil })
		})
	}
	waitFor(t, func() bool { return running.get() == 3 })
	for range 10 {
		err := b.Call(bg, succeed)
		var oe *infuse.OpenError
		if !errors.As(err, &oe) || oe.State != infuse.HalfOpen || oe.RetryAfter != 0 {
			t.Fatalf("fourth trial: err = %v, want a half-open rejection", err)
		}
	}
	close(release)
	wg.Wait()
	wantState(t, b, infuse.Closed)
}

// waitFor polls cond; the goroutines it waits on are this test's own and
// take no virtual time, so this only yields until they get there.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1e6 {
			t.Fatal("condition never held")
		}
		runtime.Gosched()
	}
}

func TestLateOutcomesOfAnEarlierGenerationDoNotCount(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 2})
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var lateErr error
	wg.Go(func() {
		lateErr = b.Call(bg, func(context.Context) error { close(started); <-release; return errBoom })
	})
	<-started
	_ = b.Call(bg, boom) // 1 of 2
	_ = b.Open(bg)
	_ = b.Close(bg) // a new generation, closed, count 0
	close(release)
	wg.Wait()
	if lateErr != errBoom {
		t.Fatalf("late call returned %v, want its cause untouched", lateErr)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

func TestLateTrialOutcomeAfterManualCloseDoesNotCount(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	_ = b.HalfOpen(bg)
	done, err := b.Allow(bg)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close(bg)
	done(errBoom) // the trial's generation is gone
	wantState(t, b, infuse.Closed)
	wantCounts(t, b, 0, 0)
}

func TestAllowCountsCancellationAsNothing(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	done, _ := b.Allow(bg)
	done(errBoom)
	done, _ = b.Allow(bg)
	done(context.Canceled)
	wantCounts(t, b, 1, 0)
}

func TestOpenErrorMessages(t *testing.T) {
	open := &infuse.OpenError{Name: "db", State: infuse.Open, RetryAfter: 1500 * time.Millisecond}
	if got := open.Error(); got != `infuse: circuit breaker "db" is open; retry after 1.5s` {
		t.Fatal(got)
	}
	half := &infuse.OpenError{Name: "db", State: infuse.HalfOpen}
	if got := half.Error(); got != `infuse: circuit breaker "db" is half-open and no trial permit is free` {
		t.Fatal(got)
	}
	b, _ := newBreaker(t, infuse.Config{Name: "db", FailMax: 1})
	err := b.Call(bg, boom)
	if got := err.Error(); got != `infuse: circuit breaker "db" tripped: boom` {
		t.Fatal(got)
	}
}

func TestRejectedEvent(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Listeners: []infuse.Listener{&r}})
	_ = b.Open(bg)
	err := b.Call(bg, succeed)
	evs := r.Events()
	last := evs[len(evs)-1]
	if last.Kind != infuse.EventRejected || last.Err != err {
		t.Fatalf("last event %+v, want the rejection with its error", last)
	}
}

func TestManualTransitionsStartNewGenerations(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{ResetTimeout: time.Minute})
	g := b.Generation()
	_ = b.Open(bg)
	clock.Advance(50 * time.Second)
	_ = b.Open(bg) // restarts the period
	if b.Generation() <= g+1 {
		t.Fatalf("generation %d after two transitions from %d", b.Generation(), g)
	}
	if got := b.RetryAfter(); got != time.Minute {
		t.Fatalf("RetryAfter = %v, want a full period again", got)
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

// Execute on a plainly closed breaker (its fast path) counts a success
// wherever one is counted: in the window, which may hold it alone, and in
// the totals, which may be watched alone; and a nil context or function
// is an error there too, not a panic.
func TestExecuteCountsItsSuccessesWhereverTheyAreCounted(t *testing.T) {
	one := func(context.Context) (int, error) { return 1, nil }
	w, _ := newBreaker(t, infuse.Config{Name: "window", Window: infuse.CountWindow(10), FailureRate: 0.5})
	for range 3 {
		if _, err := infuse.Execute(bg, w, one); err != nil {
			t.Fatal(err)
		}
	}
	if m := w.Metrics(); m.Calls != 3 {
		t.Fatalf("a window, no totals watched: it holds %d calls after 3 successes", m.Calls)
	}
	tot, _ := newBreaker(t, infuse.Config{Name: "totals"})
	tot.Totals() // counting from here
	for range 3 {
		if _, err := infuse.Execute(bg, tot, one); err != nil {
			t.Fatal(err)
		}
	}
	if got := tot.Totals(); got.Successes != 3 {
		t.Fatalf("totals watched, no window: %+v after 3 successes", got)
	}
	var nilCtx context.Context // the point is a nil context
	if _, err := infuse.Execute(nilCtx, tot, one); err == nil {
		t.Fatal("a nil context accepted")
	}
	if _, err := infuse.Execute[int](bg, tot, nil); err == nil {
		t.Fatal("a nil function accepted")
	}
}

// countingClock counts its readings.
type countingClock struct {
	*infusetest.Clock
	mu    sync.Mutex
	reads int
}

func (c *countingClock) Now() time.Time {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Clock.Now()
}

// A closed breaker reads no clock for a call, with a listener or a
// shadow too, unless it times its calls (its SlowCallDuration, or its
// shadow's candidate's): its listeners' call events carry no time and no
// latency.
func TestAClosedBreakerReadsNoClockForACall(t *testing.T) {
	for _, c := range []string{"bare", "listener", "shadow"} {
		clock := &countingClock{Clock: infusetest.NewClock()}
		var rec infusetest.Recorder
		cfg := infuse.Config{Name: "untimed", Clock: clock, FailMax: 100}
		if c == "listener" {
			cfg.Listeners = []infuse.Listener{&rec}
		}
		b, _ := newBreaker(t, cfg)
		if c == "shadow" {
			if _, err := b.StartShadow(infuse.Candidate{FailMax: 50}, &rec); err != nil {
				t.Fatal(err)
			}
		}
		before := clock.reads
		for range 10 {
			_ = b.Call(bg, func(context.Context) error { clock.Advance(time.Second); return nil })
			_ = b.Call(bg, boom)
			done, _ := b.Allow(bg)
			done(nil)
		}
		if clock.reads != before {
			t.Fatalf("%s: %d clock readings for 30 closed calls", c, clock.reads-before)
		}
		for _, ev := range rec.Events() {
			if !ev.Time.IsZero() || ev.Latency != 0 {
				t.Fatalf("a call's event carries a time or a latency: %+v", ev)
			}
		}
	}
	clock := &countingClock{Clock: infusetest.NewClock()}
	b, _ := newBreaker(t, infuse.Config{Name: "timed", Clock: clock, SlowCallDuration: time.Second})
	before := clock.reads
	_ = b.Call(bg, succeed)
	if clock.reads != before+2 {
		t.Fatalf("a timed call read the clock %d times, want 2", clock.reads-before)
	}
	clock = &countingClock{Clock: infusetest.NewClock()}
	b, _ = newBreaker(t, infuse.Config{Name: "timed shadow", Clock: clock})
	if _, err := b.StartShadow(infuse.Candidate{SlowCallDuration: time.Second}); err != nil {
		t.Fatal(err)
	}
	before = clock.reads
	_ = b.Call(bg, succeed)
	if clock.reads < before+2 {
		t.Fatalf("a call timed for a shadow read the clock %d times, want 2 or more", clock.reads-before)
	}
}

// A success ends a run of consecutive failures, however the call is made
// (Call, Execute, Allow): FailMax failures in a row trip the breaker, and
// only in a row.
func TestASuccessEndsARunOfFailuresHoweverTheCallIsMade(t *testing.T) {
	for name, success := range map[string]func(*infuse.Breaker){
		"Call": func(b *infuse.Breaker) { _ = b.Call(bg, succeed) },
		"Execute": func(b *infuse.Breaker) {
			_, _ = infuse.Execute(bg, b, func(context.Context) (int, error) { return 1, nil })
		},
		"Allow": func(b *infuse.Breaker) {
			done, err := b.Allow(bg)
			if err != nil {
				t.Fatal(err)
			}
			done(nil)
		},
	} {
		b, _ := newBreaker(t, infuse.Config{Name: name, FailMax: 3})
		for range 3 {
			_ = b.Call(bg, boom)
			_ = b.Call(bg, boom)
			success(b)
			wantCounts(t, b, 0, 0)
		}
		wantState(t, b, infuse.Closed)
	}
}

// On the real clock, Execute and Allow run every call of a breaker that
// takes their slow path: a closed one with a listener, and a half-open one
// whose trials close it.
func TestExecuteAndAllowOnTheRealClockRunEveryCall(t *testing.T) {
	one := func(context.Context) (int, error) { return 1, nil }
	listened, err := infuse.New(infuse.Config{Name: "listened", Listeners: []infuse.Listener{infuse.ListenerFunc(func(infuse.Event) {})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if v, err := infuse.Execute(bg, listened, one); v != 1 || err != nil {
			t.Fatalf("Execute %d of a listened-to breaker: %v, %v", i, v, err)
		}
		done, err := listened.Allow(bg)
		if err != nil {
			t.Fatalf("Allow %d of a listened-to breaker: %v", i, err)
		}
		done(nil)
	}
	for _, via := range []string{"Execute", "Allow"} {
		b, err := infuse.New(infuse.Config{Name: via, SuccessThreshold: 3, HalfOpenMaxCalls: 5})
		if err != nil {
			t.Fatal(err)
		}
		_ = b.HalfOpen(bg)
		for i := range 3 {
			if via == "Execute" {
				if v, err := infuse.Execute(bg, b, one); v != 1 || err != nil {
					t.Fatalf("trial %d through Execute: %v, %v", i, v, err)
				}
				continue
			}
			done, err := b.Allow(bg)
			if err != nil {
				t.Fatalf("trial %d through Allow: %v", i, err)
			}
			done(nil)
		}
		wantState(t, b, infuse.Closed)
	}
}
