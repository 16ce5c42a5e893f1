package console

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

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

// nextLine is the watch's next line, which must hold every one of want.
func nextLine(t *testing.T, lines *bufio.Scanner, want ...string) string {
	t.Helper()
	if !lines.Scan() {
		t.Fatalf("watch ended; want a line with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(lines.Text(), w) {
			t.Fatalf("line %q; want %q in it", lines.Text(), want)
		}
	}
	return lines.Text()
}

// When Redis dies, watch says so at once; when it is back, watch says so
// and that Redis lost what it held (a restart without its data).
func TestWatchSaysWhenRedisIsLostAndBack(t *testing.T) {
	srv, url, _, bs := cmdtest.Fleet(t, "payments")
	_ = bs[0].Open(context.Background())
	lines := cmdtest.StartWatch(t, url, "-duration", "2m")
	nextLine(t, lines, "watching namespace ops")
	srv.Kill()
	nextLine(t, lines, "lost Redis (", "transitions made until it is back may be missed")
	srv.Restart()
	nextLine(t, lines, "Redis is back after ", "without what it held")
}

// Cut off from a Redis that goes on serving the fleet, watch says it lost
// Redis; when back, how many changes Redis recorded meanwhile and each
// breaker whose state changed, and it does not print those changes again
// as transitions.
func TestWatchTellsWhatChangedWhileAway(t *testing.T) {
	srv, _, store, bs := cmdtest.Fleet(t, "payments", "search", "orders")
	ctx := context.Background()
	_ = bs[1].Open(ctx)
	_ = bs[2].Open(ctx)
	proxy := redistest.StartProxy(t, srv.Addr)
	lines := cmdtest.StartWatch(t, "redis://"+proxy.Addr+"/0", "-duration", "2m")
	nextLine(t, lines, "watching namespace ops")
	proxy.Cut()
	nextLine(t, lines, "lost Redis (")
	_ = bs[0].Open(ctx)      // closed, no state in Redis -> open
	_ = bs[1].Close(ctx)     // open -> closed
	_ = bs[2].ForceOpen(ctx) // open -> forced open
	_ = store.Sync(ctx)
	proxy.Mend()
	nextLine(t, lines, "Redis is back after ", "3 changes recorded meanwhile")
	got := map[string]string{}
	for range 3 {
		l := nextLine(t, lines, "changed while Redis was away")
		got[strings.Fields(l)[1]] = l
	}
	for name, want := range map[string][]string{
		"payments": {"open ", "mode=normal", "(was closed, no state in Redis)"},
		"search":   {"closed ", "(was open, mode normal, generation "},
		"orders":   {"open ", "mode=forced-open", "(was open, mode normal, generation "},
	} {
		for _, w := range want {
			if !strings.Contains(got[name], w) {
				t.Errorf("%s: %q; want %q in it", name, got[name], w)
			}
		}
	}
	// A transition after that is told as ever, and nothing before it.
	_ = bs[1].Open(ctx)
	nextLine(t, lines, "search", "open", "generation=")
}
