package infuse_test

// The cases of pybreaker's and the original Python infuse's suites that
// have a Go meaning, each named for the case it ports. Sleeps became clock
// advances.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

// A1
func TestSuccessfulCall(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	got, err := infuse.Execute(bg, b, func(context.Context) (bool, error) { return true, nil })
	if err != nil || !got {
		t.Fatalf("Execute = %v, %v; want true, nil", got, err)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// A2
func TestOneFailedCallReturnsCauseUntouched(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	if err := b.Call(bg, boom); err != errBoom {
		t.Fatalf("err = %v, want the cause itself", err)
	}
	wantCounts(t, b, 1, 0)
	wantState(t, b, infuse.Closed)
}

// A3
func TestSuccessAfterFailureResetsCount(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	_ = b.Call(bg, boom)
	wantCounts(t, b, 1, 0)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// A4, A6, A7: the failure that reaches FailMax trips, and its error wraps
// the cause.
func TestFailMaxFailuresTrip(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 3})
	for i := 1; i <= 2; i++ {
		if err := b.Call(bg, boom); err != errBoom {
			t.Fatalf("failure %d: err = %v, want the cause", i, err)
		}
	}
	err := b.Call(bg, boom)
	if !errors.Is(err, infuse.ErrTripped) || !errors.Is(err, errBoom) {
		t.Fatalf("tripping failure: err = %v, want ErrTripped wrapping boom", err)
	}
	if errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("tripping failure matches ErrOpen, but its function ran")
	}
	wantCounts(t, b, 3, 0)
	wantState(t, b, infuse.Open)
}

// A5's point (pybreaker's throw_new_error_on_trip=False): the caller can
// still tell what the tripping call's own error was.
func TestTrippedErrorKeepsCauseForErrorsAs(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1})
	cause := &net{msg: "read timeout"}
	err := b.Call(bg, func(context.Context) error { return cause })
	var got *net
	if !errors.As(err, &got) || got != cause {
		t.Fatalf("errors.As did not find the cause in %v", err)
	}
	// A rejected call still returns ErrOpen, whatever the cause was.
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("rejected call: err = %v, want ErrOpen", err)
	}
}

type net struct{ msg string }

func (e *net) Error() string { return e.msg }

// A8: a failed trial re-opens the breaker with ErrTripped and a new period.
func TestFailedTrialAfterTimeoutReopens(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 3, ResetTimeout: 500 * time.Millisecond})
	trip(t, b)
	clock.Advance(600 * time.Millisecond)
	err := b.Call(bg, boom)
	if !errors.Is(err, infuse.ErrTripped) || !errors.Is(err, errBoom) {
		t.Fatalf("failed trial: err = %v, want ErrTripped wrapping boom", err)
	}
	wantState(t, b, infuse.Open)
	// The count never passes FailMax; the trial's run of one is what
	// re-opened it (pybreaker shows fail_max+1 here).
	wantCounts(t, b, 1, 0)
	if got := b.RetryAfter(); got != 500*time.Millisecond {
		t.Fatalf("RetryAfter = %v, want a new full period", got)
	}
}

// A9: a call while open does not run; after the timeout one successful trial
// closes the breaker, and the function ran exactly once.
func TestSuccessfulTrialAfterTimeoutCloses(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 3, ResetTimeout: time.Second})
	trip(t, b)
	calls := 0
	fn := func(context.Context) error { calls++; return nil }
	err := b.Call(bg, fn)
	var oe *infuse.OpenError
	if !errors.As(err, &oe) || !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("call while open: err = %v, want *OpenError", err)
	}
	if oe.Name != t.Name() || oe.State != infuse.Open || oe.RetryAfter != time.Second {
		t.Fatalf("OpenError = %+v", oe)
	}
	if calls != 0 {
		t.Fatal("function ran while open")
	}
	clock.Advance(2 * time.Second)
	if err := b.Call(bg, fn); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("function ran %d times, want 1", calls)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// A10
func TestFailedCallWhenHalfOpen(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	if err := b.HalfOpen(bg); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.HalfOpen)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("err = %v, want ErrTripped", err)
	}
	wantCounts(t, b, 1, 0)
	wantState(t, b, infuse.Open)
}

// A11
func TestSuccessfulCallWhenHalfOpen(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	_ = b.HalfOpen(bg)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// A12
func TestManualClose(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 3})
	trip(t, b)
	_ = b.Call(bg, succeed) // rejected
	wantCounts(t, b, 3, 0)
	wantState(t, b, infuse.Open)
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// A13
func TestTransitionEvents(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Listeners: []infuse.Listener{&r}})
	_ = b.Open(bg)
	_ = b.HalfOpen(bg)
	_ = b.Close(bg)
	if got, want := r.Transitions(), "closed->open,open->half-open,half-open->closed"; got != want {
		t.Fatalf("transitions = %q, want %q", got, want)
	}
	for _, e := range r.Events() {
		if e.Kind != infuse.EventStateChange {
			continue
		}
		if e.Name != t.Name() || e.Remote || e.Time.IsZero() || e.Generation == 0 {
			t.Fatalf("event %+v: want the breaker's name, local, timed, with a generation", e)
		}
	}
}

// A14
func TestCallEvents(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{})
	b.AddListener(&r)
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, boom)
	if got, want := r.Trace(), "before-call,success,before-call,failure"; got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if ev := r.Events()[3]; ev.Err != errBoom {
		t.Fatalf("failure event Err = %v", ev.Err)
	}
}

// pybreaker's event order around a trip and a closing trial.
func TestEventOrderAroundTripAndTrial(t *testing.T) {
	var r infusetest.Recorder
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Second, Listeners: []infuse.Listener{&r}})
	_ = b.Call(bg, boom)
	clock.Advance(time.Second)
	_ = b.Call(bg, succeed)
	want := "before-call,failure,closed->open,open->half-open,before-call,half-open->closed,success"
	if got := r.Trace(); got != want {
		t.Fatalf("events =\n %q, want\n %q", got, want)
	}
}

// G1, the Allow form of pybreaker's calling() context manager.
func TestAllowForm(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 2, ResetTimeout: 10 * time.Millisecond})
	for i := 0; i < 2; i++ {
		done, err := b.Allow(bg)
		if err != nil {
			t.Fatalf("Allow %d: %v", i, err)
		}
		done(errBoom)
	}
	wantCounts(t, b, 2, 0)
	wantState(t, b, infuse.Open)
	if _, err := b.Allow(bg); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("Allow while open: %v", err)
	}
	clock.Advance(10 * time.Millisecond)
	done, err := b.Allow(bg)
	if err != nil {
		t.Fatalf("Allow after the timeout: %v", err)
	}
	wantState(t, b, infuse.HalfOpen)
	done(nil)
	done(nil) // a second call changes nothing
	wantCounts(t, b, 0, 0)
	wantState(t, b, infuse.Closed)
}

// B1, C2: a breaker starts in InitialState without telling its listeners.
func TestInitialState(t *testing.T) {
	for _, s := range []infuse.State{infuse.Open, infuse.Closed, infuse.HalfOpen} {
		t.Run(s.String(), func(t *testing.T) {
			var r infusetest.Recorder
			b, _ := newBreaker(t, infuse.Config{InitialState: s, Listeners: []infuse.Listener{&r}})
			wantState(t, b, s)
			if len(r.Events()) != 0 {
				t.Fatalf("construction emitted %q", r.Trace())
			}
		})
	}
}

func TestInitialOpenStartsAFullPeriod(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{InitialState: infuse.Open, ResetTimeout: time.Minute})
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
	clock.Advance(time.Minute)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed)
}

// B2
func TestDefaults(t *testing.T) {
	b, err := infuse.New(infuse.Config{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if b.FailMax() != 5 || b.ResetTimeout() != 60*time.Second || b.SuccessThreshold() != 1 || b.HalfOpenMaxCalls() != 1 {
		t.Fatalf("defaults: FailMax %d ResetTimeout %v SuccessThreshold %d HalfOpenMaxCalls %d",
			b.FailMax(), b.ResetTimeout(), b.SuccessThreshold(), b.HalfOpenMaxCalls())
	}
	wantState(t, b, infuse.Closed)
	wantCounts(t, b, 0, 0)
	if b.Name() != "db" || len(b.Excluded()) != 0 {
		t.Fatalf("Name %q Excluded %v", b.Name(), b.Excluded())
	}
}

// B3, B4, B5, B30
func TestCustomSettingsChangeOnlyThemselves(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{ResetTimeout: 30 * time.Second, FailMax: 10, SuccessThreshold: 5, Exclude: []error{errLookup}})
	if b.ResetTimeout() != 30*time.Second || b.FailMax() != 10 || b.SuccessThreshold() != 5 || b.HalfOpenMaxCalls() != 1 {
		t.Fatal("custom settings not applied")
	}
	if ex := b.Excluded(); len(ex) != 1 || ex[0] != errLookup {
		t.Fatalf("Excluded = %v", ex)
	}
}

// B6, B7, B30
func TestSetters(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	b.SetFailMax(10)
	b.SetResetTimeout(30 * time.Second)
	b.SetSuccessThreshold(10)
	b.SetHalfOpenMaxCalls(3)
	if b.FailMax() != 10 || b.ResetTimeout() != 30*time.Second || b.SuccessThreshold() != 10 || b.HalfOpenMaxCalls() != 3 {
		t.Fatal("setters did not apply")
	}
	// Values below one restore the defaults; none is an error or a panic.
	b.SetFailMax(-1)
	b.SetResetTimeout(-time.Second)
	b.SetSuccessThreshold(0)
	b.SetHalfOpenMaxCalls(-7)
	if b.FailMax() != 5 || b.ResetTimeout() != time.Minute || b.SuccessThreshold() != 1 || b.HalfOpenMaxCalls() != 1 {
		t.Fatal("setters did not restore the defaults")
	}
}

func TestLoweringFailMaxTripsOnTheNextFailure(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 10})
	for i := 0; i < 4; i++ {
		_ = b.Call(bg, boom)
	}
	b.SetFailMax(3)
	wantCounts(t, b, 3, 0) // never shown above FailMax
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("err = %v, want ErrTripped", err)
	}
	wantCounts(t, b, 3, 0)
}

func TestResetTimeoutChangeAppliesToCurrentPeriod(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Hour})
	trip(t, b)
	clock.Advance(time.Minute)
	b.SetResetTimeout(time.Minute)
	if got := b.RetryAfter(); got != 0 {
		t.Fatalf("RetryAfter = %v, want 0", got)
	}
	if err := b.Call(bg, succeed); err != nil {
		t.Fatalf("trial: %v", err)
	}
}

// B8–B10 and infuse's call-with-args tests: arguments travel in the closure,
// results through Execute.
func TestExecuteReturnsValue(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	args := []any{42, "abc"}
	got, err := infuse.Execute(bg, b, func(context.Context) ([]any, error) { return args, nil })
	if err != nil || fmt.Sprint(got) != "[42 abc]" {
		t.Fatalf("Execute = %v, %v", got, err)
	}
	// A failing function's value is returned with its error.
	v, err := infuse.Execute(bg, b, func(context.Context) (int, error) { return 7, errBoom })
	if v != 7 || err != errBoom {
		t.Fatalf("Execute = %v, %v; want 7, boom", v, err)
	}
}

// B14, B15, B16
func TestAddAndRemoveListeners(t *testing.T) {
	var r1, r2 infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{})
	rm1 := b.AddListener(&r1)
	rm2 := b.AddListener(&r2)
	_ = b.Call(bg, succeed)
	rm1()
	rm1() // idempotent
	_ = b.Call(bg, succeed)
	rm2()
	_ = b.Call(bg, succeed)
	if r1.Count(infuse.EventSuccess) != 1 || r2.Count(infuse.EventSuccess) != 2 {
		t.Fatalf("successes seen: %d and %d, want 1 and 2", r1.Count(infuse.EventSuccess), r2.Count(infuse.EventSuccess))
	}
	b.AddListener(nil)() // ignored
}

func TestListenersRunInOrder(t *testing.T) {
	var order []int
	b, _ := newBreaker(t, infuse.Config{})
	for i := 1; i <= 3; i++ {
		b.AddListener(infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventSuccess {
				order = append(order, i)
			}
		}))
	}
	_ = b.Call(bg, succeed)
	if fmt.Sprint(order) != "[1 2 3]" {
		t.Fatalf("order = %v", order)
	}
}

// B17
func TestExcludedErrorsCountAsSuccesses(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Exclude: []error{errLookup}})
	steps := []struct {
		err   error
		count int
	}{
		{errNotImpl, 1},
		{errLookup, 0},
		{errNotImpl, 1},
		{fmt.Errorf("key: %w", errLookup), 0}, // B17's subclass: a wrapping error
	}
	for i, s := range steps {
		if got := b.Call(bg, func(context.Context) error { return s.err }); got != s.err {
			t.Fatalf("step %d: returned %v, want the error untouched", i, got)
		}
		wantCounts(t, b, s.count, 0)
	}
}

type testErr struct{ value string }

func (e *testErr) Error() string { return e.value }

// B18, B19
func TestExcludePredicateAndValues(t *testing.T) {
	good := func(err error) bool {
		var te *testErr
		return errors.As(err, &te) && te.value == "good"
	}
	for _, withValues := range []bool{false, true} {
		cfg := infuse.Config{ExcludeFunc: good}
		if withValues {
			cfg.Exclude = []error{errLookup}
		}
		b, _ := newBreaker(t, cfg)
		steps := []struct {
			err   error
			count int
		}{
			{&testErr{"bad"}, 1},
			{&testErr{"good"}, 0},
			{errNotImpl, 1},
		}
		if withValues {
			steps = append(steps, struct {
				err   error
				count int
			}{errLookup, 0})
		}
		for i, s := range steps {
			if got := b.Call(bg, func(context.Context) error { return s.err }); got != s.err {
				t.Fatalf("step %d: returned %v", i, got)
			}
			wantCounts(t, b, s.count, 0)
		}
	}
}

// B20, B21, B22
func TestAddAndRemoveExcluded(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	b.AddExcluded(errNotImpl)
	b.AddExcluded(errLookup, nil, errBoom)
	if fmt.Sprint(b.Excluded()) != fmt.Sprint([]error{errNotImpl, errLookup, errBoom}) {
		t.Fatalf("Excluded = %v", b.Excluded())
	}
	_ = b.Call(bg, boom)
	wantCounts(t, b, 0, 0)
	b.RemoveExcluded(errBoom, errNotImpl)
	if fmt.Sprint(b.Excluded()) != fmt.Sprint([]error{errLookup}) {
		t.Fatalf("Excluded = %v", b.Excluded())
	}
	_ = b.Call(bg, boom)
	wantCounts(t, b, 1, 0)
	// Removing errors of an uncomparable type is no panic.
	b.RemoveExcluded(uncomparable{[]string{"x"}})
	b.RemoveExcluded(errLookup)
	if len(b.Excluded()) != 0 {
		t.Fatalf("Excluded = %v", b.Excluded())
	}
}

type uncomparable struct{ parts []string }

func (uncomparable) Error() string { return "uncomparable" }

// B26
func TestName(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Name: "payments"})
	if b.Name() != "payments" {
		t.Fatal(b.Name())
	}
}

// B27
func TestSuccessThresholdDefaultClosesOnOneTrial(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond})
	trip(t, b)
	clock.Advance(200 * time.Millisecond)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed)
	wantCounts(t, b, 0, 0)
}

// B28
func TestSuccessThresholdNeedsThatManyTrials(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 3})
	trip(t, b)
	clock.Advance(200 * time.Millisecond)
	for i := 1; i <= 2; i++ {
		if err := b.Call(bg, succeed); err != nil {
			t.Fatal(err)
		}
		wantState(t, b, infuse.HalfOpen)
		wantCounts(t, b, 0, i)
	}
	_ = b.Call(bg, succeed)
	wantState(t, b, infuse.Closed)
	wantCounts(t, b, 0, 0)
}

// B29
func TestSuccessThresholdFailureReopens(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 3, ResetTimeout: 100 * time.Millisecond, SuccessThreshold: 3})
	trip(t, b)
	clock.Advance(200 * time.Millisecond)
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, succeed)
	wantCounts(t, b, 0, 2)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("err = %v", err)
	}
	wantState(t, b, infuse.Open)
	wantCounts(t, b, 1, 0)
}

// C1
func TestParseState(t *testing.T) {
	for _, s := range []infuse.State{infuse.Closed, infuse.Open, infuse.HalfOpen} {
		if got, err := infuse.ParseState(s.String()); err != nil || got != s {
			t.Fatalf("ParseState(%q) = %v, %v", s, got, err)
		}
	}
	_, err := infuse.ParseState("foo")
	if err == nil || err.Error() != `infuse: unknown state "foo", valid states: closed, open, half-open` {
		t.Fatalf("ParseState(foo) error = %v", err)
	}
	if got := infuse.State(9).String(); got != "State(9)" {
		t.Fatal(got)
	}
}

// C4, C5, and pybreaker #24/#26/#36: a breaker that joins shared state keeps
// its counts and its open period.
func TestJoiningBreakerKeepsSharedState(t *testing.T) {
	store := infuse.NewMemoryStorage()
	first, clock := newBreaker(t, infuse.Config{Name: "shared", Storage: store, ResetTimeout: time.Minute})
	_ = first.Call(bg, boom)
	second, _ := newBreaker(t, infuse.Config{Name: "shared", Storage: store, Clock: clock, InitialState: infuse.Closed})
	wantCounts(t, second, 1, 0)

	trip(t, first)
	clock.Advance(30 * time.Second)
	third, _ := newBreaker(t, infuse.Config{Name: "shared", Storage: store, Clock: clock, InitialState: infuse.Closed, ResetTimeout: time.Minute})
	wantState(t, third, infuse.Open)
	if got := third.RetryAfter(); got != 30*time.Second {
		t.Fatalf("joining breaker's RetryAfter = %v, want the 30s left", got)
	}
}

// E1: failures from many goroutines are all counted.
func TestConcurrentFailuresAreAllCounted(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 3000})
	runParallel(3, 500, func() { _ = b.Call(bg, boom) })
	wantCounts(t, b, 1500, 0)
}

// E2: successes from many goroutines all reach the listeners.
func TestConcurrentSuccessesReachListeners(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{FailMax: 3000, Listeners: []infuse.Listener{&r}})
	runParallel(3, 500, func() { _ = b.Call(bg, succeed) })
	if n := r.Count(infuse.EventSuccess); n != 1500 {
		t.Fatalf("successes = %d, want 1500", n)
	}
}

// E4: however many goroutines fail at once, the count stops at FailMax.
func TestConcurrentFailuresNeverPassFailMax(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 3000, ResetTimeout: time.Hour})
	var tripped atomicCount
	runParallel(3, 2000, func() {
		if errors.Is(b.Call(bg, boom), infuse.ErrTripped) {
			tripped.add()
		}
	})
	wantCounts(t, b, 3000, 0)
	wantState(t, b, infuse.Open)
	if tripped.get() != 1 {
		t.Fatalf("%d calls returned ErrTripped, want exactly 1", tripped.get())
	}
}

// A success whose fast path saw a failure counted, which another call's
// success resets before the success is recorded, is a plain success: a
// breaker with no window has nothing to record it in (it used to panic).
func TestSuccessesRacingAResetDoNotPanic(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1 << 30})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				if (g+i)%3 == 0 {
					_ = b.Call(bg, boom)
				} else {
					_ = b.Call(bg, succeed)
				}
			}
		})
	}
	wg.Wait()
}
