// Command infuse is infuse's demo and its operator's console: it shows what
// a circuit breaker does, and lets operators of a fleet see and steer every
// breaker shared through Redis.
//
//	infuse demo                      a simulated upstream and clients, live, with a dashboard
//	infuse status                    every breaker under a namespace
//	infuse open|half-open|close NAME manual transitions, fleet-wide
//	infuse force-open|disable|release NAME
//	infuse shadow [-stop] [NAME]     a candidate configuration beside a live breaker, fleet-wide
//	infuse watch                     transitions across the fleet as they happen
//	infuse dashboard                 a live web page over Redis
//	infuse simulate                  measure breaker configurations on a simulated fleet, or a recording
//
// Run "infuse COMMAND -help" for a command's flags and examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/cmd/infuse/internal/console"
	"github.com/infuse-go/infuse/cmd/infuse/internal/dashboard"
	"github.com/infuse-go/infuse/cmd/infuse/internal/demo"
	"github.com/infuse-go/infuse/cmd/infuse/internal/simulate"
)

// command is a subcommand: run parses its own flags from args and writes
// to out; a *cli.UsageError exits 2, cli.ErrHelp 0, any other error 1.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, out io.Writer) error
}

// commands are infuse's subcommands, in the order usage lists them; each
// lives in a package of its own under internal/.
var commands = []command{
	{"demo", "run a simulated upstream and clients through breakers, live", demo.Run},
	{"status", "show every breaker stored under a namespace", console.Status},
	{"open", "open a breaker fleet-wide (for its open period)", console.Action("open")},
	{"half-open", "move a breaker to half-open fleet-wide: the next calls are trials", console.Action("half-open")},
	{"close", "close a breaker fleet-wide", console.Action("close")},
	{"force-open", "hold a breaker open fleet-wide until released", console.Action("force-open")},
	{"disable", "let every call through fleet-wide, counting, until released", console.Action("disable")},
	{"release", "end a forced state fleet-wide", console.Action("release")},
	{"shadow", "start, stop or list shadow configurations, fleet-wide", console.Shadow},
	{"watch", "print transitions across the fleet as they happen", console.Watch},
	{"dashboard", "serve a live web page of every breaker", dashboard.Run},
	{"simulate", "measure breaker configurations on a simulated fleet, or on a recording", simulate.Run},
}

// quietRedis drops go-redis's own log lines (dial retries and the like):
// the commands report what went wrong themselves.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func main() {
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(errOut)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], out)
			var ue *cli.UsageError
			switch {
			case err == nil:
				return 0
			case errors.Is(err, cli.ErrHelp):
				return 0
			case errors.As(err, &ue):
				fmt.Fprintf(errOut, "infuse %s: %v\nRun \"infuse %s -help\" for usage.\n", c.name, err, c.name)
				return 2
			}
			fmt.Fprintf(errOut, "infuse %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(errOut, "infuse: unknown command %q\n\n", args[0])
	usage(errOut)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "infuse: circuit breakers, locally and shared through Redis.")
	fmt.Fprintln(w, "\nUsage: infuse COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"infuse COMMAND -help\" for a command's flags and examples.")
}
