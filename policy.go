package infuse

import (
	"runtime"
	"sync"
	"weak"

	"github.com/infuse-go/infuse/internal/meter"
)

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

// anyRate tells whether a rate of p can trip the breaker.
func anyRate(p *Policy) bool { return p.FailureRate > 0 || p.SlowCallRate > 0 }

// exceeded tells whether the window's tally t is over a rate threshold.
func exceeded(p *Policy, t meter.Tally) bool {
	if t.Calls < int64(p.MinCalls) || t.Calls == 0 {
		return false
	}
	return (p.FailureRate > 0 && float64(t.Failures) >= p.FailureRate*float64(t.Calls)) ||
		(p.SlowCallRate > 0 && float64(t.Slow) >= p.SlowCallRate*float64(t.Calls))
}

// rate is part/calls, or -1 below the minimum number of calls.
func rate(p *Policy, part, calls int64) float64 {
	if calls < int64(p.MinCalls) || calls == 0 {
		return -1
	}
	return float64(part) / float64(calls)
}
