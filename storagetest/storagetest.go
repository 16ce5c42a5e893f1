// Package storagetest is the contract every storage.Storage must keep: run
// it from the implementation's tests with Run. The in-process MemoryStorage
// and the Redis store are both held to it.
package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// Harness tells Run how to drive one Storage implementation.
type Harness struct {
	// New returns a new, empty Storage; the harness cleans it up (with
	// t.Cleanup).
	New func(t *testing.T) storage.Storage
	// Clock is given to every binding. Advance moves both it and the
	// store's own notion of time on by at least d: a store that keeps time
	// itself (a server's clock) may sleep. Nil Clock means the real clock,
	// and then Advance must be set.
	Clock   storage.Clock
	Advance func(d time.Duration)
	// Sync waits until every Report, Transition and Settle made so far
	// has reached the backing store and every resulting Observe has been
	// delivered. Nil for a store that does everything before returning.
	Sync func(t *testing.T, s storage.Storage)
	// ResetTimeout is the open period the suite uses. Zero means one
	// minute; a store on a real clock wants something short.
	ResetTimeout time.Duration
	// Slack is how far two bindings' OpenedAt for one open period may
	// differ: zero for a store with one clock, a few milliseconds for one
	// that translates a server's clock to each host's.
	Slack time.Duration
}

// Run runs the contract as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.ResetTimeout == 0 {
		h.ResetTimeout = time.Minute
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &suite{h: h, store: h.New(t)})
		})
	}
}

// suite is one case's store and helpers.
type suite struct {
	h      Harness
	store  storage.Storage
	policy storage.Policy
}

// member is one binding with what its observer saw.
type member struct {
	storage.Binding
	mu   sync.Mutex
	seen []storage.Snapshot
	errs []error
}

func (m *member) observed() []storage.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]storage.Snapshot(nil), m.seen...)
}

// lastSeen is the newest snapshot the observer received, by generation.
func (m *member) lastSeen() (storage.Snapshot, bool) {
	var best storage.Snapshot
	for _, s := range m.observed() {
		if s.Generation >= best.Generation {
			best = s
		}
	}
	return best, best.Generation != 0
}

func (s *suite) pol() storage.Policy {
	p := s.policy
	if p.FailMax == 0 {
		p.FailMax = 3
	}
	if p.ResetTimeout == 0 {
		p.ResetTimeout = s.h.ResetTimeout
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.HalfOpenMaxCalls == 0 {
		p.HalfOpenMaxCalls = 1
	}
	return p
}

func (s *suite) bind(t *testing.T, name string, initial storage.State) *member {
	t.Helper()
	m := &member{}
	b, err := s.store.Bind(storage.BindConfig{
		Name:         name,
		InitialState: initial,
		Clock:        s.h.Clock,
		Policy:       s.pol,
		Observe: func(snap storage.Snapshot) {
			m.mu.Lock()
			m.seen = append(m.seen, snap)
			m.mu.Unlock()
		},
		OnError: func(err error) {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("Bind(%q): %v", name, err)
	}
	m.Binding = b
	t.Cleanup(func() { _ = b.Close() })
	return m
}

func (s *suite) sync(t *testing.T) {
	t.Helper()
	if s.h.Sync != nil {
		s.h.Sync(t, s.store)
	}
}

// clock is the bindings' clock.
func (s *suite) clock() storage.Clock {
	if s.h.Clock == nil {
		return realClock{}
	}
	return s.h.Clock
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (s *suite) advance(d time.Duration) {
	if s.h.Advance != nil {
		s.h.Advance(d)
	}
}

func (s *suite) transition(t *testing.T, m *member, tr storage.Transition) (storage.Snapshot, bool) {
	t.Helper()
	snap, changed, err := m.Transition(context.Background(), tr)
	if err != nil {
		t.Fatalf("Transition(%+v): %v", tr, err)
	}
	return snap, changed
}

func wantState(t *testing.T, what string, snap storage.Snapshot, state storage.State) {
	t.Helper()
	if snap.State != state {
		t.Fatalf("%s: state %v, want %v (snapshot %+v)", what, snap.State, state, snap)
	}
}

var bg = context.Background()

func absDiff(a, b time.Time) time.Duration {
	if d := a.Sub(b); d >= 0 {
		return d
	}
	return b.Sub(a)
}

func report(m *member, gen uint64, o storage.Outcome, n int) {
	for range n {
		m.Report(gen, o)
	}
}
