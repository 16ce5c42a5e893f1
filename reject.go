package infuse

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/infuse-go/infuse/internal/coarse"
)

// reusable returns open epoch e's rejection when a call may have it as it
// is, and counts it: it was made at the coarse clock's current tick (so
// its RetryAfter is still true to the tick), or it is a forced open's
// (RetryAfter 0 whatever the time). It returns nil for every other call.
// This is the whole rejection of an open breaker but once a tick: three
// loads of lines nobody writes meanwhile, and the count when Totals is
// kept. A call on a done context is rejected too: its function would not
// run either way.
func (e *epoch) reusable() *OpenError {
	if e.open == nil {
		return nil
	}
	r := e.open.rej.Load()
	if r == nil {
		return nil
	}
	if at := r.at; at != coarse.Now() && at != reuseAlways {
		return nil
	}
	if c := e.counts.Load(); c != nil {
		c.add(countRejection)
	}
	return &r.err
}

// rejection is an open epoch's rejection, kept to be returned again (see
// reusable and Breaker.rejecting).
type rejection struct {
	err OpenError
	// at is the coarse clock's reading when it was made, which reusable
	// wants to read still; or reuseAlways, or reuseNever.
	at int64
	// w has the coarse clock's next tick take it back from the breaker.
	w coarse.Withdrawal
}

// dropRejections has the next rejection made afresh: the settings it
// was made with changed.
func (b *Breaker) dropRejections() {
	atomic.StorePointer(&b.rejecting, nil)
	if e := b.cur.Load(); e != nil && e.open != nil {
		e.open.rej.Store(nil)
	}
}

// publish makes r, a rejection of open epoch e, the one Call, Execute and
// Allow return in line until the coarse clock's next tick withdraws it
// (a forced open's, until the epoch ends): unless meanwhile the epoch
// ended, or counting or a listener of rejections began, whose own
// withdrawals (adopt, Totals, AddListener) might have come first.
func (b *Breaker) publish(e *epoch, r *rejection) {
	atomic.StorePointer(&b.rejecting, unsafe.Pointer(r))
	r.w = coarse.Withdrawal{Slot: &b.rejecting, Value: unsafe.Pointer(r)}
	if r.at != reuseAlways && !coarse.WithdrawAtTick(&r.w, r.at) {
		atomic.CompareAndSwapPointer(&b.rejecting, unsafe.Pointer(r), nil)
		return
	}
	if b.cur.Load() != e || e.counts.Load() != nil || b.hooks.Load().want(EventRejected) {
		atomic.CompareAndSwapPointer(&b.rejecting, unsafe.Pointer(r), nil)
	}
}

const (
	// reuseNever marks a rejection made from the breaker's own clock, or
	// one a listener wants to see: only rejectOpen reuses it.
	reuseNever = -1
	// reuseAlways marks a forced open's rejection.
	reuseAlways = -2
)

// rejectFast rejects a call in open epoch e without reading the system
// clock: forced open, or, with the real clock and an open period of at
// least coarse.MinOpen, while the coarse clock says the period has not
// ended (it may say so a tick late; RetryAfter is then up to that much
// long, well within 1 % of the period). It returns nil when the slow path
// must decide: the period may be over, or the clock is injected.
func (b *Breaker) rejectFast(e *epoch) error {
	if e.mode == ModeForcedOpen {
		return b.rejectOpen(e, 0, reuseAlways)
	}
	if !b.realClock {
		return nil
	}
	openFor := b.openFor(e)
	if openFor < coarse.MinOpen {
		return nil // a tick would be more than 1 % of it
	}
	now, ok := coarse.Read()
	if !ok {
		return nil
	}
	// At most the open period, and a hold's (see HoldOpen) beyond it.
	left := min(time.Duration(e.open.mono+int64(openFor)-now), openFor+e.open.ahead)
	if left <= max(coarse.Margin, openFor/10) {
		// Near the end the system clock decides: a timer starved of CPU
		// moves the coarse clock late, and no call may be rejected once
		// the period is over.
		return nil
	}
	return b.rejectOpen(e, left, now)
}

// rejectOpen rejects a call in the open state, with RetryAfter left as
// of at: the coarse clock's reading, reuseAlways (forced open) or
// reuseNever (the breaker's clock). Rejections come in floods, so the
// error is made once and reused: by reusable while the coarse clock reads
// at, and here while its RetryAfter is within a millisecond of the truth
// (never below it).
func (b *Breaker) rejectOpen(e *epoch, left time.Duration, at int64) error {
	wanted := b.hooks.Load().want(EventRejected)
	if wanted {
		at = reuseNever // every rejection goes by the listener
	}
	r := e.open.rej.Load()
	if r == nil || r.err.RetryAfter < left || r.err.RetryAfter-left >= time.Millisecond || (at != reuseNever && r.at != at) {
		reason := ReasonOpen
		if e.mode == ModeForcedOpen {
			reason = ReasonForcedOpen
		}
		r = &rejection{err: OpenError{Name: b.name, State: Open, RetryAfter: left, Reason: reason}, at: at}
		e.open.rej.Store(r)
		if at != reuseNever && b.hooks.Load().want(EventRejected) {
			e.open.rej.CompareAndSwap(r, nil) // a listener came meanwhile (see AddListener)
		} else if at != reuseNever && e.counts.Load() == nil {
			b.publish(e, r)
		}
	}
	e.counts.Load().add(countRejection)
	if wanted {
		b.emit(Event{Kind: EventRejected, Err: &r.err})
	}
	return &r.err
}

// reject rejects a call that asked the Storage for a trial permit and got
// none: e is the epoch the answer left.
func (b *Breaker) reject(e *epoch, left time.Duration) error {
	reason := ReasonNoPermit
	if e.mode == ModeForcedOpen {
		reason = ReasonForcedOpen
	} else if e.state == Open {
		reason = ReasonOpen
	}
	err := &OpenError{Name: b.name, State: e.state, RetryAfter: left, Reason: reason}
	e.counts.Load().add(countRejection)
	b.emit(Event{Kind: EventRejected, Err: err})
	return err
}
