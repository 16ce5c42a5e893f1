package infuse

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/infuse-go/infuse/internal/coarse"
	"github.com/infuse-go/infuse/internal/meter"
)

// ticket is an admitted call: the generation that admitted it and, in the
// half-open state, its trial permit.
type ticket struct {
	e      *epoch
	permit Permit
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

// outcome classes a call's error.
type outcome int

const (
	succeeded outcome = iota
	failed
	ignored
)

// unseenContext stands for the caller's context where the breaker cannot
// see it: in Allow's completions. It counts as done, so that
// context.Canceled is taken for the caller's own cancellation.
type unseenContext struct{ context.Context }

func (unseenContext) Err() error { return context.Canceled }

// classify tells what err counts as.
func (b *Breaker) classify(ctx context.Context, err error) outcome {
	if err == nil {
		return succeeded
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ignored
	}
	x := b.more.Load()
	if x == nil {
		return failed
	}
	if ex := x.exclude.Load(); ex != nil {
		for _, target := range *ex {
			if errors.Is(err, target) {
				return succeeded
			}
		}
	}
	if x.excludeFunc != nil && safePredicate(x.excludeFunc, err) {
		return succeeded
	}
	return failed
}

// finish counts the outcome of an admitted call whose function returned
// err, and returns what the caller gets.
func (b *Breaker) finish(ctx context.Context, t ticket, err error) error {
	took, slow := b.timed(t)
	switch b.classify(ctx, err) {
	case succeeded:
		t.e.counts.Load().add(countSuccess)
		b.succeed(t, slow)
		b.emit(Event{Kind: EventSuccess, Err: err, Latency: took})
		return err
	case ignored:
		t.e.counts.Load().add(countIgnored)
		if t.permit.Generation != 0 {
			b.bind.Release(t.permit)
		}
		b.emit(Event{Kind: EventIgnored, Err: err})
		return err
	}
	t.e.counts.Load().add(countFailure)
	b.emit(Event{Kind: EventFailure, Err: err, Latency: took})
	if b.fail(t, slow) {
		return &trippedError{name: b.name, cause: err}
	}
	return err
}

// abort handles a function that did not return: it panicked with v, or
// called runtime.Goexit (v is nil). A panic counts as a failure and is
// raised again; a Goexit counts as nothing.
func (b *Breaker) abort(t ticket, v any) {
	if v == nil {
		if t.permit.Generation != 0 {
			b.bind.Release(t.permit)
		}
		return
	}
	t.e.counts.Load().add(countFailure)
	b.emit(Event{Kind: EventFailure, Err: &PanicError{Value: v}})
	b.fail(t, false)
	panic(v)
}

func (b *Breaker) succeed(t ticket, slow bool) {
	if t.permit.Generation != 0 {
		start := b.storeStart()
		b.ownCall()
		s, changed := b.bind.Settle(context.Background(), t.permit, OutcomeSuccess)
		b.storeDone(start)
		b.adopt(s, madeIf(changed))
		b.ownDone()
		return
	}
	e := t.e
	if e.ramp != nil {
		b.rampOutcome(e, false)
	}
	if e.meter != nil {
		moved := e.meter.Record(false, slow)
		if moved || slow {
			b.rateTrip(e)
		}
		if moved && e.throttle != nil {
			b.rethrottle(e)
		}
	}
	if e.failures.Load() != 0 {
		e.failures.Store(0)
		if b.cur.Load() == e {
			b.ownCall()
			s, _ := b.bind.Report(e.gen, OutcomeSuccess)
			b.reported(e, s, false)
			b.ownDone()
		}
	}
}

// fail counts a failure and reports whether it opened the breaker.
func (b *Breaker) fail(t ticket, slow bool) bool {
	if t.permit.Generation != 0 {
		start := b.storeStart()
		b.ownCall()
		s, changed := b.bind.Settle(context.Background(), t.permit, OutcomeFailure)
		b.storeDone(start)
		b.adopt(s, madeIf(changed))
		b.ownDone()
		return changed
	}
	e := t.e
	if e.meter != nil && e.meter.Record(true, slow) && e.throttle != nil {
		b.rethrottle(e)
	}
	fm := int64(b.FailMax())
	n := e.failures.Load()
	for n < fm && !e.failures.CompareAndSwap(n, n+1) {
		n = e.failures.Load()
	}
	if n < fm {
		n++
	}
	if b.cur.Load() != e {
		return false // an outcome of an earlier generation
	}
	if e.ramp != nil && b.rampOutcome(e, true) {
		return true
	}
	if e.mode == ModeDisabled {
		b.bind.Report(e.gen, OutcomeFailure)
		return false // counted, never tripping
	}
	b.ownCall() // a Report can make a trip that a concurrent call learns of first
	s, tripped := b.bind.Report(e.gen, OutcomeFailure)
	b.reported(e, s, tripped)
	b.ownDone()
	if tripped {
		return true
	}
	if n < fm {
		return b.rateTrip(e)
	}
	return b.trip(e, int(fm))
}

// reported takes the answer to a Report of closed epoch e: the trip it
// made, or the merged counts of e's generation. A newer generation it
// shows and did not make is another's doing, which the store tells the
// breaker of itself (Observe, Made): taken from here, the breaker could
// not tell who made it.
func (b *Breaker) reported(e *epoch, s Snapshot, tripped bool) {
	if tripped {
		b.adopt(s, answerMade)
	} else if s.Generation == e.gen {
		b.adopt(s, answer)
	}
}

// trip opens the breaker from closed epoch e; it reports whether this call
// made the transition.
func (b *Breaker) trip(e *epoch, failures int) bool {
	start := b.storeStart()
	b.ownCall()
	s, changed, _ := b.bind.Transition(context.Background(), Transition{From: e.gen, To: Open, Failures: failures})
	b.storeDone(start)
	b.adopt(s, madeIf(changed))
	b.ownDone()
	return changed
}

// rateTrip opens the breaker when a rate of closed epoch e's window has
// reached its threshold.
func (b *Breaker) rateTrip(e *epoch) bool {
	if e.meter == nil || b.cur.Load() != e || e.mode == ModeDisabled || b.fleetWindow {
		return false // the store trips on the fleet's window instead
	}
	p := b.pol.Load()
	over := exceeded(p, e.meter.Tally())
	if m, ok := e.meter.(*meter.Time); ok && !over {
		if last := m.TakeLast(); last != nil {
			over = exceeded(p, *last)
		}
	}
	if over {
		return b.trip(e, int(min(e.failures.Load(), int64(p.FailMax))))
	}
	return false
}
