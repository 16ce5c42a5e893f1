package meter

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/infuse-go/infuse/storage"
)

// Tally is what a window holds.
type Tally struct {
	Calls, Failures, Slow int64
	// Requests, in a time window, are the calls asked for, counted as
	// they begin and whether admitted or not (see infuse.Throttle); kept
	// only while throttling.
	Requests int64
}

// A Meter is a window's implementation.
type Meter interface {
	// Record counts a call; it reports whether the window may now hold
	// rates over their thresholds that no failure has checked: a count
	// window that has just reached MinCalls, a time window whose bucket
	// moved (with an injected clock; with the real clock its timer
	// checks, see Time.SetOnTick).
	Record(failed, slow bool) (check bool)
	Tally() Tally
}

// New makes a window's meter, nil for no window; cumulative asks a time
// window to keep running totals as well, for a store that merges windows.
func New(w storage.Window, clock storage.Clock, real, cumulative bool, minCalls int64) Meter {
	if w.IsZero() {
		return nil
	}
	if w.Size() != 0 {
		return newCountWindow(w.Size(), minCalls)
	}
	m := newTimeMeter(w, clock, real)
	m.cum = cumulative
	return m
}

// countMeter is the last n Calls: a ring of outcomes, and running totals
// kept by subtracting what each new outcome evicts.
//
// The ring is allocated as calls reach it, not as configured: its first
// min(n, firstSlots) slots come with the meter, and the rest in segments
// that double (firstSlots, 2·firstSlots, 4·firstSlots, ... calls, the last
// cut at n), each made by the first call to reach it. So a window holds 4
// bytes a call it has held, up to twice that while a segment fills, and
// never more than 4n: a window of a million calls that has seen ten costs
// 4 KiB, not 4 MB (ARCHITECTURE.md, "Memory"). A segment, once made, stays
// for the life of the meter (a closed epoch), so the ring never moves and
// no write can be lost to a copy.
//
// The struct is 64 bytes, as before it grew: the failures and slow calls
// share one counter (each fits 32 bits: a window holds at most
// maxWindowCalls), and the segments are behind one pointer, nil for a
// window of firstSlots calls or fewer.
type countMeter struct {
	next  atomic.Uint64
	slots []atomic.Uint32 // the first segment; a slot is 0 empty, else okBit, failBit, slowBit
	more  *countSegments  // the later segments; nil when the first holds n
	// marked is the failures in its low 32 bits and the slow calls in
	// its high 32 (see marks): one write when both change, one read for
	// "none of either".
	marked   atomic.Int64
	calls    atomic.Int32
	size     int32 // n
	minCalls int32 // at most n+1: a figure the calls never reach either way
}

// countSegments are a count window's segments after the first: segment k
// (from 1) holds slots [firstSlots<<(k-1), firstSlots<<k).
type countSegments [countSegs]atomic.Pointer[[]atomic.Uint32]

const (
	okBit   = 1
	failBit = 2
	slowBit = 4

	firstShift = 10
	firstSlots = 1 << firstShift // 4 KiB of ring before a window grows
	// countSegs is the number of segments after the first that
	// maxWindowCalls needs.
	countSegs = 20 - firstShift
)

// newCountMeter makes the meter of a count window of n calls; for more
// than firstSlots calls it is to be used as a *largeCountMeter (see
// newCountWindow), whose record reaches the later segments.
func newCountMeter(n int) *countMeter {
	m := &countMeter{slots: make([]atomic.Uint32, min(n, firstSlots)), size: int32(n), minCalls: 1}
	if n > firstSlots {
		m.more = new(countSegments)
	}
	return m
}

// newCountWindow is the meter of a count window of n calls whose rates
// count from minCalls: a *countMeter, or a *largeCountMeter for more than
// firstSlots calls.
func newCountWindow(n int, minCalls int64) Meter {
	m := newCountMeter(n)
	m.setMinCalls(minCalls)
	if m.more != nil {
		return (*largeCountMeter)(m)
	}
	return m
}

// setMinCalls sets the calls from which the window's rates count.
func (m *countMeter) setMinCalls(c int64) {
	m.minCalls = int32(min(max(c, 1), int64(m.size)+1))
}

func outcomeBits(failed, slow bool) uint32 {
	v := uint32(okBit)
	if failed {
		v = failBit
	}
	if slow {
		v |= slowBit
	}
	return v
}

// marks is what an outcome adds to countMeter.marked: a failure 1, a slow
// call 1<<32.
func marks(v uint32) int64 { return int64(v&failBit)>>1 | int64(v&slowBit)<<30 }

func (m *countMeter) Record(failed, slow bool) (check bool) {
	if !failed && !slow && m.marked.Load() == 0 && m.calls.Load() == m.size {
		// A full window of plain successes: one more changes nothing, and
		// where the ring stands does not matter until an outcome of
		// another kind comes (it then evicts after n more calls, as it
		// should). So the common call writes nothing shared.
		return false
	}
	v := outcomeBits(failed, slow)
	// len(m.slots) is n here (a larger window is a largeCountMeter); with
	// it the compiler knows the index is in bounds.
	slot := &m.slots[(m.next.Add(1)-1)%uint64(len(m.slots))]
	if slot.Load() == v {
		return false // the same outcome as the call it evicts: nothing changes
	}
	old := slot.Swap(v)
	if old == 0 {
		check = m.calls.Add(1) == m.minCalls
	}
	if d := marks(v) - marks(old); d != 0 {
		m.marked.Add(d)
	}
	return check
}

// largeCountMeter is a count window of more than firstSlots calls, whose
// calls may reach (and make) a later segment. It is a type of its own so
// that a small window's record calls nothing and stays a leaf function,
// without a stack check or a frame: the closed path of the common window
// costs what it did before the ring could grow. Its record is
// countMeter's, but for where the slot is.
type largeCountMeter countMeter

func (lm *largeCountMeter) Record(failed, slow bool) (check bool) {
	m := (*countMeter)(lm)
	if !failed && !slow && m.marked.Load() == 0 && m.calls.Load() == m.size {
		return false
	}
	v := outcomeBits(failed, slow)
	var slot *atomic.Uint32
	if j := (m.next.Add(1) - 1) % uint64(m.size); j < firstSlots {
		slot = &m.slots[j]
	} else {
		// Segment k (from 1) holds slots [firstSlots<<(k-1), firstSlots<<k).
		k := bits.Len64(j >> firstShift)
		start := uint64(1) << (firstShift + k - 1)
		seg := m.more[k-1].Load()
		if seg == nil {
			seg = m.grow(k, start)
		}
		slot = &(*seg)[j-start]
	}
	if slot.Load() == v {
		return false
	}
	old := slot.Swap(v)
	if old == 0 {
		check = m.calls.Add(1) == m.minCalls
	}
	if d := marks(v) - marks(old); d != 0 {
		m.marked.Add(d)
	}
	return check
}

func (lm *largeCountMeter) Tally() Tally { return (*countMeter)(lm).Tally() }

// grow makes segment k, which starts at slot start, unless another call
// has made it meanwhile, and returns it.
func (m *countMeter) grow(k int, start uint64) *[]atomic.Uint32 {
	s := make([]atomic.Uint32, min(start, uint64(m.size)-start))
	if m.more[k-1].CompareAndSwap(nil, &s) {
		return &s
	}
	return m.more[k-1].Load()
}

func (m *countMeter) Tally() Tally {
	marked := m.marked.Load()
	return Tally{Calls: int64(m.calls.Load()), Failures: marked & (1<<32 - 1), Slow: marked >> 32}
}

// timeMeter is the last few buckets of time, kept as one ring of buckets
// per shard. A call adds to the current bucket of its goroutine's shard
// (see shard.go); each shard's ring lies on cache lines of its own, so
// goroutines on different cores do not write to one line (a collision
// costs a line transfer, which is what makes a contended counter slow).
//
// With the real clock the current bucket moves on a timer, and a call reads
// no clock at all; with an injected Clock each call reads it.
type Time struct {
	cur     atomic.Int64   // the current bucket's number
	nums    []atomic.Int64 // per slot: the bucket number it holds
	counts  []atomic.Int64 // shard-major: stride values per shard
	stride  int64
	shards  int64 // a power of two (see ShardCount)
	cumAt   int64 // offset of a shard's running totals
	cum     bool  // keep running totals (see Cumulative)
	mask    int64 // slots - 1; slots is a power of two
	n       int64 // the window's buckets
	bucket  time.Duration
	origin  time.Time
	clock   storage.Clock // nil with the real clock: the timer moves cur
	advance sync.Mutex
	// onTick, with the real clock, runs after the timer moves to a new
	// bucket: the breaker checks its rates there, so that successes that
	// bring the window to MinCalls over a threshold trip it.
	onTick atomic.Pointer[func()]
	// last is the window as it stood when the current bucket began, at
	// its fullest, taken by the breaker's next rate check: successes that
	// brought it to MinCalls over a threshold trip the breaker even when
	// the next bucket drops the oldest calls.
	last atomic.Pointer[Tally]
}

// slotWords is the number of counters in a time window's bucket.
const slotWords = 4

func newTimeMeter(w storage.Window, clock storage.Clock, real bool) *Time {
	slots := int64(1)
	for slots < w.Buckets() {
		slots <<= 1
	}
	// Four counters a slot (calls, failures, slow calls, requests) and
	// four running totals, rounded up to whole cache lines, plus a line of
	// padding between shards whatever the alignment.
	stride := (slots*slotWords+slotWords+7)/8*8 + 8
	shards := int64(ShardCount())
	m := &Time{
		nums: make([]atomic.Int64, slots), counts: make([]atomic.Int64, shards*stride),
		stride: stride, shards: shards, cumAt: slots * slotWords, mask: slots - 1, n: w.Buckets(), bucket: w.Bucket(), origin: clock.Now(),
	}
	for i := range m.nums {
		m.nums[i].Store(-1)
	}
	m.nums[0].Store(0)
	if !real {
		m.clock = clock
		return m
	}
	// The timer holds the meter weakly: a meter nobody uses any more
	// (its breaker gone, or closed again with a fresh window) stops it.
	wm := weak.Make(m)
	var tick func()
	tick = func() {
		if m := wm.Value(); m != nil && !m.stopped() {
			m.moveTo(time.Now())
			if f := m.onTick.Load(); f != nil {
				(*f)()
			}
			time.AfterFunc(m.bucket, tick)
		}
	}
	time.AfterFunc(m.bucket, tick)
	return m
}

// Stop ends the meter's timer at its next tick.
func (m *Time) Stop() { m.cur.Store(-1 << 62) }

func (m *Time) stopped() bool { return m.cur.Load() < 0 }

// moveTo makes the bucket of time now current, emptying the slots it
// takes over.
func (m *Time) moveTo(now time.Time) int64 {
	target := int64(now.Sub(m.origin) / m.bucket)
	cur := m.cur.Load()
	if target <= cur || cur < 0 {
		return cur
	}
	m.advance.Lock()
	defer m.advance.Unlock()
	cur = m.cur.Load()
	if target > cur && cur >= 0 {
		// The window at its fullest, before the oldest bucket goes: the
		// rates are checked on it too (see last).
		t := m.tallyAt(cur)
		m.last.Store(&t)
	}
	for b := max(cur+1, target-int64(len(m.nums))+1); b <= target; b++ {
		slot := b & m.mask
		for sh := range m.shards {
			c := m.counts[sh*m.stride+slot*slotWords:]
			c[0].Store(0)
			c[1].Store(0)
			c[2].Store(0)
			c[3].Store(0)
		}
		m.nums[slot].Store(b)
	}
	if target > cur {
		m.cur.Store(target)
	}
	return target
}

// current is the current bucket's number, made current first with an
// injected clock; moved tells whether that moved it.
// (record has it written out: it is too big to inline there, and record
// is on the closed path of every call.)
func (m *Time) current() (b int64, moved bool) {
	if m.clock == nil {
		return m.cur.Load(), false
	}
	was := m.cur.Load()
	b = m.moveTo(m.clock.Now())
	return b, b != was
}

func (m *Time) Record(failed, slow bool) (check bool) {
	var b int64
	if m.clock != nil {
		was := m.cur.Load()
		b = m.moveTo(m.clock.Now())
		check = b != was
	} else {
		b = m.cur.Load()
	}
	if b < 0 {
		return false
	}
	shard, probe := shardOf(stackHash(), uint32(m.shards-1))
	sh := int64(shard) * m.stride
	i := sh + (b&m.mask)*slotWords
	addContended(&m.counts[i], probe)
	if failed {
		m.counts[i+1].Add(1)
	}
	if slow {
		m.counts[i+2].Add(1)
	}
	if m.cum {
		i = sh + m.cumAt
		m.counts[i].Add(1)
		if failed {
			m.counts[i+1].Add(1)
		}
		if slow {
			m.counts[i+2].Add(1)
		}
	}
	return check
}

// Cumulative is every call recorded since the meter began (a meter made
// cumulative: see New).
func (m *Time) Cumulative() Tally {
	var t Tally
	for sh := range m.shards {
		c := m.counts[sh*m.stride+m.cumAt:]
		t.Calls += c[0].Load()
		t.Failures += c[1].Load()
		t.Slow += c[2].Load()
		t.Requests += c[3].Load()
	}
	return t
}

// Request counts a request (see infuse.Throttle) in the current bucket;
// it reports whether the bucket moved (with an injected clock).
func (m *Time) Request() (moved bool) {
	b, moved := m.current()
	if b < 0 {
		return false
	}
	shard, probe := shardOf(stackHash(), uint32(m.shards-1))
	sh := int64(shard) * m.stride
	addContended(&m.counts[sh+(b&m.mask)*slotWords+3], probe)
	if m.cum {
		m.counts[sh+m.cumAt+3].Add(1)
	}
	return moved
}

// Tally is the window as it stands.
func (m *Time) Tally() Tally {
	b, _ := m.current()
	return m.tallyAt(b)
}

// tallyAt is the window whose newest bucket is cur.
func (m *Time) tallyAt(cur int64) Tally {
	var t Tally
	for slot := range m.nums {
		if num := m.nums[slot].Load(); num < 0 || num > cur || num <= cur-m.n {
			continue
		}
		for sh := range m.shards {
			c := m.counts[sh*m.stride+int64(slot)*slotWords:]
			t.Calls += c[0].Load()
			t.Failures += c[1].Load()
			t.Slow += c[2].Load()
			t.Requests += c[3].Load()
		}
	}
	return t
}

// exceeded reports whether a window's tally trips the breaker.

// Cumulates tells whether the meter keeps running totals (Cumulative).
func (m *Time) Cumulates() bool { return m.cum }

// SetOnTick has f run, with the real clock, each time the timer moves the
// window to a new bucket: the breaker checks its rates there.
func (m *Time) SetOnTick(f *func()) { m.onTick.Store(f) }

// TakeLast takes the window as it stood when the current bucket began (nil
// when taken already): see last.
func (m *Time) TakeLast() *Tally { return m.last.Swap(nil) }
