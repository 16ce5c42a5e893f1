// Package infusesim measures what a circuit breaker is for: how many calls
// a fleet of callers lets through to a failing backend, how soon every
// member stops, how many probes it sends while the backend is down, and how
// many healthy calls it wrongly rejects. It imports the infuse package and
// the standard library only.
//
// # Scenarios and their figures
//
// A Scenario describes the fleet and the backend: Members callers, each
// making Rate calls a second, paced, through phases in which the backend
// fails a share of calls (ErrorRate) after a Latency. A run of a scenario,
// live (bench/'s BenchmarkFleetProtection, on a real Redis) or simulated
// (Simulate, on a virtual clock), yields one Call per attempt, and
// Summarize turns the calls into the figures of a Result, the same for
// both, so that a simulation can be checked against a live run, and
// WriteTable prints them:
//
//   - Leaked: calls that reached the backend while it failed (in outage
//     phases). With breakers that share nothing, each member lets FailMax
//     calls through before it opens, and then a trial each open period:
//     Members × (FailMax + about one probe per ResetTimeout). A shared
//     state makes that about FailMax + one probe per open period for the
//     whole fleet.
//   - Probes: those of them a member let through after its own first
//     rejection in the phase: the trials.
//   - AllRejecting: from the first failing call until every member has
//     rejected one: how long the fleet takes to stop.
//   - RejectedBefore and RejectedRecovering: healthy calls rejected before
//     the first outage and after the last: the cost of the protection.
//   - Recovered: from the backend's recovery until every member has had a
//     call admitted again.
//   - Throughput: calls a second per member while healthy.
//
// # The simulator
//
// SimulateRun plays a scenario through one candidate infuse.Config as a
// discrete-event simulation, in one goroutine, on a virtual clock: each
// member has a real *infuse.Breaker made from the candidate, and calls
// Allow on its beat; an admitted call's done runs when the backend
// answers, Latency later, with a failure drawn from a source seeded by
// Options.Seed. The fleet is Local (a MemoryStorage per member) or Shared:
// one MemoryStorage, or, with Options.Delay, a store whose news takes
// Delay to travel between a member and the shared state (see Options).
// The built-in OutageScenario (about 192,000 calls) runs in a few tens of
// milliseconds. Run.Changes holds every member's state changes, and
// WriteSVG draws them with the calls a second.
//
// # Recording and replay
//
// To measure a configuration against your own traffic, record it: make the
// calls through a Recorder (Recorder.Call in place of Breaker.Call,
// Recorder.Allow in place of Breaker.Allow), which writes each call's
// time, breaker name, outcome and latency, and each rejection, to a
// bounded file in a versioned line format (see Record and the format's
// description in record.go). ReadRecording reads it back, with the line
// of any malformed line, and Replay runs the recorded calls through a
// candidate configuration on the virtual clock: a breaker per recorded
// name, each call offered at its recorded time and answered with its
// recorded outcome after its recorded latency. SummarizeReplay gives the
// figures of a replay: failing calls admitted, healthy calls rejected,
// trips.
//
// The infuse command's "simulate" subcommand does all of this from the
// command line.
package infusesim
