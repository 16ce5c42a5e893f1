package breaker

import (
	"fmt"
	"sync"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

// Transition is a breaker's change of state or mode as the command learns
// of it: read from Redis (watch and the dashboard, through Transitions),
// or from a breaker's listener in this process (the demo). It holds what
// either can know of it; Cause puts it into words.
type Transition struct {
	Name string
	// To and Mode are the state and the mode it moved to.
	To   infuse.State
	Mode infuse.Mode
	// From and FromMode are the state and the mode it left; Seen is false
	// where they are not known (the first change watch sees of a breaker).
	From     infuse.State
	FromMode infuse.Mode
	Seen     bool
	// Failures is the run of failures that opened the breaker, where a
	// store keeps it: Redis does, and keeps 0 for an opening on a rate or
	// by an operator. RunKept is false where nothing keeps it (a
	// listener's event carries no run).
	Failures int
	RunKept  bool
	// Recorded is the cause its store recorded (storage.CauseUnknown
	// where none did: a state an older version wrote).
	Recorded infuse.Cause
}

// Cause says why t happened, in words, for watch, the dashboard's
// timeline and the demo: the cause its store recorded, and only where
// none is recorded (a state an older version wrote) a guess from what t
// holds, naming every cause those facts leave open ("a trial call
// failed, or trials expired").
func Cause(t Transition) string {
	if words := recorded(t); words != "" {
		return words
	}
	switch {
	case t.Mode == infuse.ModeForcedOpen:
		return "forced open by an operator"
	case t.Mode == infuse.ModeDisabled:
		return "disabled by an operator"
	case t.Seen && t.FromMode != infuse.ModeNormal:
		return "released by an operator"
	case t.To == infuse.Open && t.Failures > 0:
		return inARow(t.Failures)
	case t.To == infuse.Open && t.Seen && t.From == infuse.HalfOpen:
		return "a trial call failed, or trials expired"
	case t.To == infuse.Open && t.RunKept:
		return "failure or slow-call rate over its threshold, or opened by an operator"
	case t.To == infuse.Open:
		return "failures in a row, or a failure or slow-call rate over its threshold, or opened by an operator"
	case t.To == infuse.HalfOpen && t.Seen && t.From == infuse.Open:
		return "open period over: trial calls"
	case t.To == infuse.HalfOpen:
		return "trial calls (open period over, or an operator)"
	case t.To == infuse.Closed && t.Seen && t.From == infuse.HalfOpen:
		return "trial calls succeeded, or closed by an operator"
	case t.To == infuse.Closed && t.Seen && t.From == infuse.Open:
		return "closed by an operator"
	}
	return "closed"
}

// Transitions tells the transitions among the changes redisstore's Watch
// reports (which include a closed breaker's growing count of failures).
// The zero value is ready to use.
type Transitions struct {
	mu   sync.Mutex
	last map[string]redisstore.Change
}

// Next takes change c and returns it as a transition from the last change
// seen of its breaker, or ok false when c is no transition (the same
// generation as that one).
func (t *Transitions) Next(c redisstore.Change) (tr Transition, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]redisstore.Change{}
	}
	prev, seen := t.last[c.Name]
	if seen && prev.Generation == c.Generation {
		return Transition{}, false
	}
	t.last[c.Name] = c
	if !seen && c.State == infuse.Closed && c.Mode == infuse.ModeNormal && c.Failures > 0 {
		return Transition{}, false // failures counted in a closed generation that began before watching
	}
	return Transition{Name: c.Name, To: c.State, Mode: c.Mode, From: prev.State, FromMode: prev.Mode, Seen: seen,
		Failures: c.Failures, RunKept: true, Recorded: c.Cause}, true
}

// recorded puts the cause t's store recorded into words; "" for none.
func recorded(t Transition) string {
	switch t.Recorded {
	case infuse.CauseFailures:
		return inARow(t.Failures)
	case infuse.CauseFailureRate:
		return "failure rate over its threshold"
	case infuse.CauseSlowCallRate:
		return "slow-call rate over its threshold"
	case infuse.CauseRampFailures:
		return "calls failed while ramping up after a recovery"
	case infuse.CauseOpenPeriodOver:
		return "open period over: trial calls"
	case infuse.CauseTrialFailed:
		return "a trial call failed"
	case infuse.CauseTrialsSucceeded:
		return "trial calls succeeded"
	case infuse.CauseTrialExpired:
		return "a trial call did not report back in time (trial expiry)"
	case infuse.CauseHold:
		return "held open by the program (HoldOpen)"
	case infuse.CauseRetryAfter:
		return "held open: the server answered Retry-After"
	case infuse.CausePushback:
		return "held open: the server pushed back (gRPC)"
	case infuse.CauseOperator:
		switch {
		case t.Mode == infuse.ModeForcedOpen:
			return "forced open by an operator"
		case t.Mode == infuse.ModeDisabled:
			return "disabled by an operator"
		case t.Seen && t.FromMode != infuse.ModeNormal:
			return "released by an operator"
		}
		return map[infuse.State]string{infuse.Open: "opened by an operator", infuse.HalfOpen: "moved to half-open by an operator",
			infuse.Closed: "closed by an operator"}[t.To]
	}
	return ""
}

// inARow is a run of n failures in words.
func inARow(n int) string {
	switch {
	case n == 1:
		return "1 failure"
	case n > 1:
		return fmt.Sprintf("%d failures in a row", n)
	}
	return "failures in a row"
}
