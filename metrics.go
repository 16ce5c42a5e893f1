package infuse

import "time"

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
}

// Metrics returns the breaker's current figures.
func (b *Breaker) Metrics() Metrics {
	e, p := b.cur.Load(), b.pol.Load()
	m := Metrics{
		Name: b.name, State: e.state, Mode: e.mode, Generation: e.gen, Trips: e.trips, Counts: b.Counts(),
		RetryAfter: b.RetryAfter(), Window: p.Window.String(),
		FailureRate: -1, SlowCallRate: -1,
	}
	if e.meter != nil {
		t := e.meter.tally()
		if c := b.fleet.Load(); b.fleetWindow && c != nil && c.Generation == e.gen {
			t, m.Fleet = tally{calls: c.Calls, failures: c.Failures, slow: c.SlowCalls}, true
		}
		m.Calls, m.Failures, m.SlowCalls = t.calls, t.failures, t.slow
		m.FailureRate = p.rate(t.failures, t.calls)
		m.SlowCallRate = p.rate(t.slow, t.calls)
	}
	return m
}
