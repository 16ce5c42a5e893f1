package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

// Help asked for is printed to standard output, once: "infuse help
// COMMAND" prints what "infuse COMMAND -help" does.
func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range commands {
		if c.name == "help" {
			continue
		}
		out, errOut, code := cmdtest.Run(t, c.name, "-help")
		if code != 0 || errOut != "" || strings.Count(out, "Usage: infuse "+c.name) != 1 || !strings.Contains(out, "Examples:") {
			t.Errorf("%s -help: %d %q %q", c.name, code, out, errOut)
		}
		out2, errOut, code := cmdtest.Run(t, "help", c.name)
		if code != 0 || errOut != "" || out2 != out {
			t.Errorf("help %s: %d %q %q; want what -help printed, %q", c.name, code, out2, errOut, out)
		}
	}
	for _, args := range [][]string{{"-help"}, {"help"}, {"help", "help"}} {
		if out, errOut, code := cmdtest.Run(t, args...); code != 0 || errOut != "" || !strings.Contains(out, "dashboard") || !strings.Contains(out, "infuse help COMMAND") {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"help", "nosuch"}, `infuse help: unknown command "nosuch"`},
		{[]string{"help", "status", "open"}, "give one COMMAND (got 2 arguments)"},
	} {
		if out, errOut, code := cmdtest.Run(t, c.args...); code != 2 || out != "" || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: %d %q %q", c.args, code, out, errOut)
		}
	}
	if out, errOut, code := cmdtest.Run(t); code != 2 || out != "" || !strings.Contains(errOut, "Usage: infuse COMMAND") {
		t.Errorf("no command: %d %q %q", code, out, errOut)
	}
}

// A usage error is said once, with where to find the usage, and not the
// usage itself.
func TestUsageErrorsArePrintedOnce(t *testing.T) {
	for _, args := range [][]string{
		{"status", "-bogus"}, {"status", "extra"}, {"watch", "-duration", "x"}, {"simulate", "-fleet", "x"},
		{"open"}, {"dashboard", "-bogus"}, {"demo", "-clients", "0"}, {"version", "-bogus"},
	} {
		out, errOut, code := cmdtest.Run(t, args...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "infuse "+args[0]+": ") ||
			lines[1] != `Run "infuse `+args[0]+` -help" for usage.` {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want the error once and where the usage is", args, code, out, errOut)
		}
	}
}

// infuse version says what the binary was built from: the module, the
// revision of the checkout it was built in (where the build recorded one:
// see internal/version's tests), and the Go version.
func TestVersion(t *testing.T) {
	out, errOut, code := cmdtest.Run(t, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("version: %d %q %q", code, out, errOut)
	}
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"infuse ", "module github.com/infuse-go/infuse/cmd/infuse ",
		"uses github.com/infuse-go/infuse ", "revision ", "go " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(words, want) {
			t.Errorf("version printed\n%s\nwant %q in it", out, want)
		}
	}
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && !strings.Contains(words, "revision unknown") {
		if !strings.Contains(words, "revision "+strings.TrimSpace(string(head))) || !strings.Contains(words, "committed ") {
			t.Errorf("version printed\n%s\nwant revision %s and its time", out, head)
		}
	}
	if alias, _, _ := cmdtest.Run(t, "-version"); alias != out {
		t.Errorf("-version printed %q, version %q", alias, out)
	}
}

func TestBadInputIsAClearErrorAndANonZeroExit(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"open", "-redis", url, "-namespace", "ops", "nosuch"}, 1, `no breaker named nosuch under namespace ops`},
		{[]string{"status", "-redis", "http://example"}, 2, "malformed Redis URL"},
		{[]string{"open", "-redis", url}, 2, "give exactly one breaker NAME"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"status", "-bogus"}, 2, "flag provided but not defined"},
	} {
		_, errOut, code := cmdtest.Run(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("infuse %v: exit %d, %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	// An unreachable Redis fails fast, not a hang.
	srv := redistest.Start(t)
	addr := srv.Addr
	srv.Kill()
	start := time.Now()
	_, errOut, code := cmdtest.Run(t, "status", "-redis", "redis://"+addr+"/0")
	if code != 1 || !strings.Contains(errOut, "cannot reach Redis") || time.Since(start) > 3*time.Second {
		t.Fatalf("unreachable Redis: exit %d after %v: %q", code, time.Since(start), errOut)
	}
	if strings.Contains(errOut, "pool.go") {
		t.Fatalf("go-redis's own logging leaked: %q", errOut)
	}
}
