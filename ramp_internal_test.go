package infuse

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// A recovery the store relabels (a closed snapshot of a newer generation
// with the same close: a shared store confirming the close it recorded)
// is the same ramp: the calls it admitted go on counting towards its
// failure rate.
func TestARelabelledRecoveryIsTheSameRamp(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	st := &stubStore{}
	b := newInternal(t, Config{Storage: st, Clock: clock, FailMax: 100, ResetTimeout: time.Minute, RampDuration: time.Minute})
	ctx := context.Background()
	if err := b.Open(ctx); err != nil {
		t.Fatal(err)
	}
	clock.now = clock.now.Add(time.Minute)
	if err := b.Call(ctx, func(context.Context) error { return nil }); err != nil || b.State() != Closed {
		t.Fatalf("the trial: %v, %v", err, b.State())
	}
	clock.now = clock.now.Add(30 * time.Second) // half the calls admitted
	admit := func(fail bool) {
		t.Helper()
		for {
			err := b.Call(ctx, func(context.Context) error {
				if fail {
					return errors.New("failed")
				}
				return nil
			})
			var oe *OpenError
			if !errors.As(err, &oe) || oe.Reason != ReasonRamping {
				return
			}
		}
	}
	for _, fail := range []bool{false, false, false, false, false, true, true, true, true} {
		admit(fail) // nine admitted, four failed
	}
	s := b.bind.Snapshot()
	s.Generation++
	st.cfg.Observe(s) // the same close, relabelled
	st.transition = func(tr storage.Transition) (storage.Snapshot, bool, error) {
		if tr.From != s.Generation || tr.To != Open {
			return s, false, nil
		}
		return storage.Snapshot{State: Open, Generation: s.Generation + 1, OpenedAt: clock.now, Cause: tr.Cause}, true, nil
	}
	if b.State() != Closed || b.Generation() != s.Generation {
		t.Fatalf("after the relabel: %v at %d", b.State(), b.Generation())
	}
	admit(true) // the tenth admitted call, the fifth failure
	if b.State() != Open {
		t.Fatalf("five failures of ten admitted across the relabel: %v; want open again", b.State())
	}
}
