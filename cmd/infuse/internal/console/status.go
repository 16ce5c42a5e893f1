// Package console is the operator's side of infuse in a terminal: status
// (every breaker under a namespace, or JSON), the six actions, watch
// (transitions as they happen) and shadow (candidate configurations),
// each reading and steering the fleet's breakers in Redis.
package console

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Status is "infuse status": every breaker under a namespace, a row each,
// or JSON with -json (breaker.Status), the most severe first
// (breaker.SortBySeverity), those -state names only.
func Status(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("status", "[flags]",
		"Shows every breaker stored under a namespace: state, forced mode, counts, time left open,\n"+
			"and how many live members (stores) have it bound; closed breakers Redis keeps no state for\n"+
			"are listed from their members' registrations. The most severe come first: open, forced-open,\n"+
			"half-open, throttled, ramping, disabled, closed; by name within each.",
		"  infuse status\n  infuse status -state open,forced-open,half-open\n"+
			"  infuse status -redis redis://:secret@redis.internal:6379/0 -namespace checkout\n"+
			"  infuse status -json | jq '.[] | select(.state == \"open\")'")
	rf := cli.AddRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	states := fs.String("state", "", "list only breakers in these `STATES`, comma-separated: "+strings.Join(breaker.Classes, ", ")+",\nor normal (not forced open or disabled)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage("status takes no arguments")
	}
	var filter breaker.Filter
	if *states != "" {
		if filter, err = breaker.ParseFilter(*states); err != nil {
			return cli.Usage("-state: " + err.Error())
		}
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	all, err := store.Breakers(ctx)
	if err != nil {
		return err
	}
	var list []redisstore.Info
	for _, i := range all {
		if filter.Keeps(i) {
			list = append(list, i)
		}
	}
	breaker.SortBySeverity(list)
	if *asJSON {
		views := make([]breaker.Status, 0, len(list))
		for _, i := range list {
			views = append(views, breaker.StatusOf(i))
		}
		return breaker.WriteJSON(out, views)
	}
	if len(list) == 0 {
		if len(all) > 0 {
			fmt.Fprintf(out, "none of the %d breakers under namespace %s is %s\n", len(all), breaker.Printable(store.Namespace()), strings.ReplaceAll(*states, ",", " or "))
			return nil
		}
		fmt.Fprintf(out, "no breakers under namespace %s\n", breaker.Printable(store.Namespace()))
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
		reason := breaker.RejectsInfo(i)
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%v\t%d\t%s\t%d\t%d\t%s\t%d\t%d\n", breaker.Printable(i.Name), i.State, reason, i.Mode, i.Failures,
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
