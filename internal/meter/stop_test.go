package meter

import (
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// A stopped time window records nothing more.
func TestAStoppedTimeMeterStaysStopped(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	m := newTimeMeter(storage.TimeWindow(10*time.Second, time.Second), clock, false)
	m.Record(true, false)
	m.Stop()
	if !m.stopped() {
		t.Fatal("stop() did not stop the meter")
	}
	clock.now = clock.now.Add(time.Second)
	m.Record(true, true)
	if tl := m.tallyAt(m.cur.Load()); tl != (Tally{}) {
		t.Fatalf("a stopped meter's Tally = %+v", tl)
	}
}

// A time window whose length is not a whole number of buckets has one
// bucket more, and holds a call as long as that.
func TestATimeWindowCountsAPartBucketAsOne(t *testing.T) {
	for _, c := range []struct {
		d, bucket time.Duration
		n         int64
	}{{time.Second, 300 * time.Millisecond, 4}, {900 * time.Millisecond, 300 * time.Millisecond, 3}, {time.Second, time.Second, 1}} {
		if n := storage.TimeWindow(c.d, c.bucket).Buckets(); n != c.n {
			t.Errorf("storage.TimeWindow(%v, %v) has %d buckets, want %d", c.d, c.bucket, n, c.n)
		}
	}
	clock := &manualClock{now: time.Unix(1000, 0)}
	m := newTimeMeter(storage.TimeWindow(time.Second, 300*time.Millisecond), clock, false)
	m.Record(true, false)
	clock.now = clock.now.Add(900 * time.Millisecond) // the fourth bucket
	if tl := m.Tally(); tl.Failures != 1 {
		t.Fatalf("a failure 900ms into a 1s window of 300ms buckets is gone: %+v", tl)
	}
	clock.now = clock.now.Add(300 * time.Millisecond)
	if tl := m.Tally(); tl.Failures != 0 {
		t.Fatalf("a failure 1.2s ago is still in a 1s window: %+v", tl)
	}
}
