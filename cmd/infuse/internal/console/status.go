// Package console is the operator's side of infuse in a terminal: status
// (every breaker under a namespace, or JSON), the six actions, watch
// (transitions as they happen) and shadow (candidate configurations),
// each reading and steering the fleet's breakers in Redis.
package console

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Status is "infuse status": every breaker under a namespace, a row each,
// or JSON with -json.
func Status(ctx context.Context, args []string, out io.Writer) error {
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
		return breaker.WriteJSON(out, breaker.FromInfos(list))
	}
	if len(list) == 0 {
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
