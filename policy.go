package infuse

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"weak"
)

// Policy is a breaker's settings, defaults applied: what the breaker
// decides by and what a store needs when it decides on the breaker's behalf
// (a merged trip, a permit, a close). A breaker keeps one Policy value and
// never changes it: a setter such as SetFailMax makes a new one and swaps
// it in, so a reader sees one consistent set (ARCHITECTURE.md, "Settings").
type Policy struct {
	FailMax          int
	ResetTimeout     time.Duration
	SuccessThreshold int
	HalfOpenMaxCalls int
	Backoff          Backoff
	// HalfOpenMaxWait is how long a trial permit is held at most; 0
	// means for ever (for a shared store: its own lease). An expired
	// permit is freed and TrialExpiry says what else happens.
	HalfOpenMaxWait time.Duration
	TrialExpiry     TrialExpiry
	// The rate policy: the window, the thresholds and the slow-call
	// duration as in Config; MinCalls with its default applied and capped
	// by a count window's size; FleetMinMembers, the distinct members that
	// must have reported failures in the window before the fleet's rate
	// may trip it (for a store that merges windows), at least 1.
	Window                    Window
	FailureRate, SlowCallRate float64
	MinCalls                  int
	SlowCallDuration          time.Duration
	FleetMinMembers           int
	// Throttle is Config.Throttle, its MaxRejectRate defaulted.
	Throttle Throttle
	// MaxHoldOpen caps Breaker.HoldOpen.
	MaxHoldOpen time.Duration
	// RampDuration and RampSteps: the recovery ramp, as in Config.
	RampDuration time.Duration
	RampSteps    int
}

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

const (
	defaultFailMax          = 5
	defaultResetTimeout     = 60 * time.Second
	defaultSuccessThreshold = 1
	defaultHalfOpenMaxCalls = 1
	defaultMinCalls         = 100
	defaultMaxHoldOpen      = 5 * time.Minute
	// maxCount bounds the counted settings; larger runs of failures or
	// trials are not meaningful and would not fit a store's counters.
	maxCount = math.MaxInt32
)

var defaultPolicy = Policy{
	FailMax:          defaultFailMax,
	ResetTimeout:     defaultResetTimeout,
	SuccessThreshold: defaultSuccessThreshold,
	HalfOpenMaxCalls: defaultHalfOpenMaxCalls,
	MinCalls:         defaultMinCalls,
	FleetMinMembers:  1,
	MaxHoldOpen:      defaultMaxHoldOpen,
}

// policy returns the breaker's current settings.
func (b *Breaker) policy() Policy { return *b.pol.Load() }

// update changes the breaker's settings with f, applied to a copy of the
// current ones: a concurrent update is never lost.
func (b *Breaker) update(f func(*Policy)) {
	for {
		old := b.pol.Load()
		p := *old
		f(&p)
		if b.pol.CompareAndSwap(old, internPolicy(p)) {
			b.dropRejections() // made with the old open period
			return
		}
	}
}

// internPolicy returns the one Policy value of settings p that breakers
// share: per-host and per-tenant breakers, made by the thousand from one
// Config, keep one Policy between them instead of 176 bytes each. Nobody
// writes a Policy once it is made (a setter makes another), so sharing it
// is safe.
func internPolicy(p Policy) *Policy {
	for {
		v, loaded := policies.Load(p)
		if loaded {
			if q := v.(weak.Pointer[Policy]).Value(); q != nil {
				return q
			}
		}
		q := new(Policy)
		*q = p
		w := weak.Make(q)
		if loaded && !policies.CompareAndSwap(p, v, w) || !loaded && !storeNew(p, w) {
			continue // another breaker interned it meanwhile
		}
		// The entry goes with the last breaker that points at q.
		runtime.AddCleanup(q, func(w weak.Pointer[Policy]) { policies.CompareAndDelete(p, w) }, w)
		return q
	}
}

func storeNew(p Policy, w weak.Pointer[Policy]) bool {
	_, loaded := policies.LoadOrStore(p, w)
	return !loaded
}

// policies are the interned Policy values, by value: weak pointers, so
// that a Policy no breaker points at any more is collected, and its
// entry dropped. A cache, the one package-level state of the package.
var policies sync.Map // Policy -> weak.Pointer[Policy]

// anyRate tells whether a rate can trip the breaker.
func (p *Policy) anyRate() bool { return p.FailureRate > 0 || p.SlowCallRate > 0 }

// exceeded tells whether the window's tally t is over a rate threshold.
func (p *Policy) exceeded(t tally) bool {
	if t.calls < int64(p.MinCalls) || t.calls == 0 {
		return false
	}
	return (p.FailureRate > 0 && float64(t.failures) >= p.FailureRate*float64(t.calls)) ||
		(p.SlowCallRate > 0 && float64(t.slow) >= p.SlowCallRate*float64(t.calls))
}

// rate is part/calls, or -1 below the minimum number of calls.
func (p *Policy) rate(part, calls int64) float64 {
	if calls < int64(p.MinCalls) || calls == 0 {
		return -1
	}
	return float64(part) / float64(calls)
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
