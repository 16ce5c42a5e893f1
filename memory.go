package infuse

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/storage"
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
	snap       storage.Snapshot
	permits    map[uint64]time.Time // held permits of the current generation, with their expiry (zero: none)
	nextPermit uint64
	// bindings is swapped whole, so observers can be called from a copy
	// taken under mu without allocating.
	bindings []*memBinding
}

type memBinding struct {
	store  *MemoryStorage
	rec    *memRecord
	cfg    storage.BindConfig
	closed atomic.Bool
}

// Bind implements Storage.
func (m *MemoryStorage) Bind(cfg storage.BindConfig) (storage.Binding, error) {
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
		rec = &memRecord{snap: storage.Snapshot{State: cfg.InitialState, Generation: 1}}
		if cfg.InitialState == storage.Open {
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

// memOwner is what a record needs of the breaker that asks: its
// settings, its clock, and where to send a change the record makes for it
// outside its calls.
type memOwner interface {
	policy() storage.Policy
	clock() storage.Clock
	made(storage.Snapshot)
}

func (b *memBinding) policy() storage.Policy  { return b.cfg.Policy() }
func (b *memBinding) clock() storage.Clock    { return b.cfg.Clock }
func (b *memBinding) made(s storage.Snapshot) { b.cfg.Made(s) }

func (b *memBinding) Snapshot() storage.Snapshot { return b.rec.snapshot() }
func (b *memBinding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	return b.rec.report(b, b, gen, o)
}
func (b *memBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	return b.rec.transition(b, b, ctx, t)
}
func (b *memBinding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	return b.rec.acquire(b, b, ctx)
}
func (b *memBinding) Settle(ctx context.Context, permit storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	return b.rec.settle(b, b, permit, o)
}
func (b *memBinding) SetMode(ctx context.Context, m storage.Mode) (storage.Snapshot, error) {
	return b.rec.setMode(b, b, ctx, m)
}
func (b *memBinding) Release(permit storage.Permit) { b.rec.release(permit) }

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

func (r *memRecord) snapshot() storage.Snapshot {
	r.mu.Lock()
	s := r.snap
	r.mu.Unlock()
	return s
}

func (r *memRecord) report(b memOwner, self *memBinding, gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	r.mu.Lock()
	if gen != r.snap.Generation || r.snap.State != storage.Closed {
		r.unlock()
		return storage.Snapshot{}, false
	}
	switch o {
	case storage.OutcomeSuccess:
		if r.snap.Failures == 0 {
			r.unlock()
			return storage.Snapshot{}, false
		}
		r.snap.Failures = 0
	case storage.OutcomeFailure:
		r.snap.Failures++
		if p := b.policy(); r.snap.Failures >= p.FailMax && r.snap.Mode != storage.ModeDisabled {
			r.open(b.clock(), p.FailMax)
			r.snap.Cause = storage.CauseFailures
			return r.publish(self), true
		}
	default:
		r.unlock()
		return storage.Snapshot{}, false
	}
	return r.publish(self), false
}

func (r *memRecord) transition(b memOwner, self *memBinding, ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		return r.unlock(), false, err
	}
	if !t.To.Valid() || (t.From != storage.AnyGeneration && (t.From != r.snap.Generation || r.snap.Mode != storage.ModeNormal)) {
		return r.unlock(), false, nil
	}
	switch t.To {
	case storage.Open:
		trips := r.snap.Trips
		wasOpen := r.snap.State == storage.Open
		r.open(b.clock(), t.Failures)
		if !t.OpenUntil.IsZero() {
			if wasOpen {
				r.snap.Trips = trips // a hold extending an open period is no new trip
			}
			r.snap.OpenedAt = t.OpenUntil.Add(-b.policy().OpenFor(r.snap))
		}
	case storage.HalfOpen:
		r.next(storage.HalfOpen)
	case storage.Closed:
		r.close(b.clock())
	}
	r.snap.Cause = t.Cause
	return r.publish(self), true, nil
}

func (r *memRecord) acquire(b memOwner, self *memBinding, ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	r.mu.Lock()
	if ctx.Err() != nil {
		return storage.Permit{}, r.unlock(), false
	}
	p := b.policy()
	now := b.clock().Now()
	moved := false
	if r.snap.State == storage.Closed || r.snap.Mode == storage.ModeForcedOpen {
		return storage.Permit{}, r.unlock(), false
	}
	if r.snap.State == storage.Open {
		if now.Before(r.snap.OpenedAt.Add(p.OpenFor(r.snap))) {
			return storage.Permit{}, r.unlock(), false
		}
		r.next(storage.HalfOpen)
		r.snap.Cause = storage.CauseOpenPeriodOver
		moved = true
	}
	if r.expire(now, p.TrialExpiry, b.clock()) {
		moved = true
		if r.snap.State != storage.HalfOpen {
			s := r.publish(self)
			b.made(s) // this call made it, granting nothing (see Binding.Acquire)
			return storage.Permit{}, s, false
		}
	}
	if r.snap.Trials >= p.HalfOpenMaxCalls {
		s := r.unlockNotifying(self, moved)
		if moved {
			b.made(s)
		}
		return storage.Permit{}, s, false
	}
	r.nextPermit++
	permit := storage.Permit{Generation: r.snap.Generation, ID: r.nextPermit}
	if r.permits == nil {
		r.permits = make(map[uint64]time.Time)
	}
	var expiry time.Time
	if p.HalfOpenMaxWait > 0 {
		expiry = now.Add(p.HalfOpenMaxWait)
	}
	r.permits[permit.ID] = expiry
	r.snap.Trials++
	return permit, r.unlockNotifying(self, moved), true
}

func (r *memRecord) settle(b memOwner, self *memBinding, permit storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	r.mu.Lock()
	if !r.take(permit) {
		return r.unlock(), false
	}
	changed := false
	switch o {
	case storage.OutcomeFailure:
		r.open(b.clock(), 1)
		r.snap.Cause = storage.CauseTrialFailed
		changed = true
	case storage.OutcomeSuccess:
		r.snap.Successes++
		if r.snap.Successes >= b.policy().SuccessThreshold {
			r.close(b.clock())
			r.snap.Cause = storage.CauseTrialsSucceeded
			changed = true
		}
	}
	return r.publish(self), changed
}

// expire frees the permits held past their expiry and does what te says;
// it reports whether the snapshot changed.
func (r *memRecord) expire(now time.Time, te storage.TrialExpiry, c storage.Clock) bool {
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
	case storage.ExpiryOpens:
		r.open(c, 1)
		r.snap.Cause = storage.CauseTrialExpired
	case storage.ExpiryCloses:
		r.close(c)
		r.snap.Cause = storage.CauseTrialExpired
	}
	return true
}

func (r *memRecord) setMode(b memOwner, self *memBinding, ctx context.Context, m storage.Mode) (storage.Snapshot, error) {
	if !m.Valid() {
		return r.snapshot(), &storage.ConfigError{Field: "Mode", Reason: fmt.Sprintf("%d is not a Mode", int(m))}
	}
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		return r.unlock(), err
	}
	if m == storage.ModeForcedOpen {
		r.open(b.clock(), r.snap.Failures)
	} else {
		r.close(b.clock())
	}
	r.snap.Mode, r.snap.Cause = m, storage.CauseOperator
	return r.publish(self), nil
}

func (r *memRecord) release(permit storage.Permit) {
	r.mu.Lock()
	r.take(permit)
	r.mu.Unlock()
}

// take removes a held permit of the current generation; it reports whether
// the permit was held.
func (r *memRecord) take(p storage.Permit) bool {
	if p.Generation != r.snap.Generation || r.snap.State != storage.HalfOpen {
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
func (r *memRecord) next(s storage.State) {
	trips := r.snap.Trips
	if s == storage.Closed {
		trips = 0
	}
	r.snap = storage.Snapshot{State: s, Generation: r.snap.Generation + 1, Trips: trips}
	clear(r.permits)
}

// close starts a closed generation, which records when it closed if the
// breaker was open or half-open (Snapshot.ClosedAt).
func (r *memRecord) close(c storage.Clock) {
	recovers := r.snap.State != storage.Closed
	r.next(storage.Closed)
	if recovers {
		r.snap.ClosedAt = c.Now()
	}
}

func (r *memRecord) open(c storage.Clock, failures int) {
	r.next(storage.Open)
	r.snap.OpenedAt = c.Now()
	r.snap.Failures = failures
	r.snap.Trips++
}

// unlock unlocks r and returns its snapshot as it was under the lock.
func (r *memRecord) unlock() storage.Snapshot {
	s := r.snap
	r.mu.Unlock()
	return s
}

// publish unlocks r after a change made through self and tells every
// other binding, outside the lock; it returns the new snapshot.
func (r *memRecord) publish(self *memBinding) storage.Snapshot { return r.unlockNotifying(self, true) }

// unlockNotifying unlocks r and, if changed, tells every binding but self
// of the snapshot, outside the lock (observers must never run under it).
func (r *memRecord) unlockNotifying(self *memBinding, changed bool) storage.Snapshot {
	s, obs := r.snap, r.bindings
	r.mu.Unlock()
	if changed {
		notify(obs, self, s)
	}
	return s
}

// notify passes s to every binding but the one that made the change.
func notify(bindings []*memBinding, self *memBinding, s storage.Snapshot) {
	for _, o := range bindings {
		if o != self && !o.closed.Load() {
			o.cfg.Observe(s)
		}
	}
}
