// Package infusetest helps test code that uses infuse breakers: a Clock
// that moves only when told to, so tests of open periods need no sleeps.
package infusetest

import (
	"sync"
	"time"
)

// Clock is a manual infuse.Clock. It is safe for concurrent use. The zero
// value starts at the zero time; NewClock starts at a fixed, readable date.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to 2026-01-01T00:00:00Z.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t, backwards if t is earlier.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
