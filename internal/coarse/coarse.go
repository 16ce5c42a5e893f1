// Package coarse is the real clock to about a millisecond, for an open
// breaker's rejections (see below).
package coarse

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The coarse clock is the real clock to about a millisecond, for
// rejections: a timer moves it on every tick while rejections read it, and
// stops after idle ticks with none. Reading it is one atomic load of a
// line that only the timer writes, instead of reading the system clock,
// which costs most of a rejection (tens of nanoseconds on many VMs). It is
// kept as the monotonic time since Base, so that a jump of the wall
// clock moves no open period.
//
// An open breaker makes its rejection once a tick and returns it as it is
// until the next tick withdraws it (see infuse.Breaker.rejecting): a rejection
// reads no clock and writes nothing. How late the clock can be is how late the
// runtime runs its timer: with every core busy, until a goroutine yields
// or is preempted (every 10 ms at most); longer only while the process is
// stopped. The last tenth of an open period, at least its last
// Margin, is measured on the system clock, so no call is rejected
// once the period is over unless the timer is later than that.
var clock coarseClock

// Base is the instant readings count from.
var Base = time.Now()

const (
	tick = time.Millisecond
	idle = 200
	// MinOpen is the shortest open period whose rejections read the
	// coarse clock: a tick, even a late one, is well within 1 % of it.
	MinOpen = 500 * time.Millisecond
	// Margin is, with a tenth of the open period if longer, how close to
	// its end a rejection reads the system clock.
	Margin = 50 * time.Millisecond
)

type coarseClock struct {
	_    [64]byte     // now and used on a line of their own
	now  atomic.Int64 // since coarseBase at the last tick; 0 while stopped
	used atomic.Bool  // read since the last tick
	_    [52]byte

	// live are the rejections that breakers return in line (see
	// infuse.Breaker.rejecting) until the next tick withdraws them.
	live atomic.Pointer[Withdrawal]

	mu      sync.Mutex
	idle    int
	running bool
}

// A Withdrawal is a value that the next tick takes back: it swaps the
// pointer at Slot from Value to nil (unless something else was stored
// there meanwhile). A breaker's kept rejection embeds one.
type Withdrawal struct {
	Slot  *unsafe.Pointer
	Value unsafe.Pointer
	next  *Withdrawal
}

// WithdrawAtTick has the next tick withdraw w, made at the reading at; it
// reports false when the clock has moved on meanwhile (or stopped), when
// the caller withdraws it itself.
func WithdrawAtTick(w *Withdrawal, at int64) bool {
	c := &clock
	for {
		head := c.live.Load()
		w.next = head
		if c.live.CompareAndSwap(head, w) {
			break
		}
	}
	// A tick stores now before it takes the list: a withdrawal it did not
	// take sees the new reading here.
	return c.now.Load() == at
}

// withdraw takes the values made before the tick back (unless a newer one
// replaced them).
func (c *coarseClock) withdraw() {
	for w := c.live.Swap(nil); w != nil; {
		next := w.next
		w.next = nil // no chain of old ones kept alive
		atomic.CompareAndSwapPointer(w.Slot, w.Value, nil)
		w = next
	}
}

// Now is the reading of the last tick; 0 while the clock is stopped.
func Now() int64 { return clock.now.Load() }

// Read returns the time since Base as of the last tick, at most about a
// tick behind the truth, or ok false while the clock is stopped (it
// starts it; the caller reads the system clock this time).
func Read() (now int64, ok bool) { return clock.read() }

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
	c.now.Store(max(int64(time.Since(Base)), 1))
	time.AfterFunc(tick, c.tick)
}

func (c *coarseClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used.Swap(false) {
		c.idle = 0
	} else if c.idle++; c.idle >= idle {
		c.running = false
		c.now.Store(0)
		c.withdraw()
		return
	}
	c.now.Store(max(int64(time.Since(Base)), 1))
	c.withdraw()
	time.AfterFunc(tick, c.tick)
}

// For the tests of the breaker's rejections, which drive the clock by
// hand: Hold starts the clock and holds it (its timer waits until release
// is called), Set sets its reading, and Tick moves it on by a tick and
// withdraws what was made before, as the timer does.
func Hold() (release func()) {
	clock.read()
	clock.mu.Lock()
	return clock.mu.Unlock
}

// Set sets the held clock's reading (see Hold).
func Set(now int64) { clock.now.Store(now) }

// Tick moves the held clock on by a tick (see Hold).
func Tick() {
	clock.now.Add(int64(tick))
	clock.withdraw()
}
