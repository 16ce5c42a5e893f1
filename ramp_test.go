package infuse_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
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

// Breakers sharing a store ramp from the close the store recorded
// (Snapshot.ClosedAt): one that learns of the close late, or binds
// mid-ramp, admits what the others admit, not a ramp of its own.
func TestRampRunsFromTheStoresClose(t *testing.T) {
	clock := infusetest.NewClock()
	store := infuse.NewMemoryStorage()
	cfg := infuse.Config{Name: "shared", FailMax: 1, ResetTimeout: time.Minute, RampDuration: 10 * time.Second,
		Clock: clock, Storage: store}
	a, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	early, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tripAndRecover(t, a, clock)
	bnd, err := store.Bind(storage.BindConfig{Name: "shared", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if s := bnd.Snapshot(); !s.ClosedAt.Equal(clock.Now()) {
		t.Fatalf("the store's closed snapshot %+v: want ClosedAt %v", s, clock.Now())
	}
	clock.Advance(4 * time.Second)
	late, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*infuse.Breaker{a, early, late} {
		if got := admitted(t, b, 1000); got < 399 || got > 401 {
			t.Fatalf("4 s into a 10 s ramp: %d of 1000 admitted, want 400", got)
		}
	}
	clock.Advance(6 * time.Second)
	after, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := admitted(t, after, 100); got != 100 || after.RampShare() != 1 {
		t.Fatalf("bound after the ramp: %d of 100, share %v", got, after.RampShare())
	}
}

// RampShareAfter is 1 % (or the first of its steps) at least, never falls as time passes, and is 1
// from the ramp's end on, or without a ramp; in steps it takes only multiples of 1/steps.
func TestRampShareAfterProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(-1, int64(time.Hour)).Draw(t, "duration"))
		steps := rapid.IntRange(0, 1000).Draw(t, "steps")
		e1 := time.Duration(rapid.Int64Range(-int64(time.Hour), 2*int64(time.Hour)).Draw(t, "e1"))
		e2 := e1 + time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "later"))
		s1, s2 := infuse.RampShareAfter(e1, d, steps), infuse.RampShareAfter(e2, d, steps)
		low := 0.01
		if steps > 0 {
			low = 1 / float64(steps)
		}
		if s1 < low || s1 > 1 || s2 < s1 {
			t.Fatalf("share %v at %v then %v at %v", s1, e1, s2, e2)
		}
		over := d <= 0 || e1 >= d
		if over != (s1 == 1) && steps == 0 {
			t.Fatalf("share %v at %v of %v", s1, e1, d)
		}
		if over && s1 != 1 {
			t.Fatalf("share %v after the ramp (or without one)", s1)
		}
		if steps > 0 {
			if n := s1 * float64(steps); math.Abs(n-math.Round(n)) > 1e-9 {
				t.Fatalf("share %v is no step of %d", s1, steps)
			}
		}
	})
}
