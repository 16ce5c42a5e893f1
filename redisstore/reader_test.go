package redisstore_test

// The reader and Watch: after a failed read, and past a read's limit,
// nothing is missed.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// After Redis lost its data and an operator forced a breaker open (a new
// epoch), a member's read of the bucket fails once: the next poll reads it
// again, and the member learns of the forced mode.
func TestAFailedFullReadIsRetried(t *testing.T) {
	srv := redistest.Start(t)
	opts := raceOpts("rv6")
	cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Hour}
	sa := newStore(t, srv, opts)
	g := &gate{}
	sb := gatedStore(t, srv, opts, g)
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	_ = a.Call(bg, boom) // a change in the bucket: b knows its counter
	syncStore(t, sa)
	syncStore(t, sb)
	_ = a.Close(bg)
	syncStore(t, sa)
	syncStore(t, sb)

	var failed atomic.Int32
	f := func(cmds []redis.Cmder, next func() error) error {
		// the read script for db: evalsha sha 5 <5 keys> chan k base "db"
		if len(cmds) == 1 {
			if a := cmds[0].Args(); len(a) == 12 && fmt.Sprint(a[2]) == "5" && fmt.Sprint(a[11]) == "db" && failed.CompareAndSwap(0, 1) {
				cmds[0].SetErr(errors.New("review: blip"))
				return cmds[0].Err()
			}
		}
		return next()
	}
	g.around.Store(&f)
	c := srv.Client(t)
	c.FlushAll(bg)
	if err := a.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // 40 polls
	t.Logf("read failed once: %v; redis md=%s; a %v/%v, b %v/%v", failed.Load() == 1, c.HGet(bg, sa.Key("db"), "md").Val(),
		a.State(), a.Mode(), b.State(), b.Mode())
	if failed.Load() == 1 && b.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("after one failed read, b never learned that db is forced open: %v/%v", b.State(), b.Mode())
	}
}

// More than 1024 breakers of one bucket change between two of Watch's
// reads: it reads on, and passes every change on.
func TestWatchPassesOnChangesPastItsLimit(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{Namespace: "rv4", RefreshInterval: 100 * time.Millisecond})
	k := bucketOfName("db")
	var names []string
	for i := 0; len(names) < 1080; i++ {
		n := fmt.Sprintf("n%d", i)
		if bucketOfName(n) == k {
			names = append(names, n)
		}
	}
	var bs []*infuse.Breaker
	for _, n := range names {
		b, _ := newBreaker(t, s, infuse.Config{Name: n, FailMax: 1, ResetTimeout: time.Hour})
		bs = append(bs, b)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	first := make(chan struct{})
	release := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		_ = s.Watch(ctx, func() { close(ready) }, func(c redisstore.Change) {
			mu.Lock()
			seen[c.Name] = true
			n := len(seen)
			mu.Unlock()
			if n == 1 {
				close(first)
				<-release // a slow consumer, once
			}
		})
	}()
	<-ready
	if err := bs[0].Open(bg); err != nil {
		t.Fatal(err)
	}
	<-first
	for _, b := range bs[1:] {
		if err := b.Open(bg); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	var missed []string
	for _, n := range names {
		if !seen[n] {
			missed = append(missed, n)
		}
	}
	t.Logf("log size %d", srv.Client(t).ZCard(bg, fmt.Sprintf("rv4:v2:{rv4.%d}:log", k)).Val())
	if len(missed) > 0 {
		t.Fatalf("Watch never passed on %d of %d changes (first %v)", len(missed), len(names), missed[0])
	}
}
