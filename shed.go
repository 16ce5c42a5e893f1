package infuse

import "sync/atomic"

// shedder turns a share of calls into rejections, for the features that
// reject while the breaker is closed (throttling, the recovery ramp). Its
// accumulator adds the share, in 1/2^32 units, call by call; a call whose
// addition crosses a multiple of 2^32 is rejected. So the share rejected
// is the share asked for to within one call, deterministically, without
// a random number per call.
type shedder struct {
	acc    atomic.Uint64
	reason Reason
	err    atomic.Pointer[OpenError] // the rejection, made once
}

// scaled is share p in the accumulator's units.
func scaled(p float64) uint64 { return uint64(p * (1 << 32)) }

// shed tells whether this call is one that the share inc rejects.
func (s *shedder) shed(inc uint64) bool {
	if inc == 0 {
		return false
	}
	n := s.acc.Add(inc)
	return n>>32 != (n-inc)>>32
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
