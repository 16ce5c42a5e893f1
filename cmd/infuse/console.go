package main

import (
	"context"
	"errors"
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
		info, err := breaker.Act(ctx, store, name, verb)
		if errors.Is(err, redisstore.ErrUnknownBreaker) {
			return fmt.Errorf("no breaker named %s under namespace %s (see infuse status)", breaker.Printable(name), breaker.Printable(store.Namespace()))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %v (mode %v, generation %d)\n", breaker.Printable(info.Name), info.State, info.Mode, info.Generation)
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
	var seen breaker.Transitions
	return store.Watch(ctx, func() {
		fmt.Fprintf(out, "watching namespace %s: transitions and mode changes\n", breaker.Printable(store.Namespace()))
	}, func(c redisstore.Change) {
		t, ok := seen.Next(c)
		if !ok {
			return
		}
		fmt.Fprintf(out, "%s  %-24s %-9v mode=%-11v generation=%-6d %s\n",
			c.At.Format("15:04:05.000"), breaker.Printable(c.Name), c.State, c.Mode, c.Generation, breaker.Cause(t))
	})
}
