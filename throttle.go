package infuse

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Throttle is adaptive client-side throttling (Google SRE book, "Handling
// Overload"): while the breaker is closed, a call is rejected locally with
// probability
//
//	max(0, (requests − K·accepts) / (requests + 1)), at most MaxRejectRate,
//
// where requests are the calls the breaker was asked to make over its time
// Window, rejected ones included, and accepts the calls that succeeded
// (excluded errors count as successes). A backend that accepts less than it
// is sent sees the load fall smoothly to about K times what it accepts,
// instead of a breaker's all or nothing; once it recovers, rejections fade
// as accepts grow.
//
// With a store that merges windows (redisstore with a time Window), the
// requests and accepts are the whole fleet's: one member's view of a
// backend is a 1/N sample, too small to estimate its acceptance when each
// member sends a few calls a second.
//
// A request is counted when the call is made, not when it returns; the
// Window should be longer than the calls' timeout, or calls still in flight
// count as requests that were never accepted. The probability is worked
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

// throttler is a closed epoch's throttling: the probability in force and
// the accumulator that turns it into rejections.
type throttler struct {
	p atomic.Uint64 // math.Float64bits of the probability
	// scaled is the probability in 1/2^32 units, what the accumulator
	// adds per call.
	scaled atomic.Uint64
	// acc accumulates the probability call by call; a call whose addition
	// crosses a multiple of 2^32 is rejected. So the share rejected is the
	// probability to within one call, deterministically, without a random
	// number per call.
	acc atomic.Uint64
	err atomic.Pointer[OpenError] // the rejection, made once
}

func (t *throttler) set(p float64) {
	t.p.Store(math.Float64bits(p))
	t.scaled.Store(uint64(p * (1 << 32)))
}

func (t *throttler) probability() float64 { return math.Float64frombits(t.p.Load()) }

// reject tells whether this call is one the probability rejects.
func (t *throttler) reject() bool {
	inc := t.scaled.Load()
	if inc == 0 {
		return false
	}
	n := t.acc.Add(inc)
	return n>>32 != (n-inc)>>32
}

// throttled counts a request of closed epoch e, which throttles, and
// returns the error that rejects it, or nil when it may run.
func (b *Breaker) throttled(e *epoch) error {
	if e.meter.(*timeMeter).request() {
		b.rethrottle(e)
	}
	if !e.throttle.reject() {
		return nil
	}
	err := e.throttle.err.Load()
	if err == nil {
		err = &OpenError{Name: b.name, State: Closed, Reason: ReasonThrottled}
		e.throttle.err.Store(err)
	}
	e.counts.Load().add(countRejection)
	if b.hooks.Load().want(EventRejected) {
		b.emit(Event{Kind: EventRejected, Err: err})
	}
	return err
}

// rethrottle works out closed epoch e's rejection probability again, from
// the fleet's window when the store merges windows and has sent it for
// e's generation, else from the breaker's own.
func (b *Breaker) rethrottle(e *epoch) {
	if e.throttle == nil {
		return
	}
	t := b.windowTally(e)
	p := b.pol.Load()
	if c := b.fleet.Load(); c != nil && c.Generation == e.gen &&
		b.clock.Now().Sub(time.Unix(0, b.fleetAt.Load())) > max(2*p.Window.Bucket(), time.Second) {
		// The fleet's window has not come for a while (Redis out of
		// reach, or this member ahead of it): the breaker's own is
		// fresher than a probability frozen at its last value.
		t = e.meter.tally()
	}
	e.throttle.set(p.Throttle.RejectProbability(t.requests, t.calls-t.failures))
}

// windowTally is closed epoch e's window: the fleet's when the store
// merges windows and has sent it for e's generation, else the breaker's.
func (b *Breaker) windowTally(e *epoch) tally {
	if c := b.fleet.Load(); b.fleetWindow && c != nil && c.Generation == e.gen {
		return tally{calls: c.Calls, failures: c.Failures, slow: c.SlowCalls, requests: c.Requests}
	}
	return e.meter.tally()
}
