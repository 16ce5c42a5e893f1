package infuse_test

import (
	"context"
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

// forgetful is a store that records no close (Snapshot.ClosedAt), as a
// store written before ramps may: its snapshots never carry one.
type forgetful struct{ infuse.Storage }

func (f forgetful) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	observe, made := cfg.Observe, cfg.Made
	cfg.Observe = func(s storage.Snapshot) { s.ClosedAt = time.Time{}; observe(s) }
	cfg.Made = func(s storage.Snapshot) { s.ClosedAt = time.Time{}; made(s) }
	in, err := f.Storage.Bind(cfg)
	return forgetfulBinding{in}, err
}

type forgetfulBinding struct{ storage.Binding }

func forget(s storage.Snapshot) storage.Snapshot { s.ClosedAt = time.Time{}; return s }

func (b forgetfulBinding) Snapshot() storage.Snapshot { return forget(b.Binding.Snapshot()) }
func (b forgetfulBinding) Settle(ctx context.Context, p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	s, changed := b.Binding.Settle(ctx, p, o)
	return forget(s), changed
}
func (b forgetfulBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	s, changed, err := b.Binding.Transition(ctx, t)
	return forget(s), changed, err
}

// On a store that records no close, a breaker ramps from when it learns
// that it recovered (a trial closed it, or a manual close from open), and
// not after a close from closed.
func TestARampRunsFromTheCloseWhenTheStoreRecordsNone(t *testing.T) {
	clock := infusetest.NewClock()
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, RampDuration: 10 * time.Second,
		Clock: clock, Storage: forgetful{infuse.NewMemoryStorage()}})
	tripAndRecover(t, b, clock)
	clock.Advance(4 * time.Second)
	if got := admitted(t, b, 1000); got < 399 || got > 401 {
		t.Fatalf("4 s into a 10 s ramp from a trial's close: %d of 1000 admitted, want 400", got)
	}
	_ = b.Open(bg)
	_ = b.Close(bg)
	clock.Advance(time.Second)
	if got := admitted(t, b, 1000); got < 99 || got > 101 {
		t.Fatalf("1 s into a ramp from a manual close: %d of 1000 admitted, want 100", got)
	}
	clock.Advance(10 * time.Second)
	_ = b.Close(bg) // closed to closed: no recovery
	if got := admitted(t, b, 100); got != 100 {
		t.Fatalf("after a close from closed: %d of 100 admitted", got)
	}
}

// rampModel is the share a ramp of duration d in n steps (0: linear)
// admits at elapsed after the close, as Config.RampDuration documents it.
func rampModel(elapsed, d time.Duration, n int) float64 {
	switch {
	case elapsed >= d:
		return 1
	case n > 0:
		return float64(elapsed*time.Duration(n)/d+1) / float64(n)
	}
	return max(float64(elapsed)/float64(d), 0.01)
}

// After a recovery a ramp lets through its share of the calls offered at
// each moment of the ramp, to within a call: in equal steps (RampSteps),
// or rising linearly from 1 %; all of them once it is over. RampShare
// says the share. Checked against the model at random moments.
func TestARampLetsThroughItsShareAtEachStep(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		d := time.Duration(rapid.IntRange(1, 3600).Draw(rt, "rampSec")) * time.Second
		n := rapid.IntRange(0, 20).Draw(rt, "steps")
		b, clock := newBreaker(t, infuse.Config{Name: "ramp", FailMax: 1, ResetTimeout: time.Minute, RampDuration: d, RampSteps: n})
		tripAndRecover(t, b, clock)
		elapsed := time.Duration(0)
		for range rapid.IntRange(1, 5).Draw(rt, "moments") {
			step := time.Duration(rapid.Int64Range(0, int64(d/2)).Draw(rt, "wait"))
			clock.Advance(step)
			elapsed += step
			want := rampModel(elapsed, d, n)
			if got := b.RampShare(); math.Abs(got-want) > 1e-9 {
				rt.Fatalf("%v into a ramp of %v in %d steps: RampShare %v, model %v", elapsed, d, n, got, want)
			}
			const offered = 200
			if got := admitted(t, b, offered); math.Abs(float64(got)-want*offered) > 1 {
				rt.Fatalf("%v into a ramp of %v in %d steps: %d of %d admitted, model %.1f", elapsed, d, n, got, offered, want*offered)
			}
		}
	})
}

// openAndRecover opens b by hand and closes it with a trial.
func openAndRecover(t *testing.T, b *infuse.Breaker, clock interface{ Advance(time.Duration) }) {
	t.Helper()
	if err := b.Open(bg); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed)
}

// outcomesWhileRamping makes calls that fail as fails says, in order,
// counting only those the ramp admits, until len(fails) were admitted or
// the breaker opened; it returns how many were admitted.
func outcomesWhileRamping(t *testing.T, b *infuse.Breaker, fails []bool) int {
	t.Helper()
	n := 0
	for n < len(fails) && b.State() == infuse.Closed {
		f := fails[n]
		err := b.Call(bg, func(context.Context) error {
			if f {
				return errBoom
			}
			return nil
		})
		var oe *infuse.OpenError
		if errors.As(err, &oe) && oe.Reason == infuse.ReasonRamping {
			continue // shed: not admitted
		}
		n++
	}
	return n
}

// While it ramps, the breaker opens again at the failure that brings the
// admitted calls' failure rate to FailureRate (0.5 without one), once ten
// were admitted, and not before either.
func TestARampReopensAtItsFailureRateOnceItHasAdmittedTen(t *testing.T) {
	for _, c := range []struct {
		name  string
		rate  float64
		fails []bool
		opens int // the admitted call that opens it; 0: none
	}{
		{"half, at the tenth", 0, []bool{false, false, false, false, false, true, true, true, true, true}, 10},
		{"nine failures: not yet ten calls", 0, []bool{true, true, true, true, true, true, true, true, true}, 0},
		{"four of ten", 0, []bool{false, false, false, false, false, false, true, true, true, true}, 0},
		{"half, later", 0, []bool{false, false, false, false, false, false, true, true, true, true, true, true}, 12},
		{"FailureRate 0.3", 0.3, []bool{false, false, false, false, false, false, false, true, true, true}, 10},
		{"FailureRate 0.3, two of ten", 0.3, []bool{false, false, false, false, false, false, false, false, true, true}, 0},
	} {
		cfg := infuse.Config{Name: "ramp", FailMax: 100, ResetTimeout: time.Minute, RampDuration: time.Minute}
		if c.rate > 0 {
			cfg.FailureRate, cfg.Window = c.rate, infuse.CountWindow(1000)
		}
		b, clock := newBreaker(t, cfg)
		openAndRecover(t, b, clock)
		clock.Advance(30 * time.Second) // half the calls admitted
		n := outcomesWhileRamping(t, b, c.fails)
		if opened := b.State() == infuse.Open; opened != (c.opens > 0) || (opened && n != c.opens) {
			t.Errorf("%s: %v after %d admitted calls; want open at the %dth (0: not)", c.name, b.State(), n, c.opens)
		}
	}
}

// Once the ramp is over, its failure rate no longer opens the breaker:
// only FailMax (or a window's rates) does, as before the opening.
func TestOnceTheRampIsOverItsFailureRateNoLongerCounts(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 100, ResetTimeout: time.Minute, RampDuration: time.Second})
	openAndRecover(t, b, clock)
	clock.Advance(time.Second)
	for i := range 40 {
		if i%2 == 0 {
			_ = b.Call(bg, boom)
		} else {
			_ = b.Call(bg, succeed)
		}
	}
	wantState(t, b, infuse.Closed)
	if s := b.RampShare(); s != 1 {
		t.Fatalf("after the ramp: share %v", s)
	}
}
