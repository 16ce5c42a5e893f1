package infusesim

import (
	"errors"
	"fmt"
	"time"
)

// Phase is a stretch of a scenario in which the backend behaves one way.
type Phase struct {
	// Duration is how long the phase lasts; it must be positive.
	Duration time.Duration
	// ErrorRate is the share of calls the backend fails, from 0 (healthy)
	// to 1 (every call fails). A phase with a positive ErrorRate is an
	// outage.
	ErrorRate float64
	// Latency is how long the backend takes to answer a call.
	Latency time.Duration
}

// Outage reports whether the backend fails calls in the phase.
func (p Phase) Outage() bool { return p.ErrorRate > 0 }

// Scenario is a fleet of callers and a backend's phases.
type Scenario struct {
	// Members is the number of callers, each with its own breaker.
	Members int
	// Rate is the calls a second each member makes, paced evenly.
	Rate float64
	// Phases follow one another from the scenario's start.
	Phases []Phase
}

// OutageScenario is the built-in scenario: 32 members each calling at 500
// calls a second; the backend is healthy for 2 s, fails every call for
// 6 s, then is healthy again for 4 s.
func OutageScenario() Scenario {
	return Scenario{Members: 32, Rate: 500, Phases: []Phase{
		{Duration: 2 * time.Second},
		{Duration: 6 * time.Second, ErrorRate: 1},
		{Duration: 4 * time.Second},
	}}
}

// Validate returns an error naming the first invalid field, or nil.
func (s Scenario) Validate() error {
	switch {
	case s.Members < 1:
		return fmt.Errorf("infusesim: Members is %d; want at least 1", s.Members)
	case !(s.Rate > 0) || s.Rate > 1e9:
		return fmt.Errorf("infusesim: Rate is %v calls/s; want more than 0 and at most 1e9", s.Rate)
	case len(s.Phases) == 0:
		return errors.New("infusesim: a scenario needs at least one phase")
	}
	var total time.Duration
	for i, p := range s.Phases {
		switch {
		case p.Duration <= 0:
			return fmt.Errorf("infusesim: phase %d lasts %v; want a positive duration", i+1, p.Duration)
		case p.Duration > maxScenario-total:
			return fmt.Errorf("infusesim: the phases last more than %v in all", maxScenario)
		case !(p.ErrorRate >= 0 && p.ErrorRate <= 1):
			return fmt.Errorf("infusesim: phase %d has ErrorRate %v; want 0 to 1", i+1, p.ErrorRate)
		case p.Latency < 0:
			return fmt.Errorf("infusesim: phase %d has Latency %v; want 0 or more", i+1, p.Latency)
		case p.Latency > maxScenario:
			return fmt.Errorf("infusesim: phase %d has Latency %v; want at most %v", i+1, p.Latency, maxScenario)
		}
		total += p.Duration
	}
	return nil
}

// maxScenario bounds a scenario's length and a phase's latency, so that
// no time in a run overflows.
const maxScenario = 1000 * time.Hour

// Duration is the scenario's length: the sum of its phases.
func (s Scenario) Duration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d += p.Duration
	}
	return d
}

// Interval is the time between one member's calls.
func (s Scenario) Interval() time.Duration {
	return time.Duration(float64(time.Second) / s.Rate)
}

// PhaseAt returns the index of the phase at offset at from the start, and
// -1 past the end.
func (s Scenario) PhaseAt(at time.Duration) int {
	var end time.Duration
	for i, p := range s.Phases {
		end += p.Duration
		if at < end {
			return i
		}
	}
	return -1
}

// PhaseStart returns the offset at which phase i starts.
func (s Scenario) PhaseStart(i int) time.Duration {
	var d time.Duration
	for _, p := range s.Phases[:i] {
		d += p.Duration
	}
	return d
}
