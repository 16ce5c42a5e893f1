package breaker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

// Status is a breaker as "infuse status -json" writes it: View's fields,
// by the same JSON names, with no value that stands for "none" (View's
// failureRate -1, retryAfterSeconds 0 for "not open"): a field that does
// not apply to the breaker is left out.
type Status struct {
	// Name, ID and Label are View's.
	Name  string `json:"name"`
	ID    string `json:"id"`
	Label string `json:"label"`
	// Class is what status sorts and -state filters by (see Class).
	Class string `json:"class"`
	// Reason is why it rejects calls (see View); absent while it lets
	// them all through.
	Reason string `json:"reason,omitempty"`
	State  string `json:"state"`
	Mode   string `json:"mode"`
	// Idle tells a breaker Redis keeps no state for (closed, listed
	// because members have it bound): it has no generation.
	Idle       bool   `json:"idle,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	Failures   int    `json:"failures"`
	Successes  int    `json:"successes"`
	Trials     int    `json:"trials"`
	Trips      int    `json:"trips"`
	// Cause is why the breaker is in its state, as the transition's maker
	// recorded it (a storage.Cause's name: "failures", "trial-failed",
	// ...), and CauseText the same in words; absent where none is
	// recorded.
	Cause     string `json:"cause,omitempty"`
	CauseText string `json:"causeText,omitempty"`
	// OpenSinceS is how long it has been open (open only);
	// RetryAfterS what is left of its open period, where one is left and
	// known (open, not forced open); HeldSinceS how long ago a hold set
	// it (see View).
	OpenSinceS  *float64 `json:"openSinceSeconds,omitempty"`
	RetryAfterS *float64 `json:"retryAfterSeconds,omitempty"`
	HeldSinceS  *float64 `json:"heldSinceSeconds,omitempty"`
	Members     int      `json:"members"`
	// Calls and FailureRate are the fleet window's calls and failure
	// rate, where its window holds calls (a closed breaker with a time
	// window and a rate).
	Calls       *int64   `json:"windowCalls,omitempty"`
	FailureRate *float64 `json:"failureRate,omitempty"`
	// RejectProbability and ThrottleK are the members' throttle's, where
	// they throttle (infuse.Throttle).
	RejectProbability *float64 `json:"rejectProbability,omitempty"`
	ThrottleK         *float64 `json:"throttleK,omitempty"`
	// RampShare is the share of calls the members admit: below 1 while
	// they ramp up after a recovery, 1 otherwise.
	RampShare float64 `json:"rampShare"`
	Shadow    bool    `json:"shadow"`
}

// StatusOf is the status of a breaker listed from Redis.
func StatusOf(i redisstore.Info) Status {
	v := FromInfo(i)
	s := Status{
		Name: v.Name, ID: v.ID, Label: v.Label, Class: Class(i), Reason: v.Reason, State: v.State, Mode: v.Mode,
		Idle: i.Idle, Generation: i.Generation, Failures: i.Failures, Successes: i.Successes, Trials: i.Trials, Trips: i.Trips,
		HeldSinceS: v.HeldSinceS, Members: i.Members, RampShare: v.RampShare, Shadow: v.Shadow,
	}
	if i.Cause != infuse.CauseUnknown {
		s.Cause = i.Cause.String()
		s.CauseText = recorded(Transition{To: i.State, Mode: i.Mode, Failures: i.Failures, Recorded: i.Cause})
	}
	if i.State == infuse.Open {
		s.OpenSinceS = &v.OpenSinceS
		if i.RetryAfter > 0 && i.Mode != infuse.ModeForcedOpen {
			s.RetryAfterS = &v.RetryAfterS
		}
	}
	if i.FailureRate >= 0 {
		s.Calls, s.FailureRate = &v.Calls, &v.FailureRate
	}
	if i.Throttle.K > 0 {
		s.RejectProbability, s.ThrottleK = &v.RejectProbability, &v.ThrottleK
	}
	return s
}

// Classes are the breakers' classes, most severe first: the order status
// lists them in.
var Classes = []string{"open", "forced-open", "half-open", "throttled", "ramping", "disabled", "closed"}

// Class is the most severe class a breaker is in (see Classes): forced
// open or disabled by its mode; else open or half-open by its state; a
// closed one throttled while its throttle rejects calls, ramping while it
// ramps up, closed otherwise.
func Class(i redisstore.Info) string {
	return ClassesOf(i)[0]
}

// ClassesOf is every class a breaker is in, most severe first: a closed
// breaker may be throttled and ramping at once.
func ClassesOf(i redisstore.Info) []string {
	switch {
	case i.Mode == infuse.ModeForcedOpen:
		return []string{"forced-open"}
	case i.Mode == infuse.ModeDisabled:
		return []string{"disabled"}
	case i.State == infuse.Open:
		return []string{"open"}
	case i.State == infuse.HalfOpen:
		return []string{"half-open"}
	}
	var cs []string
	if i.RejectProbability > 0 {
		cs = append(cs, "throttled")
	}
	if i.RampShare() < 1 {
		cs = append(cs, "ramping")
	}
	if cs == nil {
		cs = []string{"closed"}
	}
	return cs
}

// SortBySeverity sorts a listing by class (Classes' order), then by
// name.
func SortBySeverity(list []redisstore.Info) {
	rank := func(i redisstore.Info) int { return slices.Index(Classes, Class(i)) }
	slices.SortStableFunc(list, func(a, b redisstore.Info) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Filter is what status -state keeps: breakers in any of its classes, or
// of its modes ("normal", "forced-open", "disabled"). The zero Filter
// keeps every breaker.
type Filter struct{ classes, modes map[string]bool }

// ParseFilter parses a comma-separated list of classes and modes; an
// unknown one is an error that lists the known.
func ParseFilter(s string) (Filter, error) {
	f := Filter{classes: map[string]bool{}, modes: map[string]bool{}}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "normal":
			f.modes[w] = true
		case slices.Contains(Classes, w):
			f.classes[w] = true
		default:
			return Filter{}, fmt.Errorf("unknown state %q: want any of %s, normal (comma-separated)", w, strings.Join(Classes, ", "))
		}
	}
	return f, nil
}

// Keeps tells whether the filter keeps breaker i.
func (f Filter) Keeps(i redisstore.Info) bool {
	if f.classes == nil {
		return true
	}
	if f.modes[i.Mode.String()] {
		return true
	}
	for _, c := range ClassesOf(i) {
		if f.classes[c] {
			return true
		}
	}
	return false
}
