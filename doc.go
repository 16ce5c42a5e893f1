// Package infuse is a circuit breaker (Nygard, Release It!) with the
// semantics of Python's pybreaker and state that a whole fleet can share.
//
// Wrap each call to a dependency in Breaker.Call (or Execute, for a
// function that returns a value, or Allow, for code that cannot be wrapped
// in a function). While the dependency works, the breaker is closed and
// costs a few nanoseconds a call: no lock, no clock reading, no allocation.
// After FailMax consecutive failures it opens, and calls fail fast with
// ErrOpen instead of piling onto the failing dependency; after ResetTimeout
// a few trial calls probe it, and the breaker closes again once
// SuccessThreshold of them succeed.
//
// Where the state lives is a Storage: by default a MemoryStorage private to
// the breaker; the redisstore package shares it through Redis across
// processes without putting Redis on the closed-state path. Listeners see
// every call and transition; the infusetest package has a manual Clock for
// tests of open periods, and storagetest holds every Storage to one
// contract.
//
// # For users
//
// New, Config and Breaker (Call, Execute, Allow, the manual transitions and
// modes, the setters, Metrics and Totals) are the API; ErrOpen, ErrTripped
// and OpenError the errors to branch on; Listener and Event what a
// listener sees; Window, Backoff, Mode and TrialExpiry settings.
//
// # For store authors
//
// The other types are the Storage contract, which only a store's author
// needs: Storage, Binding, BindConfig, Snapshot, Transition, Permit,
// Outcome, Policy, WindowCounts, WindowMerger and AnyGeneration. A store
// implements Storage and Binding; ARCHITECTURE.md in the repository says
// what they promise, and storagetest.Run checks it.
package infuse
