package infuse_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

// causes lists the causes of the state changes rec saw, as "to:cause".
func causes(rec *infusetest.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		if e.Kind == infuse.EventStateChange {
			out = append(out, e.To.String()+":"+e.Cause.String())
		}
	}
	return out
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every transition says why it was made, and every breaker sharing the
// state hears the same cause.
func TestEachTransitionSaysWhy(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	fail := func(context.Context) error { return boom }
	ok := func(context.Context) error { return nil }
	clock := infusetest.NewClock()
	store := infuse.NewMemoryStorage()
	var rec, other infusetest.Recorder
	cfg := infuse.Config{Name: "dep", FailMax: 2, ResetTimeout: time.Second, Clock: clock, Storage: store,
		HalfOpenMaxWait: time.Minute, TrialExpiry: infuse.ExpiryOpens}
	cfg.Listeners = []infuse.Listener{&rec}
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listeners = []infuse.Listener{&other}
	if _, err := infuse.New(cfg); err != nil {
		t.Fatal(err)
	}
	_ = b.Call(ctx, fail)
	_ = b.Call(ctx, fail) // open: failures
	clock.Advance(time.Second)
	_ = b.Call(ctx, fail) // half-open: the open period is over; open: the trial failed
	clock.Advance(2 * time.Second)
	_ = b.Call(ctx, ok) // half-open, then closed: the trials succeeded
	_ = b.Open(ctx)     // an operator
	_ = b.Close(ctx)
	_, _ = b.HoldOpen(ctx, time.Minute)
	clock.Advance(time.Minute)
	_, _ = b.HoldOpenBecause(ctx, 90*time.Minute, infuse.CauseRetryAfter) // extends the open period; capped
	clock.Advance(5 * time.Minute)
	done, err := b.Allow(ctx) // the trial that never reports back
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	_ = b.Call(ctx, ok) // the held trial expires: open again
	done(nil)
	want := []string{
		"open:failures", "half-open:open-period-over", "open:trial-failed",
		"half-open:open-period-over", "closed:trials-succeeded",
		"open:operator", "closed:operator", "open:hold", "open:retry-after",
		"half-open:open-period-over", "open:trial-expired",
	}
	if got := causes(&rec); !sameList(got, want) {
		t.Fatalf("causes\n%v\nwant\n%v", got, want)
	}
	// The other breaker saw the changes (not each one: it learns of them
	// when it is next asked), each with its cause.
	for _, c := range causes(&other) {
		found := false
		for _, w := range want {
			found = found || c == w
		}
		if !found {
			t.Errorf("the other breaker heard %s, a cause nobody gave", c)
		}
	}
}

// A rate trip says which rate: the failure rate before the slow-call
// rate.
func TestARateTripSaysWhichRate(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		fail, slow bool
		want       infuse.Cause
	}{
		{"failures", true, false, infuse.CauseFailureRate},
		{"slow calls", false, true, infuse.CauseSlowCallRate},
		{"both", true, true, infuse.CauseFailureRate},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rec infusetest.Recorder
			clock := infusetest.NewClock()
			b, err := infuse.New(infuse.Config{Name: "dep", FailMax: 100, Clock: clock, Listeners: []infuse.Listener{&rec},
				Window: infuse.CountWindow(4), MinCalls: 4, FailureRate: 0.5, SlowCallRate: 0.5, SlowCallDuration: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 4 && b.State() == infuse.Closed; i++ {
				_ = b.Call(ctx, func(context.Context) error {
					if c.slow {
						clock.Advance(2 * time.Second)
					}
					if c.fail {
						return errors.New("boom")
					}
					return nil
				})
			}
			if got := causes(&rec); len(got) != 1 || got[0] != "open:"+c.want.String() {
				t.Fatalf("causes %v, want open:%v", got, c.want)
			}
		})
	}
}
