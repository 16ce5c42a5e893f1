package console

import (
	"context"
	"fmt"
	"io"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Watch is "infuse watch": every transition across the fleet, with its
// cause, as it happens.
func Watch(ctx context.Context, args []string, out io.Writer) error {
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
