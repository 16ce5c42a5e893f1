package infusetest

import (
	"strings"
	"sync"

	"github.com/infuse-go/infuse"
)

// Recorder is a Listener that keeps every event it sees, for a test to
// inspect. It is safe for concurrent use; the zero value is ready.
type Recorder struct {
	mu     sync.Mutex
	events []infuse.Event
}

// OnEvent implements infuse.Listener.
func (r *Recorder) OnEvent(e infuse.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events so far, in order.
func (r *Recorder) Events() []infuse.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]infuse.Event(nil), r.events...)
}

// Count returns how many events of kind were seen.
func (r *Recorder) Count(kind infuse.EventKind) int {
	n := 0
	for _, e := range r.Events() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Trace renders the events comma-joined: each by its kind, a state change
// as "from->to", with "(remote)" when another breaker made it. It leaves
// out store-call events, whose number depends on the Storage.
func (r *Recorder) Trace() string { return r.render(false) }

// Transitions is Trace for state changes only.
func (r *Recorder) Transitions() string { return r.render(true) }

func (r *Recorder) render(transitionsOnly bool) string {
	var parts []string
	for _, e := range r.Events() {
		switch {
		case e.Kind == infuse.EventStateChange:
			s := e.From.String() + "->" + e.To.String()
			if e.Remote {
				s += "(remote)"
			}
			parts = append(parts, s)
		case !transitionsOnly && e.Kind != infuse.EventStoreCall:
			parts = append(parts, e.Kind.String())
		}
	}
	return strings.Join(parts, ",")
}
