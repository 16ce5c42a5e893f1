package console

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
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
