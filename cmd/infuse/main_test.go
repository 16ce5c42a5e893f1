package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// binary is the infuse command, built once for the tests to run as a user
// would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "infuse-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "infuse")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("building infuse: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// infuse runs the command and returns its output and exit status.
func runInfuse(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// startWatch runs "infuse watch" on namespace ops for at most 10 s, until
// the test ends, and returns its output's lines.
func startWatch(t *testing.T, url string) *bufio.Scanner {
	t.Helper()
	cmd := exec.Command(binary, "watch", "-redis", url, "-namespace", "ops", "-duration", "10s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return bufio.NewScanner(out)
}

// opsStore starts a redis-server and a member's store on it with opts
// under namespace "ops"; it returns the server's URL too.
func opsStore(t *testing.T, opts redisstore.Options) (*redistest.Server, string, *redisstore.Store) {
	t.Helper()
	srv := redistest.Start(t)
	opts.Namespace = "ops"
	if opts.OpTimeout == 0 {
		// Generous, so that a busy host never takes an operator's
		// transition made here for one Redis did not confirm.
		opts.OpTimeout = 2 * time.Second
	}
	store := redisstore.New(srv.Client(t), opts)
	t.Cleanup(func() { _ = store.Close() })
	return srv, "redis://" + srv.Addr + "/0", store
}

// fleet starts a redis-server and a member holding breakers named names
// under namespace "ops".
func fleet(t *testing.T, names ...string) (*redistest.Server, string, *redisstore.Store, []*infuse.Breaker) {
	t.Helper()
	srv, url, store := opsStore(t, redisstore.Options{})
	var bs []*infuse.Breaker
	for _, n := range names {
		b, err := infuse.New(infuse.Config{Name: n, Storage: store, FailMax: 2, ResetTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return srv, url, store, bs
}

func TestStatus(t *testing.T) {
	_, url, store, bs := fleet(t, "payments", "search")
	out, errOut, code := runInfuse(t, "status", "-redis", url, "-namespace", "empty")
	if code != 0 || !strings.Contains(out, `no breakers under namespace empty`) {
		t.Fatalf("empty namespace: %d %q %q", code, out, errOut)
	}
	for range 2 {
		_ = bs[0].Call(context.Background(), func(context.Context) error { return io.EOF })
	}
	_ = store.Sync(context.Background())
	out, _, code = runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments  open") || !strings.Contains(out, "search    closed") {
		t.Fatalf("status:\n%s", out)
	}
	out, _, _ = runInfuse(t, "status", "-redis", url, "-namespace", "ops", "-json")
	var views []breaker.View
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	if len(views) != 2 || views[0].Name != "payments" || views[0].State != "open" || views[0].Failures != 2 || views[0].RetryAfterS <= 0 {
		t.Fatalf("views %+v", views)
	}
}

func TestActionsHoldFleetWide(t *testing.T) {
	_, url, store, bs := fleet(t, "payments")
	for _, c := range []struct{ verb, want string }{
		{"open", "payments: open (mode normal"},
		{"half-open", "payments: half-open (mode normal"},
		{"close", "payments: closed (mode normal"},
		{"force-open", "payments: open (mode forced-open"},
		{"release", "payments: closed (mode normal"},
		{"disable", "payments: closed (mode disabled"},
	} {
		out, errOut, code := runInfuse(t, c.verb, "-redis", url, "-namespace", "ops", "payments")
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
	_, url, _, _ := fleet(t, "payments")
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
		_, errOut, code := runInfuse(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("infuse %v: exit %d, %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	// An unreachable Redis fails fast, not a hang.
	srv := redistest.Start(t)
	addr := srv.Addr
	srv.Kill()
	start := time.Now()
	_, errOut, code := runInfuse(t, "status", "-redis", "redis://"+addr+"/0")
	if code != 1 || !strings.Contains(errOut, "cannot reach Redis") || time.Since(start) > 3*time.Second {
		t.Fatalf("unreachable Redis: exit %d after %v: %q", code, time.Since(start), errOut)
	}
	if strings.Contains(errOut, "pool.go") {
		t.Fatalf("go-redis's own logging leaked: %q", errOut)
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range commands {
		_, errOut, code := runInfuse(t, c.name, "-help")
		if code != 0 || !strings.Contains(errOut, "Usage: infuse "+c.name) || !strings.Contains(errOut, "Examples:") {
			t.Errorf("%s -help: %d %q", c.name, code, errOut)
		}
	}
	if _, errOut, code := runInfuse(t, "-help"); code != 0 || !strings.Contains(errOut, "dashboard") {
		t.Errorf("-help: %d %q", code, errOut)
	}
}

func TestWatchPrintsTransitions(t *testing.T) {
	_, url, _, bs := fleet(t, "payments")
	lines := startWatch(t, url)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "watching namespace") {
		t.Fatalf("first line %q", lines.Text())
	}
	_ = bs[0].Open(context.Background())
	if !lines.Scan() || !strings.Contains(lines.Text(), "payments") || !strings.Contains(lines.Text(), "open") {
		t.Fatalf("transition line %q", lines.Text())
	}
}

func TestDemoRunsAndStopsByItself(t *testing.T) {
	out, errOut, code := runInfuse(t, "demo", "-duration", "2500ms")
	if code != 0 || !strings.Contains(out, "dashboard on http://127.0.0.1:") || !strings.Contains(out, "client-1") ||
		!strings.Contains(out, "upstream healthy") {
		t.Fatalf("demo: %d\n%s\n%s", code, out, errOut)
	}
}

// The dashboard over HTTP, without a browser: the list, the actions and
// their token, and the event stream.
func TestDashboardAPI(t *testing.T) {
	_, url, store, _ := fleet(t, "payments")
	base := startDashboard(t, url, "s3cret")
	resp, err := http.Get(base + "/api/breakers")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Breakers []breaker.View
		Actions  bool
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Breakers) != 1 || list.Breakers[0].Name != "payments" || !list.Actions {
		t.Fatalf("list %+v", list)
	}
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/breakers/payments/force-open", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", code)
	}
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	// The event stream: a snapshot, then a change made elsewhere.
	resp, err = http.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	for events.Scan() && events.Text() != "event: snapshot" {
	}
	if code := post("s3cret"); code != http.StatusOK {
		t.Fatalf("with the token: %d", code)
	}
	if info, _ := store.Breaker(context.Background(), "payments"); info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("Redis holds %+v", info)
	}
	deadline := time.Now().Add(time.Second)
	for events.Scan() {
		if events.Text() == "event: change" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no change event within a second")
		}
	}
}

// startDashboard runs "infuse dashboard" on a free loopback port until the
// test ends and returns its address.
func startDashboard(t *testing.T, url, token string) string {
	t.Helper()
	cmd := exec.Command(binary, "dashboard", "-redis", url, "-namespace", "ops", "-listen", "127.0.0.1:0", "-token", token)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	first := bufio.NewScanner(out)
	if !first.Scan() {
		t.Fatal("the dashboard printed nothing")
	}
	return strings.Fields(first.Text())[2]
}

func TestDashboardActionsOffWithoutAToken(t *testing.T) {
	d := newDashboard(&demoSource{breakers: map[string]*demoBreaker{}}, "")
	req, _ := http.NewRequest(http.MethodPost, "/api/breakers/x/open", nil)
	rec := &recorder{header: http.Header{}}
	d.handler().ServeHTTP(rec, req)
	if rec.code != http.StatusForbidden {
		t.Fatalf("actions without a configured token: %d", rec.code)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// statusUntil runs status -json on namespace ops until it lists one
// breaker that ok accepts, or the deadline passes; it returns the last
// listing.
func statusUntil(t *testing.T, url string, deadline time.Time, ok func(breaker.View) bool) []breaker.View {
	t.Helper()
	var views []breaker.View
	for time.Now().Before(deadline) {
		out, _, _ := runInfuse(t, "status", "-redis", url, "-namespace", "ops", "-json")
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
	_, url, store := opsStore(t, redisstore.Options{WindowInterval: 10 * time.Millisecond})
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
	out, _, _ := runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  throttled: 50%") {
		t.Fatalf("status:\n%s", out)
	}
}

// status and the dashboard's API show how far a fleet's recovery ramp
// has come, from the close Redis recorded and the ramp the closing member
// noted.
func TestStatusShowsTheRamp(t *testing.T) {
	_, url, store := opsStore(t, redisstore.Options{})
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
	out, _, _ := runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  ramping: admits 25%") {
		t.Fatalf("status:\n%s", out)
	}
}

// An operator starts a shadow from the command line; a member that follows
// shadows runs it; status and shadow show the candidate; -stop stops it.
func TestShadowFromTheCommandLine(t *testing.T) {
	_, url, store := opsStore(t, redisstore.Options{Shadows: true, RefreshInterval: 50 * time.Millisecond})
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runInfuse(t, "shadow", "-redis", url, "-namespace", "ops", "-fail-max", "-2", "payments"); code != 2 || !strings.Contains(errOut, "FailMax") {
		t.Fatalf("a bad candidate: %d %q", code, errOut)
	}
	if _, errOut, code := runInfuse(t, "shadow", "-redis", url, "-namespace", "ops", "-slow-call-rate", "0.5", "payments"); code != 2 || !strings.Contains(errOut, "a rate needs a window") {
		t.Fatalf("a slow-call rate without a duration and a window: %d %q", code, errOut)
	}
	out, errOut, code := runInfuse(t, "shadow", "-redis", url, "-namespace", "ops", "payments", "-fail-max", "2", "-reset-timeout", "1m")
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
	out, _, _ = runInfuse(t, "shadow", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments  failMax=2 resetTimeout=1m0s  open             open                    1") {
		t.Fatalf("shadow list:\n%s", out)
	}
	out, _, _ = runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments#shadow") || !strings.Contains(out, "shadow, would reject: open") || !strings.Contains(out, "payments         closed") {
		t.Fatalf("status:\n%s", out)
	}
	for _, args := range [][]string{{"-stop", "-fail-max", "3", "payments"}, {"-fail-max", "3"}, {"payments"}, {"payments#shadow", "-fail-max", "3"}} {
		if _, errOut, code := runInfuse(t, append([]string{"shadow", "-redis", url, "-namespace", "ops"}, args...)...); code == 0 {
			t.Fatalf("shadow %v accepted: %q", args, errOut)
		}
	}
	if out, _, code := runInfuse(t, "shadow", "-redis", url, "-namespace", "ops", "-stop", "payments"); code != 0 || !strings.Contains(out, "payments: shadow stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	for b.Shadow() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Shadow() != nil {
		t.Fatal("the member never stopped the shadow")
	}
}
