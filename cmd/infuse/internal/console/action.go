package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Action is the command "infuse VERB NAME" for one of breaker.Actions:
// it acts on NAME for the whole fleet and prints the state that results.
func Action(verb string) func(context.Context, []string, io.Writer) error {
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
