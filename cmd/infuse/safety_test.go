package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore"
)

// A hostile name is printed escaped by status, watch and the actions: it
// cannot overwrite or forge a row.
func TestHostileNamesPrintEscaped(t *testing.T) {
	hostile := "zz\r\x1b[2K\x1b[1Apayments closed"
	forged := "x\npayments  closed"
	_, url, _, bs := cmdtest.Fleet(t, "payments", hostile, forged)
	_ = bs[0].Open(context.Background())
	lines := cmdtest.StartWatch(t, url)
	lines.Scan() // watching …
	_ = bs[1].Open(context.Background())
	if !lines.Scan() || strings.ContainsAny(lines.Text(), "\r\x1b") || !strings.Contains(lines.Text(), `"zz\r\x1b[2K`) {
		t.Fatalf("watch printed %q", lines.Text())
	}

	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
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
	out, _, code = cmdtest.Run(t, "close", "-redis", url, "-namespace", "ops", hostile)
	if code != 0 || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("close: %d %q", code, out)
	}
}

// Flags may follow NAME.
func TestFlagsAfterTheName(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	out, errOut, code := cmdtest.Run(t, "open", "payments", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.HasPrefix(out, "payments: open") {
		t.Fatalf("open NAME -redis URL: %d %q %q", code, out, errOut)
	}
	out, errOut, code = cmdtest.Run(t, "close", "-redis", url, "-namespace", "ops", "--", "-redis")
	if code != 1 || !strings.Contains(errOut, "no breaker named -redis") {
		t.Fatalf("a NAME after --: %d %q %q", code, out, errOut)
	}
}

// Neither -help nor an error prints a token or a Redis password.
func TestSecretsAreNeverPrinted(t *testing.T) {
	env := []string{"INFUSE_TOKEN=tok-3f9a1c", "INFUSE_REDIS=redis://ops:pw-77d2e1@127.0.0.1:1/0"}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cmdtest.Binary(t), args...)
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

// An operator's command is no member: the count stays the fleet's.
func TestOperatorCommandsAreNoMembers(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	for _, verb := range []string{"open", "close", "force-open", "release"} {
		if _, errOut, code := cmdtest.Run(t, verb, "payments", "-redis", url, "-namespace", "ops"); code != 0 {
			t.Fatalf("%s: %d %s", verb, code, errOut)
		}
		out, _, _ := cmdtest.Run(t, "status", "-json", "-redis", url, "-namespace", "ops")
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
	srv, url, _, _ := cmdtest.Fleet(t, "payments")
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
	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
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
	out, _, _ = cmdtest.Run(t, "status", "-json", "-redis", url, "-namespace", "ops")
	if strings.Contains(out, "x}:{b") {
		t.Fatalf("namespace ops lists a breaker of ops:{x}: %s", out)
	}
	if _, errOut, code := cmdtest.Run(t, "force-open", "-redis", url, "-namespace", "ops", "x}:{b"); code != 1 || !strings.Contains(errOut, "no breaker named") {
		t.Fatalf("force-open across namespaces: %d %q", code, errOut)
	}
	if info, err := other.Breaker(ctx, "x}:{b"); err != nil || info.Mode != infuse.ModeNormal {
		t.Fatalf("the other namespace's breaker: %+v %v", info, err)
	}
}

// The Redis demo says which namespace it uses and the commands to look at
// it, and shows an outage of Redis.
func TestTheRedisDemoPrintsItsCommandsAndShowsAnOutage(t *testing.T) {
	srv, url, _, _ := cmdtest.Fleet(t)
	cmd := exec.Command(cmdtest.Binary(t), "demo", "-redis", url, "-members", "2", "-duration", "20s")
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
	_, url, store, _ := cmdtest.Fleet(t)
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 5, SuccessThreshold: 3, HalfOpenMaxCalls: 3})
	if err != nil {
		t.Fatal(err)
	}
	lines := cmdtest.StartWatch(t, url)
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
