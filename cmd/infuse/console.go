package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

func runStatus(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("status", "[flags]",
		"Shows every breaker stored under a namespace: state, forced mode, counts, time left open,\nand how many live members (stores) have it bound; closed breakers Redis keeps no state for\nare listed from their members' registrations.",
		"  infuse status\n  infuse status -redis redis://:secret@redis.internal:6379/0 -namespace checkout\n  infuse status -json | jq '.[] | select(.state == \"open\")'")
	rf := cli.AddRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage("status takes no arguments")
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := store.Breakers(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(out, toViews(list))
	}
	if len(list) == 0 {
		fmt.Fprintf(out, "no breakers under namespace %s\n", printable(store.Namespace()))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tREJECTS\tMODE\tFAILURES IN A ROW\tFAILURE RATE\tTRIALS\tOPENED IN A ROW\tRETRY AFTER\tMEMBERS\tGENERATION")
	for _, i := range list {
		retry := "-"
		if i.State == infuse.Open && i.Mode != infuse.ModeForcedOpen {
			retry = i.RetryAfter.Round(time.Millisecond).String()
			if i.Held {
				retry += fmt.Sprintf(" (held %s ago; a member stops at its MaxHoldOpen)", i.HeldSince.Round(time.Second))
			}
		}
		reason := rejectsInfo(i)
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%v\t%d\t%s\t%d\t%d\t%s\t%d\t%d\n", printable(i.Name), i.State, reason, i.Mode, i.Failures,
			windowRate(i), i.Trials, i.Trips, retry, i.Members, i.Generation)
	}
	return tw.Flush()
}

// windowRate is the fleet window's failure rate and size, or "-".
func windowRate(i redisstore.Info) string {
	if i.FailureRate < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%% of %d", i.FailureRate*100, i.WindowCalls)
}

// view is a breaker as the JSON output and the dashboard show it.
type view struct {
	// Name is the breaker's name (JSON writes bytes that are not UTF-8 as
	// U+FFFD); ID is the name percent-encoded byte by byte, distinct for
	// every name, for the dashboard's action URLs; Label is the name as a
	// terminal or the page shows it (see printable).
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

// pathID is name percent-encoded byte by byte: a path segment that
// decodes to the very bytes of name.
func pathID(name string) string { return url.PathEscape(name) }

// rejects says why a breaker in state s and mode m rejects calls.
func rejects(s infuse.State, m infuse.Mode) string {
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

// rejectsInfo is rejects for a listed breaker, which may also throttle or
// ramp; a shadow's candidate rejects nothing, and says what it would.
func rejectsInfo(i redisstore.Info) string {
	r := rejectsOrSheds(i.State, i.Mode, i.RampShare(), i.RejectProbability)
	if r != "" && isShadow(i.Name) {
		return "shadow, would reject: " + r
	}
	return r
}

// isShadow tells the name of a shadow's candidate breaker.
func isShadow(name string) bool { return strings.HasSuffix(name, infuse.ShadowSuffix) }

// rejectsOrSheds is rejects, or, for a closed breaker that sheds calls,
// "ramping: admits 40%" while it ramps up after closing (ramp, the share
// it admits, below 1), or "throttled: 25%" while its throttle rejects
// that share.
func rejectsOrSheds(s infuse.State, m infuse.Mode, ramp, p float64) string {
	if r := rejects(s, m); r != "" {
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

// demoReason is rejectsOrSheds for an in-process breaker.
func demoReason(m infuse.Metrics) string {
	return rejectsOrSheds(m.State, m.Mode, m.RampShare, m.RejectProbability)
}

func toView(i redisstore.Info) view {
	var held *float64
	if i.Held {
		s := i.HeldSince.Seconds()
		held = &s
	}
	return view{
		HeldSinceS: held,
		Name:       i.Name, ID: pathID(i.Name), Label: printable(i.Name), Reason: rejectsInfo(i),
		State: i.State.String(), Mode: i.Mode.String(), Generation: i.Generation,
		Failures: i.Failures, Successes: i.Successes, Trials: i.Trials, Trips: i.Trips,
		RetryAfterS: i.RetryAfter.Seconds(), OpenSinceS: i.OpenSince.Seconds(), Members: i.Members,
		Calls: i.WindowCalls, FailureRate: i.FailureRate,
		RejectProbability: i.RejectProbability, ThrottleK: i.Throttle.K, RampShare: i.RampShare(),
		Shadow: isShadow(i.Name),
	}
}

func toViews(list []redisstore.Info) []view {
	out := make([]view, 0, len(list))
	for _, i := range list {
		out = append(out, toView(i))
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// actions are the operator's verbs and what each does to a breaker.
var actions = map[string]func(*infuse.Breaker, context.Context) error{
	"open":       (*infuse.Breaker).Open,
	"half-open":  (*infuse.Breaker).HalfOpen,
	"close":      (*infuse.Breaker).Close,
	"force-open": (*infuse.Breaker).ForceOpen,
	"disable":    (*infuse.Breaker).Disable,
	"release":    (*infuse.Breaker).Release,
}

// act applies an action to the named breaker through store and returns
// what Redis holds afterwards.
func act(ctx context.Context, store *redisstore.Store, name, verb string) (redisstore.Info, error) {
	do, ok := actions[verb]
	if !ok {
		return redisstore.Info{}, cli.Usage(fmt.Sprintf("unknown action %q", verb))
	}
	if isShadow(name) {
		return redisstore.Info{}, fmt.Errorf("%s is a shadow's candidate, which takes no action: infuse shadow start restarts it, stop stops it", printable(name))
	}
	if _, err := store.Breaker(ctx, name); err != nil {
		return redisstore.Info{}, err
	}
	b, err := infuse.New(infuse.Config{Name: name, Storage: store})
	if err != nil {
		return redisstore.Info{}, err
	}
	defer b.Detach()
	if err := do(b, ctx); err != nil {
		return redisstore.Info{}, err
	}
	return store.Breaker(ctx, name)
}

func action(verb string) func(context.Context, []string, io.Writer) error {
	return func(ctx context.Context, args []string, out io.Writer) error {
		fs := cli.FlagSet(verb, "[flags] NAME",
			fmt.Sprintf("%s the breaker NAME for every member of the fleet, and prints its resulting state.", strings.ToUpper(verb[:1])+verb[1:]),
			fmt.Sprintf("  infuse %s payments\n  infuse %s -redis rediss://ops:secret@redis.internal:6380/0 -namespace checkout payments", verb, verb))
		rf := cli.AddRedisFlags(fs)
		rest, err := cli.Parse(fs, args)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return cli.Usage(fmt.Sprintf("give exactly one breaker NAME (got %d arguments)", len(rest)))
		}
		name := rest[0]
		store, closeStore, err := rf.Connect(ctx)
		if err != nil {
			return err
		}
		defer closeStore()
		info, err := act(ctx, store, name, verb)
		if errors.Is(err, redisstore.ErrUnknownBreaker) {
			return fmt.Errorf("no breaker named %s under namespace %s (see infuse status)", printable(name), printable(store.Namespace()))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %v (mode %v, generation %d)\n", printable(info.Name), info.State, info.Mode, info.Generation)
		return nil
	}
}

func runWatch(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("watch", "[flags]", "Prints every transition made across the fleet, as it happens, until interrupted.",
		"  infuse watch\n  infuse watch -namespace checkout -duration 10m")
	rf := cli.AddRedisFlags(fs)
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if _, err := cli.Parse(fs, args); err != nil {
		return err
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := cli.WithDuration(ctx, *duration)
	defer cancel()
	var seen transitions
	return store.Watch(ctx, func() {
		fmt.Fprintf(out, "watching namespace %s: transitions and mode changes\n", printable(store.Namespace()))
	}, func(c redisstore.Change) {
		cause, ok := seen.next(c)
		if !ok {
			return
		}
		fmt.Fprintf(out, "%s  %-24s %-9v mode=%-11v generation=%-6d %s\n",
			c.At.Format("15:04:05.000"), printable(c.Name), c.State, c.Mode, c.Generation, cause)
	})
}

// transitions tells the transitions among the changes Watch reports
// (which include a closed breaker's growing count of failures), and their
// causes. The zero value is ready to use.
type transitions struct {
	mu   sync.Mutex
	last map[string]redisstore.Change
}

// next takes change c and returns its cause, or ok false when c is no
// transition (the same generation as the last one seen of that breaker).
func (t *transitions) next(c redisstore.Change) (cause string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]redisstore.Change{}
	}
	prev, seen := t.last[c.Name]
	if seen && prev.Generation == c.Generation {
		return "", false
	}
	t.last[c.Name] = c
	if !seen && c.State == infuse.Closed && c.Mode == infuse.ModeNormal && c.Failures > 0 {
		return "", false // failures counted in a closed generation that began before watching
	}
	return causeOf(prev, seen, c), true
}

// causeOf describes why a breaker went from prev (if seen) to c, from
// what Redis keeps: its state, mode and the run of failures that tripped
// it.
func causeOf(prev redisstore.Change, seen bool, c redisstore.Change) string {
	switch {
	case c.Mode == infuse.ModeForcedOpen:
		return "forced open by an operator"
	case c.Mode == infuse.ModeDisabled:
		return "disabled by an operator"
	case seen && prev.Mode != infuse.ModeNormal:
		return "released by an operator"
	case c.State == infuse.Open && c.Failures > 0:
		return fmt.Sprintf("%d failures in a row", c.Failures)
	case c.State == infuse.Open && seen && prev.State == infuse.HalfOpen:
		return "a trial call failed, or trials expired"
	case c.State == infuse.Open:
		return "failure or slow-call rate over its threshold, or opened by an operator"
	case c.State == infuse.HalfOpen && seen && prev.State == infuse.Open:
		return "open period over: trial calls"
	case c.State == infuse.HalfOpen:
		return "trial calls (open period over, or an operator)"
	case c.State == infuse.Closed && seen && prev.State == infuse.HalfOpen:
		return "trial calls succeeded, or closed by an operator"
	case c.State == infuse.Closed && seen && prev.State == infuse.Open:
		return "closed by an operator"
	}
	return "closed"
}
