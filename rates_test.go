package infuse_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/infuse-go/infuse"
)

func TestFailureRateTripsAtTheThreshold(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(4), FailureRate: 0.5, MinCalls: 4})
	for i, fn := range []func(context.Context) error{succeed, boom, succeed} {
		_ = b.Call(bg, fn)
		wantState(t, b, infuse.Closed)
		if m := b.Metrics(); m.Calls != int64(i+1) || m.FailureRate != -1 {
			t.Fatalf("after %d calls: %+v", i+1, m)
		}
	}
	// The fourth call reaches MinCalls with 2 failures in 4: exactly 50 %.
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) || !errors.Is(err, errBoom) {
		t.Fatalf("the failure that makes the rate 50 %%: %v", err)
	}
	wantState(t, b, infuse.Open)
}

func TestRateWaitsForMinCalls(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(10), FailureRate: 0.5, MinCalls: 5})
	for range 4 {
		_ = b.Call(bg, boom)
	}
	wantState(t, b, infuse.Closed)
	if m := b.Metrics(); m.Failures != 4 || m.FailureRate != -1 {
		t.Fatalf("below MinCalls: %+v", m)
	}
	_ = b.Call(bg, boom)
	wantState(t, b, infuse.Open)
}

func TestCountWindowForgetsOldCalls(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(4), FailureRate: 0.75, MinCalls: 4})
	for _, fn := range []func(context.Context) error{boom, boom, succeed, succeed, succeed, boom, boom} {
		_ = b.Call(bg, fn)
	}
	// The window holds S S F F: 50 %, under 75 %; the first two failures
	// have left it.
	if m := b.Metrics(); m.Calls != 4 || m.Failures != 2 || m.FailureRate != 0.5 {
		t.Fatalf("metrics %+v", m)
	}
	wantState(t, b, infuse.Closed)
	_ = b.Call(bg, boom) // S F F F
	wantState(t, b, infuse.Open)
}

func TestTimeWindowRollsOver(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(10*time.Second, time.Second), FailureRate: 0.5, MinCalls: 4})
	_ = b.Call(bg, boom)
	_ = b.Call(bg, boom)
	_ = b.Call(bg, boom)
	clock.Advance(10 * time.Second) // the three failures leave the window
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, boom)
	if m := b.Metrics(); m.Calls != 4 || m.Failures != 1 {
		t.Fatalf("metrics %+v", m)
	}
	wantState(t, b, infuse.Closed)
}

func TestSlowCallRateTripsOnSlowSuccesses(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{
		Window: infuse.CountWindow(10), MinCalls: 2, SlowCallDuration: time.Second, SlowCallRate: 0.5,
	})
	slow := func(context.Context) error { clock.Advance(2 * time.Second); return nil }
	if err := b.Call(bg, slow); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed) // 1 call: below MinCalls
	// The fast success brings the window to MinCalls with 1 slow of 2:
	// 50 %, and the breaker trips, whatever the last outcome was; the
	// success still returns nil.
	if err := b.Call(bg, succeed); err != nil {
		t.Fatalf("the success that tripped it: %v", err)
	}
	wantState(t, b, infuse.Open)
}

// Nine failures then one success: the window reaches MinCalls at 90 %
// failures, and the success trips the breaker (resilience4j checks the
// thresholds after every call once the window holds MinCalls). It used to
// stay closed until the next failure, for ever if only successes followed.
func TestASuccessThatFillsTheWindowTrips(t *testing.T) {
	for _, w := range []infuse.Window{infuse.CountWindow(10)} {
		b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: w, MinCalls: 10, FailureRate: 0.5})
		for range 9 {
			_ = b.Call(bg, boom)
		}
		wantState(t, b, infuse.Closed)
		if err := b.Call(bg, succeed); err != nil {
			t.Fatalf("%v: the success that tripped it: %v", w, err)
		}
		wantState(t, b, infuse.Open)
	}
}

// A time window with an injected clock checks its rates when a call moves
// it to a new bucket: successes after failures, the window at MinCalls
// over the threshold, trip it without another failure.
func TestATimeWindowChecksItsRatesOnANewBucket(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(10*time.Second, time.Second),
		MinCalls: 10, FailureRate: 0.5})
	for range 9 {
		_ = b.Call(bg, boom)
	}
	_ = b.Call(bg, succeed) // 10 calls, 90 %: checked at the next bucket
	clock.Advance(time.Second)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Open)
}

func TestWindowStartsAfreshWhenTheBreakerCloses(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(10), FailureRate: 0.5, MinCalls: 2})
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, boom)
	wantState(t, b, infuse.Open)
	_ = b.Close(bg)
	if m := b.Metrics(); m.Calls != 0 || m.FailureRate != -1 {
		t.Fatalf("after closing: %+v", m)
	}
}

func TestRatesIgnoreLateOutcomes(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(10), FailureRate: 0.5, MinCalls: 1})
	done, _ := b.Allow(bg)
	_ = b.Open(bg)
	_ = b.Close(bg)
	done(errBoom)
	if m := b.Metrics(); m.Calls != 0 {
		t.Fatalf("a late outcome reached the new window: %+v", m)
	}
	wantState(t, b, infuse.Closed)
}

// With the real clock the time window moves on a timer, not on clock
// readings; synctest's virtual time drives the timer.
func TestTimeWindowOnTheRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := infuse.New(infuse.Config{Name: "real", FailMax: 1000, Window: infuse.TimeWindow(2*time.Second, time.Second), FailureRate: 0.9, MinCalls: 1})
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Call(bg, succeed)
		time.Sleep(500 * time.Millisecond)
		_ = b.Call(bg, succeed)
		if m := b.Metrics(); m.Calls != 2 {
			t.Fatalf("metrics %+v", m)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if m := b.Metrics(); m.Calls != 0 {
			t.Fatalf("after the window passed: %+v", m)
		}
		_ = b.Close(bg) // the old window's timer stops at its next tick
		time.Sleep(2 * time.Second)
	})
}

func TestNewRejectsBadRates(t *testing.T) {
	for _, c := range []struct {
		cfg   infuse.Config
		field string
	}{
		{infuse.Config{Window: infuse.CountWindow(-1), FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.TimeWindow(0, time.Second), FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.TimeWindow(time.Second, 2*time.Second), FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.TimeWindow(time.Second, 0), FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.TimeWindow(time.Hour, time.Microsecond), FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.CountWindow(10), FailureRate: 1.5}, "FailureRate"},
		{infuse.Config{Window: infuse.CountWindow(10), FailureRate: math.NaN()}, "FailureRate"},
		{infuse.Config{Window: infuse.CountWindow(10), FailureRate: -0.1}, "FailureRate"},
		{infuse.Config{FailureRate: 0.5}, "Window"},
		{infuse.Config{Window: infuse.CountWindow(10)}, "Window"},
		{infuse.Config{Window: infuse.CountWindow(10), SlowCallRate: 0.5}, "SlowCallRate"},
		{infuse.Config{Window: infuse.CountWindow(10), FailureRate: 0.5, MinCalls: -1}, "MinCalls"},
		{infuse.Config{SlowCallDuration: -time.Second}, "SlowCallDuration"},
	} {
		c.cfg.Name = "bad"
		_, err := infuse.New(c.cfg)
		var ce *infuse.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("New(%+v) = %v, want a ConfigError on %s", c.cfg, err, c.field)
		}
	}
	// The bounds themselves are rates.
	for _, r := range []float64{0, 1} {
		if _, err := infuse.New(infuse.Config{Name: "edge", Window: infuse.CountWindow(10), FailureRate: 1, SlowCallRate: r,
			SlowCallDuration: time.Second}); err != nil {
			t.Errorf("a rate of %v: %v", r, err)
		}
	}
	if w := infuse.TimeWindow(time.Minute, time.Second); w.String() != "last 1m0s in 1s buckets" {
		t.Fatal(w.String())
	}
}

// Every unusable setting is a *ConfigError: windows too long to count in
// buckets (they used to overflow and never trip), and a missing Name.
func TestUnusableSettingsAreConfigErrors(t *testing.T) {
	for _, cfg := range []infuse.Config{
		{Name: "w", Window: infuse.TimeWindow(math.MaxInt64, time.Millisecond), FailureRate: 0.5},
		{Name: "w", Window: infuse.TimeWindow(math.MaxInt64, time.Hour), FailureRate: 0.5},
		{},
	} {
		_, err := infuse.New(cfg)
		var ce *infuse.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%+v: %v is not a *ConfigError", cfg.Window, err)
		}
	}
}

// With the real clock, a time window's timer checks the rates on the
// window at its fullest, before the next bucket drops the oldest calls:
// nine failures and a success in a one-bucket window trip the breaker when
// the bucket ends (it used to check only the emptied window, and stay
// closed for ever).
func TestATimeWindowsTimerChecksTheFullWindow(t *testing.T) {
	for _, w := range []infuse.Window{infuse.TimeWindow(time.Second, time.Second), infuse.TimeWindow(2*time.Second, time.Second)} {
		synctest.Test(t, func(t *testing.T) {
			b, err := infuse.New(infuse.Config{Name: "tw", FailMax: 1000, Window: w, MinCalls: 10, FailureRate: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			for range 9 {
				_ = b.Call(bg, boom)
			}
			time.Sleep(time.Second - time.Millisecond)
			if err := b.Call(bg, succeed); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if b.State() != infuse.Open {
				t.Fatalf("%v: %v after the bucket ended, %+v", w, b.State(), b.Metrics())
			}
			_ = b.Close(bg) // stops the window's timer
		})
	}
}

// The same with an injected clock and a one-bucket window: the call that
// moves the window to a new bucket checks the full one before it goes.
func TestAOneBucketWindowChecksTheFullWindow(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(10*time.Second, 10*time.Second),
		MinCalls: 10, FailureRate: 0.5})
	for range 9 {
		_ = b.Call(bg, boom)
	}
	_ = b.Call(bg, succeed)
	clock.Advance(10 * time.Second)
	_ = b.Call(bg, succeed)
	wantState(t, b, infuse.Open)
}

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

// With the real clock, fast successes that bring the window to MinCalls
// over the slow-call rate trip the breaker when the window's timer checks
// it, though no call is slow then (virtual time: a synctest bubble).
func TestWithTheRealClockTheTimerChecksTheSlowCallRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := infuse.New(infuse.Config{Name: "slow", FailMax: 1000, Window: infuse.TimeWindow(10*time.Second, time.Second),
			MinCalls: 10, SlowCallDuration: 100 * time.Millisecond, SlowCallRate: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			_ = b.Call(bg, func(context.Context) error { time.Sleep(200 * time.Millisecond); return nil })
		}
		for range 5 {
			_ = b.Call(bg, succeed)
		}
		wantState(t, b, infuse.Closed) // no call checked: the last slow one came before MinCalls
		time.Sleep(time.Second)
		synctest.Wait()
		if b.State() != infuse.Open {
			t.Fatalf("%v after the timer's check, %+v", b.State(), b.Metrics())
		}
	})
}
