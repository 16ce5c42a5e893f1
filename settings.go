package infuse

import "time"

func (b *Breaker) policy() Policy {
	return Policy{
		FailMax:          b.FailMax(),
		ResetTimeout:     b.ResetTimeout(),
		SuccessThreshold: b.SuccessThreshold(),
		HalfOpenMaxCalls: int(b.halfOpenMaxCalls.Load()),
		Backoff:          b.backoff,
		HalfOpenMaxWait:  b.halfOpenMaxWait,
		TrialExpiry:      b.trialExpiry,
		FailureRate:      b.rates.failureRate,
		SlowCallRate:     b.rates.slowRate,
		MinCalls:         int(b.rates.minCalls),
		MinMembers:       b.rates.minMembers,
	}
}

func (b *Breaker) setPolicy(p Policy) {
	b.failMax.Store(int64(p.FailMax))
	b.resetTimeout.Store(int64(p.ResetTimeout))
	b.successThreshold.Store(int64(p.SuccessThreshold))
	b.halfOpenMaxCalls.Store(int64(p.HalfOpenMaxCalls))
}

// FailMax returns the run of failures that trips the breaker.
func (b *Breaker) FailMax() int { return int(b.failMax.Load()) }

// SetFailMax changes FailMax from now on. n < 1 restores the default, 5;
// n is capped at math.MaxInt32. A run already at the new FailMax trips the
// breaker on its next failure.
func (b *Breaker) SetFailMax(n int) { b.failMax.Store(int64(clampCount(n, defaultFailMax))) }

// ResetTimeout returns how long the breaker stays open.
func (b *Breaker) ResetTimeout() time.Duration { return time.Duration(b.resetTimeout.Load()) }

// SetResetTimeout changes ResetTimeout, for the current open period too:
// the period ends at the time the breaker opened plus d. d < 1 restores the
// default, 60s.
func (b *Breaker) SetResetTimeout(d time.Duration) {
	if d <= 0 {
		d = defaultResetTimeout
	}
	b.resetTimeout.Store(int64(d))
}

// SuccessThreshold returns the successful trials that close the breaker.
func (b *Breaker) SuccessThreshold() int { return int(b.successThreshold.Load()) }

// SetSuccessThreshold changes SuccessThreshold from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetSuccessThreshold(n int) {
	b.successThreshold.Store(int64(clampCount(n, defaultSuccessThreshold)))
}

// HalfOpenMaxCalls returns the number of trials allowed in flight at once.
func (b *Breaker) HalfOpenMaxCalls() int { return int(b.halfOpenMaxCalls.Load()) }

// SetHalfOpenMaxCalls changes HalfOpenMaxCalls from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetHalfOpenMaxCalls(n int) {
	b.halfOpenMaxCalls.Store(int64(clampCount(n, defaultHalfOpenMaxCalls)))
}

func clampCount(n, def int) int {
	if n < 1 {
		return def
	}
	return min(n, maxCount)
}
