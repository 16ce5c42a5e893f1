package infuse

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// manualClock is a minimal Clock for the package's own tests (infusetest
// imports this package, so its tests cannot use it here).
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// TestCountMeterMatchesModel: the count window holds exactly the last n
// outcomes.
func TestCountMeterMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(rt, "n")
		m := newCountMeter(n)
		var all []uint32
		for _, o := range rapid.SliceOf(rapid.IntRange(0, 3)).Draw(rt, "outcomes") {
			failed, slow := o&1 == 1, o&2 == 2
			m.record(failed, slow)
			all = append(all, outcomeBits(failed, slow))
			var want tally
			for _, v := range all[max(0, len(all)-n):] {
				want.calls++
				want.failures += int64(v&failBit) >> 1
				want.slow += int64(v&slowBit) >> 2
			}
			if got := m.tally(); got != want {
				rt.Fatalf("after %d outcomes: %+v, model %+v", len(all), got, want)
			}
		}
	})
}

// TestTimeMeterMatchesModel: the time window holds the outcomes whose
// bucket is one of the last few, as a plain list filtered by time would.
func TestTimeMeterMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		bucket := time.Duration(rapid.IntRange(1, 5).Draw(rt, "bucketSec")) * time.Second
		nb := rapid.IntRange(1, 6).Draw(rt, "buckets")
		w := TimeWindow(time.Duration(nb)*bucket, bucket)
		clock := &manualClock{now: time.Unix(1_000_000, 0)}
		m := newTimeMeter(w, clock, false)
		origin := clock.now
		type rec struct {
			at           time.Time
			failed, slow bool
		}
		var all []rec
		steps := rapid.SliceOf(rapid.IntRange(0, 5)).Draw(rt, "steps")
		for i, s := range steps {
			if s >= 4 {
				clock.now = clock.now.Add(time.Duration(rapid.IntRange(1, 4000).Draw(rt, "ms"+string(rune(i)))) * time.Millisecond)
				continue
			}
			failed, slow := s&1 == 1, s&2 == 2
			m.record(failed, slow)
			all = append(all, rec{clock.now, failed, slow})
			cur := int64(clock.now.Sub(origin) / bucket)
			var want tally
			for _, r := range all {
				if b := int64(r.at.Sub(origin) / bucket); b > cur-int64(nb) {
					want.calls++
					if r.failed {
						want.failures++
					}
					if r.slow {
						want.slow++
					}
				}
			}
			if got := m.tally(); got != want {
				rt.Fatalf("step %d: %+v, model %+v", i, got, want)
			}
		}
	})
}

func TestRatesBoundaries(t *testing.T) {
	r := &Policy{FailureRate: 0.5, MinCalls: 4}
	for _, c := range []struct {
		t    tally
		trip bool
	}{
		{tally{calls: 3, failures: 3}, false}, // minimum calls not reached
		{tally{calls: 4, failures: 2}, true},  // exactly at the threshold
		{tally{calls: 4, failures: 1}, false}, // below it
		{tally{calls: 0}, false},
	} {
		if got := r.exceeded(c.t); got != c.trip {
			t.Errorf("%+v: exceeded = %v, want %v", c.t, got, c.trip)
		}
	}
	if got := r.rate(1, 3); got != -1 {
		t.Errorf("rate below MinCalls = %v, want -1", got)
	}
}

func TestTimeMeterRollsBucketsOver(t *testing.T) {
	clock := &manualClock{now: time.Unix(0, 0)}
	m := newTimeMeter(TimeWindow(3*time.Second, time.Second), clock, false)
	m.record(true, false) // bucket 0
	clock.now = clock.now.Add(time.Second)
	m.record(false, false) // bucket 1
	clock.now = clock.now.Add(2 * time.Second)
	if got := m.tally(); got != (tally{calls: 1}) { // bucket 0 has left the window
		t.Fatalf("after rolling over: %+v", got)
	}
	clock.now = clock.now.Add(10 * time.Second)
	if got := m.tally(); got != (tally{}) {
		t.Fatalf("after a long idle spell: %+v", got)
	}
}
