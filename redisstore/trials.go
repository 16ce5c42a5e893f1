package redisstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// localPermit marks the ids of permits granted from local state.
const localPermit = 1 << 63

// lease is a trial lease Redis granted: its length in ms, and when the
// grant reached this host.
type lease struct {
	ms int64
	at time.Time
}

func (b *binding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	p := b.cfg.Policy()
	b.mu.Lock()
	openFor := p.OpenFor(b.local)
	switch {
	case ctx.Err() != nil || b.local.State == storage.Closed || b.local.Mode == storage.ModeForcedOpen:
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	case b.local.State == storage.Open && b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(openFor)):
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	case b.s.degraded() || b.seq > 0 || b.conf.gen == 0:
		defer b.mu.Unlock()
		return b.acquireLocally(p)
	case b.acquiring > 0 && b.local.State == storage.Open,
		b.local.State == storage.HalfOpen && b.local.Trials >= p.HalfOpenMaxCalls &&
			time.Since(b.lastAcquire) < b.s.opts.FlushInterval:
		// The open period is over and another call is asking Redis for the
		// trial already; or every permit is held, as far as the binding
		// knows: it asks Redis again at most once per FlushInterval, not
		// for every call.
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	}
	// The lease: HalfOpenMaxWait, with the breaker's TrialExpiry, or else
	// TrialLease, which only frees the permit of a member that died.
	leaseFor, expiry := b.s.opts.TrialLease, storage.ExpiryFrees
	if p.HalfOpenMaxWait > 0 {
		leaseFor, expiry = p.HalfOpenMaxWait, p.TrialExpiry
	}
	id := rand.Uint64()&(1<<52-1) | 1 // the lease's number: this binding's, to give back unanswered
	b.lastAcquire = time.Now()
	b.acquiring++
	c := b.call(b.callerDeadline(ctx), acquireArgs{OpenMs: openFor.Milliseconds(), MaxCalls: p.HalfOpenMaxCalls,
		LeaseMs: leaseFor.Milliseconds(), Expiry: expiry, Permit: id})
	b.inflight++
	b.mu.Unlock()

	r, n, later, err := b.s.ask(ctx, b, c, func(r reply, n uint64, err error) {
		// Too late for the caller: a lease granted goes back. The
		// binding asks no other permit of Redis for the open state
		// meanwhile (acquiring).
		b.late(r, n, err, nil)
		b.mu.Lock()
		b.acquiring--
		if err != nil || r.extra != 0 {
			b.releases = append(b.releases, id)
			b.enqueueLocked()
		}
		b.mu.Unlock()
	})
	if later {
		// No permit: one granted alone, beside the fleet's, could make a
		// trial too many.
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.s.alone() && !b.s.gaveUp(ctx, err) {
			return b.acquireLocally(p)
		}
		return storage.Permit{}, b.local, false
	}
	b.mu.Lock()
	b.acquiring--
	b.mu.Unlock()
	if err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.ownEnd(nil)
		// Redis may have granted the lease all the same: give it back.
		b.releases = append(b.releases, id)
		b.enqueueLocked()
		if b.s.alone() && !b.s.gaveUp(ctx, err) {
			return b.acquireLocally(p)
		}
		return storage.Permit{}, b.local, false
	}
	b.mu.Lock()
	before, held := b.local.Generation, b.held
	after, outran, fire := b.answered(r, n)
	perm, snap, ok := b.granted(r)
	// A permit in a half-open state another member made: the breaker
	// observes that change before it adopts the answer as its own.
	if fire == nil && ok && !r.changed && snap.Generation != before {
		fire = b.cfg.Observe
	}
	// A transition this call made without a permit (a trial held past its
	// lease, and its TrialExpiry), even if the reader brought it first:
	// the breaker's own.
	if fire == nil && !ok && r.changed && outran == nil && (snap.Generation != before || held) {
		fire = b.cfg.Made
	}
	if ok {
		if len(b.leases) >= maxMoves { // leases never settled nor released
			clear(b.leases)
		}
		b.leases[perm.ID] = lease{ms: leaseFor.Milliseconds(), at: time.Now()}
	}
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	if fire != nil {
		fire(snap)
	}
	return perm, snap, ok
}

// granted is what Acquire returns for a reply. b.mu is held.
func (b *binding) granted(r reply) (storage.Permit, storage.Snapshot, bool) {
	b.mustHold()
	if r.extra == 0 {
		return storage.Permit{}, b.local, false
	}
	if b.local.Generation != r.gen<<provisionalBits || !b.conf.sameIdentity(r.remote) {
		// This binding moved on by itself meanwhile: give the lease back
		// rather than let it block the fleet's trials until it expires.
		b.releases = append(b.releases, r.extra)
		b.enqueueLocked()
		return storage.Permit{}, b.local, false
	}
	return storage.Permit{Generation: b.local.Generation, ID: r.extra}, b.local, true
}

// acquireLocally grants a permit from local state. b.mu is held.
func (b *binding) acquireLocally(p storage.Policy) (storage.Permit, storage.Snapshot, bool) {
	b.mustHold()
	if b.local.Mode == storage.ModeForcedOpen {
		return storage.Permit{}, b.local, false
	}
	if b.local.State == storage.Open {
		if b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(p.OpenFor(b.local))) {
			return storage.Permit{}, b.local, false
		}
		b.step(storage.HalfOpen, 0, false, storage.CauseOpenPeriodOver)
		b.enqueueLocked()
	}
	if b.local.State != storage.HalfOpen || b.local.Trials >= p.HalfOpenMaxCalls {
		return storage.Permit{}, b.local, false
	}
	b.nextID++
	id := localPermit | b.nextID
	b.permits[id] = struct{}{}
	b.local.Trials++
	return storage.Permit{Generation: b.local.Generation, ID: id}, b.local, true
}

func (b *binding) Settle(ctx context.Context, p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	b.mu.Lock()
	if p.Generation != b.local.Generation || b.local.State != storage.HalfOpen {
		s := b.local
		b.mu.Unlock()
		return s, false
	}
	if p.ID&localPermit != 0 || b.s.degraded() || b.seq > 0 {
		defer b.mu.Unlock()
		if p.ID&localPermit == 0 {
			// A lease Redis granted, settled here alone: give it back when
			// Redis answers, so that the fleet's trials are not held up.
			b.releases = append(b.releases, p.ID)
			b.enqueueLocked()
		}
		return b.settleLocally(p, o)
	}
	fi, fg := b.from()
	// With a failure, how long the trial ran since its lease was granted
	// here: Redis opens the breaker again from the lease's grant plus
	// that, not from when the answer reaches it (behind, say, the rest of
	// the fleet asking for the trial).
	ran, leaseMs := int64(-1), int64(0)
	if l, ok := b.leases[p.ID]; ok {
		delete(b.leases, p.ID)
		ran, leaseMs = max(time.Since(l.at).Milliseconds(), 0), l.ms
	}
	c := b.call(b.redisDeadline(b.s.opts.OpTimeout), settleArgs{FromInc: fi, FromGen: fg, Permit: p.ID, Outcome: o,
		SuccessThreshold: b.cfg.Policy().SuccessThreshold, RanMs: ran, LeaseMs: leaseMs})
	again := resettle{conf: b.conf, id: p.ID, o: o, ran: ran, leaseMs: leaseMs}
	b.inflight++
	b.mu.Unlock()

	giveBack := func() {
		// The script did not run, or ran without the binding knowing:
		// give the lease back once Redis answers (a settled lease is
		// gone already), so that the fleet's trials are not held up.
		b.releases = append(b.releases, p.ID)
		b.enqueueLocked()
	}
	r, n, later, err := b.s.ask(context.WithoutCancel(ctx), b, c, func(r reply, n uint64, err error) {
		// Too late for the caller: settled again by the sender, so that
		// the outcome counts.
		b.late(r, n, err, func() { b.settleAgain(again) })
	})
	if errors.Is(err, errClosed) {
		b.s.releaseNow(b, p.ID) // no sender any more
	}
	if err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		alone := b.s.alone()
		if !later {
			b.ownEnd(nil)
			if alone {
				giveBack()
			} else {
				b.settleAgain(again) // Redis is there: the sender settles it
			}
		}
		if p.Generation != b.local.Generation || !alone {
			// Redis is there: it counts the outcome when the script
			// reaches it, and the breaker learns it from the answer.
			return b.local, false
		}
		if later {
			giveBack()
		}
		return b.settleLocally(p, o)
	}
	return b.ownAnswer(r, n)
}

// resettle is a trial's outcome to settle again: the settle script's
// arguments for lease id of generation conf.
type resettle struct {
	conf         remote
	id           uint64
	o            storage.Outcome
	ran, leaseMs int64
}

// settleAgain has the sender settle a trial again, unless its generation
// has passed: then its lease only goes back. b.mu is held.
func (b *binding) settleAgain(r resettle) {
	b.mustHold()
	if !r.conf.sameIdentity(b.conf) || len(b.resettles) >= maxMoves {
		b.releases = append(b.releases, r.id)
	} else {
		b.resettles = append(b.resettles, r)
	}
	b.enqueueLocked()
}

// settleLocally counts a trial's outcome in local state. b.mu is held.
func (b *binding) settleLocally(p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	b.mustHold()
	if p.ID&localPermit != 0 {
		if _, ok := b.permits[p.ID]; !ok {
			return b.local, false
		}
		delete(b.permits, p.ID)
		b.local.Trials--
	}
	if o == storage.OutcomeFailure {
		b.step(storage.Open, 1, false, storage.CauseTrialFailed)
		b.enqueueLocked()
		return b.local, true
	}
	b.local.Successes++
	if b.local.Successes >= b.cfg.Policy().SuccessThreshold {
		b.step(storage.Closed, 0, false, storage.CauseTrialsSucceeded)
		b.enqueueLocked()
		return b.local, true
	}
	return b.local, false
}

func (b *binding) Release(p storage.Permit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Generation != b.local.Generation {
		return
	}
	if p.ID&localPermit != 0 {
		if _, ok := b.permits[p.ID]; ok {
			delete(b.permits, p.ID)
			b.local.Trials--
		}
		return
	}
	delete(b.leases, p.ID)
	b.releases = append(b.releases, p.ID)
	b.enqueueLocked()
}
