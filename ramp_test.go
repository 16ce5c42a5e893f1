package infuse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

// tripAndRecover opens b with one failure and closes it with a trial.
func tripAndRecover(t *testing.T, b *infuse.Breaker, clock interface{ Advance(time.Duration) }) {
	t.Helper()
	_ = b.Call(bg, boom)
	wantState(t, b, infuse.Open)
	clock.Advance(time.Minute)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed)
}

// admitted counts the calls of n that the breaker admits.
func admitted(t *testing.T, b *infuse.Breaker, n int) int {
	t.Helper()
	got := 0
	for range n {
		err := b.Call(bg, succeed)
		var oe *infuse.OpenError
		switch {
		case err == nil:
			got++
		case errors.As(err, &oe) && oe.Reason == infuse.ReasonRamping && oe.State == infuse.Closed && errors.Is(err, infuse.ErrOpen):
		default:
			t.Fatalf("a call while ramping: %v", err)
		}
	}
	return got
}

// After closing, the breaker admits a linearly rising share of calls.
func TestRampAdmitsARisingShare(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, RampDuration: 10 * time.Second})
	tripAndRecover(t, b, clock)
	for i, want := range []int{10, 100, 200, 300, 400, 500, 600, 700, 800, 900} {
		if i > 0 {
			clock.Advance(time.Second)
		}
		if got := admitted(t, b, 1000); got < want-1 || got > want+1 {
			t.Fatalf("%d s into a 10 s ramp: %d of 1000 admitted, want %d", i, got, want)
		}
		if s := b.RampShare(); s < float64(want)/1000-0.001 || s > float64(want)/1000+0.001 {
			t.Fatalf("RampShare %v at %d s", s, i)
		}
	}
	clock.Advance(time.Second)
	if got := admitted(t, b, 1000); got != 1000 || b.RampShare() != 1 {
		t.Fatalf("after the ramp: %d of 1000, share %v", got, b.RampShare())
	}
}

func TestRampInSteps(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, RampDuration: 4 * time.Second, RampSteps: 4})
	tripAndRecover(t, b, clock)
	for _, want := range []int{250, 500, 750} {
		if got := admitted(t, b, 1000); got < want-1 || got > want+1 {
			t.Fatalf("%d of 1000 admitted, want %d", got, want)
		}
		clock.Advance(time.Second)
	}
}

// Failures while ramping open the breaker again, at FailureRate (0.5 by
// default) once ten calls were admitted.
func TestRampReopensOnFailures(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 100, ResetTimeout: time.Minute, RampDuration: time.Second})
	_, _ = b.HoldOpen(bg, time.Minute) // open (FailMax is high)
	clock.Advance(time.Minute)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	clock.Advance(500 * time.Millisecond) // half the calls admitted
	ran, fails := 0, 0
	for b.State() == infuse.Closed && ran < 100 {
		err := b.Call(bg, boom)
		if !errors.Is(err, infuse.ErrOpen) || errors.Is(err, infuse.ErrTripped) {
			ran++
			fails++
		}
		if ran%2 == 0 {
			_ = b.Call(bg, succeed)
		}
	}
	wantState(t, b, infuse.Open)
	if ran > 12 {
		t.Fatalf("%d calls ran before the ramp's failures re-opened it", ran)
	}
}

// No ramp on a breaker's first close from its initial state, nor without
// RampDuration; and a manual close from open ramps too.
func TestRampOnlyAfterAnOpening(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, RampDuration: time.Minute})
	if got := admitted(t, b, 100); got != 100 {
		t.Fatalf("a fresh breaker ramped: %d of 100", got)
	}
	_ = b.Call(bg, boom)
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	if got := admitted(t, b, 100); got < 1 || got > 2 {
		t.Fatalf("just after a manual close: %d of 100 admitted, want 1 or 2", got)
	}
	c, cclock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	tripAndRecover(t, c, cclock)
	if got := admitted(t, c, 100); got != 100 {
		t.Fatalf("without RampDuration: %d of 100", got)
	}
	_ = clock
	for _, cfg := range []infuse.Config{{RampDuration: -1}, {RampSteps: 3}, {RampDuration: time.Second, RampSteps: -1}} {
		cfg.Name = "x"
		if _, err := infuse.New(cfg); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
	if got := (&infuse.OpenError{Name: "r", State: infuse.Closed, Reason: infuse.ReasonRamping}).Error(); got != `infuse: circuit breaker "r" is ramping up after closing and did not admit the call` {
		t.Fatal(got)
	}
}
