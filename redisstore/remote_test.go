package redisstore_test

// Event.Remote: each transition of a fleet is reported as made by one
// member, and as observed by the others.

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

// Eight members, three callers each, call one failing backend together, so that the breaker
// trips on merged counts, goes half-open, fails its trial and opens again
// a few times, then recovers. Every member sees every transition; for each
// one (a generation and its state), exactly one member says it made it.
// Before, members that learned of a transition from the answer to their
// own call (a refused permit, a trip that lost the race) each claimed it.
func TestEachTransitionHasOneMaker(t *testing.T) {
	srv := redistest.Start(t)
	const members = 8
	type change struct {
		gen uint64
		to  infuse.State
	}
	var mu sync.Mutex
	makers := map[change]int{}
	seen := map[change]int{}
	var brs []*infuse.Breaker
	for range members {
		s := newStore(t, srv, redisstore.Options{Namespace: "remote", RefreshInterval: 20 * time.Millisecond})
		b, err := infuse.New(infuse.Config{Name: "dep", Storage: s, FailMax: 3, ResetTimeout: 30 * time.Millisecond,
			Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
				if e.Kind != infuse.EventStateChange {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				c := change{e.Generation, e.To}
				seen[c]++
				if !e.Remote {
					makers[c]++
				}
			})}})
		if err != nil {
			t.Fatal(err)
		}
		brs = append(brs, b)
		syncStore(t, s)
	}
	var failing sync.Map
	failing.Store("on", true)
	var wg sync.WaitGroup
	stop := time.Now().Add(400 * time.Millisecond)
	for i := range members * 3 { // three callers a member: its own calls race too
		b := brs[i%members]
		wg.Go(func() {
			for time.Now().Before(stop) {
				_ = b.Call(bg, func(context.Context) error {
					if v, _ := failing.Load("on"); v.(bool) {
						return errBoom
					}
					return nil
				})
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(250 * time.Millisecond)
	failing.Store("on", false)
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // the last changes reach everyone
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 {
		t.Fatalf("only %d transitions: %v", len(seen), seen)
	}
	var bad []string
	for c, n := range seen {
		if makers[c] != 1 {
			bad = append(bad, fmt.Sprintf("generation %d to %v: %d makers (%d members saw it)", c.gen, c.to, makers[c], n))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d transitions: %v", len(bad), len(seen), bad)
	}
}
