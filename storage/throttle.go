package storage

import (
	"fmt"
	"strconv"
	"strings"
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

// WithDefaults returns t with its zero MaxRejectRate made the default.
func (t Throttle) WithDefaults() Throttle {
	if t.K != 0 && t.MaxRejectRate == 0 {
		t.MaxRejectRate = defaultMaxRejectRate
	}
	return t
}

// RejectProbability is the SRE formula: the probability of rejecting a
// call given the window's requests and accepts, capped at MaxRejectRate.
func (t Throttle) RejectProbability(requests, accepts int64) float64 {
	t = t.WithDefaults()
	if t.K == 0 || requests <= 0 {
		return 0
	}
	p := (float64(requests) - t.K*float64(max(accepts, 0))) / float64(requests+1)
	return min(max(p, 0), t.MaxRejectRate)
}

// parseThrottle reads "K" or "K/MAXREJECTRATE" (a command line's).
func parseThrottle(s string) (Throttle, error) {
	var t Throttle
	k, r, two := strings.Cut(s, "/")
	var err error
	if t.K, err = strconv.ParseFloat(k, 64); err != nil {
		return t, fmt.Errorf("a throttle is K or K/MAXREJECTRATE")
	}
	if two {
		if t.MaxRejectRate, err = strconv.ParseFloat(r, 64); err != nil {
			return t, fmt.Errorf("a throttle is K or K/MAXREJECTRATE")
		}
	}
	return t, nil
}
