package storage

import (
	"context"
	"time"
)

// Storage is where breakers keep their state. A Storage is shared: any
// number of breakers bind to it, and breakers that bind under one name (in
// one process, or, for a shared store such as redisstore, across a fleet)
// share one state: its transitions, its open period and its trial permits.
//
// The contract is built so that a store behind a network never sits on the
// hot path:
//
//   - The breaker keeps a local snapshot of the state and decides every
//     closed-state call from it. The store pushes newer snapshots through
//     BindConfig.Observe.
//   - Outcomes of closed-state calls go to Binding.Report, which must not
//     block; a shared store batches them and merges every member's counts,
//     and may trip the breaker when the merged count reaches FailMax.
//   - Every transition carries a generation, and a store commits a
//     transition only from the generation the caller saw: one winner, no lost
//     updates. Generations only grow.
//   - Half-open trial permits are granted by the store (Acquire) and given
//     back with the trial's outcome (Settle) or without one (Release), so a
//     fleet sends HalfOpenMaxCalls trials in all, not per member.
//   - Store failures are the store's to absorb: a Binding keeps answering
//     from local state and reports the failure through BindConfig.OnError.
//
// The package's contract suite, storagetest.Run, pins this behaviour for any
// implementation.
type Storage interface {
	// Bind attaches a breaker to the state stored under cfg.Name, creating
	// it from cfg.InitialState only where none exists. It must not fail
	// because a backing store is unreachable.
	Bind(cfg BindConfig) (Binding, error)
}

// BindConfig is what a breaker tells its Storage when it binds.
type BindConfig struct {
	// Name identifies the shared state.
	Name string
	// InitialState seeds the state where the store holds none yet.
	InitialState State
	// Clock is the breaker's clock. Times in Snapshots are on this clock.
	Clock Clock
	// Policy returns the breaker's current settings; a store calls it when
	// it decides on the breaker's behalf (a merged trip, a permit, a close).
	Policy func() Policy
	// Observe receives snapshots of changes this binding did not make
	// itself: another breaker's transition, a trip on merged counts, a
	// changed merged count. It must not block, and the store must not hold
	// its own locks while calling it. The binding's Snapshot must already
	// reflect s when Observe is called. Snapshots may arrive out of order;
	// the breaker keeps the newest generation.
	Observe func(Snapshot)
	// Made receives a snapshot of a transition the store made for this
	// binding outside any of the breaker's calls to it: a shared store's
	// trip on merged counts that this binding's reported outcomes
	// completed. It is Observe in all else, but the breaker reports the
	// transition as its own (Event.Remote false), so that each transition
	// of a fleet is reported as made by one member only. nil: Observe.
	Made func(Snapshot)
	// OnError receives errors of the backing store. It must not block.
	OnError func(error)
	// Window is the breaker's rate window (Config.Window); zero for none.
	Window Window
	// Counted returns running totals of the current closed generation's
	// window, for a store that merges members' windows (a WindowMerger);
	// ok is false in other states, or when the breaker keeps no totals.
	Counted func() (c WindowCounts, ok bool)
	// ObserveWindow receives the fleet's merged window, from a store that
	// merges windows, each time the store learns it (c.Generation is the
	// closed generation it belongs to). The breaker shows it in Metrics.
	// It must not block, and the store must not hold its own locks while
	// calling it. nil: a function that does nothing.
	ObserveWindow func(c WindowCounts)
	// Shadow, when not nil, lets a store that carries shadow candidates
	// (redisstore with Options.Shadows) start the breaker's shadow (c not
	// nil) or stop the one it started (nil); see infuse.Breaker.StartShadow. It
	// must not be called under the store's own locks; it may bind the
	// candidate breaker to the store.
	Shadow func(c *Settings)
}

// WindowCounts are the calls a breaker's window has recorded in one closed
// generation, from its start: a store sends the growth since it last
// looked.
type WindowCounts struct {
	Generation                 uint64
	Calls, Failures, SlowCalls int64
	// Requests are the calls asked for, admitted or not, counted as they
	// began; kept only by a breaker that throttles (Config.Throttle).
	Requests int64
}

// WindowMerger is implemented by a Binding that merges the windows of
// every member of a fleet and trips the breaker on the fleet's rates. A
// breaker whose binding merges windows keeps running totals for it
// (BindConfig.Counted, which the store reads) and leaves rate trips to the
// store; consecutive failures (FailMax) it still decides itself. The store
// pushes the fleet's window back through BindConfig.ObserveWindow: the
// counts go one way, the fleet's figures the other.
type WindowMerger interface {
	MergesWindows() bool
}

// Check is for Storage implementations: it returns c with what its caller
// left nil filled (the real clock, the default settings, callbacks that do
// nothing), or an error for an empty Name or an invalid InitialState.
func (c BindConfig) Check() (BindConfig, error) {
	if c.Name == "" {
		return c, ErrEmptyName
	}
	if !c.InitialState.Valid() {
		return c, &unknownStateError{c.InitialState.String()}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Policy == nil {
		c.Policy = func() Policy { return Settings{}.WithDefaults() }
	}
	if c.Observe == nil {
		c.Observe = func(Snapshot) {}
	}
	if c.Made == nil {
		c.Made = c.Observe
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	if c.ObserveWindow == nil {
		c.ObserveWindow = func(WindowCounts) {}
	}
	return c, nil
}

// Snapshot is a breaker's shared state at one generation.
type Snapshot struct {
	State State
	// Generation grows by at least one on every transition; 0 is never a
	// generation.
	Generation uint64
	// OpenedAt is when the breaker last opened, on the breaker's Clock;
	// zero unless State is Open. The open period ends at
	// OpenedAt+ResetTimeout.
	OpenedAt time.Time
	// ClosedAt is when the breaker closed after being open or half-open
	// (a recovery), on the breaker's Clock: a recovery ramp
	// (Config.RampDuration) runs from then, so that every member of a
	// fleet ramps together, and one that binds mid-ramp joins in. Zero
	// unless State is Closed, and for a close from Closed (a reset, a
	// disabled breaker released); a store that does not record it leaves
	// each breaker to ramp from when it learns of the close.
	ClosedAt time.Time
	// Failures is the merged run of consecutive failures while Closed, and
	// the run that tripped the breaker while Open.
	Failures int
	// Successes is the number of successful trials while HalfOpen.
	Successes int
	// Trials is the number of trial permits held while HalfOpen.
	Trials int
	// Trips is how many times in a row the breaker has opened since it
	// last closed; backoff grows the open period with it.
	Trips int
	// Mode is the forced state, if any.
	Mode Mode
	// Maker tells who made the transition that started this generation,
	// when the store records it (redisstore does): the breaker reports
	// the transition as its own (Event.Remote false) or another's by it,
	// whichever way the snapshot reaches it. MakerUnknown leaves that to
	// the way: Made or a granted call's answer is its own, Observe
	// another's.
	Maker Maker
	// Cause is why the transition that started this generation was made,
	// when the store records it.
	Cause Cause
	// From is the state the transition that started this generation left,
	// when Maker is known.
	From State
}

// Maker says who made the transition that started a Snapshot's
// generation.
type Maker uint8

const (
	// MakerUnknown: the store does not say.
	MakerUnknown Maker = iota
	// MakerHere: this binding made it.
	MakerHere
	// MakerElsewhere: another binding made it (another breaker of this
	// process, or a member elsewhere).
	MakerElsewhere
)

// AnyGeneration, as the From of a Transition, commits whatever the current
// generation is: the manual transitions use it.
const AnyGeneration uint64 = 0

// Transition asks a store to move a breaker's state.
type Transition struct {
	// From is the generation the caller saw, or AnyGeneration.
	From uint64
	// To is the new state.
	To State
	// Failures is the run of failures that caused a trip to Open.
	Failures int
	// Cause is why the transition is asked for; a store that records
	// causes keeps it in the Snapshot of the generation it starts.
	Cause Cause
	// OpenUntil, when not zero with To Open, is when the open period
	// ends, on the breaker's Clock, instead of Policy.OpenFor after the
	// transition (a hold: Breaker.HoldOpen). The store sets OpenedAt to
	// OpenUntil less Policy.OpenFor of the new state, so that every
	// member, computing OpenedAt + OpenFor as always, finds the same end.
	OpenUntil time.Time
}

// Outcome is the result of a call, as a store counts it. The zero Outcome
// is none, neither a success nor a failure.
type Outcome int

const (
	// OutcomeSuccess: nil, or an excluded error.
	OutcomeSuccess Outcome = iota + 1
	// OutcomeFailure: a counted error, or a panic.
	OutcomeFailure
)

// The outcomes' first names, kept for stores written against them.
const (
	// Deprecated: use OutcomeSuccess (EventSuccess is the listener's event).
	Success Outcome = OutcomeSuccess
	// Deprecated: use OutcomeFailure (EventFailure is the listener's event).
	Failure Outcome = OutcomeFailure
)

// Permit is a half-open trial permit. The zero Permit is no permit.
type Permit struct {
	// Generation is the half-open generation the permit belongs to.
	Generation uint64
	// ID tells permits of one generation apart.
	ID uint64
}

// Binding is one breaker's handle on its Storage. All methods are safe for
// concurrent use.
type Binding interface {
	// Snapshot returns the state as the binding knows it, without I/O.
	Snapshot() Snapshot

	// Report records the outcome of a call admitted at generation gen in
	// the closed state; outcomes of any other generation are ignored. It
	// must not block, allocate or wait on I/O: a shared store queues the
	// outcome and merges it later. The breaker reports every failure, and a
	// success only while some failures are counted.
	//
	// A store that merges counts synchronously trips the breaker when the
	// merged run reaches FailMax; it then returns the open snapshot and
	// tripped true. Otherwise tripped is false and s may be the zero
	// Snapshot.
	Report(gen uint64, o Outcome) (s Snapshot, tripped bool)

	// Transition commits t if t.From is the current generation (or
	// AnyGeneration) and returns the resulting snapshot, and whether this
	// call made the change. A transition from a given generation is
	// refused while a Mode is forced; one from AnyGeneration (a manual
	// one) ends the forced Mode. A transition to the state already held still
	// starts a new generation (and, for Open, a new open period). err
	// reports a done ctx or a store failure; the snapshot is still the
	// state to adopt (a shared store that cannot reach its backing store
	// commits locally and says so).
	Transition(ctx context.Context, t Transition) (s Snapshot, changed bool, err error)

	// Acquire asks for a trial permit. In the open state past
	// OpenedAt+Policy.OpenFor it moves the state to half-open and grants
	// the first permit; in the half-open state it grants one while fewer
	// than HalfOpenMaxCalls are held, after freeing the permits held past
	// HalfOpenMaxWait (and doing what TrialExpiry says). Never while forced
	// open. ok is false when no permit was granted.
	//
	// Who made a transition. The breaker reports a change that the answer
	// to its own call brings as its own (Event.Remote false) when the call
	// made it (Transition and Settle say so with changed, Report with
	// tripped, Acquire with a granted permit), and as another breaker's
	// otherwise. A store whose granted permit comes with a transition the
	// call did not make (another member moved the breaker to half-open)
	// passes that snapshot to Observe before Acquire returns; one whose
	// Acquire makes a transition and grants no permit (a trial held past
	// HalfOpenMaxWait, and its TrialExpiry) passes it to Made.
	Acquire(ctx context.Context) (p Permit, s Snapshot, ok bool)

	// Settle gives a permit back with its trial's outcome. A failure opens
	// the breaker; the SuccessThreshold-th success closes it. changed tells
	// whether this call made the transition. A permit of an older
	// generation changes nothing.
	Settle(ctx context.Context, p Permit, o Outcome) (s Snapshot, changed bool)

	// Release gives a permit back without an outcome (the caller
	// cancelled).
	Release(p Permit)

	// SetMode forces a mode, or releases it (ModeNormal), starting a new
	// generation: forced open is the open state, disabled and released
	// are the closed state.
	SetMode(ctx context.Context, m Mode) (Snapshot, error)

	// Close detaches the binding; the breaker will not use it again.
	Close() error
}
