package storage

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

// Valid reports whether s is one of the three states.
func (s State) Valid() bool { return s >= Closed && s <= HalfOpen }

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

// Mode is a forced state, set by an operator and held until released; with
// a shared store it holds fleet-wide.
type Mode int

const (
	// ModeNormal: the state machine runs.
	ModeNormal Mode = iota
	// ModeForcedOpen: every call is rejected and nothing moves the breaker
	// out of the open state but a release or a manual transition.
	ModeForcedOpen
	// ModeDisabled: every call is let through and counted, and nothing
	// trips the breaker.
	ModeDisabled
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeForcedOpen:
		return "forced-open"
	case ModeDisabled:
		return "disabled"
	}
	return "Mode(?)"
}

// Valid reports whether m is one of the three modes.
func (m Mode) Valid() bool { return m >= ModeNormal && m <= ModeDisabled }
