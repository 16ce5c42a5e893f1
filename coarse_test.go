package infuse

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A coarse clock whose timer is starved (here: its time a second behind)
// is moved on by the rejections themselves within coarseSample reads of a
// shard: no more than that many calls are rejected on its word once the
// open period is over.
func TestAStarvedCoarseClockRejectsNothingLate(t *testing.T) {
	b, err := New(Config{Name: "starved", FailMax: 1, ResetTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Call(context.Background(), func(context.Context) error { return errors.New("boom") })
	e := b.cur.Load()
	// Opened 1.5 s ago, by the system clock.
	e.openedAt = time.Now().Add(-1500 * time.Millisecond)
	e.openedMono = int64(time.Since(coarseBase)) - int64(1500*time.Millisecond)
	coarse.read()    // started
	coarse.mu.Lock() // and starved: its timer waits for the lock
	defer coarse.mu.Unlock()
	coarse.now.Store(int64(time.Since(coarseBase)) - int64(time.Second)) // a second behind
	rejected := 0
	for range 2 * 64 {
		err := b.Call(context.Background(), func(context.Context) error { return nil })
		var oe *OpenError
		// (The store, which this test did not move back, refuses the
		// trial with RetryAfter 0: those are the slow path's.)
		if errors.As(err, &oe) && oe.RetryAfter > 0 {
			rejected++
		}
	}
	if rejected > 64 { // coarseSample
		t.Fatalf("%d calls rejected after the open period ended", rejected)
	}
}
