package breaker

import (
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

// One set of words for a transition, whoever learned of it: what Redis
// keeps (watch, the dashboard) and what a listener's event carries (the
// demo) give the same cause when they hold the same facts, and each names
// every cause its facts leave open.
func TestCauseOfEachTransition(t *testing.T) {
	const (
		closed, open, half = infuse.Closed, infuse.Open, infuse.HalfOpen
		normal, forced     = infuse.ModeNormal, infuse.ModeForcedOpen
	)
	// redis is a transition as Transitions makes it from Redis's changes;
	// event, as the demo makes it from a listener's event.
	redis := func(from infuse.State, fromMode infuse.Mode, seen bool, to infuse.State, mode infuse.Mode, failures int) Transition {
		return Transition{Name: "payments", From: from, FromMode: fromMode, Seen: seen, To: to, Mode: mode, Failures: failures, RunKept: true}
	}
	event := func(from, to infuse.State) Transition {
		return Transition{Name: "payments", From: from, Seen: true, To: to}
	}
	for _, c := range []struct {
		name string
		t    Transition
		want string
	}{
		{"forced open", redis(closed, normal, true, open, forced, 0), "forced open by an operator"},
		{"disabled", redis(open, normal, true, closed, infuse.ModeDisabled, 0), "disabled by an operator"},
		{"released", redis(open, forced, true, closed, normal, 0), "released by an operator"},
		{"a run of failures", redis(closed, normal, true, open, normal, 5), "5 failures in a row"},
		{"a run of failures, first seen", redis(closed, normal, false, open, normal, 3), "3 failures in a row"},
		{"a trial failed", redis(half, normal, true, open, normal, 0), "a trial call failed, or trials expired"},
		{"a trial failed (event)", event(half, open), "a trial call failed, or trials expired"},
		{"a rate or an operator", redis(closed, normal, true, open, normal, 0), "failure or slow-call rate over its threshold, or opened by an operator"},
		{"an opening, no run kept (event)", event(closed, open), "failures in a row, or a failure or slow-call rate over its threshold, or opened by an operator"},
		{"open period over", redis(open, normal, true, half, normal, 0), "open period over: trial calls"},
		{"open period over (event)", event(open, half), "open period over: trial calls"},
		{"half-open, first seen", redis(closed, normal, false, half, normal, 0), "trial calls (open period over, or an operator)"},
		{"half-open from closed (event)", event(closed, half), "trial calls (open period over, or an operator)"},
		{"trials succeeded", redis(half, normal, true, closed, normal, 0), "trial calls succeeded, or closed by an operator"},
		{"trials succeeded (event)", event(half, closed), "trial calls succeeded, or closed by an operator"},
		{"closed while open", redis(open, normal, true, closed, normal, 0), "closed by an operator"},
		{"closed while open (event)", event(open, closed), "closed by an operator"},
		{"closed, first seen", redis(closed, normal, false, closed, normal, 0), "closed"},
	} {
		if got := Cause(c.t); got != c.want {
			t.Errorf("%s: Cause(%+v) = %q, want %q", c.name, c.t, got, c.want)
		}
	}
}

// Transitions passes a change of generation only, from the last change
// seen of the same breaker; a closed breaker's run of failures counted
// before watching began is no transition.
func TestTransitionsPassesChangesOfGeneration(t *testing.T) {
	var ts Transitions
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		change redisstore.Change
		ok     bool
		want   Transition
	}{
		{redisstore.Change{Name: "a", State: infuse.Closed, Generation: 3, Failures: 2, At: at}, false, Transition{}},
		{redisstore.Change{Name: "a", State: infuse.Closed, Generation: 3, Failures: 4, At: at}, false, Transition{}},
		{redisstore.Change{Name: "a", State: infuse.Open, Generation: 4, Failures: 5, At: at}, true,
			Transition{Name: "a", To: infuse.Open, From: infuse.Closed, Seen: true, Failures: 5, RunKept: true}},
		{redisstore.Change{Name: "b", State: infuse.HalfOpen, Generation: 9, At: at}, true,
			Transition{Name: "b", To: infuse.HalfOpen, RunKept: true}},
		{redisstore.Change{Name: "a", State: infuse.Closed, Mode: infuse.ModeDisabled, Generation: 5, At: at}, true,
			Transition{Name: "a", To: infuse.Closed, Mode: infuse.ModeDisabled, From: infuse.Open, Seen: true, RunKept: true}},
		{redisstore.Change{Name: "a", State: infuse.Closed, Mode: infuse.ModeDisabled, Generation: 5, At: at}, false, Transition{}},
	} {
		got, ok := ts.Next(c.change)
		if ok != c.ok || got != c.want {
			t.Errorf("change %d %+v: %+v %v, want %+v %v", i, c.change, got, ok, c.want, c.ok)
		}
	}
}

// A cause the store recorded is said as recorded, not guessed: a failed
// trial reads "a trial call failed" (the guess once read "1 failures in a
// row"), a hold says where it came from, an operator's action what it did.
func TestARecordedCauseIsSaidAsRecorded(t *testing.T) {
	for _, c := range []struct {
		t    Transition
		want string
	}{
		{Transition{To: infuse.Open, Failures: 1, RunKept: true, Recorded: infuse.CauseTrialFailed}, "a trial call failed"},
		{Transition{To: infuse.Open, Failures: 5, RunKept: true, Recorded: infuse.CauseFailures}, "5 failures in a row"},
		{Transition{To: infuse.Open, Failures: 1, RunKept: true, Recorded: infuse.CauseFailures}, "1 failure"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseFailureRate}, "failure rate over its threshold"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseSlowCallRate}, "slow-call rate over its threshold"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseRampFailures}, "calls failed while ramping up after a recovery"},
		{Transition{To: infuse.HalfOpen, Recorded: infuse.CauseOpenPeriodOver}, "open period over: trial calls"},
		{Transition{To: infuse.Closed, Recorded: infuse.CauseTrialsSucceeded}, "trial calls succeeded"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseTrialExpired}, "a trial call did not report back in time (trial expiry)"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseHold}, "held open by the program (HoldOpen)"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseRetryAfter}, "held open: the server answered Retry-After"},
		{Transition{To: infuse.Open, Recorded: infuse.CausePushback}, "held open: the server pushed back (gRPC)"},
		{Transition{To: infuse.Open, Recorded: infuse.CauseOperator}, "opened by an operator"},
		{Transition{To: infuse.Closed, Recorded: infuse.CauseOperator}, "closed by an operator"},
		{Transition{To: infuse.HalfOpen, Recorded: infuse.CauseOperator}, "moved to half-open by an operator"},
		{Transition{To: infuse.Open, Mode: infuse.ModeForcedOpen, Recorded: infuse.CauseOperator}, "forced open by an operator"},
		{Transition{To: infuse.Closed, Mode: infuse.ModeDisabled, Recorded: infuse.CauseOperator}, "disabled by an operator"},
		{Transition{To: infuse.Closed, Seen: true, FromMode: infuse.ModeDisabled, Recorded: infuse.CauseOperator}, "released by an operator"},
		// Nothing recorded (an older version's state): the guess.
		{Transition{To: infuse.Open, Failures: 1, RunKept: true}, "1 failure"},
	} {
		if got := Cause(c.t); got != c.want {
			t.Errorf("%v (%+v): %q, want %q", c.t.Recorded, c.t, got, c.want)
		}
	}
}
