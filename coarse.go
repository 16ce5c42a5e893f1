package infuse

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarse is the real clock to about a millisecond, for rejections: a
// timer moves it on every coarseTick while rejections read it, and stops
// after coarseIdle ticks with none. A rejection reads it with one atomic
// load instead of reading the system clock, which costs most of a
// rejection (tens of nanoseconds on many VMs). It is kept as the
// monotonic time since coarseBase, so that a jump of the wall clock moves
// no open period.
var coarse coarseClock

var coarseBase = time.Now()

const (
	coarseTick = time.Millisecond
	coarseIdle = 200
	// coarseMinOpen is the shortest open period whose rejections read the
	// coarse clock: a tick, even a late one, is well within 1 % of it.
	coarseMinOpen = 500 * time.Millisecond
	// coarseMargin is, with a tenth of the open period if longer, how
	// close to its end a rejection reads the system clock.
	coarseMargin = 50 * time.Millisecond
	// coarseSample is how many reads of a shard read the system clock once.
	coarseSample = 64
)

type coarseClock struct {
	_    [64]byte     // now and used on a line of their own
	now  atomic.Int64 // since coarseBase at the last tick; 0 while stopped
	used atomic.Bool  // read since the last tick
	_    [55]byte
	// reads counts reads per shard (see stackShard): every coarseSample-th
	// read of a shard reads the system clock and moves now on, so that a
	// timer starved of CPU by the very goroutines that reject leaves the
	// clock at most that many of their rejections behind.
	reads [meterShards]struct {
		n atomic.Uint64
		_ [120]byte
	}

	mu      sync.Mutex
	idle    int
	running bool
}

// read returns the time since coarseBase as of the last tick, at most
// about coarseTick behind the truth, or ok false while the clock is
// stopped (it starts it; the caller reads the system clock this time).
func (c *coarseClock) read() (now int64, ok bool) {
	if !c.used.Load() { // written once a tick at most, not once a read
		c.used.Store(true)
	}
	if now = c.now.Load(); now == 0 {
		c.start()
		return 0, false
	}
	if c.reads[stackShard()].n.Add(1)%coarseSample == 0 {
		t := max(int64(time.Since(coarseBase)), 1)
		// Written only when the timer is behind by more than a tick, so
		// that a healthy clock's line stays shared by the readers.
		for cur := now; t > cur+int64(coarseTick) && !c.now.CompareAndSwap(cur, t); cur = c.now.Load() {
			if cur == 0 {
				return 0, false // stopped meanwhile
			}
		}
		now = max(now, t)
	}
	return now, true
}

func (c *coarseClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	c.running, c.idle = true, 0
	c.now.Store(max(int64(time.Since(coarseBase)), 1))
	time.AfterFunc(coarseTick, c.tick)
}

func (c *coarseClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used.Swap(false) {
		c.idle = 0
	} else if c.idle++; c.idle >= coarseIdle {
		c.running = false
		c.now.Store(0)
		return
	}
	c.now.Store(max(int64(time.Since(coarseBase)), 1))
	time.AfterFunc(coarseTick, c.tick)
}
