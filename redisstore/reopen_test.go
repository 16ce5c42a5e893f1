package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A failed trial opens the breaker again from when it failed, not from
// when its answer reaches Redis: here Redis is paused as the trial fails,
// so the answer arrives 150 ms late, and the new open period still ends a
// ResetTimeout after the failure. (Before, it ended a ResetTimeout after
// Redis ran the answer: every trial that queued behind the fleet's permit
// requests lengthened the outage by that wait.)
func TestAFailedTrialReopensFromItsFailure(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{Namespace: "reopen", OpTimeout: 2 * time.Second})
	const reset = time.Second
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 1, ResetTimeout: reset})
	syncStore(t, s)
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	if err := b.HalfOpen(bg); err != nil {
		t.Fatal(err)
	}
	var failedAt time.Time
	err := b.Call(bg, func(context.Context) error {
		srv.Pause()
		time.AfterFunc(150*time.Millisecond, srv.Resume)
		failedAt = time.Now()
		return errBoom
	})
	if !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	if late := time.Since(failedAt); late < 120*time.Millisecond {
		t.Fatalf("the answer came %v after the failure; the test needs it late", late)
	}
	// The open period ends a ResetTimeout after the failure, give or take
	// the clocks' milliseconds.
	end := time.Now().Add(b.RetryAfter())
	if d := end.Sub(failedAt.Add(reset)); d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Fatalf("the open period ends %v after failure+ResetTimeout", d)
	}
	// And so it is in Redis, for every member.
	info, err := s.Breaker(bg, "db")
	if err != nil {
		t.Fatal(err)
	}
	if d := info.OpenSince - time.Since(failedAt); d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Fatalf("Redis has it open for %v, %v more than since the failure", info.OpenSince, d)
	}
}
