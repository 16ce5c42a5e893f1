package infuse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

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
