package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

func runStatus(ctx context.Context, args []string, out io.Writer) error {
	fs := flags("status", "[flags]",
		"Shows every breaker stored under a namespace: state, forced mode, counts, time left open,\nand how many live members (stores) have it bound; closed breakers Redis keeps no state for\nare listed from their members' registrations.",
		"  infuse status\n  infuse status -redis redis://:secret@redis.internal:6379/0 -namespace checkout\n  infuse status -json | jq '.[] | select(.state == \"open\")'")
	rf := addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return &usageError{"status takes no arguments"}
	}
	store, closeStore, err := rf.connect(ctx)
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
		fmt.Fprintf(out, "no breakers under namespace %q\n", store.Namespace())
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tMODE\tFAILURES\tFAILURE RATE\tTRIALS\tTRIPS\tRETRY AFTER\tMEMBERS\tGENERATION")
	for _, i := range list {
		retry := "-"
		if i.State == infuse.Open && i.Mode != infuse.ModeForcedOpen {
			retry = i.RetryAfter.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%v\t%v\t%d\t%s\t%d\t%d\t%s\t%d\t%d\n", i.Name, i.State, i.Mode, i.Failures,
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
	Name        string  `json:"name"`
	State       string  `json:"state"`
	Mode        string  `json:"mode"`
	Generation  uint64  `json:"generation"`
	Failures    int     `json:"failures"`
	Successes   int     `json:"successes"`
	Trials      int     `json:"trials"`
	Trips       int     `json:"trips"`
	RetryAfterS float64 `json:"retryAfterSeconds"`
	OpenSinceS  float64 `json:"openSinceSeconds"`
	Members     int     `json:"members"`
	Calls       int64   `json:"windowCalls"`
	FailureRate float64 `json:"failureRate"` // -1: no rate
}

func toView(i redisstore.Info) view {
	return view{
		Name: i.Name, State: i.State.String(), Mode: i.Mode.String(), Generation: i.Generation,
		Failures: i.Failures, Successes: i.Successes, Trials: i.Trials, Trips: i.Trips,
		RetryAfterS: i.RetryAfter.Seconds(), OpenSinceS: i.OpenSince.Seconds(), Members: i.Members,
		Calls: i.WindowCalls, FailureRate: i.FailureRate,
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
		return redisstore.Info{}, &usageError{fmt.Sprintf("unknown action %q", verb)}
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
		fs := flags(verb, "[flags] NAME",
			fmt.Sprintf("%s the breaker NAME for every member of the fleet, and prints its resulting state.", strings.ToUpper(verb[:1])+verb[1:]),
			fmt.Sprintf("  infuse %s payments\n  infuse %s -redis rediss://ops:secret@redis.internal:6380/0 -namespace checkout payments", verb, verb))
		rf := addRedisFlags(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return &usageError{"give exactly one breaker NAME"}
		}
		store, closeStore, err := rf.connect(ctx)
		if err != nil {
			return err
		}
		defer closeStore()
		info, err := act(ctx, store, fs.Arg(0), verb)
		if errors.Is(err, redisstore.ErrUnknownBreaker) {
			return fmt.Errorf("no breaker named %q under namespace %q (see infuse status)", fs.Arg(0), store.Namespace())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %v (mode %v, generation %d)\n", info.Name, info.State, info.Mode, info.Generation)
		return nil
	}
}

func runWatch(ctx context.Context, args []string, out io.Writer) error {
	fs := flags("watch", "[flags]", "Prints every transition made across the fleet, as it happens, until interrupted.",
		"  infuse watch\n  infuse watch -namespace checkout -duration 10m")
	rf := addRedisFlags(fs)
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	store, closeStore, err := rf.connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := withDuration(ctx, *duration)
	defer cancel()
	return store.Watch(ctx, func() { fmt.Fprintf(out, "watching namespace %q\n", store.Namespace()) }, func(c redisstore.Change) {
		fmt.Fprintf(out, "%s  %-24s %-9v mode=%v generation=%d failures=%d\n",
			c.At.Format("15:04:05.000"), c.Name, c.State, c.Mode, c.Generation, c.Failures)
	})
}
