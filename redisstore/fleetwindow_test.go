package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// fleet builds n members of one breaker, each on a store of its own.
func fleet(t *testing.T, n int, cfg infuse.Config) ([]*infuse.Breaker, []*redisstore.Store) {
	t.Helper()
	srv := redistest.Start(t)
	var bs []*infuse.Breaker
	var ss []*redisstore.Store
	for range n {
		s := newStore(t, srv, redisstore.Options{Namespace: "window"})
		b, _ := newBreaker(t, s, cfg)
		bs, ss = append(bs, b), append(ss, s)
	}
	return bs, ss
}

func syncAllStores(t *testing.T, ss []*redisstore.Store) {
	t.Helper()
	for _, s := range ss {
		syncStore(t, s)
	}
	for _, s := range ss { // once more, so every member sees the last change
		syncStore(t, s)
	}
}

func calls(b *infuse.Breaker, failures, successes int) {
	for range failures {
		_ = b.Call(bg, boom)
	}
	for range successes {
		_ = b.Call(bg, succeed)
	}
}

// The window is the fleet's: a member at 60 % failures does not trip a
// fleet at 20 %; the fleet reaching 50 % trips every member. (The members'
// growth reaches Redis every WindowInterval; Sync sends it at once.)
func TestMembersFeedOneWindow(t *testing.T) {
	bs, ss := fleet(t, 3, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.5, MinCalls: 10})
	calls(bs[1], 0, 10)
	calls(bs[2], 0, 10)
	syncAllStores(t, ss) // the window holds 20 successes...
	calls(bs[0], 6, 4)
	syncAllStores(t, ss) // ...when a member at 60 % sends its 10 calls
	for i, b := range bs {
		if b.State() != infuse.Closed {
			t.Fatalf("member %d is %v with the fleet at 20 %% failures", i, b.State())
		}
	}
	// Metrics shows the fleet's window, not the member's own 60 %.
	if m := bs[0].Metrics(); !m.Fleet || m.Calls != 30 || m.Failures != 6 || m.FailureRate != 0.2 {
		t.Fatalf("member 0's metrics %+v", m)
	}
	calls(bs[1], 10, 0)
	calls(bs[2], 10, 0) // 26 failures in 50 calls
	syncAllStores(t, ss)
	for i, b := range bs {
		if b.State() != infuse.Open {
			t.Fatalf("member %d is %v with the fleet at 52 %% failures", i, b.State())
		}
	}
}

// FleetMinMembers: one member failing every call does not trip the fleet;
// a second member's failure does.
func TestOneBadMemberDoesNotTripTheFleet(t *testing.T) {
	bs, ss := fleet(t, 2, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(time.Minute, time.Second),
		FailureRate: 0.5, MinCalls: 10, FleetMinMembers: 2})
	calls(bs[0], 20, 0)
	syncAllStores(t, ss)
	if bs[0].State() != infuse.Closed || bs[1].State() != infuse.Closed {
		t.Fatalf("one bad member tripped the fleet: %v, %v", bs[0].State(), bs[1].State())
	}
	if err := bs[1].Call(bg, boom); errors.Is(err, infuse.ErrTripped) {
		t.Fatal("the fleet trip is the store's, made in the background")
	}
	syncAllStores(t, ss)
	if bs[0].State() != infuse.Open || bs[1].State() != infuse.Open {
		t.Fatalf("two failing members: %v, %v", bs[0].State(), bs[1].State())
	}
}

// FailMax still trips a member on its own consecutive failures.
func TestFleetWindowKeepsFailMax(t *testing.T) {
	bs, _ := fleet(t, 1, infuse.Config{FailMax: 3, Window: infuse.TimeWindow(time.Minute, time.Second),
		FailureRate: 0.9, MinCalls: 100, FleetMinMembers: 5})
	calls(bs[0], 2, 0)
	if err := bs[0].Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("third consecutive failure: %v", err)
	}
}

// The resilience4j boundary cases, on the fleet's window in Redis.
func TestFleetWindowBoundaries(t *testing.T) {
	cfg := infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.5, MinCalls: 10}
	t.Run("MinCallsNotReached", func(t *testing.T) {
		bs, ss := fleet(t, 1, cfg)
		calls(bs[0], 9, 0)
		syncAllStores(t, ss)
		wantState(t, bs[0], infuse.Closed)
	})
	t.Run("ExactlyAtTheThreshold", func(t *testing.T) {
		bs, ss := fleet(t, 2, cfg)
		calls(bs[1], 0, 5)
		syncAllStores(t, ss)
		calls(bs[0], 5, 0) // 5 of 10
		syncAllStores(t, ss)
		wantState(t, bs[1], infuse.Open)
	})
	t.Run("BucketRollOver", func(t *testing.T) {
		bs, ss := fleet(t, 1, infuse.Config{FailMax: 1000, Window: infuse.TimeWindow(300*time.Millisecond, 100*time.Millisecond),
			FailureRate: 0.5, MinCalls: 10})
		calls(bs[0], 4, 0)
		syncAllStores(t, ss)
		time.Sleep(350 * time.Millisecond) // the four failures leave the window
		calls(bs[0], 4, 6)
		syncAllStores(t, ss)
		wantState(t, bs[0], infuse.Closed) // 4 of 10, not 8 of 14
	})
}

// Fields in a breaker's window hash that its script did not write (names
// that alias a bucket, counts no bucket holds) are dropped, not summed:
// the window stays the fleet's, its rate still trips, and nothing of it
// reaches the store's health or another breaker's window.
func TestHostileWindowFieldsAreDropped(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{Namespace: "window"})
	ss := []*redisstore.Store{store}
	cfg := infuse.Config{Name: "db", FailMax: 1000, Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.5, MinCalls: 10}
	db, _ := newBreaker(t, store, cfg)
	ocfg := cfg
	ocfg.Name = sameBucket("db")
	other, _ := newBreaker(t, store, ocfg)
	bs := []*infuse.Breaker{db}
	calls(db, 0, 5)
	calls(other, 0, 5)
	syncAllStores(t, ss)
	rc := srv.Client(t)
	ws, err := rc.Keys(bg, store.Key("db")+":w:*").Result()
	if err != nil || len(ws) == 0 {
		t.Fatalf("no window key: %v %v", ws, err)
	}
	now, _ := rc.Time(bg).Result()
	b := now.Unix() // the current bucket, in seconds
	fields := make([]any, 0, 80000)
	for i := range 20000 {
		z := strings.Repeat("0", i%40+1)
		fields = append(fields, fmt.Sprintf("c%s%d", z, b), 1<<48-1, fmt.Sprintf("c%d.%s", b, z), 1<<48-1)
	}
	rc.HSet(bg, ws[0], fields...)
	rc.HSet(bg, ws[0], fmt.Sprintf("c%d", b-1), "99999999999999999999")
	e0 := ss[0].Errors()
	calls(bs[0], 4, 0) // 4 failures of 9 calls: below MinCalls
	calls(other, 0, 5)
	syncAllStores(t, ss)
	if m := bs[0].Metrics(); m.Calls != 9 || m.Failures != 4 || bs[0].State() != infuse.Closed {
		t.Fatalf("the window after hostile fields: %v %+v", bs[0].State(), m)
	}
	calls(bs[0], 6, 0) // 10 failures of 15 calls
	syncAllStores(t, ss)
	if bs[0].State() != infuse.Open {
		t.Fatalf("the fleet window at 67%% failures did not trip: %v", bs[0].State())
	}
	if m := other.Metrics(); other.State() != infuse.Closed || m.Calls != 10 {
		t.Fatalf("the other breaker: %v %+v", other.State(), m)
	}
	if n := ss[0].Errors() - e0; n != 0 {
		t.Fatalf("%d store errors", n)
	}
	if n := rc.HLen(bg, ws[0]).Val(); n > 70 {
		t.Fatalf("%d fields left in the window", n)
	}
}
