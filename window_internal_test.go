package infuse

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/storage"
)

// manualClock is a minimal Clock for the package's own tests (infusetest
// imports this package, so its tests cannot use it here).
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

func TestRatesBoundaries(t *testing.T) {
	r := &storage.Policy{FailureRate: 0.5, SlowCallRate: 0.75, MinCalls: 4}
	for _, c := range []struct {
		t    meter.Tally
		trip Cause
	}{
		{meter.Tally{Calls: 3, Failures: 3}, CauseUnknown},               // minimum calls not reached
		{meter.Tally{Calls: 4, Failures: 2}, CauseFailureRate},           // exactly at the threshold
		{meter.Tally{Calls: 4, Failures: 1}, CauseUnknown},               // below it
		{meter.Tally{Calls: 4, Failures: 1, Slow: 3}, CauseSlowCallRate}, // slow calls at theirs
		{meter.Tally{Calls: 4, Failures: 2, Slow: 4}, CauseFailureRate},  // both: failures first
		{meter.Tally{Calls: 4, Failures: 1, Slow: 2}, CauseUnknown},
		{meter.Tally{Calls: 0}, CauseUnknown},
	} {
		if got := exceeded(r, c.t); got != c.trip {
			t.Errorf("%+v: exceeded = %v, want %v", c.t, got, c.trip)
		}
	}
	if got := rate(r, 1, 3); got != -1 {
		t.Errorf("rate below MinCalls = %v, want -1", got)
	}
}

// allocSlack is what bytesAllocated may count beyond f's own: the
// runtime's and the test framework's allocations meanwhile.
const allocSlack = 16 << 10

// bytesAllocated is what f allocates on the heap in all, whatever it
// frees again (so a bound on the memory it needs), and allocSlack more at
// most.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A count window's memory follows the calls it has held, not its size: a
// breaker with a window of a million calls that has seen ten takes a few
// KiB, not the 4 MB of a ring allocated at once (2,000 such
// breakers in a replay ran out of memory at 6.4 GB).
func TestACountWindowsMemoryFollowsItsCalls(t *testing.T) {
	ctx := context.Background()
	clock := &manualClock{now: time.Unix(1_000_000, 0)}
	fail := errors.New("down")
	var b *Breaker
	got := bytesAllocated(func() {
		var err error
		b, err = New(Config{Name: "w", Window: CountWindow(1_000_000), FailureRate: 0.5, FailMax: 1 << 30, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			_ = b.Call(ctx, func(context.Context) error {
				if i%3 == 0 {
					return fail
				}
				return nil
			})
		}
	})
	if m := b.Metrics(); m.Calls != 10 || m.Failures != 4 {
		t.Fatalf("window %d calls, %d failures; want 10, 4", m.Calls, m.Failures)
	}
	if got > 4<<10+2<<10+allocSlack {
		t.Errorf("a breaker with a count window of 1,000,000 calls, called 10 times, allocated %d bytes; want at most 6 KiB (and %d slack)", got, allocSlack)
	}
}

// A merging store reads the closed generation's running totals of every
// call, whichever goroutine (and so whichever shard) recorded it; outside
// the closed state, or without a time window kept for it, there are none.
func TestCountedIsEveryCallOfTheClosedGeneration(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	st := &stubStore{merges: true}
	b := newInternal(t, Config{Storage: st, Clock: clock, FailMax: 1000, Window: TimeWindow(10*time.Second, time.Second),
		FailureRate: 0.9, SlowCallRate: 0.9, SlowCallDuration: time.Second})
	if c, ok := st.cfg.Counted(); !ok || c != (storage.WindowCounts{Generation: b.Generation()}) {
		t.Fatalf("Counted() of a fresh breaker = %+v, %v", c, ok)
	}
	// 64 goroutines alive at once, on 64 stacks, so that their calls
	// spread over the shards (see shard.go).
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 64 {
		wg.Go(func() {
			var err error
			if i%4 == 0 {
				err = errors.New("failed")
			}
			<-start
			_ = b.Call(context.Background(), func(context.Context) error { return err })
		})
	}
	close(start)
	wg.Wait()
	_ = b.Call(context.Background(), func(context.Context) error { clock.now = clock.now.Add(2 * time.Second); return nil })
	want := storage.WindowCounts{Generation: b.Generation(), Calls: 65, Failures: 16, SlowCalls: 1}
	if c, ok := st.cfg.Counted(); !ok || c != want {
		t.Fatalf("Counted() = %+v, %v; want %+v", c, ok, want)
	}
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, ok := st.cfg.Counted(); ok {
		t.Fatalf("Counted() of an open breaker = %+v, true", c)
	}

	for _, cfg := range []Config{
		{Storage: &stubStore{merges: true}, Window: CountWindow(10), FailureRate: 0.5},
		{Storage: &stubStore{}, Window: TimeWindow(time.Minute, time.Second), FailureRate: 0.5},
	} {
		st := cfg.Storage.(*stubStore)
		cfg.Clock = clock
		newInternal(t, cfg)
		if c, ok := st.cfg.Counted(); ok {
			t.Errorf("%v, merging %v: Counted() = %+v, true", cfg.Window, st.merges, c)
		}
	}
}
