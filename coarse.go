package infuse

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// coarse is the real clock to about a millisecond, for rejections: a
// timer moves it on every coarseTick while rejections read it, and stops
// after coarseIdle ticks with none. Reading it is one atomic load of a
// line that only the timer writes, instead of reading the system clock,
// which costs most of a rejection (tens of nanoseconds on many VMs). It is
// kept as the monotonic time since coarseBase, so that a jump of the wall
// clock moves no open period.
//
// An open breaker makes its rejection once a tick and returns it as it is
// until the next tick withdraws it (see Breaker.rejecting): a rejection
// reads no clock and writes nothing. How late the clock can be is how late the
// runtime runs its timer: with every core busy, until a goroutine yields
// or is preempted (every 10 ms at most); longer only while the process is
// stopped. The last tenth of an open period, at least its last
// coarseMargin, is measured on the system clock, so no call is rejected
// once the period is over unless the timer is later than that.
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
)

type coarseClock struct {
	_    [64]byte     // now and used on a line of their own
	now  atomic.Int64 // since coarseBase at the last tick; 0 while stopped
	used atomic.Bool  // read since the last tick
	_    [52]byte

	// live are the rejections that breakers return in line (see
	// Breaker.rejecting) until the next tick withdraws them.
	live atomic.Pointer[rejection]

	mu      sync.Mutex
	idle    int
	running bool
}

// withdrawAtTick has the next tick withdraw r, a rejection made at the
// reading r.at; it reports false when the clock has moved on meanwhile (or
// stopped), when the caller withdraws it itself.
func (c *coarseClock) withdrawAtTick(r *rejection) bool {
	for {
		head := c.live.Load()
		r.next = head
		if c.live.CompareAndSwap(head, r) {
			break
		}
	}
	// A tick stores now before it takes the list: a rejection it did not
	// take sees the new reading here.
	return c.now.Load() == r.at
}

// withdraw takes the rejections made before the tick back from their
// breakers (unless a newer one replaced them).
func (c *coarseClock) withdraw() {
	for r := c.live.Swap(nil); r != nil; {
		next := r.next
		r.next = nil // no chain of old rejections kept alive
		atomic.CompareAndSwapPointer(&r.b.rejecting, unsafe.Pointer(r), nil)
		r = next
	}
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
		c.withdraw()
		return
	}
	c.now.Store(max(int64(time.Since(coarseBase)), 1))
	c.withdraw()
	time.AfterFunc(coarseTick, c.tick)
}
