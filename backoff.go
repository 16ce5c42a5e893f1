package infuse

import (
	"fmt"
	"math"
	"time"
)

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
	switch {
	case bo.Multiplier != 0 && !(bo.Multiplier >= 1 && bo.Multiplier <= 1000):
		return &ConfigError{"Backoff", fmt.Sprintf("a multiplier of %v is not between 1 and 1000", bo.Multiplier)}
	case bo.Max < 0:
		return &ConfigError{"Backoff", fmt.Sprintf("a Max of %v is negative", bo.Max)}
	case !(bo.Jitter >= 0 && bo.Jitter <= 1):
		return &ConfigError{"Backoff", fmt.Sprintf("a jitter of %v is not between 0 and 1", bo.Jitter)}
	case bo.Multiplier == 0 && (bo.Max != 0 || bo.Jitter != 0):
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
