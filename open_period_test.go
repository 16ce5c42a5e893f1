package infuse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
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

// The open period a backoff gives is a pure function of the generation
// and the trips, the same on every member and in every version of the
// library (members of a fleet in a rolling upgrade agree on it).
func TestBackoffOpenPeriodsArePinned(t *testing.T) {
	p := storage.Policy{ResetTimeout: 10 * time.Second, Backoff: infuse.Backoff{Multiplier: 2}}
	for trips, want := range map[int]time.Duration{0: 10 * time.Second, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second} {
		if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: trips}); got != want {
			t.Errorf("no Max, %d trips: %v, want %v", trips, got, want)
		}
	}
	p.Backoff.Max = 30 * time.Second
	if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: 4}); got != 30*time.Second {
		t.Errorf("Max 30s, 4 trips: %v", got)
	}
	p.Backoff = infuse.Backoff{Multiplier: 1000}
	if got := p.OpenFor(storage.Snapshot{Trips: 1 << 20}); got != 1<<62 { // MaxInt64/2, as a float64
		t.Errorf("a huge backoff: %v, want the cap %v", got, time.Duration(1<<62))
	}
	p.Backoff = infuse.Backoff{Multiplier: 1, Jitter: 0.5}
	for gen, want := range []time.Duration{10665615751, 10911897341, 6134503420, 9314558177} {
		// Within a microsecond: an architecture may fuse a multiply and an
		// add, which rounds once instead of twice.
		if got := p.OpenFor(storage.Snapshot{Generation: uint64(gen + 1), Trips: 1}); got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("jitter 0.5, generation %d: %v, want %v", gen+1, got, want)
		}
	}
}
