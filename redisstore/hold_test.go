package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// One member told "retry after" holds the whole fleet off for that long,
// longer or shorter than the policy's open period, and the operators'
// listing says how long is left.
func TestHoldOpenHoldsTheFleet(t *testing.T) {
	for _, c := range []struct {
		name          string
		reset, hold   time.Duration
		backoff       infuse.Backoff
		wantAtLeast   time.Duration
		trialNotUntil time.Duration
	}{
		{"LongerThanResetTimeout", 100 * time.Millisecond, 1500 * time.Millisecond, infuse.Backoff{}, 1200 * time.Millisecond, 1200 * time.Millisecond},
		{"ShorterThanResetTimeout", time.Minute, 600 * time.Millisecond, infuse.Backoff{}, 300 * time.Millisecond, 300 * time.Millisecond},
		{"WithBackoffAndJitter", time.Second, 1500 * time.Millisecond, infuse.Backoff{Multiplier: 3, Jitter: 0.5}, 1200 * time.Millisecond, 1200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t)
			opts := redisstore.Options{Namespace: "hold"}
			sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
			cfg := infuse.Config{Name: "api", ResetTimeout: c.reset, Backoff: c.backoff}
			a, _ := newBreaker(t, sa, cfg)
			b, _ := newBreaker(t, sb, cfg)
			syncStore(t, sa)
			syncStore(t, sb)
			start := time.Now()
			left, err := a.HoldOpen(bg, c.hold)
			if err != nil || left < c.hold-50*time.Millisecond || left > c.hold {
				t.Fatalf("HoldOpen(%v): %v %v", c.hold, left, err)
			}
			syncStore(t, sb)
			wantState(t, b, infuse.Open)
			if got := b.RetryAfter(); got < c.wantAtLeast || got > c.hold+50*time.Millisecond {
				t.Fatalf("the other member's RetryAfter %v, want about %v", got, c.hold)
			}
			list, err := sa.Breakers(bg)
			if err != nil || len(list) != 1 {
				t.Fatalf("listing %v %v", list, err)
			}
			eventually(t, "the listing shows the hold's end", func() bool {
				list, _ = sa.Breakers(bg)
				ra := list[0].RetryAfter
				return ra > c.wantAtLeast-time.Since(start) && ra <= c.hold
			})
			for time.Since(start) < c.trialNotUntil {
				err := b.Call(bg, succeed)
				if !errors.Is(err, infuse.ErrOpen) {
					t.Fatalf("%v into a hold of %v, a call went through: %v", time.Since(start), c.hold, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Until(start.Add(c.hold + 50*time.Millisecond)))
			eventually(t, "a trial after the hold", func() bool { return b.Call(bg, succeed) == nil })
			if time.Since(start) > c.hold+2*time.Second {
				t.Fatalf("the trial came %v after a hold of %v", time.Since(start), c.hold)
			}
		})
	}
}

// When one member's trial closes the breaker, every member ramps up: each
// starts its ramp as it learns of the close.
func TestRampIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "ramp"}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{Name: "api", FailMax: 1, ResetTimeout: 100 * time.Millisecond, RampDuration: 10 * time.Second}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	_ = a.Call(bg, boom)
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
	sleepPastOpenPeriod(a)
	if err := a.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Closed)
	sa2, sb2 := a.RampShare(), b.RampShare()
	if sa2 <= 0 || sa2 >= 0.1 || sb2 <= 0 || sb2 >= 0.1 {
		t.Fatalf("ramp shares just after the close: %v and %v", sa2, sb2)
	}
	rejected := 0
	for range 100 {
		if err := b.Call(bg, succeed); errors.Is(err, infuse.ErrOpen) {
			rejected++
		}
	}
	if rejected < 80 {
		t.Fatalf("the other member rejected %d of 100 calls early in the ramp", rejected)
	}
}
