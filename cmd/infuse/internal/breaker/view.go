package breaker

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

// View is a breaker as the JSON output and the dashboard show it.
type View struct {
	// Name is the breaker's name (JSON writes bytes that are not UTF-8 as
	// U+FFFD); ID is the name percent-encoded byte by byte, distinct for
	// every name, for the dashboard's action URLs; Label is the name as a
	// terminal or the page shows it (see Printable).
	Name  string `json:"name"`
	ID    string `json:"id"`
	Label string `json:"label"`
	// Reason is why the breaker rejects calls, "" while it lets them
	// through: "forced open", "open", "half-open: trial calls only", or
	// "ramping: admits 40%" (see RampShare), or "throttled: 25%" (see
	// RejectProbability).
	Reason      string  `json:"reason"`
	State       string  `json:"state"`
	Mode        string  `json:"mode"`
	Generation  uint64  `json:"generation"`
	Failures    int     `json:"failures"`
	Successes   int     `json:"successes"`
	Trials      int     `json:"trials"`
	Trips       int     `json:"trips"`
	RetryAfterS float64 `json:"retryAfterSeconds"`
	// HeldSinceS, for an open period a hold set, is how long ago the hold
	// was made: each member holds off until its own MaxHoldOpen has
	// passed since, if that comes before RetryAfter.
	HeldSinceS  *float64 `json:"heldSinceSeconds,omitempty"`
	OpenSinceS  float64  `json:"openSinceSeconds"`
	Members     int      `json:"members"`
	Calls       int64    `json:"windowCalls"`
	FailureRate float64  `json:"failureRate"` // -1: no rate
	// RejectProbability is the share of calls the members throttle (see
	// infuse.Throttle); ThrottleK their K, 0 without a throttle.
	RejectProbability float64 `json:"rejectProbability"`
	ThrottleK         float64 `json:"throttleK"`
	// RampShare is the share of calls the members admit while they ramp
	// up after a recovery (infuse.Config.RampDuration): below 1 while
	// the ramp runs, 1 otherwise.
	RampShare float64 `json:"rampShare"`
	// Shadow is true for a shadow's candidate (NAME#shadow): it rejects
	// nothing; its state is what the candidate would have done.
	Shadow bool `json:"shadow"`
}

// FromInfo is the view of a breaker listed from Redis.
func FromInfo(i redisstore.Info) View {
	var held *float64
	if i.Held {
		s := i.HeldSince.Seconds()
		held = &s
	}
	return View{
		HeldSinceS: held,
		Name:       i.Name, ID: PathID(i.Name), Label: Printable(i.Name), Reason: RejectsInfo(i),
		State: i.State.String(), Mode: i.Mode.String(), Generation: i.Generation,
		Failures: i.Failures, Successes: i.Successes, Trials: i.Trials, Trips: i.Trips,
		RetryAfterS: i.RetryAfter.Seconds(), OpenSinceS: i.OpenSince.Seconds(), Members: i.Members,
		Calls: i.WindowCalls, FailureRate: i.FailureRate,
		RejectProbability: i.RejectProbability, ThrottleK: i.Throttle.K, RampShare: i.RampShare(),
		Shadow: IsShadow(i.Name),
	}
}

// FromInfos is the views of a listing, in its order.
func FromInfos(list []redisstore.Info) []View {
	out := make([]View, 0, len(list))
	for _, i := range list {
		out = append(out, FromInfo(i))
	}
	return out
}

// FromMetrics is the view of a breaker in this process, shown under name,
// as its one member.
func FromMetrics(name string, m infuse.Metrics) View {
	return View{
		Name: name, ID: PathID(name), Label: Printable(name), Reason: rejectsOrSheds(m.State, m.Mode, m.RampShare, m.RejectProbability),
		State: m.State.String(), Mode: m.Mode.String(), Generation: m.Generation,
		Failures: m.Counts.ConsecutiveFailures, Successes: m.Counts.ConsecutiveSuccesses, Trips: m.Trips,
		RetryAfterS: m.RetryAfter.Seconds(), Members: 1, Calls: m.Calls, FailureRate: m.FailureRate,
		RejectProbability: m.RejectProbability, ThrottleK: m.Throttle.K, RampShare: m.RampShare,
	}
}

// WriteJSON writes v as indented JSON, as status -json and the
// dashboard's API answer.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Rejects says why a breaker in state s and mode m rejects calls, "" when
// it does not.
func Rejects(s infuse.State, m infuse.Mode) string {
	switch {
	case m == infuse.ModeForcedOpen:
		return "forced open"
	case s == infuse.Open:
		return "open"
	case s == infuse.HalfOpen:
		return "half-open: trial calls only"
	}
	return ""
}

// RejectsInfo is Rejects for a listed breaker, which may also throttle or
// ramp; a shadow's candidate rejects nothing, and says what it would.
func RejectsInfo(i redisstore.Info) string {
	r := rejectsOrSheds(i.State, i.Mode, i.RampShare(), i.RejectProbability)
	if r != "" && IsShadow(i.Name) {
		return "shadow, would reject: " + r
	}
	return r
}

// rejectsOrSheds is Rejects, or, for a closed breaker that sheds calls,
// "ramping: admits 40%" while it ramps up after closing (ramp, the share
// it admits, below 1), or "throttled: 25%" while its throttle rejects
// that share.
func rejectsOrSheds(s infuse.State, m infuse.Mode, ramp, p float64) string {
	if r := Rejects(s, m); r != "" {
		return r
	}
	if s == infuse.Closed && m == infuse.ModeNormal && ramp < 1 {
		return fmt.Sprintf("ramping: admits %.0f%%", ramp*100)
	}
	if p <= 0 {
		return ""
	}
	return fmt.Sprintf("throttled: %.0f%%", math.Max(p*100, 1))
}
