package infuse

import (
	"sync/atomic"
	"time"
)

// Listener observes a breaker. OnEvent runs synchronously on the goroutine
// that caused the event, never while the breaker holds a lock, so it may call
// the breaker's methods. A panic in OnEvent is recovered and changes nothing.
// Keep it quick: it runs on the caller's path.
type Listener interface {
	OnEvent(Event)
}

// ListenerFunc adapts a function to a Listener.
type ListenerFunc func(Event)

// OnEvent calls f(e).
func (f ListenerFunc) OnEvent(e Event) { f(e) }

// EventKind tells what an Event reports.
type EventKind int

const (
	// EventBeforeCall: a call was admitted and its function is about to run.
	EventBeforeCall EventKind = iota + 1
	// EventSuccess: the function returned nil or an excluded error.
	EventSuccess
	// EventFailure: the function returned a counted error, or panicked
	// (Err is then a *PanicError). It comes before the EventStateChange of
	// the trip it may cause.
	EventFailure
	// EventStateChange: the breaker moved From one state To another; or,
	// made by this breaker (Remote false), to the state it was in, after
	// transitions it did not see (other members of a fleet made them,
	// an operator's Open of an open breaker): a transition that starts a
	// new generation.
	EventStateChange
	// EventRejected: a call was refused with ErrOpen; its function did not
	// run. Err is the *OpenError returned.
	EventRejected
	// EventIgnored: the function returned context.Canceled after the
	// caller's own context was cancelled; the call counts as neither success
	// nor failure.
	EventIgnored
	// EventStoreError: the Storage failed to reach its backing store (Err).
	// The breaker goes on with the state it knows locally.
	EventStoreError
	// EventStoreCall: a call waited Latency on its Storage: for a trial's
	// permit or outcome, a manual transition, or a trip the breaker asks
	// of the Storage (Binding.Transition; a shared store's, when its own
	// view of the run reaches FailMax). A trip a store makes within
	// Binding.Report, as the memory store does, waits on nothing and
	// sends none; closed-state calls never wait on the Storage and send
	// none. Only listeners that want it make the breaker time its calls.
	EventStoreCall
)

var eventKindNames = [...]string{
	EventBeforeCall:  "before-call",
	EventSuccess:     "success",
	EventFailure:     "failure",
	EventStateChange: "state-change",
	EventRejected:    "rejected",
	EventIgnored:     "ignored",
	EventStoreError:  "store-error",
	EventStoreCall:   "store-call",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(?)"
}

// Event is what a Listener receives.
type Event struct {
	Kind EventKind
	// Name is the breaker's Config.Name.
	Name string
	// Time is the breaker's Clock reading when the event happened, for
	// EventStateChange; zero for call events, to keep the clock off the
	// hot path.
	Time time.Time
	// From and To are the states of an EventStateChange.
	From, To State
	// Generation is the breaker's generation after an EventStateChange:
	// it grows by at least one on every transition.
	Generation uint64
	// Remote is true for an EventStateChange this breaker observed in its
	// Storage rather than made itself: another breaker or process moved it.
	Remote bool
	// Late marks an EventStateChange this breaker made but learned of only
	// after newer ones: its store's answer came late (a stalled host) and
	// the fleet had moved on meanwhile. It is reported for the record,
	// after the newer ones, and the breaker is not in state To.
	Late bool
	// Cause is why the transition of an EventStateChange was made, when
	// the breaker's store records it (MemoryStorage and redisstore do):
	// the same for every member of a fleet.
	Cause Cause
	// Err is the error of an EventFailure, EventRejected, EventIgnored or
	// EventStoreError, and the excluded error of an EventSuccess (nil for a
	// plain success).
	Err error
	// Latency is how long an EventStoreCall waited, and how long the call
	// of an EventSuccess or EventFailure ran when the breaker timed it
	// (SlowCallDuration, a Throttle, or a shadow whose candidate has a
	// SlowCallDuration); zero otherwise.
	Latency time.Duration
	// Shadow is true for the events of a shadow's candidate, passed to
	// the live breaker's listeners (Name is the candidate's): its state
	// changes, and the calls it would have rejected (EventRejected, which
	// the live breaker did not reject). See StartShadow.
	Shadow bool
}

// EventFilter is implemented by a Listener that wants only some kinds of
// event: the breaker sends it no others. A breaker whose listeners all
// leave out the events of closed-state calls (EventBeforeCall,
// EventSuccess, EventFailure, EventIgnored) keeps the fast paths of a
// breaker with no listener; monitoring that counts calls reads
// Breaker.Totals instead. Wants is asked once per kind, when the
// listener is added.
type EventFilter interface {
	Wants(EventKind) bool
}

// ListenFor returns a Listener that passes l the events of kinds only.
func ListenFor(l Listener, kinds ...EventKind) Listener {
	if l == nil {
		return nil
	}
	f := &kindFilter{l: l}
	if inner, ok := l.(EventFilter); ok {
		f.inner = inner
	}
	for _, k := range kinds {
		if k > 0 && int(k) < len(eventKindNames) {
			f.mask |= 1 << k
		}
	}
	return f
}

type kindFilter struct {
	l     Listener
	mask  uint32
	inner EventFilter // l's own filter, if it has one
}

func (f *kindFilter) OnEvent(e Event) { f.l.OnEvent(e) }
func (f *kindFilter) Wants(k EventKind) bool {
	return f.mask&(1<<k) != 0 && (f.inner == nil || f.inner.Wants(k))
}

// callKinds are the events of closed-state calls, which take those calls
// off their fast path (a rejection happens only in other states, whose
// calls take the slow path anyway).
const callKinds = 1<<EventBeforeCall | 1<<EventSuccess | 1<<EventFailure | 1<<EventIgnored

// listenerSet is an immutable list of listeners, swapped whole on change.
type listenerSet struct {
	entries []listenerEntry
	wants   uint32 // the kinds some listener wants
}

type listenerEntry struct {
	id    uint64
	l     Listener
	wants uint32 // the kinds it wants
}

func newListenerSet(entries []listenerEntry) *listenerSet {
	s := &listenerSet{entries: entries}
	for _, en := range entries {
		s.wants |= en.wants
	}
	return s
}

// wants tells whether some listener wants kind k; false for no set.
func (s *listenerSet) want(k EventKind) bool { return s != nil && s.wants&(1<<k) != 0 }

// wantsCalls tells whether some listener wants the events of calls, which
// take calls off their fast paths.
func (s *listenerSet) wantsCalls() bool { return s != nil && s.wants&callKinds != 0 }

// emit delivers e to every listener that wants it, containing each one's
// panic.
func (s *listenerSet) emit(e Event) {
	for i := range s.entries {
		if s.entries[i].wants&(1<<e.Kind) != 0 {
			callListener(s.entries[i].l, e)
		}
	}
}

func callListener(l Listener, e Event) {
	defer func() { _ = recover() }()
	l.OnEvent(e)
}

// emit delivers a call event to the listeners, if any.
func (b *Breaker) emit(ev Event) {
	if hs := b.hooks.Load(); hs != nil {
		ev.Name = b.name
		hs.emit(ev)
	}
}

func (b *Breaker) storeError(err error) {
	b.extra().storeErrors.Add(1)
	b.emit(Event{Kind: EventStoreError, Err: err})
}

// AddListener adds l, which sees every event from now on, and returns a
// function that removes it again (safe to call more than once). A nil l is
// ignored.
func (b *Breaker) AddListener(l Listener) (remove func()) {
	if l == nil {
		return func() {}
	}
	b.mu.Lock()
	x := b.extra()
	x.nextListener++
	id := x.nextListener
	var entries []listenerEntry
	if cur := b.hooks.Load(); cur != nil {
		entries = append(entries, cur.entries...)
	}
	wants := uint32(1<<len(eventKindNames) - 1)
	if f, ok := l.(EventFilter); ok {
		wants = 0
		for k := EventKind(1); int(k) < len(eventKindNames); k++ {
			if safeWants(f, k) {
				wants |= 1 << k
			}
		}
	}
	entries = append(entries, listenerEntry{id: id, l: l, wants: wants})
	hs := newListenerSet(entries)
	b.hooks.Store(hs)
	if e := b.cur.Load(); e != nil { // nil while New adds Config.Listeners
		if hs.wantsCalls() {
			e.gate.Store(1)
		}
		if hs.want(EventRejected) {
			// No rejection is reused unseen from now on (see rejectOpen).
			if e.open != nil {
				e.open.rej.Store(nil)
			}
			atomic.StorePointer(&b.rejecting, nil)
		}
	}
	b.mu.Unlock()
	return func() { b.removeListener(id) }
}

func (b *Breaker) removeListener(id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.hooks.Load()
	if cur == nil {
		return
	}
	var kept []listenerEntry
	for _, en := range cur.entries {
		if en.id != id {
			kept = append(kept, en)
		}
	}
	var hs *listenerSet
	if len(kept) > 0 {
		hs = newListenerSet(kept)
		b.hooks.Store(hs)
	} else {
		b.hooks.Store(nil)
	}
	if e := b.cur.Load(); !b.needsSlowPath(e) {
		e.gate.Store(0)
	}
}

// safeWants asks a filter, taking a panic for no.
func safeWants(f EventFilter, k EventKind) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f.Wants(k)
}

// storeStart reads the clock before a Storage call, when a listener will
// want its latency.
func (b *Breaker) storeStart() time.Time {
	if !b.hooks.Load().want(EventStoreCall) {
		return time.Time{}
	}
	return b.clock.Now()
}

// storeDone reports a Storage call's latency.
func (b *Breaker) storeDone(start time.Time) {
	if !start.IsZero() {
		b.emit(Event{Kind: EventStoreCall, Latency: b.clock.Now().Sub(start)})
	}
}
