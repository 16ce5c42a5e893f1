package infuse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

func TestForceOpenRejectsUntilReleased(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{ResetTimeout: time.Second})
	if err := b.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if b.Mode() != infuse.ModeForcedOpen || b.State() != infuse.Open {
		t.Fatalf("mode %v state %v", b.Mode(), b.State())
	}
	if b.RetryAfter() != 0 {
		t.Fatalf("RetryAfter %v while forced open, want 0 (it lasts until released)", b.RetryAfter())
	}
	clock.Advance(time.Hour) // no open period ends a forced open
	var oe *infuse.OpenError
	if err := b.Call(bg, succeed); !errors.As(err, &oe) || oe.RetryAfter != 0 {
		t.Fatalf("call while forced open: %v", err)
	}
	if err := b.Release(bg); err != nil {
		t.Fatal(err)
	}
	if b.Mode() != infuse.ModeNormal || b.State() != infuse.Closed {
		t.Fatalf("after release: mode %v state %v", b.Mode(), b.State())
	}
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
}

func TestDisabledLetsEverythingThroughAndCounts(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 2})
	_ = b.Disable(bg)
	for range 10 {
		if err := b.Call(bg, boom); err != errBoom {
			t.Fatalf("a call while disabled: %v", err)
		}
	}
	wantState(t, b, infuse.Closed)
	if got := b.Counts().ConsecutiveFailures; got != 2 {
		t.Fatalf("count %d: counting goes on (up to FailMax)", got)
	}
	_ = b.Release(bg)
	_ = b.Call(bg, boom)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("after release the breaker trips again: %v", err)
	}
}

func TestManualTransitionEndsAForcedMode(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	_ = b.ForceOpen(bg)
	_ = b.Close(bg)
	if b.Mode() != infuse.ModeNormal || b.State() != infuse.Closed {
		t.Fatalf("mode %v state %v", b.Mode(), b.State())
	}
}

func TestForcedModeHoldsAcrossSharingBreakers(t *testing.T) {
	store := infuse.NewMemoryStorage()
	a, clock := newBreaker(t, infuse.Config{Name: "s", Storage: store})
	c, _ := newBreaker(t, infuse.Config{Name: "s", Storage: store, Clock: clock})
	_ = a.ForceOpen(bg)
	if c.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("the other breaker's mode %v", c.Mode())
	}
	_ = c.Release(bg)
	if a.Mode() != infuse.ModeNormal {
		t.Fatalf("a's mode after c released: %v", a.Mode())
	}
}

func TestBackoffGrowsTheOpenPeriod(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Second,
		Backoff: infuse.Backoff{Multiplier: 2, Max: 5 * time.Second}})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	_ = b.Call(bg, boom)
	for i, w := range want {
		if got := b.RetryAfter(); got != w {
			t.Fatalf("trip %d: open for %v, want %v", i+1, got, w)
		}
		if m := b.Metrics(); m.Trips != i+1 {
			t.Fatalf("trip %d: Metrics.Trips %d", i+1, m.Trips)
		}
		clock.Advance(w)
		_ = b.Call(bg, boom) // the trial fails: open again, longer
	}
	// Once the breaker closes, the next trip starts from ResetTimeout.
	clock.Advance(5 * time.Second)
	_ = b.Call(bg, succeed)
	wantState(t, b, infuse.Closed)
	_ = b.Call(bg, boom)
	if got := b.RetryAfter(); got != time.Second {
		t.Fatalf("after closing, open for %v", got)
	}
}

func TestHalfOpenMaxWaitFreesAHungTrial(t *testing.T) {
	for _, c := range []struct {
		expiry infuse.TrialExpiry
		state  infuse.State
	}{
		{infuse.ExpiryOpens, infuse.Open},
		{infuse.ExpiryCloses, infuse.Closed},
		{infuse.ExpiryFrees, infuse.HalfOpen},
	} {
		b, clock := newBreaker(t, infuse.Config{HalfOpenMaxWait: time.Second, TrialExpiry: c.expiry})
		_ = b.HalfOpen(bg)
		hung, err := b.Allow(bg) // a trial that never returns
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Allow(bg); !errors.Is(err, infuse.ErrOpen) {
			t.Fatalf("a second trial with one permit: %v", err)
		}
		clock.Advance(time.Second)
		done, err := b.Allow(bg) // finds the expired permit
		if done != nil {
			done(nil)
		}
		if c.expiry == infuse.ExpiryFrees {
			if err != nil {
				t.Fatalf("%v: the freed permit was not granted: %v", c.expiry, err)
			}
			wantState(t, b, infuse.Closed)
		} else {
			wantState(t, b, c.state)
		}
		hung(errBoom) // too late to count
		if c.expiry == infuse.ExpiryOpens {
			wantState(t, b, infuse.Open)
		}
	}
}

func TestNewRejectsBadBackoffAndWaits(t *testing.T) {
	for _, cfg := range []infuse.Config{
		{Backoff: infuse.Backoff{Multiplier: 0.5}},
		{Backoff: infuse.Backoff{Multiplier: 2, Jitter: 1.5}},
		{Backoff: infuse.Backoff{Multiplier: 2, Max: -1}},
		{Backoff: infuse.Backoff{Jitter: 0.1}},
		{HalfOpenMaxWait: -time.Second},
		{TrialExpiry: 9},
	} {
		cfg.Name = "bad"
		var ce *infuse.ConfigError
		if _, err := infuse.New(cfg); !errors.As(err, &ce) {
			t.Errorf("New(%+v) = %v, want a ConfigError", cfg, err)
		}
	}
}
