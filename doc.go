// Package infuse is a circuit breaker (Nygard, Release It!) with the
// semantics of Python's pybreaker and state that a whole fleet can share.
//
// Wrap each call to a dependency in Breaker.Call (or Execute, for a
// function that returns a value, or Allow, for code that cannot be wrapped
// in a function). While the dependency works, the breaker is closed and
// costs a few nanoseconds a call: no lock, no clock reading, no allocation.
//
// # The model
//
// A breaker is in one of three states.
//
//   - Closed, it lets every call through and counts consecutive failures;
//     the failure that makes the run FailMax long trips it (opens it). With
//     a Window it also trips when the failure rate (FailureRate) or the
//     slow-call rate (SlowCallRate, calls over SlowCallDuration) over the
//     window's last calls reaches its threshold, once MinCalls calls were
//     counted.
//   - Open, it rejects every call with ErrOpen (an *OpenError that says why
//     and for how long) without running it, until its open period has
//     passed: ResetTimeout, grown by Backoff after each failed recovery, or
//     the end of a hold (HoldOpen, a Retry-After) capped by MaxHoldOpen.
//   - Half-open, after the open period, the next calls are trials: at most
//     HalfOpenMaxCalls run at once and other calls are rejected. One failed
//     trial opens the breaker again; SuccessThreshold successful trials
//     close it. A trial that never reports back (its caller hung) is given
//     up after HalfOpenMaxWait, and TrialExpiry says what that does.
//
// Every transition starts a new generation: a number that grows with each
// transition. A call belongs to the generation that admitted it, and its
// outcome counts only while that generation lasts, so a slow call that
// returns after a trip or a manual transition changes nothing.
//
// An operator can take a breaker out of this automaton with a Mode:
// ModeForcedOpen (every call rejected) or ModeDisabled (every call let
// through and counted, nothing trips it); ModeNormal gives it back.
// Open, HalfOpen and Close move it by hand.
//
// Three features soften the edges, each off unless configured: after a
// recovery a ramp (RampDuration, RampSteps) lets a growing share of calls
// through instead of all at once; a Throttle rejects calls with a
// probability that follows the window's failure rate while the breaker is
// closed (the client-side throttling of Google's SRE book: the load falls
// to about K times what the backend accepts); a shadow (StartShadow) runs
// a candidate configuration beside the live one on the same outcomes and
// reports what it would have done, without touching a call.
//
// # Where the state lives
//
// Where the state lives is a Storage: by default a MemoryStorage private to
// the breaker; breakers given the same MemoryStorage and name share one
// state; the redisstore package shares it through Redis across processes
// without putting Redis on the closed-state path. Listeners see every call
// and transition (Event); each transition of a shared state is reported by
// the one member that made it and observed (Event.Remote) by the others.
//
// # For users
//
// New, Config and Breaker (Call, Execute, Allow, the manual transitions and
// modes, the setters, Metrics and Totals) are the API; ErrOpen, ErrTripped
// and OpenError the errors to branch on; Listener and Event what a
// listener sees; Window, Backoff, Throttle, Mode and TrialExpiry settings.
// The infusetest package has a manual Clock for tests of open periods.
//
// # For store authors
//
// The contract a store implements (Storage, Binding, Snapshot, Transition,
// Permit, Outcome, Settings) is the package
// github.com/infuse-go/infuse/storage; ARCHITECTURE.md in the repository
// says what it promises, and storagetest.Run checks it. The names this
// package gives those types are aliases.
package infuse
