package infuse

import (
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/internal/shed"
)

// throttler is a closed epoch's throttling: the probability in force, and
// the shedder that turns it into rejections.
type throttler struct {
	scaled atomic.Uint64 // the probability, in the shedder's units
	shedder
}

func newThrottler() *throttler { return &throttler{shedder: shedder{reason: ReasonThrottled}} }

func (t *throttler) set(p float64) { t.scaled.Store(shed.Scaled(p)) }

// throttled counts a request of closed epoch e, which throttles, and
// returns the error that rejects it, or nil when it may run. It is the
// last of the gates (see admitSlow): only a call that every other gate
// admitted is a request.
func (b *Breaker) throttled(e *epoch) error {
	if e.meter.(*meter.Time).Request() {
		b.rethrottle(e)
	}
	if !e.throttle.Shed(e.throttle.scaled.Load()) {
		return nil
	}
	return b.rejectShed(e, &e.throttle.shedder)
}

// rethrottle works out closed epoch e's rejection probability again, from
// the fleet's window when the store merges windows and has sent it for
// e's generation, else from the breaker's own.
func (b *Breaker) rethrottle(e *epoch) {
	if e.throttle != nil {
		t, fleet := b.windowTally(e)
		b.rethrottleFrom(e, t, fleet)
	}
}

// rethrottleFrom is rethrottle given e's window t as windowTally read it,
// and returns the probability.
func (b *Breaker) rethrottleFrom(e *epoch, t meter.Tally, fleet bool) float64 {
	p := b.pol.Load()
	if fleet && b.clock.Now().Sub(time.Unix(0, b.more.Load().fleet.Load().at)) > max(2*p.Window.Bucket(), time.Second) {
		// The fleet's window has not come for a while (Redis out of
		// reach, or this member ahead of it): the breaker's own is
		// fresher than a probability frozen at its last value.
		t = e.meter.Tally()
	}
	prob := p.Throttle.RejectProbability(t.Requests, t.Calls-t.Failures)
	e.throttle.set(prob)
	return prob
}

// windowTally is closed epoch e's window: the fleet's (fleet true) when
// the store merges windows and has sent it for e's generation, else the
// breaker's.
func (b *Breaker) windowTally(e *epoch) (t meter.Tally, fleet bool) {
	if x := b.more.Load(); b.fleetWindow && x != nil {
		if c := x.fleet.Load(); c != nil && c.Generation == e.gen {
			return meter.Tally{Calls: c.Calls, Failures: c.Failures, Slow: c.SlowCalls, Requests: c.Requests}, true
		}
	}
	return e.meter.Tally(), false
}
