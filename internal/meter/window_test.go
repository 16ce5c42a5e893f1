package meter

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

// manualClock is a Clock that moves only when told to.
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
			m.Record(failed, slow)
			all = append(all, outcomeBits(failed, slow))
			var want Tally
			for _, v := range all[max(0, len(all)-n):] {
				want.Calls++
				want.Failures += int64(v&failBit) >> 1
				want.Slow += int64(v&slowBit) >> 2
			}
			if got := m.Tally(); got != want {
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
		w := storage.TimeWindow(time.Duration(nb)*bucket, bucket)
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
			m.Record(failed, slow)
			all = append(all, rec{clock.now, failed, slow})
			cur := int64(clock.now.Sub(origin) / bucket)
			var want Tally
			for _, r := range all {
				if b := int64(r.at.Sub(origin) / bucket); b > cur-int64(nb) {
					want.Calls++
					if r.failed {
						want.Failures++
					}
					if r.slow {
						want.Slow++
					}
				}
			}
			if got := m.Tally(); got != want {
				rt.Fatalf("step %d: %+v, model %+v", i, got, want)
			}
		}
	})
}

func TestTimeMeterRollsBucketsOver(t *testing.T) {
	clock := &manualClock{now: time.Unix(0, 0)}
	m := newTimeMeter(storage.TimeWindow(3*time.Second, time.Second), clock, false)
	m.Record(true, false) // bucket 0
	clock.now = clock.now.Add(time.Second)
	m.Record(false, false) // bucket 1
	clock.now = clock.now.Add(2 * time.Second)
	if got := m.Tally(); got != (Tally{Calls: 1}) { // bucket 0 has left the window
		t.Fatalf("after rolling over: %+v", got)
	}
	clock.now = clock.now.Add(10 * time.Second)
	if got := m.Tally(); got != (Tally{}) {
		t.Fatalf("after a long idle spell: %+v", got)
	}
}

// allocSlack is what bytesAllocated may count beyond f's own: the
// process's other allocations meanwhile (a collection that runs then
// allocates a few KiB of its own; up to 8 KiB seen).
const allocSlack = 16 << 10

// The ring grows by segments that double, each made by the first call to
// reach it: at most 8 bytes a call held while it fills, 4 bytes a call of
// its size once full, and a ring of the largest size fills exactly.
func TestCountMeterGrowsAsItFills(t *testing.T) {
	if firstSlots<<countSegs != storage.MaxWindowCalls {
		t.Fatalf("%d segments of a ring that starts at %d slots reach %d slots; storage.MaxWindowCalls is %d", countSegs, firstSlots, firstSlots<<countSegs, storage.MaxWindowCalls)
	}
	const n = storage.MaxWindowCalls
	var m Meter
	total := bytesAllocated(func() { m = newCountWindow(n, 1) })
	if total > 4*firstSlots+256+allocSlack {
		t.Errorf("a new window of %d calls allocated %d bytes; want 4 KiB and its header", n, total)
	}
	held := 0
	for _, upTo := range []int{10, firstSlots, firstSlots + 1, 3000, 100_000, n - 1, n, n + 5000} {
		got := bytesAllocated(func() {
			for ; held < upTo; held++ {
				m.Record(held%2 == 0, false)
			}
		})
		total += got
		if c := min(held, n); m.Tally().Calls != int64(c) {
			t.Fatalf("after %d calls the window holds %d; want %d", held, m.Tally().Calls, c)
		}
		if limit := 8*uint64(min(held, n)) + allocSlack; got > limit {
			t.Errorf("calls up to %d allocated %d bytes; want at most 8 a call held (and %d slack)", held, got, allocSlack)
		}
		if held > n && got > allocSlack {
			t.Errorf("calls round a full ring allocated %d bytes; want none", got)
		}
	}
	if total > 4*n+1024+9*allocSlack {
		t.Errorf("a window of %d calls, filled, allocated %d bytes; want 4 a call and 1 KiB (and 9 × %d slack)", n, total, allocSlack)
	}
}

// Across segments and wrapping round, a count window holds exactly the
// last n outcomes, checked against a ring kept plainly, at each call.
func TestCountMeterMatchesModelAcrossSegments(t *testing.T) {
	for _, n := range []int{1, firstSlots - 1, firstSlots, firstSlots + 1, 2 * firstSlots, 3*firstSlots + 5, 9000} {
		r := rand.New(rand.NewPCG(uint64(n), 23))
		m := newCountWindow(n, 1)
		model := make([]uint32, 0, n)
		var want Tally
		for i := range 3*n + 10 {
			// Runs of plain successes, so that full windows of them happen.
			failed, slow := r.IntN(8) == 0, r.IntN(10) == 0
			if i/n%2 == 1 {
				failed, slow = false, false
			}
			m.Record(failed, slow)
			v := outcomeBits(failed, slow)
			if len(model) == n {
				old := model[0]
				model = model[1:]
				want.Calls--
				want.Failures -= int64(old&failBit) >> 1
				want.Slow -= int64(old&slowBit) >> 2
			}
			model = append(model, v)
			want.Calls++
			want.Failures += int64(v&failBit) >> 1
			want.Slow += int64(v&slowBit) >> 2
			if got := m.Tally(); got != want {
				t.Fatalf("window of %d, call %d: %+v, the last %d outcomes %+v", n, i, got, n, want)
			}
		}
	}
}

// Calls on many goroutines that reach a segment together make it once,
// and none of their outcomes is lost (the race detector watches the rest).
func TestCountMeterGrowsUnderConcurrentCalls(t *testing.T) {
	const n, goroutines = 5*firstSlots + 3, 8
	m := newCountWindow(n, n)
	checks := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range n / goroutines {
				if m.Record(true, false) {
					mu.Lock()
					checks++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for range n % goroutines {
		if m.Record(true, false) {
			checks++
		}
	}
	if got := m.Tally(); got != (Tally{Calls: n, Failures: n}) || checks != 1 {
		t.Fatalf("%d failures on %d goroutines: window %+v, %d checks; want %d calls, %d failures, 1 check", n, goroutines, got, checks, n, n)
	}
	more := (*countMeter)(m.(*largeCountMeter)).more
	for i := range more {
		if i < 3 && more[i].Load() == nil {
			t.Errorf("segment %d not made", i+1)
		}
		if i >= 3 && more[i].Load() != nil {
			t.Errorf("segment %d made; the window ends before it", i+1)
		}
	}
}

// BenchmarkCountWindowRecord is a count window's own cost for a call, in
// a window of 100 calls and in one of a million (a largeCountMeter, whose
// later segments are reached through a pointer more): a success into a
// full window of successes (the closed path of a healthy breaker, which
// writes nothing), and a call that changes the window (a failure in ten).
func BenchmarkCountWindowRecord(b *testing.B) {
	for _, c := range []struct {
		name  string
		n     int
		every int // a failure every so many calls; 0: none
	}{
		{"full-of-successes/n=100", 100, 0},
		{"full-of-successes/n=1000000", 1_000_000, 0},
		{"changing/n=100", 100, 10},
		{"changing/n=1000000", 1_000_000, 10},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := newCountWindow(c.n, 1)
			for range c.n {
				m.Record(false, false)
			}
			for i := 0; b.Loop(); i++ {
				m.Record(c.every != 0 && i%c.every == 0, false)
			}
		})
	}
}

// bytesAllocated is what f allocates on the heap in all, whatever it
// frees again.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
