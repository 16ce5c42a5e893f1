package infusesim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/infuse-go/infuse"
)

// Fleet is how the members of a simulated fleet hold their breaker's
// state.
type Fleet int

const (
	// Local: every member has its own state (its own MemoryStorage), as
	// processes that share nothing do. The zero Fleet.
	Local Fleet = iota
	// Shared: the members share one state, as a fleet sharing its breaker
	// through redisstore does, with news travelling Options.Delay.
	Shared
)

// String returns "local" or "shared".
func (f Fleet) String() string {
	switch f {
	case Local:
		return "local"
	case Shared:
		return "shared"
	}
	return fmt.Sprintf("Fleet(%d)", int(f))
}

// Options are the simulation's settings besides the scenario and the
// candidate configuration. The zero Options is a local fleet, seed 0, no
// jitter.
type Options struct {
	// Fleet is Local (the zero value) or Shared.
	Fleet Fleet
	// Delay, for a Shared fleet, is how long news takes between a member
	// and the shared state: a member's outcomes reach it Delay after the
	// call, and a change made there reaches the other members Delay after
	// it was made. A member's own request to change the state (a trip, a
	// trial permit, a trial's outcome) is answered at once. 0 means every
	// member is bound to one MemoryStorage, and hears of every change as it
	// is made.
	Delay time.Duration
	// Seed makes the run: the same seed, scenario, configuration and
	// options give the same calls.
	Seed uint64
	// Jitter, from 0 up to (not including) 1, delays each call by a random
	// share of the interval up to Jitter: 0.5 moves each call up to half an
	// interval later than its beat.
	Jitter float64
	// Sequential makes each member wait for its call to return before the
	// next, skipping the beats it missed, as a paced loop does: with
	// latency above the interval a member then calls less often than
	// Scenario.Rate. Otherwise calls start on their beats whatever is in
	// flight.
	Sequential bool
	// Progress, if set, is called as the run goes, on its goroutine, with
	// the virtual time it has reached: at most about a thousand times a
	// run, in increasing order, the last at the scenario's end. It is
	// for telling a person how far a long run is; it must not block.
	Progress func(at time.Duration)
}

// Change is a member's breaker moving from one state to another.
type Change struct {
	// Member numbers the member (or, in a replay, the breaker), from 0.
	Member int
	// At is when it moved, from the start.
	At time.Duration
	// From and To are the states before and after.
	From, To infuse.State
	// Remote tells that the member learned of a change another member
	// made (through a shared state), rather than making it.
	Remote bool
}

// Run is everything a simulation recorded: the calls, for Summarize, and
// every member's state changes, for the picture.
type Run struct {
	// Calls holds one Call per attempt, in the order they were attempted.
	Calls []Call
	// Changes holds every member's state changes, in the order they
	// happened. Every member starts in the configuration's InitialState
	// (Closed by default) or, in a shared fleet, the shared one.
	Changes []Change
}

// Limits that keep a simulation's memory in bounds.
const (
	maxMembers = 100_000
	maxCalls   = 10_000_000
)

// errBackend is the error a simulated backend fails a call with.
var errBackend = errors.New("infusesim: the backend failed the call")

// Simulate runs scenario s through the candidate configuration cfg, on a
// virtual clock, and returns the calls the members attempted: Summarize
// turns them into the Result a live run of s would give. It is SimulateRun
// without the state changes.
func Simulate(s Scenario, cfg infuse.Config, opts Options) ([]Call, error) {
	r, err := SimulateRun(s, cfg, opts)
	return r.Calls, err
}

// SimulateRun runs scenario s through the candidate configuration cfg on
// a virtual clock, in one goroutine, and returns the calls and every
// member's state changes.
//
// Each member has a breaker made from cfg, with the simulation's clock and
// a Storage as opts.Fleet says; so cfg must leave Clock and Storage nil
// (an error otherwise), an empty Name becomes "simulated", and cfg's
// Listeners are kept (they see virtual times). Member m makes its first
// call at m/Members of an interval (Scenario.Interval), and one every
// interval after that, delayed by opts.Jitter. A call is Allow at its
// time; when it is admitted, the backend answers it after the latency of
// the phase the call started in, failing it with the phase's ErrorRate,
// and done is called then. A member's draws come from its own source,
// seeded by opts.Seed and the member, and every call draws whether or not
// it is admitted, so every candidate faces the same backend.
//
// Calls are made until the scenario's end; calls in flight then still
// return. A scenario of more than 100,000 members or about 10 million
// calls is an error.
func SimulateRun(s Scenario, cfg infuse.Config, opts Options) (Run, error) {
	if err := s.Validate(); err != nil {
		return Run{}, err
	}
	switch {
	case s.Members > maxMembers:
		return Run{}, fmt.Errorf("infusesim: %d members; at most %d can be simulated", s.Members, maxMembers)
	case cfg.Clock != nil:
		return Run{}, errors.New("infusesim: the candidate Config sets a Clock; leave it nil, the simulation gives every breaker its virtual clock")
	case cfg.Storage != nil:
		return Run{}, errors.New("infusesim: the candidate Config sets a Storage; leave it nil and choose the fleet with Options.Fleet")
	case opts.Fleet != Local && opts.Fleet != Shared:
		return Run{}, fmt.Errorf("infusesim: unknown %v", opts.Fleet)
	case opts.Delay < 0:
		return Run{}, fmt.Errorf("infusesim: Delay is %v; want 0 or more", opts.Delay)
	case opts.Delay > 0 && opts.Fleet != Shared:
		return Run{}, errors.New("infusesim: a Delay needs a Shared fleet")
	case !(opts.Jitter >= 0 && opts.Jitter < 1):
		return Run{}, fmt.Errorf("infusesim: Jitter is %v; want at least 0 and below 1", opts.Jitter)
	}
	est := float64(s.Members) * (s.Rate*s.Duration().Seconds() + 1)
	if est > maxCalls {
		return Run{}, fmt.Errorf("infusesim: the scenario makes about %.0f calls; at most %d can be simulated", est, maxCalls)
	}

	sim := &simulation{s: s, opts: opts, en: newEngine(simOrigin)}
	sim.en.handle = sim.attempt
	sim.run.Calls = make([]Call, 0, int(est))
	sim.interval = float64(time.Second) / s.Rate
	sim.end = s.Duration()
	sim.ph = make([]phaseSpan, len(s.Phases))
	for i, p := range s.Phases {
		sim.ph[i] = phaseSpan{Phase: p, end: s.PhaseStart(i) + p.Duration}
	}

	if cfg.Name == "" {
		cfg.Name = "simulated"
	}
	var store infuse.Storage
	if opts.Fleet == Shared {
		shared := infuse.NewMemoryStorage()
		store = shared
		if opts.Delay > 0 {
			store = &delayStore{shared: shared, en: sim.en, delay: opts.Delay, trialTrip: true}
		}
	}
	sim.members = make([]member, s.Members)
	for m := range sim.members {
		c := cfg
		c.Clock = &sim.en.clock
		c.Storage = store // nil for Local: a MemoryStorage of its own
		c.Listeners = append(slices.Clip(cfg.Listeners), sim.changes(m))
		b, err := infuse.New(c)
		if err != nil {
			return Run{}, fmt.Errorf("infusesim: the candidate Config: %w", err)
		}
		mb := &sim.members[m]
		mb.b = b
		mb.rng = rand.New(rand.NewPCG(opts.Seed, uint64(m)))
		mb.base = float64(m) * sim.interval / float64(s.Members)
		sim.schedule(m)
	}
	sim.en.runAll()
	if opts.Progress != nil {
		opts.Progress(sim.end)
	}
	return sim.run, nil
}

// simOrigin is where a simulation's virtual clock starts: any fixed time
// would do.
var simOrigin = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// simulation is one SimulateRun in progress.
type simulation struct {
	s        Scenario
	opts     Options
	en       *engine
	members  []member
	interval float64 // nanoseconds between one member's beats
	end      time.Duration
	ph       []phaseSpan
	run      Run
	// nextProgress is when Options.Progress is next told.
	nextProgress time.Duration
}

type phaseSpan struct {
	Phase
	end time.Duration
}

// member is one simulated caller.
type member struct {
	b    *infuse.Breaker
	rng  *rand.Rand
	base float64 // offset of beat 0, in nanoseconds
	beat int64   // the beat of the next call
}

// changes is the listener that records member m's state changes.
func (sim *simulation) changes(m int) infuse.Listener {
	return infuse.ListenerFunc(func(e infuse.Event) {
		if e.Kind == infuse.EventStateChange {
			sim.run.Changes = append(sim.run.Changes, Change{
				Member: m, At: e.Time.Sub(sim.en.clock.origin), From: e.From, To: e.To, Remote: e.Remote,
			})
		}
	})
}

// beatAt is the time of member m's beat k, without jitter.
func (sim *simulation) beatAt(mb *member, k int64) float64 {
	return mb.base + float64(k)*sim.interval
}

// schedule queues member m's next call, unless it falls past the end.
func (sim *simulation) schedule(m int) {
	mb := &sim.members[m]
	at := time.Duration(sim.beatAt(mb, mb.beat) + mb.rng.Float64()*sim.opts.Jitter*sim.interval)
	if at >= sim.end {
		return
	}
	sim.en.q.push(event{at: at, kind: evAttempt, member: m})
}

// phaseAt is the phase a call at t starts in; t is before the end.
func (sim *simulation) phaseAt(t time.Duration) *phaseSpan {
	for i := range sim.ph {
		if t < sim.ph[i].end {
			return &sim.ph[i]
		}
	}
	return &sim.ph[len(sim.ph)-1]
}

// attempt is member e.member's call at e.at.
func (sim *simulation) attempt(e event) {
	if sim.opts.Progress != nil && e.at >= sim.nextProgress {
		sim.opts.Progress(e.at)
		sim.nextProgress = e.at + max(sim.end/1000, 1)
	}
	m := e.member
	mb := &sim.members[m]
	p := sim.phaseAt(e.at)
	fail := mb.rng.Float64() < p.ErrorRate
	done, err := mb.b.Allow(context.Background())
	admitted := err == nil
	sim.run.Calls = append(sim.run.Calls, Call{Member: m, At: e.at, Admitted: admitted, Failed: admitted && fail})
	var out error
	if fail {
		out = errBackend
	}
	mb.beat++
	if admitted {
		if p.Latency == 0 {
			done(out)
		} else {
			sim.en.q.push(event{at: e.at + p.Latency, kind: evComplete, done: done, err: out})
		}
		if sim.opts.Sequential {
			// The first beat not before the call returns.
			back := float64(e.at + p.Latency)
			if k := int64(math.Ceil((back - mb.base) / sim.interval)); k > mb.beat {
				mb.beat = k
			}
		}
	}
	sim.schedule(m)
}
