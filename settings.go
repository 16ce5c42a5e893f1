package infuse

// The run-time setters: each makes a new Policy and swaps it in (policy.go).

import (
	"time"

	"github.com/infuse-go/infuse/storage"
)

// FailMax returns the run of failures that trips the breaker.
func (b *Breaker) FailMax() int { return b.pol.Load().FailMax }

// SetFailMax changes FailMax from now on. n < 1 restores the default, 5;
// n is capped at math.MaxInt32. A run already at the new FailMax trips the
// breaker on its next failure.
func (b *Breaker) SetFailMax(n int) {
	b.update(func(p *Policy) { p.FailMax = clampCount(n, storage.DefaultFailMax) })
}

// ResetTimeout returns how long the breaker stays open.
func (b *Breaker) ResetTimeout() time.Duration { return b.pol.Load().ResetTimeout }

// SetResetTimeout changes ResetTimeout, for the current open period too:
// the period ends at the time the breaker opened plus d. d < 1 restores the
// default, 60s.
func (b *Breaker) SetResetTimeout(d time.Duration) {
	if d <= 0 {
		d = storage.DefaultResetTimeout
	}
	b.update(func(p *Policy) { p.ResetTimeout = d })
}

// SuccessThreshold returns the successful trials that close the breaker.
func (b *Breaker) SuccessThreshold() int { return b.pol.Load().SuccessThreshold }

// SetSuccessThreshold changes SuccessThreshold from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetSuccessThreshold(n int) {
	b.update(func(p *Policy) { p.SuccessThreshold = clampCount(n, storage.DefaultSuccessThreshold) })
}

// HalfOpenMaxCalls returns the number of trials allowed in flight at once.
func (b *Breaker) HalfOpenMaxCalls() int { return b.pol.Load().HalfOpenMaxCalls }

// SetHalfOpenMaxCalls changes HalfOpenMaxCalls from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetHalfOpenMaxCalls(n int) {
	b.update(func(p *Policy) { p.HalfOpenMaxCalls = clampCount(n, storage.DefaultHalfOpenMaxCalls) })
}

func clampCount(n, def int) int {
	if n < 1 {
		return def
	}
	return min(n, storage.MaxCount)
}
