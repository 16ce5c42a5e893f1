// Package version is "infuse version": what the binary was built from, as
// the Go toolchain recorded it (runtime/debug.ReadBuildInfo).
package version

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
)

// modulePrefix is the path every module of infuse begins with.
const modulePrefix = "github.com/infuse-go/infuse"

// Run is "infuse version".
func Run(_ context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("version", "",
		"Prints what this binary was built from: the module's version (\"(devel)\" for a build from a\n"+
			"checkout), the modules of infuse it was built with, the version-control revision and its\n"+
			"time (when built in a checkout), and the Go version and platform.",
		"  infuse version")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage("version takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo() // nil without module information
	return Write(out, bi)
}

// Write writes what bi says of the build; bi nil is a binary built
// without module information.
func Write(w io.Writer, bi *debug.BuildInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	goVersion := runtime.Version()
	if bi == nil {
		fmt.Fprintf(tw, "infuse (unknown version: built without module information)\n")
	} else {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		fmt.Fprintf(tw, "infuse %s\n", orDevel(bi.Main.Version))
		fmt.Fprintf(tw, "  module\t%s %s\n", bi.Main.Path, orDevel(bi.Main.Version))
		for _, d := range bi.Deps {
			if strings.HasPrefix(d.Path, modulePrefix) {
				v := orDevel(d.Version)
				if d.Replace != nil && d.Replace.Version == "" {
					v = "(devel: " + d.Replace.Path + ")"
				}
				fmt.Fprintf(tw, "  uses\t%s %s\n", d.Path, v)
			}
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			if settings["vcs.modified"] == "true" {
				rev += " (with uncommitted changes)"
			}
			fmt.Fprintf(tw, "  revision\t%s\n", rev)
			if t := settings["vcs.time"]; t != "" {
				fmt.Fprintf(tw, "  committed\t%s\n", t)
			}
		} else {
			fmt.Fprintf(tw, "  revision\tunknown (none recorded: built outside a checkout, or with -buildvcs=false)\n")
		}
	}
	fmt.Fprintf(tw, "  go\t%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return tw.Flush()
}

// orDevel is a module's version, "(devel)" where it has none.
func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
