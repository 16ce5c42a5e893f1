package infuse_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

// Totals counts every call exactly, whichever way it is made and however
// many goroutines make them, from the first time it is asked.
func TestTotalsCountEveryCall(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1 << 30, ResetTimeout: time.Minute})
	_ = b.Call(bg, boom) // before counting: not counted
	if got := b.Totals(); got != (infuse.Totals{}) {
		t.Fatalf("before counting: %+v", got)
	}
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				switch (g + i) % 5 {
				case 0:
					_ = b.Call(bg, succeed)
				case 1:
					_ = b.Call(bg, boom)
				case 2:
					_, _ = infuse.Execute(bg, b, func(context.Context) (int, error) { return 1, nil })
				case 3:
					done, err := b.Allow(bg)
					if err == nil {
						done(nil)
					}
				case 4:
					ctx, cancel := context.WithCancel(bg)
					_ = b.Call(ctx, func(context.Context) error { cancel(); return context.Canceled })
				}
			}
		})
	}
	wg.Wait()
	want := infuse.Totals{Successes: 3 * goroutines * each / 5, Failures: goroutines * each / 5, Ignored: goroutines * each / 5}
	if got := b.Totals(); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Rejections, a panic, transitions.
	_ = b.Open(bg)
	for range 3 {
		if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	func() {
		defer func() { _ = recover() }()
		_ = b.Call(bg, func(context.Context) error { panic("trial") })
	}()
	got := b.Totals()
	if got.Rejections != 3 || got.Failures != want.Failures+1 || got.Transitions != 3 {
		t.Fatalf("after rejections, a panicking trial: %+v", got)
	}
}

// A listener that wants only state changes sees only those.
func TestListenForPassesOnlyItsKinds(t *testing.T) {
	var mu sync.Mutex
	var kinds []infuse.EventKind
	l := infuse.ListenFor(infuse.ListenerFunc(func(e infuse.Event) {
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	}), infuse.EventStateChange)
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, Listeners: []infuse.Listener{l}})
	_ = b.Call(bg, succeed)
	_ = b.Call(bg, boom)
	_ = b.Call(bg, succeed) // rejected
	if len(kinds) != 1 || kinds[0] != infuse.EventStateChange {
		t.Fatalf("events %v", kinds)
	}
}

// Totals.Add adds every field.
func TestTotalsAddAddsEveryField(t *testing.T) {
	a := infuse.Totals{Successes: 1, Failures: 2, Ignored: 3, Rejections: 4, Transitions: 5, StoreErrors: 6}
	b := infuse.Totals{Successes: 10, Failures: 20, Ignored: 30, Rejections: 40, Transitions: 50, StoreErrors: 60}
	want := infuse.Totals{Successes: 11, Failures: 22, Ignored: 33, Rejections: 44, Transitions: 55, StoreErrors: 66}
	if got := a.Add(b); got != want {
		t.Fatalf("Add = %+v, want %+v", got, want)
	}
}
