package infuse

import (
	"sync/atomic"

	"github.com/infuse-go/infuse/internal/shed"
)

// shedder is a closed epoch's shedding for a feature that rejects while
// the breaker is closed (throttling, the recovery ramp): the accumulator
// that picks the calls (package shed), and the rejection it gives them.
type shedder struct {
	shed.Accumulator
	reason Reason
	err    atomic.Pointer[OpenError] // the rejection, made once
}

// rejectShed counts and reports a call of closed epoch e that s shed, and
// returns its error.
func (b *Breaker) rejectShed(e *epoch, s *shedder) error {
	err := s.err.Load()
	if err == nil {
		err = &OpenError{Name: b.name, State: Closed, Reason: s.reason}
		s.err.Store(err)
	}
	e.counts.Load().add(countRejection)
	if b.hooks.Load().want(EventRejected) {
		b.emit(Event{Kind: EventRejected, Err: err})
	}
	return err
}
