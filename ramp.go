package infuse

import (
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/internal/shed"
	"github.com/infuse-go/infuse/storage"
)

// A recovery ramp (Config.RampDuration): once the breaker closes after
// being open or half-open, it admits a rising share of calls over
// RampDuration and rejects the rest as if open (Reason ReasonRamping), so
// that a backend that just recovered does not get the whole fleet's
// traffic at once. The share rises linearly (at least 1 % from the
// start), or in RampSteps equal steps (1/n, 2/n, ... each for
// RampDuration/n). While it ramps, a failure rate of at least
// FailureRate (0.5 without one) among the calls it admitted, once it has
// admitted 10, opens the breaker again; FailMax counts as always.
//
// The ramp runs from when the store says the breaker closed
// (Snapshot.ClosedAt): with a shared store every member ramps from the
// same instant, and one that binds or learns of the close late joins the
// ramp where it is.

// rampMinCalls is how many admitted calls a ramp needs before its failure
// rate may re-open the breaker.
const rampMinCalls = 10

// The ramp comes before throttling (Config.Throttle): it sheds its share
// of every call offered, and throttling counts as requests only the calls
// the ramp admitted.

// ramp is a closed epoch's recovery ramp.
type ramp struct {
	start           time.Time
	duration        time.Duration
	steps           int
	over            atomic.Bool
	calls, failures atomic.Int64 // admitted calls' outcomes while ramping
	shedder                      // rejects the share not admitted
}

// share is the share of calls the ramp admits at now: 1 once it is over.
func (r *ramp) share(now time.Time) float64 {
	return RampShareAfter(now.Sub(r.start), r.duration, r.steps)
}

// RampShareAfter is the share of calls a recovery ramp of the given
// duration and steps (Config.RampDuration, RampSteps) admits elapsed
// after the breaker closed (storage.RampShare). Operators' tools use it to
// show a fleet's ramp from what a store recorded.
func RampShareAfter(elapsed, duration time.Duration, steps int) float64 {
	return storage.RampShare(elapsed, duration, steps)
}

// startRamp gives new closed epoch ne, made from snapshot s, a ramp when
// a ramp is configured and the breaker recovered: from s.ClosedAt, the
// close as the store recorded it (every member of a fleet ramps from the
// same instant, and one that binds mid-ramp joins in), or, from a store
// that records none, from now if prev, the epoch before (nil when the
// breaker is new), was open or half-open.
func (b *Breaker) startRamp(ne, prev *epoch, s storage.Snapshot) {
	p := b.pol.Load()
	if p.RampDuration <= 0 || ne.state != Closed || ne.mode != ModeNormal {
		return
	}
	now := b.clock.Now()
	start := s.ClosedAt
	switch {
	case !start.IsZero():
		if now.Sub(start) >= p.RampDuration {
			return // over already
		}
	case prev != nil && prev.state != Closed:
		start = now
	default:
		return
	}
	r := &ramp{start: start, duration: p.RampDuration, steps: p.RampSteps, shedder: shedder{reason: ReasonRamping}}
	if prev != nil && prev.state == Closed && prev.ramp != nil && !prev.ramp.over.Load() {
		// The same recovery under a new generation (the store confirmed
		// or relabelled it): the admitted calls' outcomes go on counting.
		r.calls.Store(prev.ramp.calls.Load())
		r.failures.Store(prev.ramp.failures.Load())
	}
	ne.ramp = r
	ne.gate.Store(1)
}

// ramping admits or rejects a call of closed epoch e while it ramps: the
// error rejects it, nil admits it.
func (b *Breaker) ramping(e *epoch) error {
	r := e.ramp
	if r.over.Load() {
		return nil
	}
	share := r.share(b.clock.Now())
	if share >= 1 {
		b.endRamp(e)
		return nil
	}
	if !r.Shed(shed.Scaled(1 - share)) {
		return nil
	}
	return b.rejectShed(e, &r.shedder)
}

// endRamp ends e's ramp, and gives its calls the fast path back when
// nothing else needs the slow one.
func (b *Breaker) endRamp(e *epoch) {
	if e.ramp.over.Swap(true) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur.Load() == e && !b.needsSlowPath(e) {
		e.gate.Store(0)
	}
}

// rampOutcome counts an admitted call's outcome while e ramps, and opens
// the breaker when the ramp's failure rate reaches its threshold; it
// reports whether it did.
func (b *Breaker) rampOutcome(e *epoch, failed bool) bool {
	r := e.ramp
	if r == nil || r.over.Load() {
		return false
	}
	calls := r.calls.Add(1)
	failures := r.failures.Load()
	if failed {
		failures = r.failures.Add(1)
	}
	if !failed || calls < rampMinCalls || b.cur.Load() != e {
		return false
	}
	rate := b.pol.Load().FailureRate
	if rate == 0 {
		rate = 0.5
	}
	if float64(failures) >= rate*float64(calls) {
		return b.trip(e, int(min(e.failures.Load(), int64(b.FailMax()))), CauseRampFailures)
	}
	return false
}

// RampShare is the share of calls the breaker admits now: below 1 while
// it ramps up after closing (Config.RampDuration), 1 otherwise (0 while
// open).
func (b *Breaker) RampShare() float64 {
	e := b.cur.Load()
	switch {
	case e.state == Open:
		return 0
	case e.state != Closed || e.ramp == nil || e.ramp.over.Load():
		return 1
	}
	return e.ramp.share(b.clock.Now())
}
