package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// move is a transition a binding made alone: its state, and whether an
// operator made it.
type move struct {
	to     storage.State
	manual bool
}

func (b *binding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	b.mu.Lock()
	if err := ctx.Err(); err != nil {
		s := b.local
		b.mu.Unlock()
		return s, false, err
	}
	if t.To < storage.Closed || t.To > storage.HalfOpen ||
		(t.From != storage.AnyGeneration && (t.From != b.local.Generation || b.local.Mode != storage.ModeNormal)) {
		s := b.local
		b.mu.Unlock()
		return s, false, nil
	}
	if b.s.degraded() || b.seq > 0 || b.conf.gen == 0 {
		// Redis is out of reach, or this binding is ahead of it: commit
		// locally; the sender shares it.
		b.step(t.To, t.Failures, t.From == storage.AnyGeneration, t.Cause)
		b.hold(t, b.cfg.Policy())
		s := b.local
		degraded := b.s.degraded()
		b.mu.Unlock()
		b.enqueue()
		if degraded {
			return s, true, errDegraded
		}
		return s, true, nil
	}
	// The failure that makes this member's view of the run FailMax long
	// trips the fleet through the report script: it trips whatever the
	// merged run unless a success elsewhere has reset the run since this
	// member last saw it.
	p := b.cfg.Policy()
	run := t.From != storage.AnyGeneration && b.local.State == storage.Closed && t.To == storage.Open && t.Failures >= p.FailMax &&
		t.OpenUntil.IsZero()
	deadline := b.callerDeadline(ctx)
	fi, fg := b.from()
	var c call
	var sent sentBatch
	if run {
		sent, b.holdUntil = b.take(), time.Time{}
		c = b.reportCall(sent, deadline, true)
	} else {
		if t.From == storage.AnyGeneration {
			fg = "0"
		}
		// The script applies the shift to an opening only.
		c = b.call(deadline, transitionArgs{FromInc: fi, FromGen: fg, To: t.To, Failures: t.Failures,
			ShiftMs: b.holdShift(t.OpenUntil, p).Milliseconds(), Cause: t.Cause})
	}
	b.inflight++
	b.mu.Unlock()

	// An automatic move (a trip) is made alone only while Redis is taken
	// for unreachable (see health); a manual one, or a hold, is made here
	// whenever Redis does not confirm it, and shared when it answers.
	automatic := t.From != storage.AnyGeneration && t.OpenUntil.IsZero()
	r, n, later, err := b.s.ask(ctx, b, c, func(r reply, n uint64, err error) {
		b.late(r, n, err, func() {
			if run && sent.n > 0 && sent.conf.sameIdentity(b.conf) && b.seq == 0 {
				b.retry(sent) // not merged: the sender sends it again
				b.enqueueLocked()
			}
		})
	})
	if err != nil {
		b.mu.Lock()
		if !later {
			b.ownEnd(nil)
			if run && sent.n > 0 {
				b.retry(sent)
			}
		}
		changed := false
		if !b.s.gaveUp(ctx, err) && (!automatic || b.s.alone()) &&
			(t.From == storage.AnyGeneration || t.From == b.local.Generation) {
			b.step(t.To, t.Failures, t.From == storage.AnyGeneration, t.Cause)
			b.hold(t, p)
			changed = b.tell(t.From, true)
		}
		s := b.local
		b.mu.Unlock()
		b.enqueue()
		return s, changed, err
	}
	b.s.recovered()
	b.mu.Lock()
	// Another call of this breaker that gave up on Redis has made this
	// move alone meanwhile, and told its caller: one ErrTripped a trip.
	changed := b.tell(t.From, r.changed)
	after, outran, fire := b.answered(r, n)
	if outran != nil {
		changed = false // the answer is a newer change, not this call's
	}
	s := b.local
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	switch {
	case fire != nil:
		fire(s)
	case run && !r.changed && s.State == storage.Closed && s.Generation == t.From:
		// Not tripped: the run was reset elsewhere. The breaker takes the
		// merged run, lower than its own view.
		b.cfg.Observe(s)
	}
	return s, changed, nil
}

// late takes what came of one of the breaker's own calls after its caller
// stopped waiting (see Store.ask): the answer, applied as the call's own
// (a change the call made goes to the breaker through Made, the breaker's
// own, since no caller adopts it), or err. lost, if not nil, runs (b.mu
// held) when the call came to nothing: an error, or a script run too
// late.
func (b *binding) late(r reply, n uint64, err error, lost func()) {
	b.mu.Lock()
	if err != nil {
		held := b.held
		b.ownEnd(nil)
		if lost != nil {
			lost()
		}
		// A change held meanwhile: no caller takes it from this call.
		tell := b.cfg.Observe
		if b.heldMade {
			tell = b.cfg.Made
		}
		snap, told := b.local, held && !b.held
		b.mu.Unlock()
		if told {
			tell(snap)
		}
		return
	}
	after, outran, fire := b.answered(r, n)
	mine := r.changed && b.conf.sameIdentity(r.remote) && b.local.Generation == r.gen<<provisionalBits
	if r.late && lost != nil {
		lost()
	}
	snap := b.local
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	switch {
	case fire != nil:
		fire(snap)
	case mine:
		b.cfg.Made(snap)
	}
}

// tell says whether to tell a caller that its transition from generation
// from made the change: one caller for a generation, so that one trip
// gives one ErrTripped, even when one caller made it alone (Redis did not
// answer in time) and another's script made it in Redis. b.mu is held.
func (b *binding) tell(from uint64, changed bool) bool {
	b.mustHold()
	if !changed || from == storage.AnyGeneration {
		return changed
	}
	if b.told == from {
		return false
	}
	b.told = from
	return true
}

func (b *binding) SetMode(ctx context.Context, m storage.Mode) (storage.Snapshot, error) {
	if m < storage.ModeNormal || m > storage.ModeDisabled {
		return b.Snapshot(), fmt.Errorf("redisstore: %d is not a Mode", int(m))
	}
	if err := ctx.Err(); err != nil {
		return b.Snapshot(), err
	}
	b.mu.Lock()
	local := b.s.degraded() || b.seq > 0 || b.conf.gen == 0
	var c call
	if !local {
		c = b.call(b.callerDeadline(ctx), setModeArgs{Mode: m, FromGen: "0"})
		b.inflight++
	}
	b.mu.Unlock()
	var err error
	if !local {
		var r reply
		var n uint64
		var later bool
		r, n, later, err = b.s.ask(ctx, b, c, func(r reply, n uint64, err error) { b.late(r, n, err, nil) })
		if err == nil {
			snap, _ := b.ownAnswer(r, n)
			return snap, nil
		}
		b.mu.Lock()
		if !later {
			b.ownEnd(nil)
		}
		s := b.local
		b.mu.Unlock()
		if b.s.gaveUp(ctx, err) {
			return s, err // the caller gave up: nothing is made
		}
	}
	// Made here, and shared by the sender when Redis answers (unless the
	// fleet has moved on).
	b.mu.Lock()
	if m == storage.ModeForcedOpen {
		b.step(storage.Open, b.local.Failures, true, storage.CauseOperator)
	} else {
		b.step(storage.Closed, 0, true, storage.CauseOperator)
	}
	b.local.Mode = m
	s := b.local
	b.mu.Unlock()
	b.enqueue()
	switch {
	case err != nil:
		return s, fmt.Errorf("%w: %w", errDegraded, err)
	case b.s.alone():
		return s, errDegraded
	}
	return s, nil // ahead of Redis: the sender shares it
}

// maxHoldAhead bounds how far ahead of now a stored opening is taken to
// be (a hold's: see holdShift): a day, far above any MaxHoldOpen.
const maxHoldAhead = 24 * time.Hour

// holdShift is how far from Redis's now the transition script puts an
// opening that holds until until (storage.Transition.OpenUntil), so that
// the open period, as every member computes it for the generation the
// script makes (the next one), ends then: 0 for no hold. b.mu is held.
func (b *binding) holdShift(until time.Time, p storage.Policy) time.Duration {
	b.mustHold()
	if until.IsZero() {
		return 0
	}
	trips := b.conf.trips + 1
	if b.conf.state == storage.Open {
		trips = b.conf.trips // a hold extending an open period is no new trip
	}
	next := storage.Snapshot{State: storage.Open, Generation: (b.conf.gen + 1) << provisionalBits, Trips: trips}
	return until.Sub(b.cfg.Clock.Now()) - p.OpenFor(next)
}

// hold applies a hold (storage.Transition.OpenUntil) to a transition the
// binding made alone, and keeps it for the sender to push. b.mu is held.
func (b *binding) hold(t storage.Transition, p storage.Policy) {
	b.mustHold()
	if t.To == storage.Open && !t.OpenUntil.IsZero() && b.local.State == storage.Open {
		b.local.OpenedAt = t.OpenUntil.Add(-p.OpenFor(b.local))
		b.holdEnd = t.OpenUntil
	}
}

// step makes a transition in local state only; manual tells an
// operator's. b.mu is held.
func (b *binding) step(to storage.State, failures int, manual bool, cause storage.Cause) {
	b.mustHold()
	if len(b.moves) < maxMoves {
		b.moves = append(b.moves, move{to: to, manual: manual})
	}
	b.manual = b.manual || manual
	if b.seq < 1<<provisionalBits-1 {
		b.seq++
	}
	b.holdEnd = time.Time{}
	trips := b.local.Trips
	switch to {
	case storage.Open:
		trips++
	case storage.Closed:
		trips = 0
	}
	recovers := to == storage.Closed && b.local.State != storage.Closed
	b.local = storage.Snapshot{State: to, Generation: b.conf.gen<<provisionalBits + b.seq, Trips: trips,
		Maker: storage.MakerHere, From: b.local.State, Cause: cause}
	if to == storage.Open {
		b.local.OpenedAt = b.cfg.Clock.Now()
		b.local.Failures = failures
	}
	if recovers {
		b.local.ClosedAt = b.cfg.Clock.Now()
	}
	b.base = b.local.Failures
	b.batch = batch{}
	clear(b.permits)
	clear(b.leases)
}
