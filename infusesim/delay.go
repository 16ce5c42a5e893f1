package infusesim

import (
	"context"
	"sync"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
)

// delayStore is the shared fleet with a propagation delay: one shared
// MemoryStorage holds the fleet's state, and each member sees it through a
// binding that is Delay away from it on the engine's virtual time.
//
//   - A member's outcome (Report) reaches the shared state Delay after the
//     call: the binding schedules it and returns at once, as a store that
//     batches its reports does. When the merged count trips the breaker
//     there, the member hears of it Delay later (a round trip in all).
//   - A change made in the shared state (a trip, a trial's end, a merged
//     count) reaches every other member Delay after it was made.
//   - The first trial permit of a half-open period is granted 2 × Delay
//     after the open period ends: the request's round trip.
//   - Transition, Acquire, Settle, Release and SetMode go straight to the
//     shared state and answer at once: a compare-and-set round trip is
//     otherwise modelled as instant. So a member that still believes the breaker
//     closed learns of a trip the moment its own run of failures asks to
//     trip it, and a member whose open period is over gets its trial permit
//     (or the news that another member closed the breaker) at once. What
//     the delay models is the gossip a member does not ask for.
//
// Delay 0 needs none of this: the simulation then binds every member to one
// MemoryStorage directly.
type delayStore struct {
	shared *infuse.MemoryStorage
	en     *engine
	delay  time.Duration
	// trialTrip delays the first trial permit of a half-open period by its
	// request's round trip (see Acquire); off, the store keeps the storage
	// contract's timing exactly.
	trialTrip bool
}

// delayBinding is one member's view of the shared state.
type delayBinding struct {
	store *delayStore
	cfg   storage.BindConfig
	inner storage.Binding

	mu     sync.Mutex
	view   storage.Snapshot // the newest snapshot this member has learned of
	closed bool
}

func (d *delayStore) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	cfg, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	b := &delayBinding{store: d, cfg: cfg}
	// Every callback of the shared binding goes through the delay: none of
	// the breaker's is handed on.
	in, err := d.shared.Bind(storage.BindConfig{
		Name: cfg.Name, InitialState: cfg.InitialState, Clock: cfg.Clock, Policy: cfg.Policy,
		Observe: b.fromShared, Window: cfg.Window,
	})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.inner = in
	b.view = in.Snapshot()
	b.mu.Unlock()
	return b, nil
}

// fromShared is the shared binding's Observe: the change reaches the member
// Delay from now. It must not block; it only schedules.
func (b *delayBinding) fromShared(s storage.Snapshot) {
	b.store.en.after(b.store.delay, event{kind: evObserve, bind: b, snap: s})
}

// deliver is a change reaching the member: the view takes it, then the
// breaker is told. The answer to the member's own report is news to the
// breaker only when it is a newer generation (a trip on merged counts,
// which the member made: Made); its counts the breaker already has, its
// own failures counted first.
func (b *delayBinding) deliver(s storage.Snapshot, own bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	newer := s.Generation > b.view.Generation
	if s.Generation >= b.view.Generation {
		b.view = s
	}
	b.mu.Unlock()
	switch {
	case own && newer:
		b.cfg.Made(s) // the trip this member's report made
	case !own:
		b.cfg.Observe(s)
	}
}

// take adopts the answer of a call to the shared state into the view.
func (b *delayBinding) take(s storage.Snapshot) {
	b.mu.Lock()
	if s.Generation >= b.view.Generation {
		b.view = s
	}
	b.mu.Unlock()
}

func (b *delayBinding) Snapshot() storage.Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.view
}

// Report queues the outcome for the shared state, Delay from now.
func (b *delayBinding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	b.store.en.after(b.store.delay, event{kind: evReport, bind: b, gen: gen, out: o})
	return storage.Snapshot{}, false
}

// arrive is a reported outcome reaching the shared state; what it changes
// there reaches the member Delay later, and the others through fromShared.
func (b *delayBinding) arrive(gen uint64, o storage.Outcome) {
	if s, _ := b.inner.Report(gen, o); s.Generation != 0 {
		b.store.en.after(b.store.delay, event{kind: evObserve, bind: b, snap: s, own: true})
	}
}

func (b *delayBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	s, changed, err := b.inner.Transition(ctx, t)
	b.take(s)
	return s, changed, err
}

// Acquire asks the shared state for a trial permit. A request for the
// first trial of a half-open period is a round trip (2 × Delay) on the
// fleet's critical path: until that long after the open period ended, the
// permit is not granted yet, and calls are rejected as by an open breaker
// (the live fleet's member waits on Redis meanwhile).
func (b *delayBinding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	if s := b.inner.Snapshot(); b.store.trialTrip && s.State == infuse.Open && s.Mode == infuse.ModeNormal {
		if now := b.cfg.Clock.Now(); now.Before(s.OpenedAt.Add(b.cfg.Policy().OpenFor(s) + 2*b.store.delay)) {
			b.take(s)
			return storage.Permit{}, s, false
		}
	}
	p, s, ok := b.inner.Acquire(ctx)
	b.take(s)
	return p, s, ok
}

func (b *delayBinding) Settle(ctx context.Context, p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	s, changed := b.inner.Settle(ctx, p, o)
	b.take(s)
	return s, changed
}

func (b *delayBinding) Release(p storage.Permit) { b.inner.Release(p) }

func (b *delayBinding) SetMode(ctx context.Context, m infuse.Mode) (storage.Snapshot, error) {
	s, err := b.inner.SetMode(ctx, m)
	b.take(s)
	return s, err
}

func (b *delayBinding) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.inner.Close()
}
