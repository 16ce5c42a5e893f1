package infuse

import (
	"github.com/infuse-go/infuse/internal/coarse"
	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/storage"

	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"
)

// Breaker is a circuit breaker: it protects callers from a failing
// dependency by refusing calls to it for a while once it has failed enough.
//
// The package documentation describes the model it follows.
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
	cur atomic.Pointer[epoch]
	// rejecting is, while the breaker is open, the rejection that Call,
	// Execute and Allow return before anything else, in line at the
	// caller: made at a tick of the coarse clock and withdrawn at its next
	// (internal/coarse), or a forced open's; nil when calls must go further:
	// the breaker is not open, the rejection is due again, near the end
	// of the open period, or a listener or Totals wants every rejection.
	// (An unsafe.Pointer: Call fits the inliner's budget with
	// atomic.LoadPointer, not with atomic.Pointer's Load.)
	rejecting unsafe.Pointer              // *rejection
	hooks     atomic.Pointer[listenerSet] // nil while there are no listeners
	// pol is the settings: swapped whole, never changed, and shared by
	// the breakers whose settings are equal (see internPolicy).
	pol    atomic.Pointer[storage.Policy]
	counts atomic.Pointer[callCounts] // nil until Totals is first called
	// more is what few breakers need, or need rarely: made when first
	// needed (see extra), so that a breaker that needs none of it does
	// not pay for it.
	more atomic.Pointer[breakerExtra]

	name  string
	clock Clock
	bind  storage.Binding

	mu      sync.Mutex   // guards extra's events, and serialises adopt
	calling atomic.Int32 // the breaker's calls to its store in flight
	waiting atomic.Bool  // extra's unclaimed holds an event
	// detached: Detach was called.
	detached atomic.Bool

	realClock   bool // Config.Clock was nil
	fleetWindow bool // the Storage merges members' windows and trips on them
	candidate   bool // it is a shadow's candidate
	draining    bool // under mu: a goroutine delivers the pending state changes

	transitions atomic.Uint64
}

// breakerExtra is the part of a Breaker that few breakers need: a
// breaker with no listener, no shadow, no excluded errors, no store
// errors, on the memory store, has none. A Breaker is about 130 bytes
// without it.
type breakerExtra struct {
	storage     Storage                 // a shared Storage it is bound to (a shadow's candidate binds there too); nil: its own memory
	shadow      atomic.Pointer[Shadow]  // the shadow running beside it, if any
	excludeFunc func(error) bool        // set by New, before any call
	exclude     atomic.Pointer[[]error] // nil while nothing is excluded

	fleet       atomic.Pointer[fleetWindow] // the fleet's window, as the Storage last pushed it
	storeErrors atomic.Uint64
	outlived    atomic.Int64 // throttled calls longer than the window (Metrics.OutlivedWindow)

	// Under Breaker.mu.
	nextListener uint64
	pending      []Event   // state changes waiting for delivery, in order
	unclaimed    *Event    // a change waiting for its maker's answer (see adopt)
	made         *madeGens // the generations last reported as made, from a store that records makers
}

// fleetWindow is the fleet's window as the Storage pushed it, and when, in
// UnixNano on the breaker's clock.
type fleetWindow struct {
	storage.WindowCounts
	at int64
}

// extra returns b's breakerExtra, made the first time it is asked for.
func (b *Breaker) extra() *breakerExtra {
	if x := b.more.Load(); x != nil {
		return x
	}
	b.more.CompareAndSwap(nil, new(breakerExtra))
	return b.more.Load()
}

// epoch is one generation of the breaker's state. Its counters change; the
// rest is fixed when it is made.
type epoch struct {
	// gate is 0 while calls can take the fast path: the state is closed
	// and no listener is registered. It lives here, beside failures, so
	// the fast path reads one cache line.
	gate  atomic.Uint32
	trips int32 // openings in a row (see Backoff)
	// failures is the run of failures while closed: this breaker's own,
	// raised to the Storage's merged run when that is longer, and lowered
	// when another member's success resets the merged run.
	failures  atomic.Int64
	successes atomic.Int64 // half-open: successful trials
	meter     meter.Meter  // closed, with a Window: the rates' window
	// counts are the breaker's call counts (Totals), nil until counting
	// starts; beside the fast path's other fields, so a call reads one line.
	counts atomic.Pointer[callCounts]
	b      *Breaker

	state State
	mode  Mode
	gen   uint64
	open  *opened // an open epoch's; nil in other states
	// done is a closed epoch's Allow completion, made by the first Allow.
	done atomic.Pointer[func(error)]
	// throttle is a closed epoch's throttling (Config.Throttle); nil
	// without one, or while disabled.
	throttle *throttler
	ramp     *ramp // a closed epoch's recovery ramp; nil without one

	// The padding makes an epoch whole cache lines (an object of 128
	// bytes is placed on a multiple of 128), so the allocator never puts
	// another object (say, one a goroutine writes) on a line that every
	// call reads; 64 bytes more than its fields, not 128 (it was 192), to
	// keep 10⁵ breakers small.
	_ [epochPad]byte
}

const epochPad = 128 - 112

// opened is what only an open epoch has.
type opened struct {
	at time.Time // when it opened
	// mono is at as the coarse clock counts (since coarse.Base), for
	// rejections with the real clock.
	mono int64
	// ahead is how far in the future it opened (a hold: see HoldOpen),
	// which a rejection's RetryAfter may exceed the open period by.
	ahead   time.Duration
	tripped int                       // the run that tripped it
	rej     atomic.Pointer[rejection] // the last rejection, reused
}

// New returns a breaker configured by cfg, bound to cfg.Storage. It fails
// only on invalid settings (a *ConfigError, or an error naming the missing
// Name) or when the Storage refuses to bind.
func New(cfg Config) (*Breaker, error) { return newBreaker(cfg, false) }

// newBreaker is New; a shadow's candidate (candidate true) takes no
// shadow of its own from the store.
func newBreaker(cfg Config, candidate bool) (*Breaker, error) {
	p, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if !candidate && strings.HasSuffix(cfg.Name, ShadowSuffix) {
		// A shadow's candidate breaker of the name without it binds
		// there, on the same Storage: a live breaker there would share
		// its state, and reject calls on a candidate's say.
		return nil, &ConfigError{Field: "Name", Reason: fmt.Sprintf("%q ends with %q, which names shadows' candidates", cfg.Name, ShadowSuffix)}
	}
	b := &Breaker{name: cfg.Name, clock: cfg.Clock, candidate: candidate}
	if b.clock == nil {
		b.clock, b.realClock = storage.SystemClock{}, true
	}
	b.pol.Store(internPolicy(p))
	if cfg.ExcludeFunc != nil {
		b.extra().excludeFunc = cfg.ExcludeFunc
	}
	if len(cfg.Exclude) > 0 {
		ex := append([]error(nil), cfg.Exclude...)
		b.extra().exclude.Store(&ex)
	}
	for _, l := range cfg.Listeners {
		b.AddListener(l)
	}
	var bind storage.Binding
	if cfg.Storage == nil {
		// A store of its own: a record nobody else binds to.
		bind = newPrivateBinding(b, cfg.InitialState)
	} else {
		b.extra().storage = cfg.Storage
		var shadow func(*Candidate)
		if !candidate {
			shadow = b.storeShadow
		}
		bind, err = cfg.Storage.Bind(storage.BindConfig{
			Shadow:        shadow,
			Name:          cfg.Name,
			InitialState:  cfg.InitialState,
			Clock:         b.clock,
			Policy:        b.policy,
			Observe:       func(s storage.Snapshot) { b.adopt(s, observed) },
			Made:          func(s storage.Snapshot) { b.adopt(s, made) },
			OnError:       b.storeError,
			Window:        cfg.Window,
			Counted:       b.counted,
			ObserveWindow: b.observeWindow,
		})
		if err != nil {
			return nil, fmt.Errorf("infuse: binding breaker %q to its storage: %w", cfg.Name, err)
		}
		if bind == nil {
			return nil, fmt.Errorf("infuse: binding breaker %q: the storage returned no binding", cfg.Name)
		}
	}
	b.bind = bind
	if wm, ok := bind.(storage.WindowMerger); ok && !cfg.Window.IsZero() && wm.MergesWindows() {
		b.fleetWindow = true
	}
	// Under mu, so that a snapshot the store observes meanwhile is either
	// in this one or adopted after it (see adopt).
	b.mu.Lock()
	s := bind.Snapshot()
	if s.Generation == 0 {
		s.Generation = 1
	}
	e := b.newEpoch(s)
	b.startRamp(e, nil, s)
	b.cur.Store(e)
	b.mu.Unlock()
	return b, nil
}

// observeWindow is BindConfig.ObserveWindow: the fleet's window.
func (b *Breaker) observeWindow(c storage.WindowCounts) {
	b.extra().fleet.Store(&fleetWindow{WindowCounts: c, at: b.clock.Now().UnixNano()})
	if e := b.cur.Load(); e != nil && e.gen == c.Generation {
		b.rethrottle(e)
	}
}

func (b *Breaker) newEpoch(s storage.Snapshot) *epoch {
	e := &epoch{state: s.State, mode: s.Mode, trips: int32(min(s.Trips, storage.MaxCount)), gen: s.Generation, b: b}
	e.counts.Store(b.counts.Load())
	p := b.pol.Load()
	switch s.State {
	case Closed:
		e.failures.Store(int64(s.Failures))
		e.meter = meter.New(p.Window, b.clock, b.realClock, b.fleetWindow, int64(p.MinCalls))
		m, timed := e.meter.(*meter.Time)
		if timed && !p.Throttle.IsZero() && s.Mode != ModeDisabled {
			e.throttle = newThrottler()
		}
		rates := b.realClock && !b.fleetWindow && anyRate(p)
		if timed && b.realClock && (rates || e.throttle != nil) {
			// Weakly: a pending timer must not keep a breaker nobody uses.
			we := weak.Make(e)
			check := func() {
				if e := we.Value(); e != nil {
					if rates {
						e.b.rateTrip(e)
					}
					e.b.rethrottle(e)
				}
			}
			m.SetOnTick(&check)
		}
	case Open:
		e.open = &opened{at: s.OpenedAt, tripped: s.Failures}
		if b.realClock && !s.OpenedAt.IsZero() {
			// Through the system clock, so that an OpenedAt without a
			// monotonic reading (a store's) is measured as it is.
			e.open.mono = int64(time.Since(coarse.Base)) - int64(time.Since(s.OpenedAt))
			e.open.ahead = max(time.Until(s.OpenedAt), 0)
		}
	case HalfOpen:
		e.successes.Store(int64(s.Successes))
	}
	if b.needsSlowPath(e) {
		e.gate.Store(1)
	}
	return e
}

// needsSlowPath tells whether the calls of epoch e must take the slow
// path (its gate): it is not closed, or listeners want its calls, or calls
// are timed, throttled or ramping.
func (b *Breaker) needsSlowPath(e *epoch) bool {
	return e.state != Closed || b.hooks.Load().wantsCalls() || b.pol.Load().SlowCallDuration > 0 ||
		e.throttle != nil || (e.ramp != nil && !e.ramp.over.Load())
}

// counted is BindConfig.Counted: the running totals of the current closed
// generation's time window.
func (b *Breaker) counted() (storage.WindowCounts, bool) {
	e := b.cur.Load()
	if e == nil || e.state != Closed {
		return storage.WindowCounts{}, false
	}
	m, ok := e.meter.(*meter.Time)
	if !ok || !m.Cumulates() {
		return storage.WindowCounts{}, false
	}
	t := m.Cumulative()
	return storage.WindowCounts{Generation: e.gen, Calls: t.Calls, Failures: t.Failures, SlowCalls: t.Slow, Requests: t.Requests}, true
}

// Name returns Config.Name.
func (b *Breaker) Name() string { return b.name }

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
		return Counts{ConsecutiveFailures: e.open.tripped}
	}
	return Counts{ConsecutiveSuccesses: int(e.successes.Load())}
}

// Generation returns the current generation: it grows on every transition,
// so two equal readings mean no transition happened in between.
func (b *Breaker) Generation() uint64 { return b.cur.Load().gen }

// RetryAfter returns how long an open breaker will go on rejecting calls,
// and 0 in any other state, once a trial is due, or while forced open
// (which lasts until released).
func (b *Breaker) RetryAfter() time.Duration {
	e := b.cur.Load()
	if e.state != Open || e.mode == ModeForcedOpen {
		return 0
	}
	return max(e.open.at.Add(b.openFor(e)).Sub(b.clock.Now()), 0)
}

// openFor is how long epoch e, an open one, lasts: ResetTimeout grown by
// the backoff.
func (b *Breaker) openFor(e *epoch) time.Duration {
	p := b.pol.Load()
	if p.Backoff.Multiplier == 0 { // the common case, on every rejection
		return p.ResetTimeout
	}
	return p.OpenFor(storage.Snapshot{Generation: e.gen, Trips: int(e.trips)})
}

// Detach lets go of the breaker's binding to its Storage: the store stops
// telling it of other members' transitions and forgets it. The breaker goes
// on working (a later transition still goes to the store), so a caller
// holding it is safe; a registry detaches the breakers it evicts. A
// shadow running beside it stops.
func (b *Breaker) Detach() error {
	b.detached.Store(true)
	b.StopShadow()
	return b.bind.Close()
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
	t := storage.Transition{From: storage.AnyGeneration, To: to, Cause: CauseOperator}
	if to == Open {
		t.Failures = b.Counts().ConsecutiveFailures
	}
	start := b.storeStart()
	b.ownCall()
	s, changed, err := b.bind.Transition(ctx, t)
	b.storeDone(start)
	b.adopt(s, madeIf(changed))
	b.ownDone()
	if err != nil {
		return fmt.Errorf("infuse: breaker %q to %v: %w", b.name, to, err)
	}
	return nil
}
