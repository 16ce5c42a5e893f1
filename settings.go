package infuse

// The run-time setters: each makes a new Policy and swaps it in (policy.go).

import (
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/storage"
)

// FailMax returns the run of failures that trips the breaker.
func (b *Breaker) FailMax() int { return b.pol.Load().FailMax }

// SetFailMax changes FailMax from now on. n < 1 restores the default, 5;
// n is capped at math.MaxInt32. A run already at the new FailMax trips the
// breaker on its next failure.
func (b *Breaker) SetFailMax(n int) {
	b.update(func(p *storage.Policy) { p.FailMax = clampCount(n, storage.DefaultFailMax) })
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
	b.update(func(p *storage.Policy) { p.ResetTimeout = d })
}

// SuccessThreshold returns the successful trials that close the breaker.
func (b *Breaker) SuccessThreshold() int { return b.pol.Load().SuccessThreshold }

// SetSuccessThreshold changes SuccessThreshold from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetSuccessThreshold(n int) {
	b.update(func(p *storage.Policy) { p.SuccessThreshold = clampCount(n, storage.DefaultSuccessThreshold) })
}

// HalfOpenMaxCalls returns the number of trials allowed in flight at once.
func (b *Breaker) HalfOpenMaxCalls() int { return b.pol.Load().HalfOpenMaxCalls }

// SetHalfOpenMaxCalls changes HalfOpenMaxCalls from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetHalfOpenMaxCalls(n int) {
	b.update(func(p *storage.Policy) { p.HalfOpenMaxCalls = clampCount(n, storage.DefaultHalfOpenMaxCalls) })
}

func clampCount(n, def int) int {
	if n < 1 {
		return def
	}
	return min(n, storage.MaxCount)
}

func (b *Breaker) policy() storage.Policy { return *b.pol.Load() }

// update changes the breaker's settings with f, applied to a copy of the
// current ones: a concurrent update is never lost.
func (b *Breaker) update(f func(*storage.Policy)) {
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
func internPolicy(p storage.Policy) *storage.Policy {
	for {
		v, loaded := policies.Load(p)
		if loaded {
			if q := v.(weak.Pointer[storage.Policy]).Value(); q != nil {
				return q
			}
		}
		q := new(storage.Policy)
		*q = p
		w := weak.Make(q)
		if loaded && !policies.CompareAndSwap(p, v, w) || !loaded && !storeNew(p, w) {
			continue // another breaker interned it meanwhile
		}
		// The entry goes with the last breaker that points at q.
		runtime.AddCleanup(q, func(w weak.Pointer[storage.Policy]) { policies.CompareAndDelete(p, w) }, w)
		return q
	}
}

func storeNew(p storage.Policy, w weak.Pointer[storage.Policy]) bool {
	_, loaded := policies.LoadOrStore(p, w)
	return !loaded
}

// policies are the interned Policy values, by value: weak pointers, so
// that a Policy no breaker points at any more is collected, and its
// entry dropped. A cache, the one package-level state of the package.
var policies sync.Map // Policy -> weak.Pointer[Policy]

// anyRate tells whether a rate of p can trip the breaker.
func anyRate(p *storage.Policy) bool { return p.FailureRate > 0 || p.SlowCallRate > 0 }

// exceeded is the rate of the window's tally t that is over its threshold
// (CauseFailureRate first), CauseUnknown when none is.
func exceeded(p *storage.Policy, t meter.Tally) Cause {
	switch {
	case t.Calls < int64(p.MinCalls) || t.Calls == 0:
		return CauseUnknown
	case p.FailureRate > 0 && float64(t.Failures) >= p.FailureRate*float64(t.Calls):
		return CauseFailureRate
	case p.SlowCallRate > 0 && float64(t.Slow) >= p.SlowCallRate*float64(t.Calls):
		return CauseSlowCallRate
	}
	return CauseUnknown
}

// rate is part/calls, or -1 below the minimum number of calls.
func rate(p *storage.Policy, part, calls int64) float64 {
	if calls < int64(p.MinCalls) || calls == 0 {
		return -1
	}
	return float64(part) / float64(calls)
}
