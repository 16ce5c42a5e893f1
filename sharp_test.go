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
