package infuse_test

import (
	"context"
	"errors"
	"strings"
	"sync"
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

// recorder is a Listener that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []infuse.Event
}

func (r *recorder) OnEvent(e infuse.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []infuse.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]infuse.Event(nil), r.events...)
}

// trace renders the events as "kind" or "from->to" words, comma-joined.
func (r *recorder) trace() string {
	var parts []string
	for _, e := range r.all() {
		if e.Kind == infuse.EventStateChange {
			parts = append(parts, e.From.String()+"->"+e.To.String())
		} else {
			parts = append(parts, e.Kind.String())
		}
	}
	return strings.Join(parts, ",")
}

func (r *recorder) transitions() string {
	var parts []string
	for _, e := range r.all() {
		if e.Kind == infuse.EventStateChange {
			parts = append(parts, e.From.String()+"->"+e.To.String())
		}
	}
	return strings.Join(parts, ",")
}

func (r *recorder) count(kind infuse.EventKind) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
