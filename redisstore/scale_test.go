package redisstore_test

import (
	"context"
	"fmt"

	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// Load on Redis is what limits a fleet. These tests count the commands
// Redis runs (INFO commandstats: commands inside scripts count too); the
// scale table in docs/performance.md comes from bench/, with real time.

// scaleFleet is members stores, each with its own client, each binding
// the same n breakers.
func scaleFleet(t *testing.T, srv *redistest.Server, ns string, members, n int, opts redisstore.Options) ([]*redisstore.Store, [][]*infuse.Breaker) {
	t.Helper()
	opts.Namespace = ns
	stores := make([]*redisstore.Store, members)
	breakers := make([][]*infuse.Breaker, members)
	var wg sync.WaitGroup
	for m := range members {
		stores[m] = newStore(t, srv, opts)
		breakers[m] = make([]*infuse.Breaker, n)
		wg.Go(func() {
			for i := range n {
				b, err := infuse.New(infuse.Config{Name: fmt.Sprintf("svc-%05d", i), Storage: stores[m], ResetTimeout: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				breakers[m][i] = b
			}
		})
	}
	wg.Wait()
	for _, s := range stores {
		syncStore(t, s)
	}
	return stores, breakers
}

func stats(t *testing.T, srv *redistest.Server) redistest.Stats {
	t.Helper()
	st, err := redistest.ReadStats(context.Background(), srv.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// An idle fleet (every breaker closed, nothing failing) costs Redis a few
// commands per member per RefreshInterval, however many breakers it has:
// a heartbeat and one read of every bucket's change counter. Idle
// breakers have no keys at all.
func TestIdleLoadDoesNotGrowWithBreakers(t *testing.T) {
	sizes := []int{100, 1000, 5000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	const members, intervals = 4, 10
	refresh := 50 * time.Millisecond
	var perMember []float64
	for _, n := range sizes {
		srv := redistest.Start(t)
		stores, breakers := scaleFleet(t, srv, "idle", members, n, redisstore.Options{RefreshInterval: refresh})
		time.Sleep(2 * refresh)
		start := time.Now()
		before := stats(t, srv)
		time.Sleep(intervals * refresh)
		d := stats(t, srv).Sub(before)
		// Per RefreshInterval as they passed: a busy host sleeps longer
		// than it was asked to, and the members poll all the while.
		per := float64(d.Commands-redistest.StatsCost) / members / (float64(time.Since(start)) / float64(refresh))
		t.Logf("%d breakers × %d members: %.1f commands per member per RefreshInterval %v", n, members, per, d.ByCommand)
		perMember = append(perMember, per)
		if per > 50 {
			t.Errorf("%d breakers: %.1f commands per member per RefreshInterval, want at most 50", n, per)
		}
		keys := srv.Client(t).Keys(context.Background(), "idle:v2:*:b:*").Val()
		if len(keys) != 0 {
			t.Errorf("%d breakers with nothing to share have %d keys, e.g. %v", n, len(keys), keys[:1])
		}
		listingCost(t, srv, stores, breakers, n)
	}
	for i, p := range perMember {
		// The poll ticks on its own; a tick either side is noise.
		if p > perMember[0]*1.3+1 {
			t.Errorf("idle load grows with breakers: %v per member at %v breakers", perMember, sizes[:i+1])
		}
	}
}

// listingCost checks that listing the namespace costs a few commands per
// bucket, not per breaker, and lists every breaker once, with its members,
// while breakers change.
func listingCost(t *testing.T, srv *redistest.Server, stores []*redisstore.Store, breakers [][]*infuse.Breaker, n int) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // an operator trips and closes breakers meanwhile
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := breakers[i%len(breakers)][(i*31)%n]
			_ = b.Open(bg)
			_ = b.Close(bg)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for range 3 {
		before := stats(t, srv)
		list, err := stores[0].Breakers(bg)
		d := stats(t, srv).Sub(before)
		if err != nil {
			t.Fatal(err)
		}
		listing := d.ByCommand["hgetall"] + d.ByCommand["time"]
		if listing > 500 || d.ByCommand["hgetall"] > 3*16 {
			t.Fatalf("listing %d breakers cost %d commands (%v)", n, listing, d.ByCommand)
		}
		seen := map[string]bool{}
		for _, i := range list {
			if seen[i.Name] {
				t.Fatalf("%s listed twice", i.Name)
			}
			seen[i.Name] = true
			if i.Members != len(stores) {
				t.Fatalf("%s has %d members, want %d", i.Name, i.Members, len(stores))
			}
		}
		if len(seen) != n {
			t.Fatalf("listed %d breakers of %d", len(seen), n)
		}
	}
}

// Successes cost nothing; a failure costs Redis a bounded number of
// commands, whatever the number of breakers and members (no member
// re-reads a breaker because another's failure was merged).
func TestFailureCostIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	const members, n, failures = 4, 500, 200
	stores, breakers := scaleFleet(t, srv, "cost", members, n, redisstore.Options{RefreshInterval: time.Hour})
	before := stats(t, srv)
	for i := range failures {
		b := breakers[i%members][(i*7)%n]
		_ = b.Call(bg, boom)
		for range 20 {
			_ = b.Call(bg, succeed)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, s := range stores { // only the outcomes are left to send
		waitSent(t, s)
	}
	d := stats(t, srv).Sub(before)
	per := float64(d.Commands-redistest.StatsCost) / failures
	t.Logf("%.1f commands per failure: %v", per, d.ByCommand)
	if per > 30 {
		t.Errorf("%.1f commands per failure, want at most 30", per)
	}
}

// waitSent waits until the store has nothing left to send.
func waitSent(t *testing.T, s *redisstore.Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Pending() {
		if time.Now().After(deadline) {
			t.Fatal("the store never sent what it gathered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A transition costs the other members one read of what changed, not of
// their whole bucket, also when it starts the bucket's counter.
func TestATransitionIsReadNotTheBucket(t *testing.T) {
	srv := redistest.Start(t)
	stores, breakers := scaleFleet(t, srv, "read", 2, 1000, redisstore.Options{RefreshInterval: time.Hour})
	_ = stores
	before := stats(t, srv)
	a, b := breakers[0][7], breakers[1][7]
	if err := a.Open(bg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other member sees the trip", func() bool { return b.State() == infuse.Open })
	time.Sleep(20 * time.Millisecond)
	d := stats(t, srv).Sub(before)
	if reads := d.ByCommand["hmget"]; reads > 6 {
		t.Fatalf("one transition read %d states (%v): a whole bucket, not what changed", reads, d.ByCommand)
	}
}
