package infuse

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrOpen is the error of a call that was rejected without running: the
// breaker is open, or it is half-open and every trial permit is taken. The
// error returned is an *OpenError, which matches ErrOpen with errors.Is.
var ErrOpen = errors.New("infuse: circuit breaker is open")

// ErrTripped is the error of a call that ran, failed, and whose failure
// opened the breaker: the failure that reached FailMax, or a failed trial.
// The error returned also wraps the call's own error, so errors.Is holds for
// both ErrTripped and the cause.
var ErrTripped = errors.New("infuse: circuit breaker tripped")

// errNilArgument is returned, instead of a panic, for a nil context or
// function.
var errNilArgument = errors.New("infuse: nil context or function")

// OpenError is what a rejected call returns. It matches ErrOpen.
type OpenError struct {
	// Name is the breaker's Config.Name.
	Name string
	// State is Open, HalfOpen when no trial permit was free, or Closed when
	// throttling rejected the call (Reason ReasonThrottled).
	State State
	// RetryAfter is how long until the breaker admits a trial call: the
	// rest of the open period, or 0 when half-open or forced open. It is
	// never shorter than the truth, and longer by up to a millisecond;
	// with the real clock and an open period of 500 ms or more, by the
	// tick of a millisecond timer, which such rejections read instead of
	// the system clock (the rejection is made once a tick and returned
	// until the next): a millisecond or two, more only while the runtime
	// runs the timer late (the process starved of CPU or stopped). The
	// last tenth of the period, at least its last 50 ms, is always
	// measured on the system clock, so no call is rejected once the
	// period is over unless the timer ran later than that.
	RetryAfter time.Duration
	// Reason tells why the call was rejected.
	Reason Reason
}

// Reason tells why a breaker rejected a call.
type Reason int

const (
	// ReasonOpen: the breaker is open, until RetryAfter has passed.
	ReasonOpen Reason = iota + 1
	// ReasonNoPermit: the breaker is half-open and every trial permit
	// is taken.
	ReasonNoPermit
	// ReasonForcedOpen: an operator forced the breaker open; it stays
	// open until released.
	ReasonForcedOpen
	// ReasonThrottled: the breaker is closed and throttling (Config.Throttle)
	// rejected the call: the backend accepts too few of the calls sent.
	ReasonThrottled
	// ReasonRamping: the breaker has just closed and admits only a rising
	// share of calls (Config.RampDuration).
	ReasonRamping
)

var reasonNames = [...]string{ReasonOpen: "open", ReasonNoPermit: "no-permit", ReasonForcedOpen: "forced-open", ReasonThrottled: "throttled", ReasonRamping: "ramping"}

func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

func (e *OpenError) Error() string {
	reason := e.Reason
	if reason == 0 { // an OpenError made without one: as its State says
		reason = ReasonOpen
		if e.State == HalfOpen {
			reason = ReasonNoPermit
		}
	}
	switch reason {
	case ReasonNoPermit:
		return "infuse: circuit breaker " + strconv.Quote(e.Name) + " is half-open and no trial permit is free"
	case ReasonForcedOpen:
		return "infuse: circuit breaker " + strconv.Quote(e.Name) + " is forced open"
	case ReasonRamping:
		return "infuse: circuit breaker " + strconv.Quote(e.Name) + " is ramping up after closing and did not admit the call"
	case ReasonThrottled:
		return "infuse: circuit breaker " + strconv.Quote(e.Name) + " throttled the call: its backend accepts too few of the calls sent"
	}
	return "infuse: circuit breaker " + strconv.Quote(e.Name) + " is open; retry after " + roundUp(e.RetryAfter).String()
}

// roundUp rounds a wait up, to what a person reads: to the millisecond
// under a second, to a tenth of a second under a minute, else to the
// second (9.999944618s reads 10s). Up, so that a caller who waits what it
// says is not turned away again; RetryAfter keeps the exact figure.
func roundUp(d time.Duration) time.Duration {
	unit := time.Second
	switch {
	case d <= 0:
		return 0
	case d < time.Second:
		unit = time.Millisecond
	case d < time.Minute:
		unit = 100 * time.Millisecond
	}
	return (d + unit - 1) / unit * unit
}

// Is makes errors.Is(err, ErrOpen) hold.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// trippedError is the error of the call whose failure opened the breaker.
type trippedError struct {
	name  string
	cause error
}

func (e *trippedError) Error() string {
	return "infuse: circuit breaker " + strconv.Quote(e.name) + " tripped: " + e.cause.Error()
}

func (e *trippedError) Is(target error) bool { return target == ErrTripped }
func (e *trippedError) Unwrap() error        { return e.cause }

// PanicError is the failure that listeners see (Event.Err) when the
// protected function panicked. The panic itself goes on to the caller.
type PanicError struct {
	// Value is what the function passed to panic.
	Value any
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("infuse: protected function panicked: %v", e.Value)
}
