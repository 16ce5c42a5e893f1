package coarse

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// The coarse clock's timer stops after idle ticks without a read,
// and not before.
func TestAnIdleCoarseClockStopsOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coarseClock
		if _, ok := c.read(); ok {
			t.Fatal("a stopped clock read as running")
		}
		if _, ok := c.read(); !ok {
			t.Fatal("the clock did not start")
		}
		// Ticks come every tick; the first finds the read, each
		// later one adds to idle, and the one that reaches idle
		// stops the clock.
		time.Sleep(idle*tick + tick/2)
		if c.now.Load() == 0 {
			t.Fatal("stopped a tick early")
		}
		time.Sleep(tick)
		if c.now.Load() != 0 {
			t.Fatalf("still running %d ticks after its last read", idle+1)
		}
	})
}

// A clock that is read keeps running, however long: the idle ticks count
// only ticks without a read.
func TestACoarseClockThatIsReadKeepsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coarseClock
		c.read() // starts it
		for i := range 3 * idle {
			time.Sleep(tick)
			if _, ok := c.read(); !ok {
				t.Fatalf("stopped at tick %d, read at every tick", i+1)
			}
		}
		// Then left alone, it stops after idle ticks.
		time.Sleep((idle + 2) * tick)
		if c.now.Load() != 0 {
			t.Fatal("still running, unread")
		}
	})
}

// A value handed to WithdrawAtTick is taken back from its slot by the
// next tick, unless the slot holds another by then; a withdrawal made at
// a reading the clock has moved on from is the caller's to make.
func TestTheNextTickWithdrawsAValue(t *testing.T) {
	release := Hold()
	defer release()
	Set(1000)
	a, b := unsafe.Pointer(new(int)), unsafe.Pointer(new(int))
	slotA, slotB := a, b
	wa := &Withdrawal{Slot: &slotA, Value: a}
	wb := &Withdrawal{Slot: &slotB, Value: b}
	if !WithdrawAtTick(wa, 1000) || !WithdrawAtTick(wb, Now()) {
		t.Fatal("a withdrawal at the clock's reading was refused")
	}
	if atomic.LoadPointer(&slotA) != a {
		t.Fatal("withdrawn before the tick")
	}
	c := unsafe.Pointer(new(int))
	atomic.StorePointer(&slotB, c) // a newer value replaced b
	Tick()
	if atomic.LoadPointer(&slotA) != nil {
		t.Fatal("the tick did not withdraw the value")
	}
	if atomic.LoadPointer(&slotB) != c {
		t.Fatal("the tick withdrew a value that replaced the one handed to it")
	}
	if Now() != 1000+int64(tick) {
		t.Fatalf("a tick moved the reading from 1000 to %d", Now())
	}
	late := &Withdrawal{Slot: &slotB, Value: c}
	if WithdrawAtTick(late, 1000) {
		t.Fatal("a withdrawal made at a reading the clock moved on from was taken")
	}
}
