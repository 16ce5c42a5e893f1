package infuse

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryStorage keeps breaker state in this process. It is what a breaker
// uses when Config.Storage is nil (a private MemoryStorage of its own).
//
// Breakers that share a MemoryStorage and a Name share one state, as the
// members of a fleet share state through a shared store: a trip by one opens
// all, their failures add up, and they draw on one set of trial permits.
// Their clocks should agree; the open period is measured on the clock of the
// breaker that asks.
//
// The zero value is ready to use.
type MemoryStorage struct {
	mu      sync.Mutex
	records map[string]*memRecord
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{} }

// memRecord is the state of one name.
type memRecord struct {
	mu         sync.Mutex
	snap       Snapshot
	permits    map[uint64]time.Time // held permits of the current generation, with their expiry (zero: none)
	nextPermit uint64
	// bindings is swapped whole, so observers can be called from a copy
	// taken under mu without allocating.
	bindings []*memBinding
}

type memBinding struct {
	store  *MemoryStorage
	rec    *memRecord
	cfg    BindConfig
	closed atomic.Bool
}

// Bind implements Storage.
func (m *MemoryStorage) Bind(cfg BindConfig) (Binding, error) {
	cfg, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.records == nil {
		m.records = make(map[string]*memRecord)
	}
	rec, ok := m.records[cfg.Name]
	if !ok {
		rec = &memRecord{snap: Snapshot{State: cfg.InitialState, Generation: 1}}
		if cfg.InitialState == Open {
			rec.snap.OpenedAt = cfg.Clock.Now()
		}
		m.records[cfg.Name] = rec
	}
	m.mu.Unlock()

	b := &memBinding{store: m, rec: rec, cfg: cfg}
	rec.mu.Lock()
	rec.bindings = append(rec.bindings[:len(rec.bindings):len(rec.bindings)], b)
	rec.mu.Unlock()
	return b, nil
}

func (b *memBinding) Snapshot() Snapshot {
	b.rec.mu.Lock()
	s := b.rec.snap
	b.rec.mu.Unlock()
	return s
}

func (b *memBinding) Report(gen uint64, o Outcome) (Snapshot, bool) {
	r := b.rec
	r.mu.Lock()
	if gen != r.snap.Generation || r.snap.State != Closed {
		r.mu.Unlock()
		return Snapshot{}, false
	}
	switch o {
	case Success:
		if r.snap.Failures == 0 {
			r.mu.Unlock()
			return Snapshot{}, false
		}
		r.snap.Failures = 0
	case Failure:
		r.snap.Failures++
		if p := b.cfg.Policy(); r.snap.Failures >= p.FailMax && r.snap.Mode != ModeDisabled {
			r.open(b.cfg.Clock, p.FailMax)
			s, obs := r.snap, r.bindings
			r.mu.Unlock()
			notify(obs, b, s)
			return s, true
		}
	default:
		r.mu.Unlock()
		return Snapshot{}, false
	}
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	notify(obs, b, s)
	return s, false
}

func (b *memBinding) Transition(ctx context.Context, t Transition) (Snapshot, bool, error) {
	r := b.rec
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		s := r.snap
		r.mu.Unlock()
		return s, false, err
	}
	if !t.To.valid() || (t.From != AnyGeneration && (t.From != r.snap.Generation || r.snap.Mode != ModeNormal)) {
		s := r.snap
		r.mu.Unlock()
		return s, false, nil
	}
	switch t.To {
	case Open:
		r.open(b.cfg.Clock, t.Failures)
	case HalfOpen:
		r.next(HalfOpen)
	case Closed:
		r.next(Closed)
	}
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	notify(obs, b, s)
	return s, true, nil
}

func (b *memBinding) Acquire(ctx context.Context) (Permit, Snapshot, bool) {
	r := b.rec
	r.mu.Lock()
	if ctx.Err() != nil {
		s := r.snap
		r.mu.Unlock()
		return Permit{}, s, false
	}
	p := b.cfg.Policy()
	now := b.cfg.Clock.Now()
	moved := false
	switch {
	case r.snap.State == Closed || r.snap.Mode == ModeForcedOpen:
		s := r.snap
		r.mu.Unlock()
		return Permit{}, s, false
	case r.snap.State == Open:
		if now.Before(r.snap.OpenedAt.Add(p.OpenFor(r.snap))) {
			s := r.snap
			r.mu.Unlock()
			return Permit{}, s, false
		}
		r.next(HalfOpen)
		moved = true
	}
	if r.expire(now, p.TrialExpiry, b.cfg.Clock) {
		moved = true
		if r.snap.State != HalfOpen {
			s, obs := r.snap, r.bindings
			r.mu.Unlock()
			notify(obs, b, s)
			b.cfg.Made(s) // this call made it, granting nothing (see Binding.Acquire)
			return Permit{}, s, false
		}
	}
	if r.snap.Trials >= p.HalfOpenMaxCalls {
		s, obs := r.snap, r.bindings
		r.mu.Unlock()
		if moved {
			notify(obs, b, s)
			b.cfg.Made(s)
		}
		return Permit{}, s, false
	}
	r.nextPermit++
	permit := Permit{Generation: r.snap.Generation, ID: r.nextPermit}
	if r.permits == nil {
		r.permits = make(map[uint64]time.Time)
	}
	var expiry time.Time
	if p.HalfOpenMaxWait > 0 {
		expiry = now.Add(p.HalfOpenMaxWait)
	}
	r.permits[permit.ID] = expiry
	r.snap.Trials++
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	if moved {
		notify(obs, b, s)
	}
	return permit, s, true
}

func (b *memBinding) Settle(ctx context.Context, permit Permit, o Outcome) (Snapshot, bool) {
	r := b.rec
	r.mu.Lock()
	if !r.take(permit) {
		s := r.snap
		r.mu.Unlock()
		return s, false
	}
	changed := false
	switch o {
	case Failure:
		r.open(b.cfg.Clock, 1)
		changed = true
	case Success:
		r.snap.Successes++
		if r.snap.Successes >= b.cfg.Policy().SuccessThreshold {
			r.next(Closed)
			changed = true
		}
	}
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	notify(obs, b, s)
	return s, changed
}

// expire frees the permits held past their expiry and does what te says;
// it reports whether the snapshot changed.
func (r *memRecord) expire(now time.Time, te TrialExpiry, c Clock) bool {
	expired := 0
	for id, at := range r.permits {
		if !at.IsZero() && !now.Before(at) {
			delete(r.permits, id)
			expired++
		}
	}
	if expired == 0 {
		return false
	}
	r.snap.Trials -= expired
	switch te {
	case ExpiryOpens:
		r.open(c, 1)
	case ExpiryCloses:
		r.next(Closed)
	}
	return true
}

func (b *memBinding) SetMode(ctx context.Context, m Mode) (Snapshot, error) {
	if !m.valid() {
		return b.Snapshot(), &ConfigError{"Mode", fmt.Sprintf("%d is not a Mode", int(m))}
	}
	r := b.rec
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		s := r.snap
		r.mu.Unlock()
		return s, err
	}
	if m == ModeForcedOpen {
		r.open(b.cfg.Clock, r.snap.Failures)
	} else {
		r.next(Closed)
	}
	r.snap.Mode = m
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	notify(obs, b, s)
	return s, nil
}

func (b *memBinding) Release(permit Permit) {
	r := b.rec
	r.mu.Lock()
	r.take(permit)
	r.mu.Unlock()
}

func (b *memBinding) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	r := b.rec
	r.mu.Lock()
	kept := make([]*memBinding, 0, len(r.bindings))
	for _, o := range r.bindings {
		if o != b {
			kept = append(kept, o)
		}
	}
	r.bindings = kept
	r.mu.Unlock()
	return nil
}

// take removes a held permit of the current generation; it reports whether
// the permit was held.
func (r *memRecord) take(p Permit) bool {
	if p.Generation != r.snap.Generation || r.snap.State != HalfOpen {
		return false
	}
	if _, ok := r.permits[p.ID]; !ok {
		return false
	}
	delete(r.permits, p.ID)
	r.snap.Trials--
	return true
}

// next starts a new generation in state s with fresh counters and no
// forced mode. The run of trips carries on until the breaker closes.
func (r *memRecord) next(s State) {
	trips := r.snap.Trips
	if s == Closed {
		trips = 0
	}
	r.snap = Snapshot{State: s, Generation: r.snap.Generation + 1, Trips: trips}
	clear(r.permits)
}

func (r *memRecord) open(c Clock, failures int) {
	r.next(Open)
	r.snap.OpenedAt = c.Now()
	r.snap.Failures = failures
	r.snap.Trips++
}

// notify passes s to every binding but the one that made the change.
func notify(bindings []*memBinding, self *memBinding, s Snapshot) {
	for _, o := range bindings {
		if o != self && !o.closed.Load() {
			o.cfg.Observe(s)
		}
	}
}
