package infuse

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// ticket is an admitted call: the generation that admitted it and, in the
// half-open state, its trial permit.
type ticket struct {
	e      *epoch
	permit storage.Permit
	start  time.Time // when the call began, if slow calls are timed
}

// Call runs fn if the breaker admits it and counts its outcome.
//
// It returns ctx.Err() without running fn when ctx is already done, an
// *OpenError (errors.Is(err, ErrOpen)) when the breaker rejects the call,
// an error matching both ErrTripped and fn's error when fn's failure opened
// the breaker, and fn's error untouched otherwise. fn's error counts as
// a success when it is excluded (Config.Exclude, Config.ExcludeFunc), and
// as neither success nor failure when it is context.Canceled and ctx is
// done. A panic in fn counts as a failure and goes on to the caller.
//
// An open breaker's rejection comes before anything else is looked at:
// a call on a done context, or with a nil argument, gets it too (fn would
// not run either way). This is what lets a rejection cost about what a
// field compare does (ARCHITECTURE.md, "Rejections").
func (b *Breaker) Call(ctx context.Context, fn func(context.Context) error) error {
	// An open breaker's rejection, in line at the caller (see rejecting).
	if r := (*rejection)(atomic.LoadPointer(&b.rejecting)); r != nil {
		return &r.err
	}
	return b.call(ctx, fn)
}

// call is Call but for the rejection that Call makes in line.
func (b *Breaker) call(ctx context.Context, fn func(context.Context) error) error {
	e := b.cur.Load()
	if e.gate.Load() != 0 || fn == nil || ctx == nil {
		return b.callSlow(ctx, e, fn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	finished := false
	defer func() { // e.b rather than b: one word less for the closure to carry
		if !finished {
			e.b.abort(ticket{e: e}, recover())
		}
	}()
	err := fn(ctx)
	finished = true
	if err == nil && e.failures.Load() == 0 && e.meter == nil && e.counts.Load() == nil {
		return nil
	}
	return e.b.finishClosed(ctx, e, err)
}

// finishClosed is the end of a closed-state call that the fast path could
// not settle: a success to record in the window, or any error.
func (b *Breaker) finishClosed(ctx context.Context, e *epoch, err error) error {
	if err == nil && e.failures.Load() == 0 {
		// The fast path saw failures that a concurrent success has reset
		// since; with no window there is nothing to record.
		if e.meter != nil && e.meter.Record(false, false) {
			b.rateTrip(e) // a success can bring the window to MinCalls over a rate
		}
		e.counts.Load().add(countSuccess)
		return nil
	}
	return b.finish(ctx, ticket{e: e}, err)
}

// callSlow is Call in every case but the closed state with no listeners.
func (b *Breaker) callSlow(ctx context.Context, e *epoch, fn func(context.Context) error) error {
	if ctx == nil || fn == nil {
		return errNilArgument
	}
	if r := e.reusable(); r != nil {
		return r
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.state == Open {
		if err := b.rejectFast(e); err != nil {
			return err
		}
	}
	t, err := b.admitSlow(ctx, e)
	if err != nil {
		return err
	}
	return b.run(ctx, t, fn)
}

// run runs an admitted call's function and counts its outcome. It is apart
// from callSlow so that a rejection does not pay for this frame.
func (b *Breaker) run(ctx context.Context, t ticket, fn func(context.Context) error) error {
	finished := false
	defer func() {
		if !finished {
			b.abort(t, recover())
		}
	}()
	err := fn(ctx)
	finished = true
	return b.finish(ctx, t, err)
}

// Execute is Call for a function that returns a value: it returns fn's
// value and error, or the zero T and the breaker's error when fn did not
// run.
func Execute[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	// The body repeats Call's rather than wrapping fn in a closure for it:
	// such a closure would escape and cost an allocation per call.
	if r := (*rejection)(atomic.LoadPointer(&b.rejecting)); r != nil {
		var zero T
		return zero, &r.err
	}
	e := b.cur.Load()
	if e.gate.Load() != 0 || fn == nil || ctx == nil {
		return executeSlow(ctx, b, e, fn)
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	finished := false
	defer func() {
		if !finished {
			e.b.abort(ticket{e: e}, recover())
		}
	}()
	v, err := fn(ctx)
	finished = true
	if err == nil && e.failures.Load() == 0 && e.meter == nil && e.counts.Load() == nil {
		return v, nil
	}
	return v, e.b.finishClosed(ctx, e, err)
}

func executeSlow[T any](ctx context.Context, b *Breaker, e *epoch, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if ctx == nil || fn == nil {
		return zero, errNilArgument
	}
	if r := e.reusable(); r != nil {
		return zero, r
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if e.state == Open {
		if err := b.rejectFast(e); err != nil {
			return zero, err
		}
	}
	t, err := b.admitSlow(ctx, e)
	if err != nil {
		return zero, err
	}
	finished := false
	defer func() {
		if !finished {
			b.abort(t, recover())
		}
	}()
	v, err := fn(ctx)
	finished = true
	return v, b.finish(ctx, t, err)
}

// Allow is the two-step form of Call, for code that cannot be wrapped in a
// function: when the breaker admits the call, Allow returns done, and the
// caller must call done exactly once with the call's error. Otherwise it
// returns the error Call would (ctx.Err(), or an *OpenError, which an open
// breaker returns first, as Call does).
//
// done cannot see the caller's context: it counts an error matching
// context.Canceled as the caller's own cancellation, neither success nor
// failure. It returns nothing; the error Call would have returned (with
// ErrTripped) is not available in this form. In the closed state done
// costs no allocation.
func (b *Breaker) Allow(ctx context.Context) (done func(err error), err error) {
	if r := (*rejection)(atomic.LoadPointer(&b.rejecting)); r != nil {
		return nil, &r.err
	}
	if ctx == nil {
		return nil, errNilArgument
	}
	e := b.cur.Load()
	if e.gate.Load() == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return e.completion(), nil
	}
	if r := e.reusable(); r != nil {
		return nil, r
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.state == Open {
		if err := b.rejectFast(e); err != nil {
			return nil, err
		}
	}
	t, err := b.admitSlow(ctx, e)
	if err != nil {
		return nil, err
	}
	if t.permit.Generation == 0 && t.start.IsZero() {
		return t.e.completion(), nil
	}
	var once atomic.Bool
	return func(err error) {
		if !once.Swap(true) {
			b.finish(unseenContext{}, t, err)
		}
	}, nil
}

// completion is closed epoch e's Allow completion, made by the first
// Allow of the epoch: a breaker that is never asked for one pays nothing.
func (e *epoch) completion() func(error) {
	if f := e.done.Load(); f != nil {
		return *f
	}
	f := e.complete
	e.done.CompareAndSwap(nil, &f)
	return *e.done.Load()
}

// complete is a closed epoch's Allow completion.
func (e *epoch) complete(err error) {
	if err == nil && e.failures.Load() == 0 && !e.b.hooks.Load().wantsCalls() && (e.ramp == nil || e.ramp.over.Load()) {
		if e.meter != nil && e.meter.Record(false, false) {
			e.b.rateTrip(e)
		}
		e.counts.Load().add(countSuccess)
		return
	}
	e.b.finish(unseenContext{}, ticket{e: e}, err)
}

// admitSlow decides whether a call may run, in every case but the one that
// Call, Execute and Allow decide inline: the closed state with no listeners.
func (b *Breaker) admitSlow(ctx context.Context, e *epoch) (ticket, error) {
	for {
		switch e.state {
		case Closed:
			// The ramp first, then throttling: the ramp's share is of
			// every call offered, and the throttle's requests are the
			// calls it would send the backend, its own rejections among
			// them but none the ramp shed (ARCHITECTURE.md, "Shedding
			// while closed").
			if e.ramp != nil {
				if err := b.ramping(e); err != nil {
					return ticket{}, err
				}
			}
			if e.throttle != nil {
				if err := b.throttled(e); err != nil {
					return ticket{}, err
				}
			}
			b.emit(Event{Kind: EventBeforeCall})
			return b.started(ticket{e: e}), nil
		case Open:
			if e.mode == ModeForcedOpen { // an epoch is forced or not: its cached error fits
				return ticket{}, b.rejectOpen(e, 0, reuseAlways)
			}
			if left := e.open.at.Add(b.openFor(e)).Sub(b.clock.Now()); left > 0 {
				return ticket{}, b.rejectOpen(e, left, reuseNever)
			}
		}
		start := b.storeStart()
		b.ownCall()
		p, s, ok := b.bind.Acquire(ctx)
		b.storeDone(start)
		// Granted, the change the answer brings (to half-open) is this
		// call's; refused, another's (see Binding.Acquire).
		ne := b.adopt(s, madeIf(ok))
		b.ownDone()
		if !ok {
			if ne.state == Closed {
				e = ne
				continue
			}
			if err := ctx.Err(); err != nil {
				return ticket{}, err
			}
			var left time.Duration
			if ne.state == Open && ne.mode != ModeForcedOpen {
				left = max(ne.open.at.Add(b.openFor(ne)).Sub(b.clock.Now()), 0)
			}
			return ticket{}, b.reject(ne, left)
		}
		if ne.gen != p.Generation {
			// The permit is newer than anything adopt could install: the
			// store moved on twice in between. Hand it back and look again.
			b.bind.Release(p)
			e = b.cur.Load()
			continue
		}
		b.emit(Event{Kind: EventBeforeCall})
		return b.started(ticket{e: ne, permit: p}), nil
	}
}

// started stamps a ticket's start when slow calls are timed, here or by
// a shadow's candidate, or the call is throttled (see outlived).
func (b *Breaker) started(t ticket) ticket {
	if b.pol.Load().SlowCallDuration > 0 || t.e.throttle != nil {
		t.start = b.clock.Now()
	} else if s := b.Shadow(); s != nil && s.timesCalls {
		t.start = b.clock.Now()
	}
	return t
}

// timed says how long a call of ticket t that ended now took (0 when it
// was not timed) and whether it was slow, and counts a throttled call that
// outlived its time window: its request has left the window before its
// outcome comes (Metrics.OutlivedWindow).
func (b *Breaker) timed(t ticket) (took time.Duration, slow bool) {
	if t.start.IsZero() {
		return 0, false
	}
	took, p := b.clock.Now().Sub(t.start), b.pol.Load()
	if t.e.throttle != nil && took > p.Window.Duration() {
		b.extra().outlived.Add(1)
	}
	return took, p.SlowCallDuration > 0 && took > p.SlowCallDuration
}
