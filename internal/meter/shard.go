package meter

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Sharded counters: a watched breaker's call counts (totals.go) and a time
// window's rings (window.go) are kept in several shards, each on cache
// lines of its own, so that calls on several cores at once do not write
// to one line (a line written from two cores moves between them on every
// write, which is what makes a contended counter 5 to 20 times slower).
//
// Which shard a call writes. What matters is that goroutines running at
// the same time, on different cores, write to different shards, and that
// a goroutine keeps its shard while it runs. Go gives a goroutine neither
// an identity nor the number of the core it runs on without reaching into
// the runtime (sync.Pool's per-P slots cost more than the counting they
// would spread), so:
//
//   - A goroutine is known by its stack: the address of a local variable,
//     free to read and stable while the goroutine runs (a stack that grows
//     moves, and the goroutine with it). Its hash picks the shard.
//   - Hashing alone leaves two goroutines on one shard by chance (1 in 32
//     for two goroutines and 32 shards), for as long as they run: a
//     benchmark ran 5× slower in one run than in the next, depending on
//     where the stacks of its goroutines had landed. So the hash also
//     picks a slot of Probes, whose value is added to it; a write
//     that finds its counter contended (its compare-and-swap failed:
//     another core wrote the counter between its load and its swap) moves
//     its slot on by one, and the goroutines that collided part within a
//     few calls, and stay parted. Nothing moves without contention, so a
//     choice that works is kept: the figures no longer depend on where a
//     stack landed.
//   - The number of shards follows the cores (twice GOMAXPROCS when the
//     counters are made, a power of two between 2 and MaxShards): fewer
//     would leave goroutines nowhere to part to, more would cost memory for
//     nothing, which matters with 10⁵ breakers.
//
// The probe table is shared by every breaker: a goroutine that moves
// moves for all of them, which is as good as any other place.

// MaxShards bounds the shards of one set of counters.
const MaxShards = 64

// ProbeBits is the size of Probes, as a power of two: two goroutines
// share a slot (and so cannot part) 1 time in 1024.
const ProbeBits = 10

// Probes are the offsets added to the stack hashes of the goroutines
// that share a slot (see above). It is the package's one table of its own
// beside the coarse clock: 4 KiB, written only on contention.
var Probes [1 << ProbeBits]atomic.Uint32

// stackHash is the calling goroutine's hash: its low bits are added to
// the slot's probe to pick a shard, its high bits pick the slot.
// (Inlined, it hashes the caller's frame; any frame of the goroutine's
// stack will do.)
func stackHash() uint64 {
	var x byte
	return uint64(uintptr(unsafe.Pointer(&x))) * HashMul
}

// HashMul is 2⁶⁴ over the golden ratio: multiplied by it, addresses that
// differ in their low bits differ in the high bits of the product.
const HashMul = 0x9E3779B97F4A7C15

// shardOf is the shard, of those that mask selects, that a goroutine of
// hash h writes, and the slot of Probes that moves it on contention.
func shardOf(h uint64, mask uint32) (shard uint32, slot *atomic.Uint32) {
	slot = &Probes[h>>(64-ProbeBits)]
	return (uint32(h>>32) + slot.Load()) & mask, slot
}

// addContended adds one to n, and moves the goroutine's slot on when
// another core wrote n meanwhile (see above).
func addContended(n *atomic.Int64, slot *atomic.Uint32) {
	if old := n.Load(); !n.CompareAndSwap(old, old+1) {
		contended(n, slot)
	}
}

// contended adds one to n, which another core wrote between the caller's
// load and its swap, and moves the caller's slot on.
func contended(n *atomic.Int64, slot *atomic.Uint32) {
	slot.Add(1)
	n.Add(1)
}

// ShardCount is how many shards a set of counters made now has: twice
// GOMAXPROCS, as a power of two, between 2 and MaxShards.
func ShardCount() int {
	n := 2
	for n < 2*runtime.GOMAXPROCS(0) && n < MaxShards {
		n <<= 1
	}
	return n
}
