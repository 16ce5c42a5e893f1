package infusesim

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// clock is a simulation's virtual time: a fixed origin and an offset that
// only the event loop moves, forward. It is the Clock of every breaker the
// simulation makes.
type clock struct {
	origin time.Time
	off    atomic.Int64
}

// Now implements infuse.Clock.
func (c *clock) Now() time.Time { return c.origin.Add(c.since()) }

// since is the time from the origin.
func (c *clock) since() time.Duration { return time.Duration(c.off.Load()) }

// eventKind tells what an event does when its time comes.
type eventKind uint8

const (
	evAttempt  eventKind = iota + 1 // a member (or a recorded call) attempts a call
	evComplete                      // an admitted call returns: done(err)
	evReport                        // a member's outcome reaches the shared state
	evObserve                       // a shared change reaches a member
)

// event is something that happens at a virtual time. Only the fields of
// its kind are set.
type event struct {
	at   time.Duration // from the clock's origin
	seq  uint64        // ties at one time go in scheduling order
	kind eventKind

	member int             // evAttempt: the member or recorded call
	done   func(error)     // evComplete
	err    error           // evComplete
	bind   *delayBinding   // evReport, evObserve
	gen    uint64          // evReport
	out    storage.Outcome // evReport
	snap   storage.Snapshot
	own    bool // evObserve: the answer to the member's own report
}

// queue is the simulation's future: events ordered by time, then by the
// order they were scheduled in, so a run is deterministic. The heap holds
// indexes into slab, so that sifting moves four bytes rather than an
// event. It is safe for concurrent use (a Storage's bindings must be),
// though a simulation uses it from one goroutine.
type queue struct {
	mu   sync.Mutex
	slab []event
	free []int32
	heap []int32
	seq  uint64
}

func (q *queue) less(i, j int32) bool {
	a, b := &q.slab[i], &q.slab[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// push schedules e.
func (q *queue) push(e event) {
	q.mu.Lock()
	e.seq = q.seq
	q.seq++
	var idx int32
	if n := len(q.free); n > 0 {
		idx = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[idx] = e
	} else {
		idx = int32(len(q.slab))
		q.slab = append(q.slab, e)
	}
	q.heap = append(q.heap, idx)
	for i := len(q.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(q.heap[i], q.heap[p]) {
			break
		}
		q.heap[i], q.heap[p] = q.heap[p], q.heap[i]
		i = p
	}
	q.mu.Unlock()
}

// pop takes the earliest event due at or before until; ok is false when
// there is none.
func (q *queue) pop(until time.Duration) (e event, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.heap) == 0 || q.slab[q.heap[0]].at > until {
		return event{}, false
	}
	idx := q.heap[0]
	e = q.slab[idx]
	q.slab[idx] = event{} // let go of what it refers to
	q.free = append(q.free, idx)
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap = q.heap[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(q.heap[l], q.heap[m]) {
			m = l
		}
		if r < last && q.less(q.heap[r], q.heap[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.heap[i], q.heap[m] = q.heap[m], q.heap[i]
		i = m
	}
	return e, true
}

// engine is a clock and its queue: the virtual world a simulation or a
// replay runs in.
type engine struct {
	clock clock
	q     queue
	// handle runs one event of a kind the engine does not know itself
	// (attempts and completions are the simulation's).
	handle func(e event)
}

func newEngine(origin time.Time) *engine {
	return &engine{clock: clock{origin: origin}}
}

// after schedules e d from now.
func (en *engine) after(d time.Duration, e event) {
	e.at = en.clock.since() + d
	en.q.push(e)
}

// runUntil runs every event due at or before until, in order, moving the
// clock to each one's time, and leaves the clock at until (never moving it
// back).
func (en *engine) runUntil(until time.Duration) {
	en.runDue(until)
	if until > en.clock.since() {
		en.clock.off.Store(int64(until))
	}
}

// runAll runs events until none is left; the clock stays at the last one's
// time.
func (en *engine) runAll() { en.runDue(maxDuration) }

// runDue runs every event due at or before until, in order, moving the
// clock to each one's time.
func (en *engine) runDue(until time.Duration) {
	for {
		e, ok := en.q.pop(until)
		if !ok {
			return
		}
		if e.at > en.clock.since() {
			en.clock.off.Store(int64(e.at))
		}
		en.dispatch(e)
	}
}

const maxDuration = time.Duration(1<<63 - 1)

func (en *engine) dispatch(e event) {
	switch e.kind {
	case evComplete:
		e.done(e.err)
	case evReport:
		e.bind.arrive(e.gen, e.out)
	case evObserve:
		e.bind.deliver(e.snap, e.own)
	default:
		en.handle(e)
	}
}
