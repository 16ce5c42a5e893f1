package meter

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
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

// A time window, step by step against a model kept as a plain list of
// what happened when: its tally (calls, failures, slow calls and
// requests) holds what fell in its last buckets; its running totals
// (Cumulative, for a store that merges windows) hold everything; a call
// that moves it to a new bucket says so (the breaker then checks its
// rates, or works the throttle's probability out again); and TakeLast
// gives the window as it stood when the current bucket began, once.
func TestATimeWindowMatchesItsModelInEveryFigure(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		bucket := time.Duration(rapid.IntRange(1, 5).Draw(rt, "bucketSec")) * time.Second
		nb := rapid.IntRange(1, 6).Draw(rt, "buckets")
		clock := &manualClock{now: time.Unix(1_000_000, 0)}
		origin := clock.now
		m := New(storage.TimeWindow(time.Duration(nb)*bucket, bucket), clock, false, true, 1).(*Time)
		if !m.Cumulates() {
			rt.Fatal("a window made cumulative does not say so")
		}
		type event struct {
			bucket                int64
			failed, slow, request bool
		}
		var events []event
		tally := func(cur int64, all bool) Tally {
			var t Tally
			for _, e := range events {
				if !all && e.bucket <= cur-int64(nb) {
					continue
				}
				if e.request {
					t.Requests++
					continue
				}
				t.Calls++
				if e.failed {
					t.Failures++
				}
				if e.slow {
					t.Slow++
				}
			}
			return t
		}
		cur := int64(0) // the bucket the window last moved to
		var last *Tally // what TakeLast should give
		// move is the model of a call that makes the clock's bucket
		// current: it reports whether that moved the window.
		move := func() bool {
			b := int64(clock.now.Sub(origin) / bucket)
			if b <= cur {
				return false
			}
			t := tally(cur, false)
			last = &t
			cur = b
			return true
		}
		for i, step := range rapid.SliceOf(rapid.IntRange(0, 7)).Draw(rt, "steps") {
			switch step {
			case 0:
				clock.now = clock.now.Add(time.Duration(rapid.IntRange(1, 4000).Draw(rt, "ms")) * time.Millisecond)
			case 1, 2, 3, 4:
				failed, slow := step&1 == 1, step&2 == 2
				want := move()
				if got := m.Record(failed, slow); got != want {
					rt.Fatalf("step %d: Record says the window moved: %v, model %v", i, got, want)
				}
				events = append(events, event{bucket: cur, failed: failed, slow: slow})
			case 5:
				want := move()
				if got := m.Request(); got != want {
					rt.Fatalf("step %d: Request says the window moved: %v, model %v", i, got, want)
				}
				events = append(events, event{bucket: cur, request: true})
			case 6:
				got, want := m.TakeLast(), last
				last = nil
				if (got == nil) != (want == nil) || got != nil && *got != *want {
					rt.Fatalf("step %d: TakeLast %v, model %v", i, got, want)
				}
			case 7:
				move()
				if got, want := m.Tally(), tally(cur, false); got != want {
					rt.Fatalf("step %d: Tally %+v, model %+v", i, got, want)
				}
			}
			if got, want := m.Cumulative(), tally(cur, true); got != want {
				rt.Fatalf("step %d: Cumulative %+v, model %+v", i, got, want)
			}
		}
	})
}

// New makes the window configured: none for the zero Window, a count
// window whose rates count from MinCalls (the call that brings it to
// MinCalls asks for a check, no other), small or large, and a time window
// that keeps running totals only when asked to.
func TestNewMakesTheWindowConfigured(t *testing.T) {
	clock := &manualClock{now: time.Unix(1000, 0)}
	if m := New(storage.Window{}, clock, false, true, 1); m != nil {
		t.Fatalf("no window: %T", m)
	}
	for _, n := range []int{10, firstSlots + 10} {
		m := New(storage.CountWindow(n), clock, false, false, 7)
		for i := 1; i <= n+3; i++ {
			if check := m.Record(true, false); check != (i == 7) {
				t.Fatalf("a count window of %d, MinCalls 7: call %d asks for a check: %v", n, i, check)
			}
		}
		if got := m.Tally(); got != (Tally{Calls: int64(n), Failures: int64(n)}) {
			t.Fatalf("a count window of %d after %d failures: %+v", n, n+3, got)
		}
	}
	if m := New(storage.CountWindow(5), clock, false, false, 100).(*countMeter); m.minCalls != 6 {
		t.Fatalf("MinCalls 100 in a window of 5: rates count from %d calls; want never (6)", m.minCalls)
	}
	if m := New(storage.CountWindow(5), clock, false, false, 0).(*countMeter); m.minCalls != 1 {
		t.Fatalf("MinCalls 0: rates count from %d calls; want 1", m.minCalls)
	}
	tm := New(storage.TimeWindow(time.Second, time.Second), clock, false, false, 1).(*Time)
	tm.Record(true, true)
	if tm.Cumulates() || tm.Cumulative() != (Tally{}) {
		t.Fatalf("a window not made cumulative keeps totals: %+v", tm.Cumulative())
	}
}

// With the real clock a time window moves on its timer, not on calls: at
// each bucket it empties the oldest and runs the breaker's check
// (SetOnTick); stopped, its timer ends.
func TestARealClockWindowMovesOnItsTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New(storage.TimeWindow(3*time.Second, time.Second), storage.SystemClock{}, true, false, 1).(*Time)
		ticks := 0
		f := func() { ticks++ }
		m.SetOnTick(&f)
		for range 3 {
			if m.Record(true, false) {
				t.Fatal("a call asked for a check: with the real clock the timer checks")
			}
			m.Request()
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if ticks != 3 {
			t.Fatalf("%d checks after 3 buckets, want 3", ticks)
		}
		if got := m.Tally(); got != (Tally{Calls: 2, Failures: 2, Requests: 2}) {
			t.Fatalf("3 s into a 3 s window that had a call and a request a second: %+v", got)
		}
		if last := m.TakeLast(); last == nil || *last != (Tally{Calls: 3, Failures: 3, Requests: 3}) {
			t.Fatalf("the window at its fullest: %v", last)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := m.Tally(); got != (Tally{}) || ticks != 6 {
			t.Fatalf("3 s later: %+v, %d checks", got, ticks)
		}
		m.Stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if ticks != 6 {
			t.Fatalf("a stopped window's timer ran %d more checks", ticks-6)
		}
	})
}

// A full count window holds exactly its n calls' slots, whatever n: the
// ring's last segment is cut at n (never more than 4 bytes a call).
func TestAFullCountWindowHoldsExactlyItsCallsSlots(t *testing.T) {
	for _, n := range []int{1, 1000, firstSlots, firstSlots + 1, 3000, 5000, 9000} {
		m := newCountMeter(n)
		var rec Meter = m
		if m.more != nil {
			rec = (*largeCountMeter)(m)
		}
		for i := range n {
			rec.Record(i%3 == 0, false)
		}
		slots := len(m.slots)
		if m.more != nil {
			for k := range m.more {
				if seg := m.more[k].Load(); seg != nil {
					slots += len(*seg)
				}
			}
		}
		if slots != n {
			t.Errorf("a full window of %d calls holds %d slots", n, slots)
		}
	}
}

// Calls recorded on many goroutines at once, each writing its own shard,
// all count: the window's figures and its running totals are exact.
func TestATimeWindowCountsEveryCallOfManyGoroutines(t *testing.T) {
	const goroutines, each = 64, 200
	clock := &manualClock{now: time.Unix(1000, 0)}
	m := New(storage.TimeWindow(time.Minute, time.Second), clock, false, true, 1).(*Time)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.Request()
				m.Record((g+i)%2 == 0, i%5 == 0)
			}
		})
	}
	wg.Wait()
	want := Tally{Calls: goroutines * each, Failures: goroutines * each / 2, Slow: goroutines * each / 5, Requests: goroutines * each}
	if got := m.Tally(); got != want {
		t.Errorf("the window: %+v, want %+v", got, want)
	}
	if got := m.Cumulative(); got != want {
		t.Errorf("the running totals: %+v, want %+v", got, want)
	}
}

// A time window of one bucket counts every call exactly however many
// cores write to it: with GOMAXPROCS 32 (the most shards) and 256
// goroutines, its tally and its running totals are the calls made.
func TestATimeWindowOfOneBucketCountsEveryCallOnManyCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(32))
	const goroutines, each = 256, 20
	clock := &manualClock{now: time.Unix(1000, 0)}
	m := New(storage.TimeWindow(time.Second, time.Second), clock, false, true, 1).(*Time)
	if m.shards != MaxShards {
		t.Fatalf("%d shards with GOMAXPROCS 32, want %d", m.shards, MaxShards)
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				m.Request()
				m.Record(false, false)
			}
		})
	}
	wg.Wait()
	want := Tally{Calls: goroutines * each, Requests: goroutines * each}
	if got := m.Tally(); got != want {
		t.Errorf("the window: %+v, want %+v", got, want)
	}
	if got := m.Cumulative(); got != want {
		t.Errorf("the running totals: %+v, want %+v", got, want)
	}
}
