// Package redisstore shares breaker state through Redis: a trip in one
// process opens the breaker in every process of the fleet, failures from
// every member add up, and a fleet sends HalfOpenMaxCalls trial calls in
// all, not one per member. It does this without putting Redis on the
// closed-state path.
//
//	store := redisstore.New(client, redisstore.Options{Namespace: "checkout"})
//	defer store.Close()
//	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store})
//
// # How it works
//
// Each breaker's state is one hash in Redis (state, generation, when it
// opened, the merged run of failures, successful trials) and one sorted set
// of trial leases, both keyed on the breaker's name as a hash tag so they
// share a Cluster slot. Every change is one Lua script, run with EVALSHA,
// that reads Redis's clock (TIME) and commits only from the generation the
// caller saw: one winner, no lost updates. Scripts that change the state
// publish it on one channel per namespace; every Store listens and tells its
// breakers at once.
//
// # Consistency model
//
// Exact, fleet-wide:
//   - Transitions: each is atomic in Redis and carries a generation; of
//     members racing to make one, exactly one succeeds (and only its caller
//     gets ErrTripped), the others adopt the result.
//   - Half-open permits: at most HalfOpenMaxCalls trial leases exist at
//     once in Redis; a lease expires after Options.TrialLease if its
//     holder dies.
//   - The open period: measured on Redis's clock, in milliseconds, from
//     when Redis committed the trip. Hosts' clocks are never compared: a
//     member learns how long ago the breaker opened (by Redis's clock) and
//     counts from there on its own.
//   - Joining: a new breaker adopts the stored state; InitialState seeds
//     only a name Redis holds nothing for. Generations never go backwards,
//     even when Redis loses its data: a member re-seeds from what it knows,
//     above every generation it has seen.
//
// Eventual:
//   - The merged run of failures. Members send their outcomes in batches,
//     FlushInterval (5ms) after they happen, and Redis merges the batches in
//     the order it receives them: a success anywhere resets the run, and
//     the batch that makes it FailMax trips the breaker. Every change of
//     the merged run is published, so each member's view of it is at most
//     FlushInterval plus a round trip old.
//   - A member also trips the breaker when its own view reaches FailMax
//     (its own failures on top of the last merged run it saw); that trip
//     goes through the same generation check, so it can race a success
//     reported elsewhere in the last few milliseconds, never another trip.
//   - The fleet's rate window (breakers with a time Window and a rate):
//     each member sends its window's growth every WindowInterval (100ms),
//     counted in the bucket Redis's clock says is current; the fleet's
//     window lags each member's calls by up to that interval and trips in
//     the script that first sees the rate crossed (and FleetMinMembers
//     distinct members with failures). A member's own rate never trips the
//     fleet; its consecutive failures (FailMax) still do.
//   - Propagation: other members adopt a transition when its message
//     arrives, typically within a millisecond of the script; a message lost
//     (a reconnect) is made good by the periodic re-read every
//     RefreshInterval (1s).
//
// # Waiting on Redis
//
// A call in the closed state never waits on Redis: it reads the local
// snapshot, and its outcome is queued. A call that waits is one that
// changes the shared state: the failure that trips the breaker, a trial's
// permit and its outcome, a manual transition. It waits at most
// Options.OpTimeout (100ms), whatever the client's own timeouts.
//
// # Outages
//
// When Redis fails or is slower than OpTimeout, the store counts the error
// (Errors), reports it to the breaker's listeners (EventStoreError), and
// for RetryInterval (1s) answers from local state without trying Redis on
// callers' paths: every member keeps protecting itself, tripping on its own
// failures and probing with its own trials. The background goroutine keeps
// trying; when Redis answers, each member pushes the transitions it made
// alone (committed only if Redis has not moved on meanwhile) and adopts
// what Redis holds. New never fails and never waits for Redis.
//
// Anything in a breaker's key that infuse did not write (another type,
// foreign fields) is treated as absent, replaced, and reported.
package redisstore
