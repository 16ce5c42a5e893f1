package console

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Watch is "infuse watch": every transition across the fleet, with its
// cause, as it happens; and when Redis stops answering, a line saying so,
// and when it is back, one saying so and what changed meanwhile.
func Watch(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("watch", "[flags]",
		"Prints every transition made across the fleet, as it happens, until interrupted. When Redis\n"+
			"stops answering, it says so (transitions made meanwhile may be missed); when Redis is back,\n"+
			"it says so, with how many changes Redis recorded meanwhile and each breaker whose state\n"+
			"changed while it was away.",
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
	w := &watcher{out: out, store: store, known: map[string]known{}}
	return store.WatchWith(ctx, redisstore.WatchHandler{
		Ready: func() {
			w.list(ctx) // what each breaker is as watching starts: what "while away" compares with
			fmt.Fprintf(out, "watching namespace %s: transitions and mode changes\n", breaker.Printable(store.Namespace()))
		},
		Change: w.change,
		Lost: func(err error) {
			fmt.Fprintf(out, "%s  lost Redis (%v): transitions made until it is back may be missed\n", clock(time.Now()), err)
		},
		Back: func(o redisstore.Outage) { w.back(ctx, o) },
	})
}

// known is what watch last knew of a breaker.
type known struct {
	state      infuse.State
	mode       infuse.Mode
	generation uint64
	idle       bool // Redis kept no state for it
}

// watcher is what watch knows of the fleet: every breaker as of its last
// listing and the changes read since, to tell what changed while Redis
// was away. Its methods run on the watch's one goroutine.
type watcher struct {
	out   io.Writer
	store *redisstore.Store
	seen  breaker.Transitions
	known map[string]known
}

// clock is a time as watch prints it.
func clock(t time.Time) string { return t.Format("15:04:05.000") }

// change prints a change that is a transition.
func (w *watcher) change(c redisstore.Change) {
	w.known[c.Name] = known{c.State, c.Mode, c.Generation, false}
	t, ok := w.seen.Next(c)
	if !ok {
		return
	}
	fmt.Fprintf(w.out, "%s  %-24s %-9v mode=%-11v generation=%-6d %s\n",
		clock(c.At), breaker.Printable(c.Name), c.State, c.Mode, c.Generation, breaker.Cause(t))
}

// list takes what every breaker is now as known, and returns it. A
// breaker Redis holds state for is seen (so that a change read later of
// the same generation is no news).
func (w *watcher) list(ctx context.Context) ([]redisstore.Info, error) {
	list, err := w.store.Breakers(ctx)
	if err != nil {
		return nil, err
	}
	w.known = make(map[string]known, len(list))
	for _, i := range list {
		w.known[i.Name] = known{i.State, i.Mode, i.Generation, i.Idle}
		if !i.Idle {
			w.seen.Next(redisstore.Change{Name: i.Name, State: i.State, Mode: i.Mode, Generation: i.Generation, Failures: i.Failures})
		}
	}
	return list, nil
}

// back says that Redis answers again, what it recorded meanwhile, and
// prints each breaker whose state, mode or generation is not what watch
// knew before Redis was lost.
func (w *watcher) back(ctx context.Context, o redisstore.Outage) {
	now := time.Now()
	what := fmt.Sprintf("%d changes recorded meanwhile", o.Changes)
	if o.Reset {
		what = fmt.Sprintf("but without what it held (restarted without its data, flushed, or failed over to a replica behind); members put back the states they know; %d changes recorded since", o.Changes)
	}
	fmt.Fprintf(w.out, "%s  Redis is back after %v, %s\n", clock(now), o.For.Round(time.Millisecond), what)
	before := w.known
	list, err := w.list(ctx)
	if err != nil {
		w.known = before
		fmt.Fprintf(w.out, "%s  cannot list the breakers to tell what changed while Redis was away: %v\n", clock(time.Now()), err)
		return
	}
	for _, i := range list {
		was, ok := before[i.Name]
		now := known{i.State, i.Mode, i.Generation, i.Idle}
		if ok && was == now {
			continue
		}
		from := "not listed before"
		if ok {
			from = "was " + describe(was)
		}
		fmt.Fprintf(w.out, "%s  %-24s %-9v mode=%-11v generation=%-6d changed while Redis was away (%s)\n",
			clock(time.Now()), breaker.Printable(i.Name), i.State, i.Mode, i.Generation, from)
	}
	var gone []string
	for name := range before {
		if _, ok := w.known[name]; !ok {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		fmt.Fprintf(w.out, "%s  %-24s no longer listed: Redis keeps no state for it and no live member has it bound (was %s)\n",
			clock(time.Now()), breaker.Printable(name), describe(before[name]))
	}
}

// describe says what watch knew of a breaker.
func describe(k known) string {
	if k.idle {
		return "closed, no state in Redis"
	}
	return fmt.Sprintf("%v, mode %v, generation %d", k.state, k.mode, k.generation)
}
