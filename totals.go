package infuse

import (
	"sync/atomic"
	"unsafe"

	"github.com/infuse-go/infuse/internal/meter"
)

// Totals are a breaker's running counts, for monitoring: what a
// collector exports as counters. The breaker keeps them itself, so that a
// watched breaker needs no listener on its calls (see Breaker.Totals).
type Totals struct {
	// Successes, Failures and Ignored are the calls that ran, by outcome
	// (an excluded error is a success, a panic a failure; a call the
	// caller cancelled is ignored; one whose function called
	// runtime.Goexit is not counted). Rejections are the calls refused
	// without running.
	Successes, Failures, Ignored, Rejections uint64
	// Transitions are the state changes, made here or observed in the
	// Storage; StoreErrors the errors the Storage reported.
	Transitions, StoreErrors uint64
}

// Add returns the sum of t and u: a collector that follows breakers of one
// name across replacements (a registry's eviction and creation) adds the
// totals of the ones it no longer watches, so that its counters never go
// back.
func (t Totals) Add(u Totals) Totals {
	return Totals{Successes: t.Successes + u.Successes, Failures: t.Failures + u.Failures,
		Ignored: t.Ignored + u.Ignored, Rejections: t.Rejections + u.Rejections,
		Transitions: t.Transitions + u.Transitions, StoreErrors: t.StoreErrors + u.StoreErrors}
}

// Totals returns the breaker's running totals. The breaker counts calls
// from the first time Totals is called (a monitoring integration calls it
// when it starts watching); until then counting costs nothing, and
// Successes, Failures, Ignored and Rejections are 0. Transitions and
// StoreErrors are counted from New.
//
// The call counts are exact. Each call adds to one of several counters
// on cache lines of their own (see shard.go), so calls on many cores do
// not contend on one line; Totals adds them up. They cost 128 bytes a
// shard, twice GOMAXPROCS shards (512 bytes with 2 cores, 4 KiB with 16),
// allocated by the first call of Totals: a breaker nobody watches pays
// nothing.
func (b *Breaker) Totals() Totals {
	c := b.counts.Load()
	if c == nil {
		b.mu.Lock()
		if c = b.counts.Load(); c == nil {
			c = newCallCounts()
			b.counts.Store(c)
			b.cur.Load().counts.Store(c)
			atomic.StorePointer(&b.rejecting, nil) // rejections are counted from now on (see publish)
		}
		b.mu.Unlock()
	}
	t := Totals{Transitions: b.transitions.Load()}
	if x := b.more.Load(); x != nil {
		t.StoreErrors = x.storeErrors.Load()
	}
	for i := range c.shards {
		s := &c.shards[i]
		t.Successes += uint64(s.n[countSuccess].Load())
		t.Failures += uint64(s.n[countFailure].Load())
		t.Ignored += uint64(s.n[countIgnored].Load())
		t.Rejections += uint64(s.n[countRejection].Load())
	}
	return t
}

// What a call counts as.
const (
	countSuccess = iota
	countFailure
	countIgnored
	countRejection
	countKinds
)

// callCounts are the call counts of Totals, in shards (see shard.go) of a
// cache line pair each, so that neither a line nor the neighbour the
// processor fetches with it is written from two cores at once.
type callCounts struct {
	mask   uint32
	shards []countShard
}

type countShard struct {
	n [countKinds]atomic.Int64
	_ [128 - countKinds*8]byte
}

func newCallCounts() *callCounts {
	n := meter.ShardCount()
	return &callCounts{mask: uint32(n - 1), shards: make([]countShard, n)}
}

// add counts one call of kind k. c may be nil: the breaker is not
// counting.
func (c *callCounts) add(k uint) {
	if c != nil {
		// k's address is on the goroutine's stack (see stackHash).
		i := uint32(uint64(uintptr(unsafe.Pointer(&k))) * meter.HashMul >> (64 - meter.ProbeBits))
		n := &c.shards[(i+meter.Probes[i].Load())&c.mask].n[k]
		if old := n.Load(); n.Add(1) != old+1 {
			meter.Probes[i].Add(1) // another core wrote n meanwhile (see shard.go)
		}
	}
}
