package infuse

import (
	"testing"
	"time"
)

// StopShadow lets go of the shadow's feed: after shadows started and
// stopped again and again, the live breaker has no listener left and its
// calls take the fast path again.
func TestStopShadowGivesTheFastPathBack(t *testing.T) {
	b, err := New(Config{Name: "api", Clock: &manualClock{now: time.Unix(1000, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.StartShadow(Candidate{FailMax: 3}); err != nil {
			t.Fatal(err)
		}
		b.StopShadow()
	}
	if hs, gate := b.hooks.Load(), b.cur.Load().gate.Load(); hs != nil || gate != 0 {
		t.Fatalf("after StopShadow: listeners %v, gate %d", hs, gate)
	}
}
