package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// Each transition of a fleet carries its cause to every member (in its
// event) and to operators (Info.Cause): Redis records it with the maker.
func TestAFleetSharesEachTransitionsCause(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "causes"}
	s1, s2 := newStore(t, srv, opts), newStore(t, srv, opts)
	var mu sync.Mutex
	heard := map[int][]string{}
	newMember := func(i int, s *redisstore.Store) *infuse.Breaker {
		b, err := infuse.New(infuse.Config{Name: "dep", FailMax: 2, ResetTimeout: 50 * time.Millisecond, Storage: s,
			Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
				if e.Kind == infuse.EventStateChange {
					mu.Lock()
					heard[i] = append(heard[i], e.To.String()+":"+e.Cause.String())
					mu.Unlock()
				}
			})}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := newMember(0, s1), newMember(1, s2)
	fail := func(context.Context) error { return errors.New("boom") }
	both := func() { syncStore(t, s1); syncStore(t, s2) }
	stored := func(want infuse.Cause) {
		t.Helper()
		both()
		i, err := s2.Breaker(ctx, "dep")
		if err != nil {
			t.Fatal(err)
		}
		if i.Cause != want {
			t.Fatalf("Redis says the last transition's cause is %v, want %v", i.Cause, want)
		}
		l, err := s2.Breakers(ctx)
		if err != nil || len(l) != 1 || l[0].Cause != want {
			t.Fatalf("the listing says %+v %v, want cause %v", l, err, want)
		}
	}
	both()
	_ = a.Call(ctx, fail)
	_ = a.Call(ctx, fail)
	stored(infuse.CauseFailures)
	eventually(t, "the open period is over", func() bool { return a.RetryAfter() == 0 })
	_ = a.Call(ctx, fail) // the trial: it fails
	stored(infuse.CauseTrialFailed)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stored(infuse.CauseOperator)
	if _, err := b.HoldOpenBecause(ctx, time.Minute, infuse.CauseRetryAfter); err != nil {
		t.Fatal(err)
	}
	stored(infuse.CauseRetryAfter)
	both()
	mu.Lock()
	defer mu.Unlock()
	for i := range 2 {
		for _, h := range heard[i] {
			if len(h) > 8 && h[len(h)-8:] == ":unknown" {
				t.Errorf("member %d heard a transition without its cause: %v", i, heard[i])
			}
		}
	}
}
