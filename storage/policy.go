package storage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TrialExpiry is what happens when a half-open trial holds its permit for
// longer than HalfOpenMaxWait: the permit is freed, and then...
type TrialExpiry int

const (
	// ExpiryOpens opens the breaker again, as a failed trial does.
	ExpiryOpens TrialExpiry = iota
	// ExpiryCloses closes the breaker, as SuccessThreshold trials do.
	ExpiryCloses
	// ExpiryFrees only frees the permit for another trial.
	ExpiryFrees
)

// String returns "opens", "closes" or "frees".
func (e TrialExpiry) String() string {
	switch e {
	case ExpiryOpens:
		return "opens"
	case ExpiryCloses:
		return "closes"
	case ExpiryFrees:
		return "frees"
	}
	return "TrialExpiry(" + strconv.Itoa(int(e)) + ")"
}

// Backoff makes each open period longer than the last while the breaker
// keeps failing its trials: the k-th time in a row the breaker opens, it
// stays open ResetTimeout × Multiplier^(k-1), at most Max, varied by up to
// Jitter either way. The count starts again once the breaker closes. The
// zero Backoff is none: every open period is ResetTimeout.
//
// The jitter is drawn from the breaker's generation, so every member of a
// fleet sharing the breaker computes the same period.
type Backoff struct {
	// Multiplier, 1 or more, is how much longer each open period is than
	// the one before. 0 means no backoff.
	Multiplier float64
	// Max caps the period (before jitter). 0 means no cap.
	Max time.Duration
	// Jitter, between 0 and 1, is how far the period may vary either way,
	// as a fraction of it: 0.1 means ±10 %.
	Jitter float64
}

func (bo Backoff) validate() error {
	if bo.Multiplier != 0 && !(bo.Multiplier >= 1 && bo.Multiplier <= 1000) {
		return &ConfigError{"Backoff", fmt.Sprintf("a multiplier of %v is not between 1 and 1000", bo.Multiplier)}
	}
	if bo.Max < 0 {
		return &ConfigError{"Backoff", fmt.Sprintf("a Max of %v is negative", bo.Max)}
	}
	if !(bo.Jitter >= 0 && bo.Jitter <= 1) {
		return &ConfigError{"Backoff", fmt.Sprintf("a jitter of %v is not between 0 and 1", bo.Jitter)}
	}
	if bo.Multiplier == 0 && (bo.Max != 0 || bo.Jitter != 0) {
		return &ConfigError{"Backoff", "Max or Jitter without a Multiplier"}
	}
	return nil
}

// OpenFor is how long the breaker stays open in state s: ResetTimeout,
// grown by the backoff for s.Trips.
func (p Policy) OpenFor(s Snapshot) time.Duration {
	d := float64(p.ResetTimeout)
	bo := p.Backoff
	if bo.Multiplier == 0 {
		return p.ResetTimeout
	}
	if s.Trips > 1 {
		d *= math.Pow(bo.Multiplier, float64(min(s.Trips-1, 1000)))
	}
	if bo.Max > 0 && d > float64(bo.Max) {
		d = float64(bo.Max)
	}
	if bo.Jitter > 0 {
		// A fraction in [-1, 1) from the generation: splitmix64.
		z := s.Generation + 0x9E3779B97F4A7C15
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		u := float64(z>>11)/float64(1<<52) - 1
		d *= 1 + bo.Jitter*u
	}
	return time.Duration(min(d, float64(math.MaxInt64/2)))
}

// parseBackoff reads "M", "M/MAX" or "M/MAX/JITTER" (a command line's).
func parseBackoff(s string) (Backoff, error) {
	var bo Backoff
	parts := strings.Split(s, "/")
	if len(parts) > 3 {
		return bo, fmt.Errorf("a backoff is M, M/MAX or M/MAX/JITTER")
	}
	var err error
	if bo.Multiplier, err = strconv.ParseFloat(parts[0], 64); err != nil {
		return bo, fmt.Errorf("a backoff's multiplier is a number")
	}
	if len(parts) > 1 {
		if bo.Max, err = time.ParseDuration(parts[1]); err != nil {
			return bo, fmt.Errorf("a backoff's max is a duration")
		}
	}
	if len(parts) > 2 {
		if bo.Jitter, err = strconv.ParseFloat(parts[2], 64); err != nil {
			return bo, fmt.Errorf("a backoff's jitter is a number")
		}
	}
	return bo, nil
}

// RampShare is the share of calls a recovery ramp of the given duration
// and steps (Settings.RampDuration, RampSteps) admits elapsed after the
// breaker closed: rising linearly from 1 % (steps 0) or in steps of
// 1/steps, and 1 from the end of the ramp on, or without a ramp (duration
// 0).
func RampShare(elapsed, duration time.Duration, steps int) float64 {
	if duration <= 0 || elapsed >= duration {
		return 1
	}
	f := float64(max(elapsed, 0)) / float64(duration)
	if steps > 0 {
		return float64(int(f*float64(steps))+1) / float64(steps)
	}
	return max(f, 0.01)
}

// ShadowSuffix ends the name of a shadow's candidate breaker: a live
// breaker's name may not end with it.
const ShadowSuffix = "#shadow"
