// Package redisstore shares breaker state through Redis: a trip in one
// process opens the breaker in every process of the fleet, failures from
// every member add up, and a fleet sends HalfOpenMaxCalls trial calls in
// all, not one per member. It does this without putting Redis on the
// closed-state path, and at a cost to Redis that grows with what fails,
// not with how many breakers and members there are.
//
//	store := redisstore.New(client, redisstore.Options{Namespace: "checkout"})
//	defer store.Close()
//	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store})
//
// # How it works
//
// Each breaker's state is one hash in Redis (state, generation, when it
// opened, the merged run of failures, successful trials, an incarnation)
// with its trial leases in a sorted set beside it. Breakers are spread
// over 16 buckets by a hash of their name; every key of a bucket carries
// the bucket's hash tag, so each script runs on one Cluster node and can
// record, with the change itself, that the breaker changed: a change
// counter and a capped change log per bucket. Every change is one Lua
// script, run with EVALSHA, that reads Redis's clock (TIME) and commits
// only from the generation the caller saw: one winner, no lost updates.
// A store loads its scripts when it starts, so that the first reports of
// an outage go as short EVALSHAs (a script Redis has lost since is sent
// whole again on its next use). See layout.go for the keys, lua/ for the
// scripts (prelude.lua first) and scripts.go for how they are built and
// called.
//
// A script that makes a transition publishes a hint on the namespace's
// channel: "h <bucket> <epoch> <counter>". A hint says only where to look;
// the member reads what changed from Redis. Members adopt state only from
// Redis (a script's reply or a read), never from a message.
//
// # What it costs Redis
//
//   - An idle fleet (breakers closed, nothing failing): per member and
//     RefreshInterval (1s), a heartbeat and one read of the 16 change
//     counters (one MGET on a server, 16 GETs on a Cluster): 6 commands on
//     a server, whatever the number of breakers. A closed breaker has no
//     key at all until something fails; the key of one that failed expires
//     IdleTTL (2 minutes) after its last write, and nothing renews it.
//   - A success costs nothing, unless it ends a run of failures (then it
//     is sent like one). A failure is sent at once if its breaker sent
//     nothing in the last FlushInterval (5ms), else with the others of
//     that interval: one script, about 11 commands, per breaker per
//     FlushInterval at most; a failure and the success that ends its run
//     cost 20 to 24. Another member's failure makes no member read
//     anything: each member learns the merged run from its own reports.
//   - A transition: one script, and one read per member (a script that
//     returns what changed in the bucket since the member last looked).
//   - Half-open: each member asks Redis for a trial permit at most once
//     per FlushInterval while it knows every permit held, however many
//     calls it rejects meanwhile.
//   - A fleet window: every WindowInterval (100ms), one script per bucket
//     for all of a member's windowed breakers that had calls, in one
//     pipeline, about 6 commands per breaker inside: some 65 commands a
//     second per busy windowed breaker and member. A longer WindowInterval
//     costs proportionally less and lets the fleet's window lag more.
//   - The operators' listing (Breakers): three commands per bucket, 49 in
//     all, whatever the number of breakers.
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
//     when Redis committed the trip; after a failed trial, from when the
//     trial failed: its lease's grant on Redis's clock plus how long the
//     trial ran after the grant reached its member, so that the wait of
//     its answer behind the fleet's permit requests does not lengthen the
//     open period (it may be shortened by the grant's way back, a fraction
//     of a round trip). Hosts' clocks are never compared: a member learns
//     how long ago the breaker opened (by Redis's clock) and counts from
//     there on its own.
//   - Joining: a new breaker adopts the stored state; InitialState seeds
//     only a name Redis holds nothing for.
//
// Eventual:
//   - The merged run of failures. Members send their outcomes as above,
//     and Redis merges the batches in the order it receives them: a
//     success anywhere resets the run, and the batch that makes it FailMax
//     trips the breaker. A member's own view is the merged run as its last
//     report found it plus its own failures since; when that view reaches
//     FailMax, its tripping call trips the fleet unless a success
//     elsewhere has reset the run since the member last saw it (a reset
//     counter in the state tells), in which case the run is merged and
//     the member takes the merged run. A run that sees no outcome for
//     IdleTTL is forgotten.
//   - The fleet's rate window (breakers with a time Window and a rate):
//     each member sends its window's growth every WindowInterval, counted
//     in the bucket Redis's clock says is current; the fleet's window lags
//     each member's calls by up to that interval and trips in the script
//     that first sees the rate crossed (and FleetMinMembers distinct
//     members with failures). A member's own rate never trips the fleet;
//     its consecutive failures (FailMax) still do.
//   - Propagation: other members read a transition when its hint arrives,
//     a round trip after the script (p99 about 2.5ms across 8 processes
//     on one host); a hint lost (a reconnect) is made good by the poll every
//     RefreshInterval. A hint that comes while the member's own sends are
//     on their way is read once they are answered (most often their
//     answers bring the change, a trip its failures helped make); it waits
//     for one round of sends at most. Reads that hints ask for and that find nothing new
//     are limited to 100 a second per member, so a flood of forged or
//     replayed messages costs Redis a bounded load and moves nothing.
//
// # Waiting on Redis
//
// A call in the closed state never waits on Redis: it reads the local
// snapshot, and its outcome is queued. A call that waits is one that
// changes the shared state: the failure that trips the breaker, a trial's
// permit and its outcome, a manual transition, Bind. It waits at most
// Options.OpTimeout (100ms), whatever the client's own timeouts.
//
// # Faults
//
// A caller waits OpTimeout at most; a request it stopped waiting for goes
// on, and its answer, when it comes, is applied as the call's own (a trip
// it made is reported as this member's; a trial permit granted too late
// is given back): a late answer is no failure. Meanwhile the caller gets
// the careful answer: no trip made alone, no trial permit of its own (a
// manual transition or mode is made locally and shared when Redis
// answers, with an error that says so).
//
// The store takes Redis for unreachable only on evidence: a connection
// refused, reset or closed, an error reply that says Redis cannot serve
// (LOADING, BUSY, READONLY, OOM, CLUSTERDOWN and the like), or silence: a
// request unanswered, then one sent after it still unanswered
// DownAfter (1s) later, with nothing answered in between. A stalled host
// (CPU throttling, a GC pause, a stopped process) makes its requests in
// flight late, but those it sends once it runs again are answered, so a
// stall does not send it there, and the fleet's promises (one trial,
// exact counts, one maker per transition) hold through it. Then the store
// counts the error (Errors), reports it to the breaker's listeners
// (EventStoreError), and for RetryInterval (1s) after the last evidence
// answers from local state without trying Redis on callers' paths: every
// member keeps protecting itself, tripping on its own failures and probing
// with its own trials; the first answer from Redis ends it. With the
// defaults and go-redis's own retries, a member whose failing calls meet
// a Redis killed or paused protects itself alone about 1.1 to 1.3s into
// the outage; until then each call that would trip the breaker waits
// OpTimeout. The sender keeps trying; when
// Redis answers, each member pushes the transitions it made alone,
// committed only if Redis is still at the generation the member knew (for
// a member that had never reached Redis: the one Redis first answers
// with), and never an automatic one over an operator's forced mode; then
// it adopts what Redis holds. A batch of outcomes sent again after its
// answer was lost is merged once. New never fails and never waits for
// Redis longer than OpTimeout.
//
// When Redis loses its data (a restart without persistence, FLUSHALL, a
// failover to a replica that had not caught up), every script restores
// the breaker from its caller's last confirmed state where Redis holds
// none: a closed breaker as it was, anything else (open, half-open,
// forced) under a new incarnation one generation up, announced to every
// member. Each bucket's change counter carries an epoch, new whenever the
// counter starts again, and the token of its last change, kept for the
// last 1024 changes: the poll notices a counter that started again or a
// history that went back (a failover to a replica behind), and has each
// member read (and so restore) what it holds there. A member that finds
// Redis below a generation it has seen (someone seeded it without knowing)
// lifts it above that generation under a new incarnation, so that every
// member adopts it, whoever bound first; if what Redis holds there is an
// idle seed, which decided nothing, the member puts its own open or
// forced state back instead: an open breaker stays open, and a forced
// mode holds, through a loss.
//
// A script Redis runs past its caller's deadline (the caller stopped
// waiting) does nothing and says so: an answer, not a failure of Redis.
// A caller whose own context ends is no failure of Redis: nothing is
// counted, and nothing is made after its deadline.
//
// Redis records which binding made each transition, with the generation
// it started, so that every member reports each transition as made by
// one member, whichever way it learns of it (see storage.Snapshot.Maker). A trial permit carries
// its holder's random number, so a permit whose answer never came is
// given back all the same.
//
// A state key lost on its own (evicted under a volatile-* maxmemory
// policy, deleted by hand) is put back, as it was, from its bucket's
// summary line by the next script or renewal that meets it: deleting a
// key is no way to reset a breaker (use a manual transition: `infuse
// close`). A member back from a partition longer than a key's life reads
// what happened from the summary line, kept a TTL past its key; when
// nothing is known, it keeps its own open or forced view rather than
// taking the breaker for closed.
//
// Every field of a breaker's state is validated by every script: a state
// with a field out of range (or a key of another type) is replaced, as if
// lost, and the replacement reported (Errors, EventStoreError). Fields
// infuse does not write are left alone, so a later version's fields
// survive a rolling upgrade.
//
// # Keys and upgrades
//
// Every key starts with the namespace and the layout version
// ("<namespace>:v2:"); namespaces and names may hold any bytes, escaped so
// that no two breakers share a key and each breaker's keys share one slot.
// A breaker that finds nothing in this layout reads its key in the first
// layout ("<namespace>:{<name>}") once, and carries an open period or a
// forced mode over; see docs/upgrading.md for a rolling upgrade.
package redisstore
