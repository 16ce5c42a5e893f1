package infuse

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker: it protects callers from a failing
// dependency by refusing calls to it for a while once it has failed enough.
//
// The model. A breaker is in one of three states. Closed, it lets every call
// through and counts consecutive failures; the failure that makes the run
// FailMax long trips it. Open, it rejects every call with ErrOpen, without
// running it, until ResetTimeout has passed since it opened. Then the next
// call becomes a trial and the breaker is half-open: at most
// HalfOpenMaxCalls trials run at once and other calls are rejected; one
// failed trial opens the breaker again for a new ResetTimeout, and
// SuccessThreshold successful trials close it.
//
// Every transition starts a new generation. A call belongs to the generation
// that admitted it, and its outcome counts only while that generation lasts,
// so a slow call that returns after a trip or a manual transition changes
// nothing: the run of failures can never pass FailMax.
//
// The breaker keeps the current generation in one atomic pointer. A call in
// the closed state loads it, runs the function, and, when the function
// succeeds and no failures are counted, returns: no lock, no clock reading,
// no allocation, no store access. Failures, trials and transitions go
// through the Storage, which may be shared by other breakers and processes;
// see Storage. No lock is held while the function runs.
//
// A Breaker is safe for concurrent use. Create one with New.
type Breaker struct {
	cur   atomic.Pointer[epoch]
	hooks atomic.Pointer[listenerSet] // nil while there are no listeners

	name        string
	clock       Clock
	bind        Binding
	excludeFunc func(error) bool
	exclude     atomic.Pointer[[]error] // nil while nothing is excluded

	failMax          atomic.Int64
	resetTimeout     atomic.Int64
	successThreshold atomic.Int64
	halfOpenMaxCalls atomic.Int64

	mu           sync.Mutex // guards what follows, and serialises adopt
	nextListener uint64
	pending      []Event // state changes waiting for delivery, in order
	draining     bool
}

// epoch is one generation of the breaker's state. Its counters change; the
// rest is fixed when it is made.
type epoch struct {
	// slow is 0 while calls can take the fast path: the state is closed
	// and no listener is registered. It lives here, beside failures, so
	// the fast path reads one cache line.
	slow atomic.Uint32
	// failures is the run of failures while closed: this breaker's own,
	// raised to the Storage's merged run when that is longer, and lowered
	// when another member's success resets the merged run.
	failures  atomic.Int64
	successes atomic.Int64 // half-open: successful trials

	state    State
	gen      uint64
	openedAt time.Time
	tripped  int                       // open: the run that tripped it
	rejected atomic.Pointer[OpenError] // open: the last rejection's error, reused
	done     func(error)               // closed: Allow's completion, made once per epoch
	b        *Breaker

	// The padding makes an epoch exactly two cache lines, so the
	// allocator never puts another object (say, one a goroutine writes)
	// on a line that every call reads.
	_ [epochPad]byte
}

const epochPad = 128 - 96

// New returns a breaker configured by cfg, bound to cfg.Storage. It fails
// only on invalid settings (a *ConfigError, or an error naming the missing
// Name) or when the Storage refuses to bind.
func New(cfg Config) (*Breaker, error) {
	p, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	b := &Breaker{name: cfg.Name, clock: cfg.Clock, excludeFunc: cfg.ExcludeFunc}
	if b.clock == nil {
		b.clock = systemClock{}
	}
	b.setPolicy(p)
	if len(cfg.Exclude) > 0 {
		ex := append([]error(nil), cfg.Exclude...)
		b.exclude.Store(&ex)
	}
	for _, l := range cfg.Listeners {
		b.AddListener(l)
	}
	store := cfg.Storage
	if store == nil {
		store = NewMemoryStorage()
	}
	bind, err := store.Bind(BindConfig{
		Name:         cfg.Name,
		InitialState: cfg.InitialState,
		Clock:        b.clock,
		Policy:       b.policy,
		Observe:      func(s Snapshot) { b.adopt(s, true) },
		OnError:      b.storeError,
	})
	if err != nil {
		return nil, fmt.Errorf("infuse: binding breaker %q to its storage: %w", cfg.Name, err)
	}
	b.bind = bind
	// Under mu, so that a snapshot the store observes meanwhile is either
	// in this one or adopted after it (see adopt).
	b.mu.Lock()
	s := bind.Snapshot()
	if s.Generation == 0 {
		s.Generation = 1
	}
	b.cur.Store(b.newEpoch(s))
	b.mu.Unlock()
	return b, nil
}

func (b *Breaker) newEpoch(s Snapshot) *epoch {
	e := &epoch{state: s.State, gen: s.Generation, openedAt: s.OpenedAt, b: b}
	if s.State != Closed || b.hooks.Load() != nil {
		e.slow.Store(1)
	}
	switch s.State {
	case Closed:
		e.failures.Store(int64(s.Failures))
		e.done = e.complete
	case Open:
		e.tripped = s.Failures
	case HalfOpen:
		e.successes.Store(int64(s.Successes))
	}
	return e
}

// Name returns Config.Name.
func (b *Breaker) Name() string { return b.name }

// ticket is an admitted call: the generation that admitted it and, in the
// half-open state, its trial permit.
type ticket struct {
	e      *epoch
	permit Permit
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
func (b *Breaker) Call(ctx context.Context, fn func(context.Context) error) error {
	e := b.cur.Load()
	if e.slow.Load() != 0 || fn == nil || ctx == nil {
		return b.callSlow(ctx, e, fn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			b.abort(ticket{e: e}, recover())
		}
	}()
	err := fn(ctx)
	finished = true
	if err == nil && e.failures.Load() == 0 {
		return nil
	}
	return b.finish(ctx, ticket{e: e}, err)
}

// callSlow is Call in every case but the closed state with no listeners.
func (b *Breaker) callSlow(ctx context.Context, e *epoch, fn func(context.Context) error) error {
	if ctx == nil || fn == nil {
		return errNilArgument
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := b.admitSlow(ctx, e)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			b.abort(t, recover())
		}
	}()
	err = fn(ctx)
	finished = true
	return b.finish(ctx, t, err)
}

// Execute is Call for a function that returns a value: it returns fn's
// value and error, or the zero T and the breaker's error when fn did not
// run.
func Execute[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	// The body repeats Call's rather than wrapping fn in a closure for it:
	// such a closure would escape and cost an allocation per call.
	e := b.cur.Load()
	if e.slow.Load() != 0 || fn == nil || ctx == nil {
		return executeSlow(ctx, b, e, fn)
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	finished := false
	defer func() {
		if !finished {
			b.abort(ticket{e: e}, recover())
		}
	}()
	v, err := fn(ctx)
	finished = true
	if err == nil && e.failures.Load() == 0 {
		return v, nil
	}
	return v, b.finish(ctx, ticket{e: e}, err)
}

func executeSlow[T any](ctx context.Context, b *Breaker, e *epoch, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if ctx == nil || fn == nil {
		return zero, errNilArgument
	}
	if err := ctx.Err(); err != nil {
		return zero, err
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
// returns the error Call would (ctx.Err(), or an *OpenError).
//
// done cannot see the caller's context: it counts an error matching
// context.Canceled as the caller's own cancellation, neither success nor
// failure. It returns nothing; the error Call would have returned (with
// ErrTripped) is not available in this form. In the closed state done
// costs no allocation.
func (b *Breaker) Allow(ctx context.Context) (done func(err error), err error) {
	if ctx == nil {
		return nil, errNilArgument
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := b.cur.Load()
	if e.slow.Load() == 0 {
		return e.done, nil
	}
	t, err := b.admitSlow(ctx, e)
	if err != nil {
		return nil, err
	}
	if t.permit.Generation == 0 {
		return t.e.done, nil
	}
	var once atomic.Bool
	return func(err error) {
		if !once.Swap(true) {
			b.finish(unseenContext{}, t, err)
		}
	}, nil
}

// complete is a closed epoch's Allow completion.
func (e *epoch) complete(err error) {
	if err == nil && e.failures.Load() == 0 && e.b.hooks.Load() == nil {
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
			b.emit(Event{Kind: EventBeforeCall})
			return ticket{e: e}, nil
		case Open:
			if left := e.openedAt.Add(b.ResetTimeout()).Sub(b.clock.Now()); left > 0 {
				return ticket{}, b.rejectOpen(e, left)
			}
		}
		p, s, ok := b.bind.Acquire(ctx)
		ne := b.adopt(s, false)
		if !ok {
			if ne.state == Closed {
				e = ne
				continue
			}
			if err := ctx.Err(); err != nil {
				return ticket{}, err
			}
			var left time.Duration
			if ne.state == Open {
				left = max(ne.openedAt.Add(b.ResetTimeout()).Sub(b.clock.Now()), 0)
			}
			return ticket{}, b.reject(ne.state, left)
		}
		if ne.gen != p.Generation {
			// The permit is newer than anything adopt could install: the
			// store moved on twice in between. Hand it back and look again.
			b.bind.Release(p)
			e = b.cur.Load()
			continue
		}
		b.emit(Event{Kind: EventBeforeCall})
		return ticket{e: ne, permit: p}, nil
	}
}

// rejectOpen rejects a call in the open state. Rejections come in floods,
// so the error is reused while its RetryAfter is within a millisecond of
// the truth (never below it), instead of allocated for each call.
func (b *Breaker) rejectOpen(e *epoch, left time.Duration) error {
	err := e.rejected.Load()
	if err == nil || err.RetryAfter < left || err.RetryAfter-left >= time.Millisecond {
		err = &OpenError{Name: b.name, State: Open, RetryAfter: left}
		e.rejected.Store(err)
	}
	b.emit(Event{Kind: EventRejected, Err: err})
	return err
}

func (b *Breaker) reject(s State, left time.Duration) error {
	err := &OpenError{Name: b.name, State: s, RetryAfter: left}
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
	if ex := b.exclude.Load(); ex != nil {
		for _, target := range *ex {
			if errors.Is(err, target) {
				return succeeded
			}
		}
	}
	if b.excludeFunc != nil && safePredicate(b.excludeFunc, err) {
		return succeeded
	}
	return failed
}

// safePredicate runs a user predicate; one that panics excludes nothing.
func safePredicate(f func(error) bool, err error) (excluded bool) {
	defer func() {
		if recover() != nil {
			excluded = false
		}
	}()
	return f(err)
}

// finish counts the outcome of an admitted call whose function returned
// err, and returns what the caller gets.
func (b *Breaker) finish(ctx context.Context, t ticket, err error) error {
	switch b.classify(ctx, err) {
	case succeeded:
		b.succeed(t)
		b.emit(Event{Kind: EventSuccess, Err: err})
		return err
	case ignored:
		if t.permit.Generation != 0 {
			b.bind.Release(t.permit)
		}
		b.emit(Event{Kind: EventIgnored, Err: err})
		return err
	}
	b.emit(Event{Kind: EventFailure, Err: err})
	if b.fail(t) {
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
	b.emit(Event{Kind: EventFailure, Err: &PanicError{Value: v}})
	b.fail(t)
	panic(v)
}

func (b *Breaker) succeed(t ticket) {
	if t.permit.Generation != 0 {
		s, _ := b.bind.Settle(context.Background(), t.permit, Success)
		b.adopt(s, false)
		return
	}
	e := t.e
	if e.failures.Load() != 0 {
		e.failures.Store(0)
		if b.cur.Load() == e {
			s, _ := b.bind.Report(e.gen, Success)
			b.adopt(s, false)
		}
	}
}

// fail counts a failure and reports whether it opened the breaker.
func (b *Breaker) fail(t ticket) bool {
	if t.permit.Generation != 0 {
		s, changed := b.bind.Settle(context.Background(), t.permit, Failure)
		b.adopt(s, false)
		return changed
	}
	e := t.e
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
	s, tripped := b.bind.Report(e.gen, Failure)
	b.adopt(s, false)
	if tripped {
		return true
	}
	if n < fm {
		return false
	}
	s, changed, _ := b.bind.Transition(context.Background(), Transition{From: e.gen, To: Open, Failures: int(fm)})
	b.adopt(s, false)
	return changed
}

// adopt installs s if it is newer than the current generation, refreshes
// the counters if it is the current one, and returns the current epoch.
func (b *Breaker) adopt(s Snapshot, remote bool) *epoch {
	cur := b.cur.Load()
	if cur == nil {
		// New has not read the binding's first snapshot yet; that read
		// will include s, since a binding updates its Snapshot before it
		// calls Observe.
		return nil
	}
	if s.Generation < cur.gen {
		return cur
	}
	if s.Generation == cur.gen {
		cur.refresh(s, remote)
		return cur
	}
	b.mu.Lock()
	cur = b.cur.Load()
	if s.Generation <= cur.gen {
		b.mu.Unlock()
		if s.Generation == cur.gen {
			cur.refresh(s, remote)
		}
		return cur
	}
	ne := b.newEpoch(s)
	b.cur.Store(ne)
	if cur.state != s.State && b.hooks.Load() != nil {
		b.pending = append(b.pending, Event{
			Kind: EventStateChange, Name: b.name, Time: b.clock.Now(),
			From: cur.state, To: s.State, Generation: s.Generation, Remote: remote,
		})
	}
	b.mu.Unlock()
	b.drain()
	return ne
}

// refresh takes the counters of a snapshot of e's own generation. What the
// store says of another member's doing is taken as it is; what it answers
// this breaker's own report may be older than a concurrent report's answer,
// so it only ever raises a counter.
func (e *epoch) refresh(s Snapshot, remote bool) {
	var c *atomic.Int64
	var v int64
	switch {
	case s.State != e.state:
		return
	case s.State == Closed:
		c, v = &e.failures, int64(s.Failures)
	case s.State == HalfOpen:
		c, v = &e.successes, int64(s.Successes)
	default:
		return
	}
	if remote {
		c.Store(v)
		return
	}
	for cur := c.Load(); v > cur && !c.CompareAndSwap(cur, v); cur = c.Load() {
	}
}

// drain delivers queued state changes in order, one deliverer at a time,
// with no lock held while listeners run.
func (b *Breaker) drain() {
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return
	}
	b.draining = true
	for len(b.pending) > 0 {
		evs := b.pending
		b.pending = nil
		b.mu.Unlock()
		if hs := b.hooks.Load(); hs != nil {
			for _, ev := range evs {
				hs.emit(ev)
			}
		}
		b.mu.Lock()
	}
	b.draining = false
	b.mu.Unlock()
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

// State returns the current state, without I/O. The state changes only
// when something happens: an open breaker whose ResetTimeout has passed
// reports Open until a call arrives and becomes its trial.
func (b *Breaker) State() State { return b.cur.Load().state }

// Counts returns the current counters.
func (b *Breaker) Counts() Counts {
	e := b.cur.Load()
	switch e.state {
	case Closed:
		n := min(e.failures.Load(), int64(b.FailMax()))
		return Counts{ConsecutiveFailures: int(n)}
	case Open:
		return Counts{ConsecutiveFailures: e.tripped}
	}
	return Counts{ConsecutiveSuccesses: int(e.successes.Load())}
}

// Generation returns the current generation: it grows on every transition,
// so two equal readings mean no transition happened in between.
func (b *Breaker) Generation() uint64 { return b.cur.Load().gen }

// RetryAfter returns how long an open breaker will go on rejecting calls,
// and 0 in any other state or once a trial is due.
func (b *Breaker) RetryAfter() time.Duration {
	e := b.cur.Load()
	if e.state != Open {
		return 0
	}
	return max(e.openedAt.Add(b.ResetTimeout()).Sub(b.clock.Now()), 0)
}

// Open opens the breaker now, for a full ResetTimeout, whatever its state.
func (b *Breaker) Open(ctx context.Context) error {
	return b.transition(ctx, Open)
}

// HalfOpen moves the breaker to the half-open state now, whatever its
// state: the next calls are trials.
func (b *Breaker) HalfOpen(ctx context.Context) error {
	return b.transition(ctx, HalfOpen)
}

// Close closes the breaker now, whatever its state, and resets its counts.
func (b *Breaker) Close(ctx context.Context) error {
	return b.transition(ctx, Closed)
}

func (b *Breaker) transition(ctx context.Context, to State) error {
	if ctx == nil {
		return errNilArgument
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := Transition{From: AnyGeneration, To: to}
	if to == Open {
		t.Failures = b.Counts().ConsecutiveFailures
	}
	s, _, err := b.bind.Transition(ctx, t)
	b.adopt(s, false)
	if err != nil {
		return fmt.Errorf("infuse: breaker %q to %v: %w", b.name, to, err)
	}
	return nil
}

func (b *Breaker) policy() Policy {
	return Policy{
		FailMax:          b.FailMax(),
		ResetTimeout:     b.ResetTimeout(),
		SuccessThreshold: b.SuccessThreshold(),
		HalfOpenMaxCalls: int(b.halfOpenMaxCalls.Load()),
	}
}

func (b *Breaker) setPolicy(p Policy) {
	b.failMax.Store(int64(p.FailMax))
	b.resetTimeout.Store(int64(p.ResetTimeout))
	b.successThreshold.Store(int64(p.SuccessThreshold))
	b.halfOpenMaxCalls.Store(int64(p.HalfOpenMaxCalls))
}

// FailMax returns the run of failures that trips the breaker.
func (b *Breaker) FailMax() int { return int(b.failMax.Load()) }

// SetFailMax changes FailMax from now on. n < 1 restores the default, 5;
// n is capped at math.MaxInt32. A run already at the new FailMax trips the
// breaker on its next failure.
func (b *Breaker) SetFailMax(n int) { b.failMax.Store(int64(clampCount(n, defaultFailMax))) }

// ResetTimeout returns how long the breaker stays open.
func (b *Breaker) ResetTimeout() time.Duration { return time.Duration(b.resetTimeout.Load()) }

// SetResetTimeout changes ResetTimeout, for the current open period too:
// the period ends at the time the breaker opened plus d. d < 1 restores the
// default, 60s.
func (b *Breaker) SetResetTimeout(d time.Duration) {
	if d <= 0 {
		d = defaultResetTimeout
	}
	b.resetTimeout.Store(int64(d))
}

// SuccessThreshold returns the successful trials that close the breaker.
func (b *Breaker) SuccessThreshold() int { return int(b.successThreshold.Load()) }

// SetSuccessThreshold changes SuccessThreshold from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetSuccessThreshold(n int) {
	b.successThreshold.Store(int64(clampCount(n, defaultSuccessThreshold)))
}

// HalfOpenMaxCalls returns the number of trials allowed in flight at once.
func (b *Breaker) HalfOpenMaxCalls() int { return int(b.halfOpenMaxCalls.Load()) }

// SetHalfOpenMaxCalls changes HalfOpenMaxCalls from now on. n < 1 restores
// the default, 1; n is capped at math.MaxInt32.
func (b *Breaker) SetHalfOpenMaxCalls(n int) {
	b.halfOpenMaxCalls.Store(int64(clampCount(n, defaultHalfOpenMaxCalls)))
}

func clampCount(n, def int) int {
	if n < 1 {
		return def
	}
	return min(n, maxCount)
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
		e.slow.Store(1)
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
		if e := b.cur.Load(); e.state == Closed {
			e.slow.Store(0)
		}
	} else {
		b.hooks.Store(&listenerSet{entries: kept})
	}
}

// AddExcluded adds errors (matched with errors.Is) that count as successes.
// nil errors are ignored.
func (b *Breaker) AddExcluded(errs ...error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []error
	if cur := b.exclude.Load(); cur != nil {
		next = append(next, *cur...)
	}
	for _, e := range errs {
		if e != nil {
			next = append(next, e)
		}
	}
	if len(next) > 0 {
		b.exclude.Store(&next)
	}
}

// RemoveExcluded removes errors added by Config.Exclude or AddExcluded.
// An error is removed if it is the same value (==) as one given.
func (b *Breaker) RemoveExcluded(errs ...error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.exclude.Load()
	if cur == nil {
		return
	}
	var kept []error
	for _, have := range *cur {
		drop := false
		for _, e := range errs {
			if sameError(have, e) {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, have)
		}
	}
	if len(kept) == 0 {
		b.exclude.Store(nil)
	} else {
		b.exclude.Store(&kept)
	}
}

// Excluded returns the errors currently excluded, in the order added.
func (b *Breaker) Excluded() []error {
	if cur := b.exclude.Load(); cur != nil {
		return append([]error(nil), *cur...)
	}
	return nil
}

// sameError is a == b without the panic == raises on uncomparable
// dynamic types.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}
