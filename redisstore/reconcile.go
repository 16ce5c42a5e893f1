package redisstore

import (
	"time"

	"github.com/infuse-go/infuse/storage"
)

// applyOwn applies the reply to a script this binding ran for its
// breaker, which adopts the result itself. b.mu is held; what it returns
// (a report of replaced data) is for after it is let go.
func (b *binding) applyOwn(r reply, n uint64) (after func()) {
	b.mustHold()
	if r.corrupt {
		after = b.s.corrupt(b)
	}
	if r.absent {
		b.applyAbsent(n)
		return after
	}
	b.apply(r.remote, n)
	b.noteOpen(r)
	return after
}

// noteOpen has what the members compute recorded for operators when this
// binding's own script opened the breaker (the open period) or closed it
// after a recovery (the ramp, if one is configured). b.mu is held.
func (b *binding) noteOpen(r reply) {
	b.mustHold()
	if !r.changed || r.mode != storage.ModeNormal || !b.conf.sameIdentity(r.remote) {
		return
	}
	if r.state == storage.Open || (r.state == storage.Closed && r.openedAt > 0 && b.cfg.Policy().RampDuration > 0) {
		b.note = true
		b.enqueueLocked()
	}
}

// noted is the figure noteOpen has recorded: the open period in ms while
// open, the ramp (rampNote) while closed. b.mu is held.
func (b *binding) noted() int64 {
	b.mustHold()
	if b.local.State == storage.Closed {
		p := b.cfg.Policy()
		return rampNote(p.RampDuration, p.RampSteps)
	}
	return b.openFor().Milliseconds()
}

// apply takes a state read from Redis with request number n, if it is not
// older than what the binding has, and reports whether the breaker's
// snapshot changed. b.mu is held.
func (b *binding) apply(r remote, n uint64) bool {
	b.mustHold()
	if r.now > 0 {
		b.offset.Store(r.now - hostMillis())
		b.offsetSet.Store(true)
	}
	c := b.conf
	if (c.gen == 0 && b.seq > 1 || c.gen != 0 && b.seq > 0 && r.inc != c.inc) &&
		(b.local.State != r.state || b.local.Mode != r.mode) {
		// The first answer from Redis, to a binding that has made
		// transitions alone (seq starts at 1: its initial state), or one
		// from a Redis that lost what the binding knew and holds a state
		// put back since (someone's last view, under a new incarnation):
		// the binding's moves, made after, stand on top of Redis's state,
		// and the sender pushes them (an automatic one only if no mode is
		// forced there).
		b.setConf(r, n)
		b.relabel()
		b.enqueueLocked()
		return true
	}
	var keep batch
	if c.gen == 0 && b.local.State == storage.Closed && r.state == storage.Closed && r.mode == storage.ModeNormal {
		keep = b.batch // outcomes gathered before Redis first answered
	}
	switch {
	case c.gen == 0 || r.gen > c.gen:
		// newer: adopt it, below
	case r.sameIdentity(c) && (r.state != c.state || r.mode != c.mode) && n > b.learned:
		// One generation, two states: Redis lost what it held and a raise
		// reached the number this binding had seen. Lift it above.
		b.raise = &r
		b.enqueueLocked()
		return false
	case r.sameIdentity(c) && n < b.confN && r.state == c.state && r.mode == c.mode:
		return false // an answer to a request issued before conf's: its counts may be older
	case r.sameIdentity(c):
		if b.seq > 0 {
			// Redis has not caught up with this binding's own transition;
			// the sender is pushing it.
			b.setConf(r, n)
			return false
		}
		before := b.local
		b.setConf(r, n)
		b.local.Failures = b.view()
		if r.state == storage.Open {
			b.local.Failures = r.failures
		}
		b.local.Successes, b.local.Trials = r.successes, r.trials
		b.local.Mode, b.local.Trips = r.mode, r.trips
		return b.local != before
	case n > b.learned:
		// Asked after the binding learned generation c, Redis answers
		// with an older one, or another of the same number: it lost what
		// it held, and someone seeded it again. Lift it above everything
		// this member has seen, so that every member adopts it.
		b.raise = &r
		b.enqueueLocked()
		return false
	default:
		return false // an answer to an older request
	}
	if r.gen == c.gen+1 && c.gen > 0 && b.seq > 1 && len(b.moves) > 1 && r.mode == storage.ModeNormal &&
		!b.moves[0].manual && r.state == b.moves[0].to {
		// Redis made the same automatic move this binding made first on
		// its own (its reported failures tripped the breaker there too);
		// the binding's later moves still stand, on top of Redis's.
		b.setConf(r, n)
		b.seq--
		b.moves = b.moves[1:]
		b.manual = false
		for _, m := range b.moves {
			b.manual = b.manual || m.manual
		}
		b.relabel()
		b.enqueueLocked()
		return true
	}
	b.setConf(r, n)
	b.seq = 0
	b.holdEnd = time.Time{}
	b.moves = nil
	b.raise = nil
	b.retries = nil
	b.local = b.snapshotOf(r)
	b.batch = keep
	if keep.n > 0 {
		b.local.Failures = keep.view(r.failures)
		b.enqueueLocked()
	}
	// Releases stay: a lease's number is random, so giving back one of
	// another generation does nothing, and one of this generation (granted
	// while the answer was lost) must go back.
	b.note = false
	b.manual = false
	clear(b.permits)
	clear(b.leases)
	return true
}

// snapshotOf is the snapshot of a state read from Redis.
func (b *binding) snapshotOf(r remote) storage.Snapshot {
	s := storage.Snapshot{
		State: r.state, Generation: r.gen << provisionalBits,
		Failures: r.failures, Successes: r.successes, Trials: r.trials,
		Mode: r.mode, Trips: r.trips,
	}
	switch r.maker {
	case "":
	case b.id:
		s.Maker, s.From, s.Cause = storage.MakerHere, r.from, r.cause
	default:
		s.Maker, s.From, s.Cause = storage.MakerElsewhere, r.from, r.cause
	}
	now := b.cfg.Clock.Now()
	switch {
	case r.state == storage.Open:
		// Redis's clock says how long ago it opened; this host's clock
		// says when that was here. No two clocks are compared.
		ago := time.Duration(max(r.now-r.openedAt, -maxHoldAhead.Milliseconds())) * time.Millisecond
		s.OpenedAt = now.Add(-ago)
		// A hold (storage.Transition.OpenUntil) put the opening ahead of
		// when it was made: this member holds off for its own
		// MaxHoldOpen at most from then (a Policy without one: a day),
		// whoever made the hold, and for the open period after it opened
		// at least.
		made := r.now // when it is not known: when Redis said so
		if r.maker != "" {
			made = min(r.madeAt, r.now)
		}
		if p := b.cfg.Policy(); r.openedAt > made && p.MaxHoldOpen > 0 {
			madeHere := now.Add(-time.Duration(r.now-made) * time.Millisecond)
			if last := madeHere.Add(p.MaxHoldOpen); s.OpenedAt.Add(p.OpenFor(s)).After(last) {
				s.OpenedAt = later(last.Add(-p.OpenFor(s)), madeHere)
			}
		}
	case r.state == storage.Closed && r.openedAt > 0:
		// When it closed after a recovery, the same way.
		ago := time.Duration(max(r.now-r.openedAt, 0)) * time.Millisecond
		s.ClosedAt = now.Add(-ago)
	}
	return s
}

// ownAnswer takes the answer to one of the breaker's own calls, which
// adopts the snapshot it returns; made tells whether the call made the
// change that snapshot is.
func (b *binding) ownAnswer(r reply, n uint64) (snap storage.Snapshot, made bool) {
	b.s.recovered()
	b.mu.Lock()
	after, outran, fire := b.answered(r, n)
	snap = b.local
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
	return snap, r.changed && outran == nil
}

// answered takes the answer r (request n) to one of the breaker's own
// calls: it applies it and ends the call (ownEnd, whose fire tells the
// breaker of a change held meanwhile). When the binding learned a newer
// change while the call was under way, outran is the change the call
// made: the breaker hears of it as its own (Made: in order if the newer
// one was held from it, else late), and the call claims nothing. b.mu is
// held; after (a report of replaced data) is for once it is let go.
func (b *binding) answered(r reply, n uint64) (after func(), outran *storage.Snapshot, fire func(storage.Snapshot)) {
	b.mustHold()
	after = b.applyOwn(r, n)
	if first := b.supersede(); first != nil {
		after = inOrder(after, first)
	}
	fire = b.ownEnd(&r)
	if r.changed && r.inc == b.conf.inc && r.gen < b.conf.gen {
		s := b.snapshotOf(r.remote)
		outran = &s
	}
	return after, outran, fire
}

// ownEnd ends one of the breaker's own calls, whose answer (nil after an
// error) the binding has applied. When a change held meanwhile was not
// this call's, it returns how the breaker must still be told of it:
// Observe, or Made for a change this member's sender made (a trip its
// outcomes completed). b.mu is held.
func (b *binding) ownEnd(r *reply) func(storage.Snapshot) {
	b.mustHold()
	b.inflight--

	switch {
	case !b.held:
		return nil
	case r != nil && r.changed && b.conf.sameIdentity(r.remote):
		b.held = false // the held change was this call's
		return nil
	case b.inflight > 0:
		return nil
	}
	b.held = false
	switch {
	case r == nil:
		return nil
	case b.heldMade:
		return b.cfg.Made
	}
	return b.cfg.Observe
}

// supersede lets go of a change held for the breaker's own calls in
// flight (see inflight) once the binding has applied a newer one: the
// breaker must hear of the held change first, in order, or a transition
// this member made would be reported by no member at all. It returns
// what tells the breaker, nil if nothing was held or the held change is
// still the binding's state. b.mu is held.
func (b *binding) supersede() func() {
	b.mustHold()
	if !b.held || b.local.Generation == b.heldSnap.Generation {
		return nil
	}
	s := b.heldSnap
	tell := b.cfg.Observe
	if b.heldMade || s.Maker == storage.MakerHere {
		tell = b.cfg.Made
	}
	b.held, b.heldMade = false, false
	return func() { tell(s) }
}

// inOrder is a then b, either of them nil.
func inOrder(a, b func()) func() {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func() { a(); b() }
}

// relabel numbers the binding's own transitions on top of a new conf.
// Local trial permits of the old number are void. b.mu is held.
func (b *binding) relabel() {
	b.mustHold()
	b.local.Generation = b.conf.gen<<provisionalBits + b.seq
	if b.local.Trials > 0 && len(b.permits) > 0 {
		b.local.Trials -= len(b.permits)
		clear(b.permits)
		clear(b.leases)
	}
}

func (b *binding) setConf(r remote, n uint64) {
	b.conf, b.confAt, b.learned, b.confN = r, time.Now(), b.s.issued.Load(), n
}

// applyAbsent takes a read that found no state. Nothing is lost if the
// breaker was idle; anything else is put back. b.mu is held.
func (b *binding) applyAbsent(n uint64) {
	b.mustHold()
	if b.conf.gen != 0 && !b.conf.idle() && n > b.learned {
		b.restore = true
		b.enqueueLocked()
	}
}

// applyAsync applies a reply that arrived in the background (a read, or
// the answer to something the sender sent) and returns what tells the
// breaker, to run without locks: its snapshot if it changed, a report of
// replaced data.
func (b *binding) applyAsync(r reply, n uint64, own bool) func() {
	var report func()
	if r.corrupt {
		report = b.s.corrupt(b)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return report
	}
	if r.absent || (r.lapsed && !r.idle()) {
		// Nothing, or an open or forced state whose key lapsed: nothing
		// known for sure; a member that knew one puts its own back.
		b.applyAbsent(n)
		b.mu.Unlock()
		return report
	}
	changed := b.apply(r.remote, n)
	first := b.supersede()
	// The sender's own script made it (a trip its outcomes completed): the
	// breaker is told so even if another answer brought the state first.
	madeHere := own && r.changed && b.conf.sameIdentity(r.remote) && b.conf.gen == r.gen
	changed = changed || madeHere
	// It made a change the binding has learned newer ones than already:
	// the breaker hears of it late, as its own.
	var outran *storage.Snapshot
	if own && r.changed && r.inc == b.conf.inc && r.gen < b.conf.gen {
		o := b.snapshotOf(r.remote)
		outran = &o
	}
	if own {
		b.noteOpen(r)
	}
	if r.kept && !r.idle() && b.conf.sameIdentity(r.remote) {
		b.restore = true // its key was lost on its own: put it back
		b.enqueueLocked()
	}
	if changed && b.inflight > 0 && b.local.Maker != storage.MakerElsewhere {
		// This binding made it, or Redis does not say who did (a state an
		// older version wrote): the breaker's own calls in flight may
		// claim it from their answers. (Another's change is told at once:
		// Redis says whose it is.)
		b.held, changed = true, false
		b.heldMade, b.heldSnap = madeHere, b.local
	}
	s := b.local
	tells := changed || outran != nil
	if tells {
		// Counted before the binding lets go, so that a Sync that finds
		// the binding up to date waits for the breaker to be told.
		b.s.telling.Add(1)
	}
	b.mu.Unlock()
	report = inOrder(report, first)
	if !tells {
		return report
	}
	tell := b.cfg.Observe
	if madeHere || s.Maker == storage.MakerHere {
		tell = b.cfg.Made // the breaker reports it as its own; others observe it
	}
	return func() {
		defer b.s.telling.Add(-1)
		if report != nil {
			report()
		}
		if outran != nil {
			b.cfg.Made(*outran)
		}
		if changed {
			tell(s)
		}
	}
}
