package infuse

import "time"

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
	// EventStateChange: the breaker moved From one state To another.
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
	// EventStoreCall: a call waited Latency on its Storage (a trial's
	// permit or outcome, a trip, a manual transition). Closed-state calls
	// never wait on the Storage and send none.
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
	// Err is the error of an EventFailure, EventRejected, EventIgnored or
	// EventStoreError, and the excluded error of an EventSuccess (nil for a
	// plain success).
	Err error
	// Latency is how long an EventStoreCall waited.
	Latency time.Duration
}

// listenerSet is an immutable list of listeners, swapped whole on change.
type listenerSet struct {
	entries []listenerEntry
}

type listenerEntry struct {
	id uint64
	l  Listener
}

// emit delivers e to every listener, containing each one's panic.
func (s *listenerSet) emit(e Event) {
	for i := range s.entries {
		callListener(s.entries[i].l, e)
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
	b.nextListener++
	id := b.nextListener
	var entries []listenerEntry
	if cur := b.hooks.Load(); cur != nil {
		entries = append(entries, cur.entries...)
	}
	entries = append(entries, listenerEntry{id: id, l: l})
	b.hooks.Store(&listenerSet{entries: entries})
	if e := b.cur.Load(); e != nil { // nil while New adds Config.Listeners
		e.gate.Store(1)
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
	if len(kept) == 0 {
		b.hooks.Store(nil)
		if e := b.cur.Load(); e.state == Closed && b.rates.slowCall == 0 {
			e.gate.Store(0)
		}
	} else {
		b.hooks.Store(&listenerSet{entries: kept})
	}
}

// storeStart reads the clock before a Storage call, when a listener will
// want its latency.
func (b *Breaker) storeStart() time.Time {
	if b.hooks.Load() == nil {
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
