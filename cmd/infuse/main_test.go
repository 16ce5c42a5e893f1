package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

func TestStatus(t *testing.T) {
	_, url, store, bs := cmdtest.Fleet(t, "payments", "search")
	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "empty")
	if code != 0 || !strings.Contains(out, `no breakers under namespace empty`) {
		t.Fatalf("empty namespace: %d %q %q", code, out, errOut)
	}
	for range 2 {
		_ = bs[0].Call(context.Background(), func(context.Context) error { return io.EOF })
	}
	_ = store.Sync(context.Background())
	out, _, code = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments  open") || !strings.Contains(out, "search    closed") {
		t.Fatalf("status:\n%s", out)
	}
	out, _, _ = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-json")
	var views []breaker.View
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	if len(views) != 2 || views[0].Name != "payments" || views[0].State != "open" || views[0].Failures != 2 || views[0].RetryAfterS <= 0 {
		t.Fatalf("views %+v", views)
	}
}

func TestActionsHoldFleetWide(t *testing.T) {
	_, url, store, bs := cmdtest.Fleet(t, "payments")
	for _, c := range []struct{ verb, want string }{
		{"open", "payments: open (mode normal"},
		{"half-open", "payments: half-open (mode normal"},
		{"close", "payments: closed (mode normal"},
		{"force-open", "payments: open (mode forced-open"},
		{"release", "payments: closed (mode normal"},
		{"disable", "payments: closed (mode disabled"},
	} {
		out, errOut, code := cmdtest.Run(t, c.verb, "-redis", url, "-namespace", "ops", "payments")
		if code != 0 || !strings.HasPrefix(out, c.want) {
			t.Fatalf("%s: %d %q %q", c.verb, code, out, errOut)
		}
	}
	_ = store.Sync(context.Background())
	if bs[0].Mode() != infuse.ModeDisabled {
		t.Fatalf("the member's mode: %v", bs[0].Mode())
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

func TestWatchPrintsTransitions(t *testing.T) {
	_, url, _, bs := cmdtest.Fleet(t, "payments")
	lines := cmdtest.StartWatch(t, url)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "watching namespace") {
		t.Fatalf("first line %q", lines.Text())
	}
	_ = bs[0].Open(context.Background())
	if !lines.Scan() || !strings.Contains(lines.Text(), "payments") || !strings.Contains(lines.Text(), "open") {
		t.Fatalf("transition line %q", lines.Text())
	}
}

func TestDemoRunsAndStopsByItself(t *testing.T) {
	out, errOut, code := cmdtest.Run(t, "demo", "-duration", "2500ms")
	if code != 0 || !strings.Contains(out, "dashboard on http://127.0.0.1:") || !strings.Contains(out, "client-1") ||
		!strings.Contains(out, "upstream healthy") {
		t.Fatalf("demo: %d\n%s\n%s", code, out, errOut)
	}
}

// statusUntil runs status -json on namespace ops until it lists one
// breaker that ok accepts, or the deadline passes; it returns the last
// listing.
func statusUntil(t *testing.T, url string, deadline time.Time, ok func(breaker.View) bool) []breaker.View {
	t.Helper()
	var views []breaker.View
	for time.Now().Before(deadline) {
		out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-json")
		if err := json.Unmarshal([]byte(out), &views); err != nil {
			t.Fatalf("status -json: %v\n%s", err, out)
		}
		if len(views) == 1 && ok(views[0]) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return views
}

// status and the dashboard's API show how much a fleet's throttle rejects.
func TestStatusShowsThrottling(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{WindowInterval: 10 * time.Millisecond})
	b, err := infuse.New(infuse.Config{Name: "api", Storage: store, FailMax: 1 << 20,
		Window: infuse.TimeWindow(time.Minute, time.Second), Throttle: infuse.Throttle{K: 1, MaxRejectRate: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Metrics().RejectProbability < 0.5 {
		if time.Now().After(deadline) {
			t.Fatalf("never throttled: %+v", b.Metrics())
		}
		_ = b.Call(context.Background(), func(context.Context) error { return io.EOF })
		time.Sleep(time.Millisecond)
	}
	views := statusUntil(t, url, deadline, func(v breaker.View) bool { return v.RejectProbability == 0.5 })
	if len(views) != 1 || views[0].Reason != "throttled: 50%" || views[0].ThrottleK != 1 || views[0].State != "closed" {
		t.Fatalf("views %+v", views)
	}
	out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  throttled: 50%") {
		t.Fatalf("status:\n%s", out)
	}
}

// status and the dashboard's API show how far a fleet's recovery ramp
// has come, from the close Redis recorded and the ramp the closing member
// noted.
func TestStatusShowsTheRamp(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{})
	b, err := infuse.New(infuse.Config{Name: "api", Storage: store, RampDuration: time.Hour, RampSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.RampShare(); got != 0.25 {
		t.Fatalf("the member's ramp share %v", got)
	}
	views := statusUntil(t, url, time.Now().Add(10*time.Second), func(v breaker.View) bool { return v.RampShare < 1 })
	if len(views) != 1 || views[0].Reason != "ramping: admits 25%" || views[0].RampShare != 0.25 || views[0].State != "closed" {
		t.Fatalf("views %+v", views)
	}
	out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  ramping: admits 25%") {
		t.Fatalf("status:\n%s", out)
	}
}

// An operator starts a shadow from the command line; a member that follows
// shadows runs it; status and shadow show the candidate; -stop stops it.
func TestShadowFromTheCommandLine(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{Shadows: true, RefreshInterval: 50 * time.Millisecond})
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-fail-max", "-2", "payments"); code != 2 || !strings.Contains(errOut, "FailMax") {
		t.Fatalf("a bad candidate: %d %q", code, errOut)
	}
	if _, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-slow-call-rate", "0.5", "payments"); code != 2 || !strings.Contains(errOut, "a rate needs a window") {
		t.Fatalf("a slow-call rate without a duration and a window: %d %q", code, errOut)
	}
	out, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "payments", "-fail-max", "2", "-reset-timeout", "1m")
	if code != 0 || !strings.Contains(out, "payments: shadow started (failMax=2 resetTimeout=1m0s)") {
		t.Fatalf("start: %d %q %q", code, out, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Shadow() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Shadow() == nil {
		t.Fatal("the member never started the shadow")
	}
	for range 3 {
		if err := b.Call(context.Background(), func(context.Context) error { return io.EOF }); errors.Is(err, infuse.ErrOpen) {
			t.Fatal("the live breaker rejected a call")
		}
	}
	_ = store.Sync(context.Background())
	out, _, _ = cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments  failMax=2 resetTimeout=1m0s  open             open                    1") {
		t.Fatalf("shadow list:\n%s", out)
	}
	out, _, _ = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments#shadow") || !strings.Contains(out, "shadow, would reject: open") || !strings.Contains(out, "payments         closed") {
		t.Fatalf("status:\n%s", out)
	}
	for _, args := range [][]string{{"-stop", "-fail-max", "3", "payments"}, {"-fail-max", "3"}, {"payments"}, {"payments#shadow", "-fail-max", "3"}} {
		if _, errOut, code := cmdtest.Run(t, append([]string{"shadow", "-redis", url, "-namespace", "ops"}, args...)...); code == 0 {
			t.Fatalf("shadow %v accepted: %q", args, errOut)
		}
	}
	if out, _, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-stop", "payments"); code != 0 || !strings.Contains(out, "payments: shadow stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	for b.Shadow() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Shadow() != nil {
		t.Fatal("the member never stopped the shadow")
	}
}
