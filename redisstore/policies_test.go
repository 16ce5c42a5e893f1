package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

func TestForcedModesHoldFleetWide(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 1, ResetTimeout: 50 * time.Millisecond})
	a, b, sa, sb := m.a, m.b, m.sa, m.sb
	if err := a.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sb)
	if b.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("b's mode %v", b.Mode())
	}
	time.Sleep(60 * time.Millisecond) // past ResetTimeout: no trial while forced
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("b's call while forced open: %v", err)
	}
	if err := b.Disable(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sa)
	for range 3 {
		if err := a.Call(bg, boom); err != errBoom {
			t.Fatalf("a's call while disabled: %v", err)
		}
	}
	syncStore(t, sa)
	syncStore(t, sb)
	if a.State() != infuse.Closed || b.State() != infuse.Closed || a.Mode() != infuse.ModeDisabled {
		t.Fatalf("disabled fleet: a %v/%v, b %v", a.State(), a.Mode(), b.State())
	}
	if err := a.Release(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sb)
	if b.Mode() != infuse.ModeNormal {
		t.Fatalf("b's mode after release %v", b.Mode())
	}
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("after release: %v", err)
	}
}

func TestBackoffThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{})
	// Periods far apart (300 ms, then 3 s), so that a busy host's delays
	// cannot blur which one applies.
	b, _ := newBreaker(t, store, infuse.Config{FailMax: 1, ResetTimeout: 300 * time.Millisecond,
		Backoff: infuse.Backoff{Multiplier: 10}})
	_ = b.Call(bg, boom)
	if got := b.RetryAfter(); got > 300*time.Millisecond || got <= 0 {
		t.Fatalf("first open period %v, want at most 300ms", got)
	}
	sleepPastOpenPeriod(b)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("failed trial: %v", err)
	}
	if got := b.RetryAfter(); got > 3*time.Second || got < 2*time.Second {
		t.Fatalf("second open period %v, want about 3s", got)
	}
	if m := b.Metrics(); m.Trips != 2 {
		t.Fatalf("trips %d", m.Trips)
	}
	// The backed-off period applies, not ResetTimeout: no trial twice
	// ResetTimeout after the second opening.
	time.Sleep(600 * time.Millisecond)
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("a call 600ms into a 3s period: %v", err)
	}
}

func TestHalfOpenMaxWaitThroughRedis(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, HalfOpenMaxWait: 100 * time.Millisecond})
	a, b, sa, sb := m.a, m.b, m.sa, m.sb
	_ = a.HalfOpen(bg)
	syncStore(t, sb)
	hung, err := a.Allow(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allow(bg); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("a second trial: %v", err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, err := b.Allow(bg); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("after the hung trial expired (ExpiryOpens): %v", err)
	}
	wantState(t, b, infuse.Open)
	syncStore(t, sa)
	wantState(t, a, infuse.Open)
	hung(nil) // too late to close anything
	wantState(t, a, infuse.Open)
}

// A rate trip on one member opens the breaker for the fleet. The window
// itself is each member's own: a count window is never the fleet's
// (docs/fleets.md, "Fleet-wide windows").
func TestRateTripReachesTheFleet(t *testing.T) {
	m := twoMembers(t, infuse.Config{FailMax: 1000, Window: infuse.CountWindow(10), FailureRate: 0.5, MinCalls: 4})
	a, b, sb := m.a, m.b, m.sb
	_ = a.Call(bg, succeed)
	_ = a.Call(bg, succeed)
	_ = a.Call(bg, boom)
	if err := a.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("the failure that makes 50 %%: %v", err)
	}
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
}
