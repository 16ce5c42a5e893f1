package infuse_test

import (
	"context"
	"errors"
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

var (
	errBoom    = errors.New("boom")
	errLookup  = errors.New("lookup")
	errNotImpl = errors.New("not implemented")
	bg         = context.Background()
)

func succeed(context.Context) error { return nil }
func boom(context.Context) error    { return errBoom }

// newBreaker builds a breaker on a fresh virtual clock; cfg.Name defaults
// to the test's name.
func newBreaker(t testing.TB, cfg infuse.Config) (*infuse.Breaker, *infusetest.Clock) {
	t.Helper()
	clock := infusetest.NewClock()
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.Name == "" {
		cfg.Name = t.Name()
	}
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, clock
}

// trip fails calls until the breaker opens.
func trip(t testing.TB, b *infuse.Breaker) {
	t.Helper()
	for i := 0; i < b.FailMax(); i++ {
		if err := b.Call(bg, boom); errors.Is(err, infuse.ErrTripped) {
			return
		}
	}
	t.Fatalf("breaker did not trip after %d failures; state %v", b.FailMax(), b.State())
}

func wantState(t testing.TB, b *infuse.Breaker, want infuse.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func wantCounts(t testing.TB, b *infuse.Breaker, failures, successes int) {
	t.Helper()
	if got := b.Counts(); got != (infuse.Counts{ConsecutiveFailures: failures, ConsecutiveSuccesses: successes}) {
		t.Fatalf("counts = %+v, want failures %d successes %d", got, failures, successes)
	}
}
