package infuse

import "strconv"

// State is where a breaker is in its cycle. The zero value is Closed.
type State int

const (
	// Closed lets calls through and counts consecutive failures.
	Closed State = iota
	// Open rejects calls with ErrOpen until ResetTimeout has passed.
	Open
	// HalfOpen lets at most HalfOpenMaxCalls trial calls through at once;
	// SuccessThreshold successful trials close the breaker, one failure
	// opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open", the names pybreaker stores.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// valid reports whether s is one of the three states.
func (s State) valid() bool { return s >= Closed && s <= HalfOpen }

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	switch s {
	case "closed":
		return Closed, nil
	case "open":
		return Open, nil
	case "half-open":
		return HalfOpen, nil
	}
	return 0, &unknownStateError{s}
}

type unknownStateError struct{ s string }

func (e *unknownStateError) Error() string {
	return "infuse: unknown state " + strconv.Quote(e.s) + ", valid states: closed, open, half-open"
}

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
