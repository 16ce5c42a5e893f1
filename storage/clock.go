package storage

import "time"

// Clock tells the time. Inject one in Config.Clock to drive a breaker
// through virtual time in tests; nil means the real clock (time.Now, with its
// monotonic reading).
//
// A breaker reads the clock only to stamp and check the open period, never
// on a call in the closed state.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock: time.Now.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
