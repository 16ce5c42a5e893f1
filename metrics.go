package infuse

import (
	"time"

	"github.com/infuse-go/infuse/internal/meter"
)

// Metrics is a breaker's state for monitoring, read without I/O.
type Metrics struct {
	Name       string
	State      State
	Mode       Mode
	Generation uint64
	// Trips is how many times in a row the breaker has opened since it
	// last closed.
	Trips  int
	Counts Counts
	// RetryAfter is what is left of the open period; 0 unless open.
	RetryAfter time.Duration
	// Window describes Config.Window ("none" without one).
	Window string
	// Calls, Failures and SlowCalls are what the window holds; zero
	// without a window, and outside the closed state (the window starts
	// afresh each time the breaker closes).
	Calls, Failures, SlowCalls int64
	// FailureRate and SlowCallRate are Failures/Calls and SlowCalls/Calls,
	// or -1 while the window holds fewer than MinCalls calls (or there is
	// no window).
	FailureRate, SlowCallRate float64
	// Fleet is true when the figures above are the fleet's window, merged
	// by the Storage (redisstore with a time window), as of the last time
	// this member sent its own; false when they are this breaker's.
	Fleet bool
	// Throttle is Config.Throttle (its MaxRejectRate defaulted); Requests
	// are the calls that reached throttling over the window, throttled or
	// not (none that the ramp shed: see Throttle), and
	// RejectProbability the share of them throttling rejects now: both 0
	// without a Throttle, or outside the closed state.
	Throttle          Throttle
	Requests          int64
	RejectProbability float64
	// OutlivedWindow counts the throttled calls, since the breaker was
	// made, that ran longer than the time Window: each one's request had
	// left the window when its outcome came, so the window undercounts
	// what the backend accepts. A Window shorter than the calls' timeout
	// does that (see Throttle); lengthen it while this grows.
	OutlivedWindow int64
	// RampShare is the share of calls admitted now: below 1 while the
	// breaker ramps up after closing (Config.RampDuration, which
	// RampDuration repeats; 0 without a ramp), 0 while open, else 1 (see
	// Breaker.RampShare).
	RampShare    float64
	RampDuration time.Duration
}

// outlived is Metrics.OutlivedWindow.
func (b *Breaker) outlived() int64 {
	if x := b.more.Load(); x != nil {
		return x.outlived.Load()
	}
	return 0
}

// Metrics returns the breaker's current figures.
func (b *Breaker) Metrics() Metrics {
	e, p := b.cur.Load(), b.pol.Load()
	m := Metrics{
		Name: b.name, State: e.state, Mode: e.mode, Generation: e.gen, Trips: int(e.trips), Counts: b.Counts(),
		RetryAfter: b.RetryAfter(), Window: p.Window.String(), Throttle: p.Throttle, RampShare: b.RampShare(),
		RampDuration: p.RampDuration, OutlivedWindow: b.outlived(),
		FailureRate: -1, SlowCallRate: -1,
	}
	if e.meter != nil {
		var t meter.Tally
		t, m.Fleet = b.windowTally(e)
		m.Calls, m.Failures, m.SlowCalls, m.Requests = t.Calls, t.Failures, t.Slow, t.Requests
		if e.throttle != nil {
			// As of now: the window may have moved since it was last
			// worked out.
			m.RejectProbability = b.rethrottleFrom(e, t, m.Fleet)
		}
		m.FailureRate = rate(p, t.Failures, t.Calls)
		m.SlowCallRate = rate(p, t.Slow, t.Calls)
	}
	return m
}
