package infuse

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

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
