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
//	infuse version                   what the binary was built from
//
// Run "infuse help COMMAND" (or "infuse COMMAND -help") for a command's
// flags and examples.
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
	"github.com/infuse-go/infuse/cmd/infuse/internal/version"
)

// command is a subcommand: run parses its own flags from args, writes
// its output to out and what goes wrong beside it to errOut; a
// *cli.UsageError exits 2, cli.ErrHelp 0 (its *cli.Help's usage printed
// to out), any other error 1.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, out, errOut io.Writer) error
}

// outOnly is a command that writes nothing but its output.
func outOnly(run func(context.Context, []string, io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, out, _ io.Writer) error { return run(ctx, args, out) }
}

// commands are infuse's subcommands, in the order usage lists them; each
// lives in a package of its own under internal/.
var commands = []command{
	{"demo", "run a simulated upstream and clients through breakers, live", demo.Run},
	{"status", "show every breaker stored under a namespace", outOnly(console.Status)},
	{"open", "open a breaker fleet-wide (for its open period)", outOnly(console.Action("open"))},
	{"half-open", "move a breaker to half-open fleet-wide: the next calls are trials", outOnly(console.Action("half-open"))},
	{"close", "close a breaker fleet-wide", outOnly(console.Action("close"))},
	{"force-open", "hold a breaker open fleet-wide until released", outOnly(console.Action("force-open"))},
	{"disable", "let every call through fleet-wide, counting, until released", outOnly(console.Action("disable"))},
	{"release", "end a forced state fleet-wide", outOnly(console.Action("release"))},
	{"shadow", "start, stop or list shadow configurations, fleet-wide", outOnly(console.Shadow)},
	{"watch", "print transitions across the fleet as they happen", outOnly(console.Watch)},
	{"dashboard", "serve a live web page of every breaker", outOnly(dashboard.Run)},
	{"simulate", "measure breaker configurations on a simulated fleet, or on a recording", simulate.Run},
	{"version", "print the version, revision and Go version this binary was built from", outOnly(version.Run)},
	{"help", "print the usage of infuse, or of a command (infuse help COMMAND)", nil}, // see run
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

// run is main without the process: it returns the exit status. Usage
// asked for (-help, infuse help) goes to out; an error goes to errOut,
// once, with the usage after it only where no command was named.
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		usage(errOut)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(out)
		return 0
	case "-version", "--version":
		name = "version"
	case "help":
		switch len(args) {
		case 1:
			usage(out)
			return 0
		case 2:
			if args[1] == "help" {
				usage(out)
				return 0
			}
			if find(args[1]) == nil {
				fmt.Fprintf(errOut, "infuse help: unknown command %q\nRun \"infuse help\" for the list of commands.\n", args[1])
				return 2
			}
			return run(ctx, []string{args[1], "-help"}, out, errOut) // the same as COMMAND -help
		}
		fmt.Fprintf(errOut, "infuse help: give one COMMAND (got %d arguments)\nRun \"infuse help\" for the list of commands.\n", len(args)-1)
		return 2
	}
	c := find(name)
	if c == nil {
		fmt.Fprintf(errOut, "infuse: unknown command %q\n\n", name)
		usage(errOut)
		return 2
	}
	err := c.run(ctx, args[1:], out, errOut)
	var ue *cli.UsageError
	var help *cli.Help
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprint(out, help.Text)
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

// find is the command called name, nil for none.
func find(name string) *command {
	for i := range commands {
		if commands[i].name == name && commands[i].run != nil {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "infuse: circuit breakers, locally and shared through Redis.")
	fmt.Fprintln(w, "\nUsage: infuse COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"infuse help COMMAND\" (or \"infuse COMMAND -help\") for a command's flags and examples.")
}
