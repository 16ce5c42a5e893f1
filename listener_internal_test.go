package infuse

import (
	"context"
	"testing"
)

// A listener that wants no call events leaves calls on their fast path; one
// that wants them takes calls off it, until it is removed.
func TestOnlyCallListenersCloseTheGate(t *testing.T) {
	b, err := New(Config{Name: "gate"})
	if err != nil {
		t.Fatal(err)
	}
	gate := func() uint32 { return b.cur.Load().gate.Load() }
	removeState := b.AddListener(ListenFor(ListenerFunc(func(Event) {}), EventStateChange, EventStoreError))
	if gate() != 0 {
		t.Fatal("a state-change listener closed the gate")
	}
	removeCalls := b.AddListener(ListenerFunc(func(Event) {}))
	if gate() != 1 {
		t.Fatal("a listener of every event left the gate open")
	}
	removeCalls()
	if gate() != 0 {
		t.Fatal("the gate stayed closed with only a state-change listener left")
	}
	removeState()
	_ = b.Call(context.Background(), func(context.Context) error { return nil })
	_ = b.Totals()
	if gate() != 0 {
		t.Fatal("counting closed the gate")
	}
}

// An EventKind outside the known ones has no name, at either end.
func TestEventKindStringOutsideTheKinds(t *testing.T) {
	for _, k := range []EventKind{0, EventKind(len(eventKindNames))} {
		if s := k.String(); s != "EventKind(?)" {
			t.Errorf("EventKind(%d).String() = %q", k, s)
		}
	}
	if s := EventKind(len(eventKindNames) - 1).String(); s == "EventKind(?)" {
		t.Errorf("the last kind has no name")
	}
}

// ListenFor ignores kinds that are no events (0, negative, past the last):
// the filter wants the kinds it was given that are events, and no other.
func TestListenForIgnoresKindsThatAreNotEvents(t *testing.T) {
	last := EventKind(len(eventKindNames))
	f := ListenFor(ListenerFunc(func(Event) {}), 0, last, last+1, -1, EventStateChange).(EventFilter)
	for k := EventKind(0); k <= last+2; k++ {
		if f.Wants(k) != (k == EventStateChange) {
			t.Fatalf("Wants(%d) = %v; the filter was given EventStateChange and kinds that are no events", k, f.Wants(k))
		}
	}
}
