// Package cli is what every infuse command shares to read its command
// line: its flag set and usage text, flags after the arguments, the errors
// that mean "called wrongly" (exit status 2) and "asked for -help"
// (status 0), -token, -duration, and the Redis connection flags (redis.go).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// UsageError is an error in how a command was called: exit status 2, and
// 400 from the dashboard's API.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

// Usage is a *UsageError saying msg.
func Usage(msg string) error { return &UsageError{msg} }

// ErrHelp stops a command after -help: exit status 0. The error Parse
// returns for -help is a *Help, which is ErrHelp (errors.Is) and holds
// the usage text.
var ErrHelp = errors.New("help")

// Help is the error Parse returns for -help: the command's usage, which
// the caller prints (to standard output: it was asked for).
type Help struct{ Text string }

func (h *Help) Error() string { return "help" }

// Is makes a *Help ErrHelp.
func (h *Help) Is(target error) bool { return target == ErrHelp }

// UsageText is the usage text of a flag set FlagSet made.
func UsageText(fs *flag.FlagSet) string {
	var b strings.Builder
	w := fs.Output()
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(w)
	return b.String()
}

// FlagSet is a command's flag set with infuse's usage text.
func FlagSet(name, synopsis, description, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: infuse %s %s\n\n%s\n\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
		fmt.Fprintf(w, "\nExamples:\n%s\n", examples)
	}
	return fs
}

// Parse parses args, turning -help into a *Help (ErrHelp) and bad flags
// into a usage error; it prints nothing itself, so that its caller prints
// an error once, and the usage where it was asked for. Flags may come
// after the arguments too ("infuse open NAME -redis URL"); "--" ends the
// flags, so that a NAME may begin with "-". The arguments are then in
// positional order in the returned slice.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &Help{Text: UsageText(fs)}
			}
			return nil, Usage(err.Error())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// TokenFlag adds -token, whose default is INFUSE_TOKEN, read when the
// flags are (never shown by -help or an error).
func TokenFlag(fs *flag.FlagSet) func() string {
	t := fs.String("token", "", "the `token` the dashboard's actions need (default: env INFUSE_TOKEN); empty: actions off")
	return func() string {
		if *t != "" {
			return *t
		}
		return os.Getenv("INFUSE_TOKEN")
	}
}

// WithDuration ends ctx after d, if d is set (-duration); cancel it
// either way.
func WithDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// IsTerminal tells whether w is a terminal (a character device), where a
// command may redraw lines and tell its progress.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
