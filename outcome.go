package infuse

import (
	"context"
	"errors"

	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/storage"
)

// outcome classes a call's error.
type outcome int

const (
	succeeded outcome = iota
	failed
	ignored
)

// unseenContext stands for the caller's context where the breaker cannot
// see it: in Allow's completions. It counts as done, so that
// context.Canceled is taken for the caller's own cancellation.
type unseenContext struct{ context.Context }

func (unseenContext) Err() error { return context.Canceled }

// classify tells what err counts as.
func (b *Breaker) classify(ctx context.Context, err error) outcome {
	if err == nil {
		return succeeded
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ignored
	}
	x := b.more.Load()
	if x == nil {
		return failed
	}
	if ex := x.exclude.Load(); ex != nil {
		for _, target := range *ex {
			if errors.Is(err, target) {
				return succeeded
			}
		}
	}
	if x.excludeFunc != nil && safePredicate(x.excludeFunc, err) {
		return succeeded
	}
	return failed
}

// finish counts the outcome of an admitted call whose function returned
// err, and returns what the caller gets.
func (b *Breaker) finish(ctx context.Context, t ticket, err error) error {
	took, slow := b.timed(t)
	switch b.classify(ctx, err) {
	case succeeded:
		t.e.counts.Load().add(countSuccess)
		b.succeed(t, slow)
		b.emit(Event{Kind: EventSuccess, Err: err, Latency: took})
		return err
	case ignored:
		t.e.counts.Load().add(countIgnored)
		if t.permit.Generation != 0 {
			b.bind.Release(t.permit)
		}
		b.emit(Event{Kind: EventIgnored, Err: err})
		return err
	}
	t.e.counts.Load().add(countFailure)
	b.emit(Event{Kind: EventFailure, Err: err, Latency: took})
	if b.fail(t, slow) {
		return &trippedError{name: b.name, cause: err}
	}
	return err
}

// abort handles a function that did not return: it panicked with v, or
// called runtime.Goexit (v is nil). A panic counts as a failure and is
// raised again; a Goexit counts as nothing.
func (b *Breaker) abort(t ticket, v any) {
	if v == nil {
		if t.permit.Generation != 0 {
			b.bind.Release(t.permit)
		}
		return
	}
	t.e.counts.Load().add(countFailure)
	b.emit(Event{Kind: EventFailure, Err: &PanicError{Value: v}})
	b.fail(t, false)
	panic(v)
}

func (b *Breaker) succeed(t ticket, slow bool) {
	if t.permit.Generation != 0 {
		start := b.storeStart()
		b.ownCall()
		s, changed := b.bind.Settle(context.Background(), t.permit, storage.OutcomeSuccess)
		b.storeDone(start)
		b.adopt(s, madeIf(changed))
		b.ownDone()
		return
	}
	e := t.e
	if e.ramp != nil {
		b.rampOutcome(e, false)
	}
	if e.meter != nil {
		moved := e.meter.Record(false, slow)
		if moved || slow {
			b.rateTrip(e)
		}
		if moved && e.throttle != nil {
			b.rethrottle(e)
		}
	}
	if e.failures.Load() != 0 {
		e.failures.Store(0)
		if b.cur.Load() == e {
			b.ownCall()
			s, _ := b.bind.Report(e.gen, storage.OutcomeSuccess)
			b.reported(e, s, false)
			b.ownDone()
		}
	}
}

// fail counts a failure and reports whether it opened the breaker.
func (b *Breaker) fail(t ticket, slow bool) bool {
	if t.permit.Generation != 0 {
		start := b.storeStart()
		b.ownCall()
		s, changed := b.bind.Settle(context.Background(), t.permit, storage.OutcomeFailure)
		b.storeDone(start)
		b.adopt(s, madeIf(changed))
		b.ownDone()
		return changed
	}
	e := t.e
	if e.meter != nil && e.meter.Record(true, slow) && e.throttle != nil {
		b.rethrottle(e)
	}
	fm := int64(b.FailMax())
	n := e.failures.Load()
	for n < fm && !e.failures.CompareAndSwap(n, n+1) {
		n = e.failures.Load()
	}
	if n < fm {
		n++
	}
	if b.cur.Load() != e {
		return false // an outcome of an earlier generation
	}
	if e.ramp != nil && b.rampOutcome(e, true) {
		return true
	}
	if e.mode == ModeDisabled {
		b.bind.Report(e.gen, storage.OutcomeFailure)
		return false // counted, never tripping
	}
	b.ownCall() // a Report can make a trip that a concurrent call learns of first
	s, tripped := b.bind.Report(e.gen, storage.OutcomeFailure)
	b.reported(e, s, tripped)
	b.ownDone()
	if tripped {
		return true
	}
	if n < fm {
		return b.rateTrip(e)
	}
	return b.trip(e, int(fm), CauseFailures)
}

// reported takes the answer to a Report of closed epoch e: the trip it
// made, or the merged counts of e's generation. A newer generation it
// shows and did not make is another's doing, which the store tells the
// breaker of itself (Observe, Made): taken from here, the breaker could
// not tell who made it.
func (b *Breaker) reported(e *epoch, s storage.Snapshot, tripped bool) {
	if tripped {
		b.adopt(s, answerMade)
	} else if s.Generation == e.gen {
		b.adopt(s, answer)
	}
}

// trip opens the breaker from closed epoch e; it reports whether this call
// made the transition.
func (b *Breaker) trip(e *epoch, failures int, cause Cause) bool {
	start := b.storeStart()
	b.ownCall()
	s, changed, _ := b.bind.Transition(context.Background(), storage.Transition{From: e.gen, To: Open, Failures: failures, Cause: cause})
	b.storeDone(start)
	b.adopt(s, madeIf(changed))
	b.ownDone()
	return changed
}

// rateTrip opens the breaker when a rate of closed epoch e's window has
// reached its threshold.
func (b *Breaker) rateTrip(e *epoch) bool {
	if e.meter == nil || b.cur.Load() != e || e.mode == ModeDisabled || b.fleetWindow {
		return false // the store trips on the fleet's window instead
	}
	p := b.pol.Load()
	over := exceeded(p, e.meter.Tally())
	if m, ok := e.meter.(*meter.Time); ok && over == CauseUnknown {
		if last := m.TakeLast(); last != nil {
			over = exceeded(p, *last)
		}
	}
	if over != CauseUnknown {
		return b.trip(e, int(min(e.failures.Load(), int64(p.FailMax))), over)
	}
	return false
}
