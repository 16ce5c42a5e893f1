package infuse_test

import (
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

// An open breaker's error says how long to wait rounded up, so that a
// caller who waits what it reads is not turned away again: to the
// millisecond under a second, to a tenth under a minute, else to the
// second. RetryAfter keeps the exact figure.
func TestAnOpenErrorRoundsItsWaitUp(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{time.Nanosecond, "1ms"},
		{999*time.Millisecond + 1, "1s"},
		{time.Second, "1s"},
		{time.Second + 1, "1.1s"},
		{9999944618 * time.Nanosecond, "10s"},
		{59*time.Second + 900*time.Millisecond + 1, "1m0s"},
		{time.Minute, "1m0s"},
		{time.Minute + 1, "1m1s"},
		{90 * time.Minute, "1h30m0s"},
	} {
		e := &infuse.OpenError{Name: "db", State: infuse.Open, RetryAfter: c.d}
		want := `infuse: circuit breaker "db" is open; retry after ` + c.want
		if got := e.Error(); got != want {
			t.Errorf("RetryAfter %v: %q, want %q", c.d, got, want)
		}
		if e.RetryAfter != c.d {
			t.Errorf("Error changed RetryAfter")
		}
	}
}
