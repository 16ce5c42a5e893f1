package infuse_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

// A dependency's "retry after 30s" opens the breaker for 30 s: rejections
// say so, and the trial comes after it, not after ResetTimeout.
func TestHoldOpenOpensForTheGivenTime(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{ResetTimeout: 5 * time.Second})
	left, err := b.HoldOpen(bg, 30*time.Second)
	if err != nil || left != 30*time.Second {
		t.Fatalf("HoldOpen: %v %v", left, err)
	}
	wantState(t, b, infuse.Open)
	clock.Advance(29 * time.Second)
	err = b.Call(bg, succeed)
	var oe *infuse.OpenError
	if !errors.As(err, &oe) || oe.Reason != infuse.ReasonOpen || oe.RetryAfter != time.Second {
		t.Fatalf("29 s into a hold of 30 s: %v", err)
	}
	clock.Advance(time.Second)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatalf("the trial after the hold: %v", err)
	}
	wantState(t, b, infuse.Closed)
}

func TestHoldOpenIsCappedAndNeverShortens(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, MaxHoldOpen: 10 * time.Second})
	if left, _ := b.HoldOpen(bg, time.Hour); left != 10*time.Second {
		t.Fatalf("a hold of an hour, capped at 10 s: %v", left)
	}
	clock.Advance(10 * time.Second)
	_ = b.Call(bg, boom) // the trial fails: open for a minute
	wantState(t, b, infuse.Open)
	gen := b.Generation()
	if left, _ := b.HoldOpen(bg, 5*time.Second); left != time.Minute || b.Generation() != gen {
		t.Fatalf("a hold shorter than what is left changed it: %v, generation %d -> %d", left, gen, b.Generation())
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if left, _ := b.HoldOpen(bg, d); left != time.Minute {
			t.Fatalf("HoldOpen(%v): %v", d, left)
		}
	}
	c, _ := newBreaker(t, infuse.Config{})
	if left, _ := c.HoldOpen(bg, time.Second); left != time.Second {
		t.Fatalf("default cap: %v", left)
	}
	if _, err := infuse.New(infuse.Config{Name: "x", MaxHoldOpen: -1}); err == nil {
		t.Fatal("a negative MaxHoldOpen accepted")
	}
}

// A hold longer than what is left of an open period extends it, and a
// half-open breaker opens again; forced and disabled breakers are left.
func TestHoldOpenFromEveryState(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: 10 * time.Second, HalfOpenMaxCalls: 1})
	_ = b.Call(bg, boom)
	if left, _ := b.HoldOpen(bg, time.Minute); left != time.Minute {
		t.Fatalf("extending an open period: %v", left)
	}
	clock.Advance(time.Minute)
	done, err := b.Allow(bg) // the trial: half-open
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.HalfOpen)
	if left, _ := b.HoldOpen(bg, 20*time.Second); left != 20*time.Second {
		t.Fatalf("from half-open: %v", left)
	}
	wantState(t, b, infuse.Open)
	done(nil) // the trial of an earlier generation changes nothing
	wantState(t, b, infuse.Open)

	if err := b.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if left, _ := b.HoldOpen(bg, time.Second); left != 0 || b.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("forced open: %v %v", left, b.Mode())
	}
	if err := b.Disable(bg); err != nil {
		t.Fatal(err)
	}
	if _, _ = b.HoldOpen(bg, time.Second); b.State() != infuse.Closed || b.Mode() != infuse.ModeDisabled {
		t.Fatalf("disabled: %v %v", b.State(), b.Mode())
	}
	var nilCtx context.Context // the point is a nil context
	if _, err := b.HoldOpen(nilCtx, time.Second); err == nil {
		t.Fatal("a nil context accepted")
	}
}

// Holds that arrive together (every in-flight call answered 429) neither
// pile up openings nor grow the backoff.
func TestRepeatedHoldsDoNotPileUp(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{ResetTimeout: time.Second, Backoff: infuse.Backoff{Multiplier: 2}})
	if _, err := b.HoldOpen(bg, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	gen, trips := b.Generation(), b.Metrics().Trips
	for range 40 {
		clock.Advance(time.Millisecond)
		if _, err := b.HoldOpen(bg, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if b.Generation() != gen || b.Metrics().Trips != trips {
		t.Fatalf("40 holds together: generation %d -> %d, trips %d -> %d", gen, b.Generation(), trips, b.Metrics().Trips)
	}
	clock.Advance(10 * time.Second)
	if left, _ := b.HoldOpen(bg, 60*time.Second); left != 60*time.Second || b.Metrics().Trips != trips {
		t.Fatalf("a longer hold extends without a trip: %v, trips %d", left, b.Metrics().Trips)
	}
}

// With the real clock, rejections during a hold longer than ResetTimeout
// say how long is truly left (they read a coarse clock).
func TestRealClockRejectionsDuringAHold(t *testing.T) {
	b, err := infuse.New(infuse.Config{Name: "real", ResetTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.HoldOpen(bg, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		var oe *infuse.OpenError
		if err := b.Call(bg, succeed); !errors.As(err, &oe) || oe.RetryAfter < 29*time.Second || oe.RetryAfter > 30*time.Second {
			t.Fatalf("a rejection 30 s into a hold: %v", err)
		}
	}
}

// A hold keeps the breaker open until the end it was asked for: the
// dependency's d from the moment it asks, capped at MaxHoldOpen, unless
// the breaker is held already for at least d less a tenth of it (at most
// a second), as when every call in flight is answered "retry after d"
// together: then nothing changes. Checked against that model over random
// asks (new ones, and the last one again, soon after it or exactly its
// tolerance later) and waits, with RetryAfter after each.
func TestAHoldKeepsTheBreakerOpenUntilTheEndItWasAskedFor(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		maxHold := time.Duration(rapid.IntRange(1, 600).Draw(rt, "maxHoldSec")) * time.Second
		b, clock := newBreaker(t, infuse.Config{Name: "hold", ResetTimeout: time.Minute, MaxHoldOpen: maxHold})
		var end time.Time // the model: when the hold ends; zero before any
		last := time.Second
		tolerance := func(d time.Duration) time.Duration { return min(d/10, time.Second) }
		for i, step := range rapid.SliceOfN(rapid.IntRange(0, 4), 1, 40).Draw(rt, "steps") {
			switch step {
			case 0: // a while
				clock.Advance(time.Duration(rapid.Int64Range(0, int64(2*maxHold)).Draw(rt, "wait")))
			case 1: // a moment
				clock.Advance(time.Duration(rapid.Int64Range(0, int64(2*tolerance(max(last, 0)))).Draw(rt, "moment")))
			default: // an ask: a new one (3), or the last one again, now (4) or exactly its tolerance later (2)
				if step == 2 {
					clock.Advance(tolerance(max(min(last, maxHold), 0)))
				}
				d := last
				if step == 3 {
					d = time.Duration(rapid.Int64Range(-int64(time.Second), int64(2*maxHold)).Draw(rt, "d"))
				}
				last = d
				now := clock.Now()
				if d := min(d, maxHold); d > 0 && (end.IsZero() || end.Sub(now) < d-tolerance(d)) {
					end = now.Add(d)
				}
				left, err := b.HoldOpen(bg, d)
				if err != nil {
					rt.Fatal(err)
				}
				if want := max(end.Sub(now), 0); left != want {
					rt.Fatalf("step %d: HoldOpen(%v) with MaxHoldOpen %v: %v left, model %v", i, d, maxHold, left, want)
				}
			}
			want := time.Duration(0)
			if !end.IsZero() {
				want = max(end.Sub(clock.Now()), 0)
			}
			if got := b.RetryAfter(); got != want {
				rt.Fatalf("step %d: RetryAfter %v, model %v", i, got, want)
			}
			if end.IsZero() != (b.State() == infuse.Closed) {
				rt.Fatalf("step %d: state %v, model held %v", i, b.State(), !end.IsZero())
			}
		}
	})
}

// raced is a store on which another member moves the breaker just before
// this one's next transition reaches the store (once, when first is set).
type raced struct {
	infuse.Storage
	first func()
}

func (r *raced) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	in, err := r.Storage.Bind(cfg)
	return racedBinding{in, r}, err
}

type racedBinding struct {
	storage.Binding
	r *raced
}

func (b racedBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	if f := b.r.first; f != nil {
		b.r.first = nil
		f()
	}
	return b.Binding.Transition(ctx, t)
}

// A hold that loses the race with another member's transition tries
// again on the state that member left: the breaker is held for what the
// dependency asked, not for the other member's open period.
func TestAHoldThatLosesARaceTriesAgainOnTheNewState(t *testing.T) {
	clock := infusetest.NewClock()
	mem := infuse.NewMemoryStorage()
	store := &raced{Storage: mem}
	cfg := infuse.Config{Name: "raced", Clock: clock, ResetTimeout: 5 * time.Second}
	cfg.Storage = mem
	other, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = store
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store.first = func() { _ = other.Open(bg) }
	left, err := b.HoldOpen(bg, 30*time.Second)
	if err != nil || left != 30*time.Second || b.RetryAfter() != 30*time.Second || other.RetryAfter() != 30*time.Second {
		t.Fatalf("a hold of 30 s after another member opened the breaker for 5 s: %v %v; RetryAfter %v here, %v there",
			left, err, b.RetryAfter(), other.RetryAfter())
	}
}

// On the real clock, a rejection during a hold longer than ResetTimeout
// tells the time the hold has left, not the open period's.
func TestARejectionDuringAHoldPastResetTimeoutTellsTheTimeLeft(t *testing.T) {
	b, err := infuse.New(infuse.Config{Name: "api", ResetTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.HoldOpen(bg, 12*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		var oe *infuse.OpenError
		err := b.Call(bg, succeed)
		// What is left of the hold, read on a clock that ticks every few ms.
		least := 12*time.Second - time.Since(start) - 100*time.Millisecond
		if !errors.As(err, &oe) || oe.RetryAfter < least || oe.RetryAfter > 12*time.Second {
			t.Fatalf("rejection %d, %v into a 12 s hold: %v", i, time.Since(start), err)
		}
	}
}
