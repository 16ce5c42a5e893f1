package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/redisstore"
)

// A hostile name is printed escaped by status, watch and the actions: it
// cannot overwrite or forge a row.
func TestHostileNamesPrintEscaped(t *testing.T) {
	hostile := "zz\r\x1b[2K\x1b[1Apayments closed"
	forged := "x\npayments  closed"
	_, url, _, bs := fleet(t, "payments", hostile, forged)
	_ = bs[0].Open(context.Background())
	lines := startWatch(t, url)
	lines.Scan() // watching …
	_ = bs[1].Open(context.Background())
	if !lines.Scan() || strings.ContainsAny(lines.Text(), "\r\x1b") || !strings.Contains(lines.Text(), `"zz\r\x1b[2K`) {
		t.Fatalf("watch printed %q", lines.Text())
	}

	out, errOut, code := runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 4 { // a header and three breakers, one line each
		t.Fatalf("status printed %d lines for 3 breakers:\n%s", len(rows), out)
	}
	for _, r := range rows[1:] {
		if strings.HasPrefix(r, "payments ") && !strings.Contains(r, "open") {
			t.Fatalf("the real payments row says %q", r)
		}
	}
	out, _, code = runInfuse(t, "close", "-redis", url, "-namespace", "ops", hostile)
	if code != 0 || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("close: %d %q", code, out)
	}
}

// Flags may follow NAME.
func TestFlagsAfterTheName(t *testing.T) {
	_, url, _, _ := fleet(t, "payments")
	out, errOut, code := runInfuse(t, "open", "payments", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.HasPrefix(out, "payments: open") {
		t.Fatalf("open NAME -redis URL: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runInfuse(t, "close", "-redis", url, "-namespace", "ops", "--", "-redis")
	if code != 1 || !strings.Contains(errOut, "no breaker named -redis") {
		t.Fatalf("a NAME after --: %d %q %q", code, out, errOut)
	}
}

// Neither -help nor an error prints a token or a Redis password.
func TestSecretsAreNeverPrinted(t *testing.T) {
	env := []string{"INFUSE_TOKEN=tok-3f9a1c", "INFUSE_REDIS=redis://ops:pw-77d2e1@127.0.0.1:1/0"}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(cmd.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	for _, args := range [][]string{
		{"dashboard", "-help"}, {"status", "-help"}, {"demo", "-help"}, {"open", "-help"},
		{"dashboard", "-bogus"}, {"status", "-bogus"},
		{"status"}, // unreachable
		{"status", "-redis", "redis://ops:pw-77d2e1@127.0.0.1:x/0"},
		{"status", "-redis", "redis://ops:pw-77d2e1%zz@127.0.0.1:1/0"},
		{"status", "-redis", "http://ops:pw-77d2e1@127.0.0.1:1/0"},
	} {
		out := run(args...)
		if strings.Contains(out, "tok-3f9a1c") || strings.Contains(out, "pw-77d2e1") {
			t.Errorf("infuse %v printed a secret:\n%s", args, out)
		}
	}
}

// The dashboard answers only to its own host names, sets its security
// headers, and answers 405 to a GET on an action.
func TestDashboardRefusesForeignHostsAndSetsItsHeaders(t *testing.T) {
	_, url, _, _ := fleet(t, "payments")
	base := startDashboard(t, url, "s3cret")
	get := func(path, host string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.attacker.example"} {
		if resp := get("/api/breakers", host); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
	for _, host := range []string{"", "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		resp := get("/", host)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %q: %d", host, resp.StatusCode)
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("headers: %v", h)
		}
	}
	if resp := get("/api/breakers/payments/open", ""); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET on an action: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// A page that stops reading costs at most the names changed meanwhile,
// however many changes come; streams are capped.
func TestAStalledPageCostsOnePendingUpdate(t *testing.T) {
	src := &demoSource{breakers: map[string]*demoBreaker{}, changes: make(chan change)}
	for _, n := range []string{"a", "b"} {
		b, err := infuse.New(infuse.Config{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		src.breakers[n] = &demoBreaker{b: b}
	}
	d := newDashboard(src, "")
	d.maxStreams = 1
	c := newClient("192.0.2.1", time.Now())
	c.owedSince = time.Time{} // a page that answers its pings: never dropped for another
	d.clients[c] = struct{}{}
	ctx := context.Background()
	for i := range 1000 {
		b := src.breakers[[]string{"a", "b"}[i%2]].b
		if i%4 < 2 {
			_ = b.Open(ctx)
		} else {
			_ = b.Close(ctx)
		}
		d.refresh(ctx)
		d.transition(change{Name: b.Name()})
	}
	c.mu.Lock()
	pending, timeline, dropped := len(c.names), len(c.timeline), c.dropped
	c.mu.Unlock()
	if pending > 2 || timeline > timelineMax || dropped != 1000-timelineMax {
		t.Fatalf("a stalled page holds %d names, %d transitions (%d dropped)", pending, timeline, dropped)
	}
	msg := string(d.owed(c))
	if !strings.Contains(msg, "event: missed") || strings.Count(msg, "event: update") != 1 {
		t.Fatalf("what the page is owed:\n%.300s", msg)
	}

	srv := httpServe(t, d.handler())
	resp, err := http.Get(srv + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a stream past the cap: %d", resp.StatusCode)
	}
}

// httpServe serves h on a free loopback port until the test ends.
func httpServe(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// An operator's command is no member: the count stays the fleet's.
func TestOperatorCommandsAreNoMembers(t *testing.T) {
	_, url, _, _ := fleet(t, "payments")
	for _, verb := range []string{"open", "close", "force-open", "release"} {
		if _, errOut, code := runInfuse(t, verb, "payments", "-redis", url, "-namespace", "ops"); code != 0 {
			t.Fatalf("%s: %d %s", verb, code, errOut)
		}
		out, _, _ := runInfuse(t, "status", "-json", "-redis", url, "-namespace", "ops")
		var list []breaker.View
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Members != 1 {
			t.Fatalf("after %s: %v %+v", verb, err, list)
		}
	}
}

// A key of the wrong type in the namespace, or in the store's own
// layout, hides nothing else; a namespace that is a prefix of another
// lists none of the other's breakers, and acts on none of them.
func TestBadKeysAndNeighbourNamespaces(t *testing.T) {
	srv, url, _, _ := fleet(t, "payments")
	c := srv.Client(t)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "ops:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatal(keys, err)
	}
	for _, k := range append(keys, "ops:{zzz}", "ops") {
		if k == "ops:{zzz}" || k == "ops" {
			_ = c.Set(ctx, k, "1", 0).Err()
		}
	}
	for _, k := range keys {
		if typ, _ := c.Type(ctx, k).Result(); typ == "hash" && !strings.Contains(k, "nmem") {
			_ = c.Del(ctx, k).Err()
			_ = c.Set(ctx, k, "junk", 0).Err()
			break
		}
	}
	out, errOut, code := runInfuse(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments") {
		t.Fatalf("status with bad keys: %d %q %q", code, out, errOut)
	}

	other := redisstore.New(c, redisstore.Options{Namespace: "ops:{x}"})
	t.Cleanup(func() { _ = other.Close() })
	b, err := infuse.New(infuse.Config{Name: "x}:{b", Storage: other})
	if err != nil {
		t.Fatal(err)
	}
	_ = b
	out, _, _ = runInfuse(t, "status", "-json", "-redis", url, "-namespace", "ops")
	if strings.Contains(out, "x}:{b") {
		t.Fatalf("namespace ops lists a breaker of ops:{x}: %s", out)
	}
	if _, errOut, code := runInfuse(t, "force-open", "-redis", url, "-namespace", "ops", "x}:{b"); code != 1 || !strings.Contains(errOut, "no breaker named") {
		t.Fatalf("force-open across namespaces: %d %q", code, errOut)
	}
	if info, err := other.Breaker(ctx, "x}:{b"); err != nil || info.Mode != infuse.ModeNormal {
		t.Fatalf("the other namespace's breaker: %+v %v", info, err)
	}
}

// The Redis demo says which namespace it uses and the commands to look at
// it, and shows an outage of Redis.
func TestTheRedisDemoPrintsItsCommandsAndShowsAnOutage(t *testing.T) {
	srv, url, _, _ := fleet(t)
	cmd := exec.Command(binary, "demo", "-redis", url, "-members", "2", "-duration", "20s")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(pipe)
	var head []string
	for lines.Scan() && !strings.Contains(lines.Text(), "upstream") {
		head = append(head, lines.Text())
	}
	all := strings.Join(head, "\n")
	if !strings.Contains(all, "namespace infuse-demo") || !strings.Contains(all, "infuse status -redis "+url+" -namespace infuse-demo") ||
		!strings.Contains(all, "infuse watch -redis") || !strings.Contains(all, "dashboard on http://127.0.0.1:") {
		t.Fatalf("the demo's first lines:\n%s", all)
	}
	srv.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for lines.Scan() && time.Now().Before(deadline) {
		if strings.Contains(lines.Text(), "REDIS FAILING") {
			return
		}
	}
	t.Fatal("the demo did not show that Redis went away")
}

// watch prints transitions only, each with its cause: a closed breaker's
// growing run of failures is no line.
func TestWatchPrintsOnlyTransitionsWithTheirCause(t *testing.T) {
	_, url, store, _ := fleet(t)
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 5, SuccessThreshold: 3, HalfOpenMaxCalls: 3})
	if err != nil {
		t.Fatal(err)
	}
	lines := startWatch(t, url)
	lines.Scan() // watching …
	ctx := context.Background()
	fail := func(context.Context) error { return errors.New("down") }
	for range 4 { // four of FailMax 5, each sent to Redis before the next
		_ = b.Call(ctx, fail)
		_ = store.Sync(ctx)
		time.Sleep(150 * time.Millisecond) // past the watcher's read of it, if it printed one
	}
	_ = b.Call(ctx, fail) // the trip
	next := func(want ...string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatal("watch ended")
		}
		for _, w := range want {
			if !strings.Contains(lines.Text(), w) {
				t.Fatalf("line %q, want %q", lines.Text(), want)
			}
		}
	}
	next("open", "5 failures in a row")
	_ = b.HalfOpen(ctx)
	next("half-open")
	for range 3 { // trials: two change the half-open counts, the third closes
		_ = b.Call(ctx, func(context.Context) error { return nil })
		_ = store.Sync(ctx)
		time.Sleep(150 * time.Millisecond)
	}
	next("closed", "trial calls succeeded")
}
