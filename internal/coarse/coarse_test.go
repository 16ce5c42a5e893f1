package coarse

import (
	"testing"
	"testing/synctest"
	"time"
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
