package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range commands {
		_, errOut, code := cmdtest.Run(t, c.name, "-help")
		if code != 0 || !strings.Contains(errOut, "Usage: infuse "+c.name) || !strings.Contains(errOut, "Examples:") {
			t.Errorf("%s -help: %d %q", c.name, code, errOut)
		}
	}
	if _, errOut, code := cmdtest.Run(t, "-help"); code != 0 || !strings.Contains(errOut, "dashboard") {
		t.Errorf("-help: %d %q", code, errOut)
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
