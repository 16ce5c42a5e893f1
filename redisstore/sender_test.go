package redisstore_test

// The sender, faced with a slow Redis and lost answers: every failure is
// counted, once.

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A report that reaches Redis after its deadline merges nothing, says so,
// and is sent again: no failure is dropped while Redis is slow.
func TestASlowReportIsSentAgain(t *testing.T) {
	srv := redistest.Start(t)
	g := &gate{}
	s := gatedStore(t, srv, redisstore.Options{Namespace: "rv8", OpTimeout: 100 * time.Millisecond}, g)
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 5, ResetTimeout: time.Minute})
	_ = b.Call(bg, boom) // loads the scripts
	_ = b.Call(bg, succeed)
	syncStore(t, s)
	f := func(cmds []redis.Cmder, next func() error) error {
		for _, c := range cmds {
			if isReport(c) {
				time.Sleep(150 * time.Millisecond) // Redis 150ms away (or busy)
				break
			}
		}
		return next()
	}
	g.around.Store(&f)
	for range 3 {
		_ = b.Call(bg, boom)
		time.Sleep(300 * time.Millisecond)
	}
	g.around.Store(nil)
	syncStore(t, s)
	got := srv.Client(t).HGet(bg, s.Key("db"), "f").Val()
	t.Logf("stored run %q, breaker's view %d, store errors %d", got, b.Counts().ConsecutiveFailures, s.Errors())
	if got != "3" {
		t.Fatalf("3 failures, each sent once and answered, stored as a run of %q (view %d), no error reported",
			got, b.Counts().ConsecutiveFailures)
	}
}

var errLost = errors.New("review: answer lost")

func isReport(c redis.Cmder) bool { return isScript(c, "report") }

// Rounds of sends whose answers are lost after Redis ran them: every
// batch sent again is merged once (batch numbers only grow).
func TestRetriedBatchesAreCountedOnce(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "rv1", OpTimeout: 100 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
		RefreshInterval: time.Hour}
	g := &gate{}
	s := gatedStore(t, srv, opts, g)
	b, _ := newBreaker(t, s, infuse.Config{FailMax: 100, ResetTimeout: time.Minute})
	_ = b.Call(bg, boom) // loads the report script
	_ = b.Call(bg, succeed)
	syncStore(t, s)
	c := srv.Client(t)
	t.Logf("before: f=%s", c.HGet(bg, s.Key("db"), "f").Val())

	var lose atomic.Int32
	lose.Store(2)
	var rounds atomic.Int32
	f := func(cmds []redis.Cmder, next func() error) error {
		rep := 0
		for _, c := range cmds {
			if isReport(c) {
				rep++
			}
		}
		if rep == 0 {
			return next()
		}
		k := rounds.Add(1)
		err := next() // Redis runs them
		t.Logf("round %d: %d reports, answers %v", k, rep, cmds[0].Err())
		if lose.Add(-1) >= 0 {
			for _, c := range cmds {
				c.SetErr(errLost)
			}
			return errLost
		}
		return err
	}
	g.around.Store(&f)
	_ = b.Call(bg, boom) // batch 1: sent at once
	for rounds.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	_ = b.Call(bg, boom) // batch 2: with batch 1's retry, after RetryInterval
	time.Sleep(time.Second)
	g.around.Store(nil)
	syncStore(t, s)
	got := c.HGet(bg, s.Key("db"), "f").Val()
	t.Logf("stored run %s after 2 failures; rounds %d; breaker view %d", got, rounds.Load(), b.Counts().ConsecutiveFailures)
	if got != "2" {
		t.Fatalf("2 failures stored as a run of %s: a retried batch was merged twice", got)
	}
}
