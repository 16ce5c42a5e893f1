package console

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/storage"
)

// Shadow is "infuse shadow": it starts, stops or lists the fleet's shadows (see
// infuse.Breaker.StartShadow and redisstore.Options.Shadows).
func Shadow(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("shadow", "[flags] [NAME]",
		"Starts a shadow of the breaker NAME on every member whose store follows shadows\n(redisstore.Options.Shadows): a candidate configuration that runs beside the live breaker on\nthe same outcomes, never rejects, and shows what it would have done (its state is listed by\ninfuse status as NAME"+infuse.ShadowSuffix+"). With -stop, stops it. Without NAME, lists the shadows.",
		"  infuse shadow -fail-max 3 -reset-timeout 10s payments\n  infuse shadow -window 1m/1s -failure-rate 0.3 -min-calls 50 payments\n  infuse shadow -window 100 -slow-call-duration 500ms -slow-call-rate 0.5 payments\n  infuse shadow -stop payments\n  infuse shadow")
	rf := cli.AddRedisFlags(fs)
	stop := fs.Bool("stop", false, "stop the shadow of NAME")
	var c infuse.Candidate
	// The candidate's settings, by the names every command gives them
	// (storage.Fields).
	for _, f := range storage.Fields() {
		fs.Func(f.Flag, "the candidate's "+f.Name+": "+f.Doc, func(v string) error { return c.Set(f.Flag, v) })
	}
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return cli.Usage(fmt.Sprintf("give at most one breaker NAME (got %d arguments)", len(rest)))
	}
	if len(rest) == 0 && *stop {
		return cli.Usage("-stop needs the breaker NAME")
	}
	set := 0
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "stop" && f.Name != "redis" && f.Name != "namespace" {
			set++
		}
	})
	starting := len(rest) == 1 && !*stop
	switch {
	case !starting && set > 0:
		return cli.Usage("the candidate's flags go with a NAME to start a shadow, not with -stop or a listing")
	case starting && set == 0:
		return cli.Usage("give the candidate's settings (-fail-max, -reset-timeout, -failure-rate with a window, ...)")
	case starting:
		if err := c.ValidateCandidate(); err != nil {
			return cli.Usage(err.Error())
		}
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	switch {
	case len(rest) == 0:
		return listShadows(ctx, store, out)
	case *stop:
		if err := store.SetShadow(ctx, rest[0], nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: shadow stopped\n", breaker.Printable(rest[0]))
		return nil
	}
	// A candidate that ran before under this name starts afresh.
	if info, err := store.Breaker(ctx, rest[0]+infuse.ShadowSuffix); err == nil && (info.State != infuse.Closed || info.Mode != infuse.ModeNormal) {
		if _, err := breaker.Act(ctx, store, rest[0]+infuse.ShadowSuffix, "close"); err != nil {
			return err
		}
	}
	if err := store.SetShadow(ctx, rest[0], &c); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: shadow started (%s); members that follow shadows run it within their refresh interval\n",
		breaker.Printable(rest[0]), c)
	return nil
}

// listShadows prints the shadows operators started, with their
// candidates' state as the fleet shares it.
func listShadows(ctx context.Context, store *redisstore.Store, out io.Writer) error {
	shadows, bad, err := store.Shadows(ctx)
	if err != nil {
		return err
	}
	if len(shadows) == 0 {
		fmt.Fprintf(out, "no shadows under namespace %s\n", breaker.Printable(store.Namespace()))
	} else {
		states := map[string]redisstore.Info{}
		if list, err := store.Breakers(ctx); err == nil {
			for _, i := range list {
				states[i.Name] = i
			}
		}
		names := make([]string, 0, len(shadows))
		for n := range shadows {
			names = append(names, n)
		}
		sort.Strings(names)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCANDIDATE\tCANDIDATE STATE\tCANDIDATE WOULD REJECT\tMEMBERS")
		for _, n := range names {
			st, reason, members := "not running yet", "-", "0"
			if i, ok := states[n+infuse.ShadowSuffix]; ok {
				st, members = i.State.String(), fmt.Sprint(i.Members)
				if r := breaker.Rejects(i.State, i.Mode); r != "" {
					reason = r
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", breaker.Printable(n), shadows[n], st, reason, members)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if bad > 0 {
		fmt.Fprintf(out, "(%d entries in the shadows hash are not valid candidates and were skipped)\n", bad)
	}
	return nil
}
