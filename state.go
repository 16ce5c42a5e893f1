package infuse

// Counts is a plain snapshot of a breaker's counters.
type Counts struct {
	// ConsecutiveFailures is the run of failures in the closed state; while
	// open it holds the run that tripped the breaker (FailMax, or 1 after a
	// failed trial). It never exceeds FailMax.
	ConsecutiveFailures int
	// ConsecutiveSuccesses is the number of successful trials in the
	// half-open state, counted toward SuccessThreshold; 0 in other states.
	ConsecutiveSuccesses int
}
