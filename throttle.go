package infuse

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Throttle is adaptive client-side throttling (Google SRE book, "Handling
// Overload"): while the breaker is closed, a call is rejected locally with
// probability
//
//	max(0, (requests − K·accepts) / (requests + 1)), at most MaxRejectRate,
//
// where requests are the calls that reached the throttle over its time
// Window, those it rejected included, and accepts the calls that succeeded
// (excluded errors count as successes). A backend that accepts less than it
// is sent sees the load fall smoothly to about K times what it accepts,
// instead of a breaker's all or nothing; once it recovers, rejections fade
// as accepts grow.
//
// Throttling is the last gate a call passes: a call that an open, held or
// forced-open breaker rejects, or that a recovery ramp sheds
// (Config.RampDuration), never reaches it and is no request, for the
// backend did not fail to accept it. So with a ramp the ramp admits its
// share of the calls offered and throttling sheds, among those, only what
// K times the accepts calls for: nothing while the backend accepts all.
//
// With a store that merges windows (redisstore with a time Window), the
// requests and accepts are the whole fleet's: one member's view of a
// backend is a 1/N sample, too small to estimate its acceptance when each
// member sends a few calls a second.
//
// A request is counted when the call is made, not when it returns; the
// Window should be longer than the calls' timeout, or calls still in flight
// count as requests that were never accepted. Metrics.OutlivedWindow
// counts the calls that ran longer than the Window. The probability is worked
// out again as each bucket of the window begins and each time the fleet's
// window arrives.
//
// The zero Throttle is none, and costs nothing.
type Throttle struct {
	// K is how many times what the backend accepts the breaker keeps
	// sending: 2 (the SRE book's) lets through twice what is accepted;
	// lower throttles harder. 0 means no throttling; it must be at least
	// 1 otherwise.
	K float64
	// MaxRejectRate caps the rejection probability, so that some calls
	// always reach the backend and tell when it recovers. 0 means 0.9.
	MaxRejectRate float64
}

const defaultMaxRejectRate = 0.9

// maxK bounds K: far above it nothing is ever throttled.
const maxK = 1e6

// IsZero reports whether t is no throttling.
func (t Throttle) IsZero() bool { return t.K == 0 }

func (t Throttle) validate(w Window) error {
	if t == (Throttle{}) {
		return nil
	}
	if !(t.K >= 1 && t.K <= maxK) { // NaN fails too
		return &ConfigError{"Throttle", fmt.Sprintf("K %v is not a number between 1 and %v", t.K, maxK)}
	}
	if !(t.MaxRejectRate >= 0 && t.MaxRejectRate <= 1) {
		return &ConfigError{"Throttle", fmt.Sprintf("MaxRejectRate %v is not between 0 and 1", t.MaxRejectRate)}
	}
	if w.Duration() == 0 {
		return &ConfigError{"Throttle", "throttling needs a time Window (TimeWindow) to count requests and accepts over"}
	}
	return nil
}

// withDefaults returns t with its zero MaxRejectRate made the default.
func (t Throttle) withDefaults() Throttle {
	if t.K != 0 && t.MaxRejectRate == 0 {
		t.MaxRejectRate = defaultMaxRejectRate
	}
	return t
}

// RejectProbability is the SRE formula: the probability of rejecting a
// call given the window's requests and accepts, capped at MaxRejectRate.
func (t Throttle) RejectProbability(requests, accepts int64) float64 {
	t = t.withDefaults()
	if t.K == 0 || requests <= 0 {
		return 0
	}
	p := (float64(requests) - t.K*float64(max(accepts, 0))) / float64(requests+1)
	return min(max(p, 0), t.MaxRejectRate)
}

// throttler is a closed epoch's throttling: the probability in force, and
// the shedder that turns it into rejections.
type throttler struct {
	scaled atomic.Uint64 // the probability, in the shedder's units
	shedder
}

func newThrottler() *throttler { return &throttler{shedder: shedder{reason: ReasonThrottled}} }

func (t *throttler) set(p float64) { t.scaled.Store(scaled(p)) }

// throttled counts a request of closed epoch e, which throttles, and
// returns the error that rejects it, or nil when it may run. It is the
// last of the gates (see admitSlow): only a call that every other gate
// admitted is a request.
func (b *Breaker) throttled(e *epoch) error {
	if e.meter.(*timeMeter).request() {
		b.rethrottle(e)
	}
	if !e.throttle.shed(e.throttle.scaled.Load()) {
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
func (b *Breaker) rethrottleFrom(e *epoch, t tally, fleet bool) float64 {
	p := b.pol.Load()
	if fleet && b.clock.Now().Sub(time.Unix(0, b.more.Load().fleet.Load().at)) > max(2*p.Window.Bucket(), time.Second) {
		// The fleet's window has not come for a while (Redis out of
		// reach, or this member ahead of it): the breaker's own is
		// fresher than a probability frozen at its last value.
		t = e.meter.tally()
	}
	prob := p.Throttle.RejectProbability(t.requests, t.calls-t.failures)
	e.throttle.set(prob)
	return prob
}

// windowTally is closed epoch e's window: the fleet's (fleet true) when
// the store merges windows and has sent it for e's generation, else the
// breaker's.
func (b *Breaker) windowTally(e *epoch) (t tally, fleet bool) {
	if x := b.more.Load(); b.fleetWindow && x != nil {
		if c := x.fleet.Load(); c != nil && c.Generation == e.gen {
			return tally{calls: c.Calls, failures: c.Failures, slow: c.SlowCalls, requests: c.Requests}, true
		}
	}
	return e.meter.tally(), false
}
