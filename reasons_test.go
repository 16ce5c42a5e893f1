package infuse_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

// A rejection says why: open, no trial permit free, or forced open.
func TestRejectionsSayWhy(t *testing.T) {
	store := infuse.NewMemoryStorage()
	clock := infusetest.NewClock()
	cfg := infuse.Config{Name: "why", Storage: store, Clock: clock, FailMax: 1, ResetTimeout: time.Second}
	a, _ := infuse.New(cfg)
	b, _ := infuse.New(cfg)
	reason := func(err error) (infuse.Reason, time.Duration) {
		t.Helper()
		var oe *infuse.OpenError
		if !errors.As(err, &oe) {
			t.Fatalf("%v is no *OpenError", err)
		}
		return oe.Reason, oe.RetryAfter
	}
	_ = a.Call(bg, boom)
	if r, after := reason(a.Call(bg, succeed)); r != infuse.ReasonOpen || after != time.Second {
		t.Fatalf("open: %v %v", r, after)
	}
	clock.Advance(time.Second)
	done, err := a.Allow(bg) // a's trial holds the only permit
	if err != nil {
		t.Fatal(err)
	}
	if r, after := reason(b.Call(bg, succeed)); r != infuse.ReasonNoPermit || after != 0 {
		t.Fatalf("no permit: %v %v", r, after)
	}
	done(nil)
	if err := a.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	for _, br := range []*infuse.Breaker{a, b} {
		err := br.Call(bg, succeed)
		if r, after := reason(err); r != infuse.ReasonForcedOpen || after != 0 {
			t.Fatalf("forced: %v %v", r, after)
		}
		if err.Error() != `infuse: circuit breaker "why" is forced open` {
			t.Fatal(err)
		}
	}
	if infuse.ReasonNoPermit.String() != "no-permit" || infuse.Reason(9).String() != "Reason(9)" ||
		infuse.Reason(0).String() != "Reason(0)" || infuse.ReasonThrottled.String() != "throttled" ||
		infuse.ReasonRamping.String() != "ramping" || (infuse.ReasonRamping+1).String() != "Reason(6)" {
		t.Fatal("Reason.String")
	}
}

// With the real clock, a rejection's RetryAfter is never shorter than the
// truth, and no longer than the open period.
func TestRealClockRejectionsNeverUnderstateRetryAfter(t *testing.T) {
	b, err := infuse.New(infuse.Config{Name: "real", FailMax: 1, ResetTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Minute) // no later than the breaker's, which opens after this
	_ = b.Call(bg, boom)
	for range 1000 {
		err := b.Call(bg, succeed)
		var oe *infuse.OpenError
		if !errors.As(err, &oe) || oe.Reason != infuse.ReasonOpen {
			t.Fatalf("%v", err)
		}
		if truth := time.Until(end); oe.RetryAfter < truth || oe.RetryAfter > time.Minute {
			t.Fatalf("RetryAfter %v, truth at least %v", oe.RetryAfter, truth)
		}
	}
}

// The memory store trips within Report, waiting on nothing: no store-call
// event, as EventStoreCall says; a manual transition and a trial's
// permit and outcome are store calls.
func TestMemoryStoreCallsAreTheDocumentedOnes(t *testing.T) {
	var rec infusetest.Recorder
	clock := infusetest.NewClock()
	b, _ := infuse.New(infuse.Config{Name: "sc", Clock: clock, FailMax: 1, ResetTimeout: time.Second,
		Listeners: []infuse.Listener{&rec}})
	_ = b.Call(bg, boom)
	if n := rec.Count(infuse.EventStoreCall); n != 0 {
		t.Fatalf("a trip in Report: %d store calls", n)
	}
	clock.Advance(time.Second)
	_ = b.Call(bg, succeed) // the trial: its permit and its outcome
	if n := rec.Count(infuse.EventStoreCall); n != 2 {
		t.Fatalf("a trial: %d store calls, want 2", n)
	}
	_ = b.Open(bg)
	if n := rec.Count(infuse.EventStoreCall); n != 3 {
		t.Fatalf("a manual transition: %d store calls, want 3", n)
	}
}
