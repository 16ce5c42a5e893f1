package infusesim_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/infusetest"
)

// candidate is the configuration of docs/performance.md's protection
// table: FailMax 5, a second open, one trial that closes.
var candidate = infuse.Config{FailMax: 5, ResetTimeout: time.Second, HalfOpenMaxCalls: 1, SuccessThreshold: 1}

func simulate(t testing.TB, s infusesim.Scenario, cfg infuse.Config, opts infusesim.Options) infusesim.Run {
	t.Helper()
	r, err := infusesim.SimulateRun(s, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSimulateIsDeterministic(t *testing.T) {
	s := infusesim.OutageScenario()
	s.Members, s.Rate = 8, 200
	s.Phases[1].ErrorRate = 0.7
	s.Phases[1].Latency = 3 * time.Millisecond
	for _, opts := range []infusesim.Options{
		{Fleet: infusesim.Local, Seed: 7, Jitter: 0.5},
		{Fleet: infusesim.Shared, Seed: 7},
		{Fleet: infusesim.Shared, Delay: 2 * time.Millisecond, Seed: 7, Jitter: 0.3, Sequential: true},
	} {
		a := simulate(t, s, candidate, opts)
		b := simulate(t, s, candidate, opts)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%+v: two runs with one seed differ", opts)
		}
		opts.Seed++
		if c := simulate(t, s, candidate, opts); reflect.DeepEqual(a.Calls, c.Calls) {
			t.Fatalf("%+v: another seed gave the same calls", opts)
		}
	}
}

// With breakers that share nothing, each member lets FailMax calls
// through, then a trial each open period: 6 s of outage with a 1 s open
// period is five trials after the first trip.
func TestLocalFleetLeaksFailMaxAndAProbePerOpenPeriodEachMember(t *testing.T) {
	s := infusesim.OutageScenario()
	r := infusesim.Summarize(s, simulate(t, s, candidate, infusesim.Options{Fleet: infusesim.Local}).Calls)
	interval := s.Interval()
	m := s.Members
	switch {
	case r.Calls != m*500*12:
		t.Errorf("Calls = %d, want %d", r.Calls, m*500*12)
	case r.Leaked < m*(5+5) || r.Leaked > m*(5+6):
		t.Errorf("Leaked = %d, want %d × (5 + 5 or 6)", r.Leaked, m)
	case r.Probes < m*5 || r.Probes > m*6:
		t.Errorf("Probes = %d, want %d × 5 or 6", r.Probes, m)
	case r.AllRejecting < 5*interval || r.AllRejecting > 6*interval:
		// The fifth failure trips each member, its sixth call is rejected;
		// the members' beats spread over one interval.
		t.Errorf("AllRejecting = %v, want 5 to 6 intervals", r.AllRejecting)
	case r.RejectedBefore != 0:
		t.Errorf("RejectedBefore = %d", r.RejectedBefore)
	case r.Recovered == infusesim.Never || r.Recovered > time.Second:
		t.Errorf("Recovered = %v, want within an open period", r.Recovered)
	case r.Throughput != 500:
		t.Errorf("Throughput = %v", r.Throughput)
	case r.Commands != -1:
		t.Errorf("Commands = %d, want -1: not measured", r.Commands)
	}
}

// One shared state without delay: FailMax failures across the fleet trip
// every member at once, and one trial a period probes for all of them.
func TestSharedFleetWithoutDelayLeaksFailMaxAndAProbePerOpenPeriod(t *testing.T) {
	s := infusesim.OutageScenario()
	r := infusesim.Summarize(s, simulate(t, s, candidate, infusesim.Options{Fleet: infusesim.Shared}).Calls)
	if r.Leaked < 5+5 || r.Leaked > 5+6 {
		t.Errorf("Leaked = %d, want 5 + 5 or 6 probes", r.Leaked)
	}
	if r.Probes > 6 {
		t.Errorf("Probes = %d, want one an open period", r.Probes)
	}
	if r.AllRejecting > 2*s.Interval() {
		t.Errorf("AllRejecting = %v, want every member's next call", r.AllRejecting)
	}
	if r.RejectedRecovering > s.Members {
		t.Errorf("RejectedRecovering = %d: one trial closes the fleet's breaker", r.RejectedRecovering)
	}
}

// The longer news takes, the more calls the fleet lets through; when it
// takes longer than FailMax intervals, the members trip on their own
// failures, as a local fleet does, and the shared state only spares the
// probes.
func TestDelayLeaksMoreAsItGrows(t *testing.T) {
	s := infusesim.OutageScenario()
	leaked := func(opts infusesim.Options) int {
		return infusesim.Summarize(s, simulate(t, s, candidate, opts).Calls).Leaked
	}
	prev := 0
	for _, d := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 50 * time.Millisecond} {
		n := leaked(infusesim.Options{Fleet: infusesim.Shared, Delay: d})
		if n < prev {
			t.Errorf("delay %v leaked %d, less than a shorter delay's %d", d, n, prev)
		}
		prev = n
	}
	if local := leaked(infusesim.Options{}); prev > local || prev < s.Members*5 {
		t.Errorf("a 50ms delay leaked %d; want between FailMax a member (%d) and the local fleet's %d", prev, s.Members*5, local)
	}
}

func TestRunRecordsEveryMembersStateChanges(t *testing.T) {
	s := infusesim.OutageScenario()
	run := simulate(t, s, candidate, infusesim.Options{Fleet: infusesim.Local})
	opens := make([]int, s.Members)
	last := make([]infuse.State, s.Members)
	var prev time.Duration
	for _, c := range run.Changes {
		if c.At < prev {
			t.Fatalf("changes out of order at %+v", c)
		}
		prev = c.At
		if c.Remote {
			t.Fatalf("a local member observed a remote change: %+v", c)
		}
		if c.From != last[c.Member] {
			t.Fatalf("member %d moved from %v, but was %v", c.Member, c.From, last[c.Member])
		}
		last[c.Member] = c.To
		if c.To == infuse.Open {
			if c.At < 2*time.Second || c.At >= 8*time.Second {
				t.Fatalf("member %d opened at %v, outside the outage", c.Member, c.At)
			}
			opens[c.Member]++
		}
	}
	for m := range s.Members {
		if opens[m] != 6 || last[m] != infuse.Closed {
			t.Fatalf("member %d opened %d times and ended %v; want 6 and closed", m, opens[m], last[m])
		}
	}
	shared := simulate(t, s, candidate, infusesim.Options{Fleet: infusesim.Shared})
	remote := 0
	for _, c := range shared.Changes {
		if c.Remote {
			remote++
		}
	}
	if remote == 0 {
		t.Fatal("no member of a shared fleet learned of another's change")
	}
}

func TestSequentialMembersCallLessWhenCallsOutlastTheInterval(t *testing.T) {
	s := infusesim.Scenario{Members: 4, Rate: 500, Phases: []infusesim.Phase{{Duration: time.Second, Latency: 5 * time.Millisecond}}}
	paced := infusesim.Summarize(s, simulate(t, s, candidate, infusesim.Options{}).Calls)
	seq := infusesim.Summarize(s, simulate(t, s, candidate, infusesim.Options{Sequential: true}).Calls)
	if paced.Throughput != 500 {
		t.Errorf("open-loop throughput %v, want the rate", paced.Throughput)
	}
	// A 5 ms call on a 2 ms beat: the next call is on the third beat.
	if seq.Throughput < 166 || seq.Throughput > 168 {
		t.Errorf("sequential throughput %v, want 500/3", seq.Throughput)
	}
}

func TestSimulateKeepsTheCandidatesListeners(t *testing.T) {
	var rec infusetest.Recorder
	spare := make([]infuse.Listener, 1, 4)
	spare[0] = &rec
	cfg := candidate
	cfg.Listeners = spare
	s := infusesim.OutageScenario()
	s.Members = 2
	simulate(t, s, cfg, infusesim.Options{})
	if rec.Count(infuse.EventStateChange) == 0 {
		t.Fatal("the candidate's own listener saw no transition")
	}
	if spare[:2][1] != nil {
		t.Fatal("the simulation wrote into the candidate's Listeners array")
	}
}

func TestSimulateRefusesWhatItCannotRun(t *testing.T) {
	s := infusesim.OutageScenario()
	for _, c := range []struct {
		name string
		s    infusesim.Scenario
		cfg  infuse.Config
		opts infusesim.Options
		want string
	}{
		{"clock", s, infuse.Config{Clock: infusetest.NewClock()}, infusesim.Options{}, "sets a Clock"},
		{"storage", s, infuse.Config{Storage: infuse.NewMemoryStorage()}, infusesim.Options{}, "sets a Storage"},
		{"bad config", s, infuse.Config{FailMax: -1}, infusesim.Options{}, "FailMax"},
		{"delay without sharing", s, candidate, infusesim.Options{Delay: time.Millisecond}, "needs a Shared fleet"},
		{"negative delay", s, candidate, infusesim.Options{Fleet: infusesim.Shared, Delay: -1}, "Delay"},
		{"jitter", s, candidate, infusesim.Options{Jitter: 1}, "Jitter"},
		{"fleet", s, candidate, infusesim.Options{Fleet: 9}, "Fleet(9)"},
		{"no members", infusesim.Scenario{Rate: 1, Phases: s.Phases}, candidate, infusesim.Options{}, "Members"},
		{"too many calls", infusesim.Scenario{Members: 1000, Rate: 1e6, Phases: s.Phases}, candidate, infusesim.Options{}, "at most"},
		{"too long", infusesim.Scenario{Members: 1, Rate: 1, Phases: []infusesim.Phase{{Duration: 1 << 62}, {Duration: 1 << 62}}}, candidate, infusesim.Options{}, "in all"},
	} {
		_, err := infusesim.Simulate(c.s, c.cfg, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	var ce *infuse.ConfigError
	if _, err := infusesim.Simulate(s, infuse.Config{FailMax: -1}, infusesim.Options{}); !errors.As(err, &ce) {
		t.Errorf("a bad candidate's error %v does not carry the *infuse.ConfigError", err)
	}
}

// Properties of any small scenario and configuration: calls fall within
// the scenario, on each member's beats, the same for the same seed, and
// their figures are consistent.
func TestSimulationProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		cfg := infuse.Config{
			FailMax:          rapid.IntRange(1, 8).Draw(t, "failmax"),
			ResetTimeout:     time.Duration(rapid.IntRange(1, 500).Draw(t, "openMs")) * time.Millisecond,
			HalfOpenMaxCalls: rapid.IntRange(1, 3).Draw(t, "trials"),
			SuccessThreshold: rapid.IntRange(1, 3).Draw(t, "successes"),
		}
		opts := infusesim.Options{
			Fleet: infusesim.Fleet(rapid.IntRange(0, 1).Draw(t, "fleet")),
			Seed:  rapid.Uint64().Draw(t, "seed"),
		}
		if opts.Fleet == infusesim.Shared {
			opts.Delay = time.Duration(rapid.IntRange(0, 20).Draw(t, "delayMs")) * time.Millisecond
		}
		run, err := infusesim.SimulateRun(s, cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := infusesim.SimulateRun(s, cfg, opts)
		if !reflect.DeepEqual(run, again) {
			t.Fatal("not deterministic")
		}
		perMember := make([]int, s.Members)
		for _, c := range run.Calls {
			if c.At < 0 || c.At >= s.Duration() || c.Member < 0 || c.Member >= s.Members {
				t.Fatalf("call %+v outside the scenario", c)
			}
			if c.Failed && !c.Admitted {
				t.Fatalf("a rejected call failed: %+v", c)
			}
			perMember[c.Member]++
		}
		interval := float64(time.Second) / s.Rate
		for m, n := range perMember {
			base := float64(m) * interval / float64(s.Members)
			want := 0
			for k := 0; base+float64(k)*interval < float64(s.Duration()); k++ {
				want++
			}
			if n < want-1 || n > want+1 {
				t.Fatalf("member %d made %d calls, want about %d", m, n, want)
			}
		}
		checkSummary(t, s, run.Calls, infusesim.Summarize(s, run.Calls))
	})
}

func genScenario(t *rapid.T) infusesim.Scenario {
	s := infusesim.Scenario{
		Members: rapid.IntRange(1, 6).Draw(t, "members"),
		Rate:    float64(rapid.IntRange(1, 400).Draw(t, "rate")),
	}
	for i := range rapid.IntRange(1, 4).Draw(t, "phases") {
		_ = i
		s.Phases = append(s.Phases, infusesim.Phase{
			Duration:  time.Duration(rapid.IntRange(1, 1500).Draw(t, "ms")) * time.Millisecond,
			ErrorRate: rapid.SampledFrom([]float64{0, 0, 0.3, 1}).Draw(t, "errorRate"),
			Latency:   time.Duration(rapid.IntRange(0, 20).Draw(t, "latencyMs")) * time.Millisecond,
		})
	}
	return s
}

func BenchmarkSimulateOutage(b *testing.B) {
	s := infusesim.OutageScenario()
	for _, opts := range []infusesim.Options{
		{Fleet: infusesim.Local},
		{Fleet: infusesim.Shared},
		{Fleet: infusesim.Shared, Delay: time.Millisecond},
	} {
		name := opts.Fleet.String()
		if opts.Delay > 0 {
			name += "-delay"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				simulate(b, s, candidate, opts)
			}
		})
	}
}

// Options.Progress is told the virtual time, in increasing order, a
// bounded number of times, the last at the scenario's end; the run is
// the same with it as without.
func TestProgress(t *testing.T) {
	s := infusesim.OutageScenario()
	var got []time.Duration
	opts := infusesim.Options{Fleet: infusesim.Shared, Delay: time.Millisecond, Seed: 1}
	plain, err := infusesim.Simulate(s, infuse.Config{FailMax: 5, ResetTimeout: time.Second}, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Progress = func(at time.Duration) { got = append(got, at) }
	calls, err := infusesim.Simulate(s, infuse.Config{FailMax: 5, ResetTimeout: time.Second}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 100 || len(got) > 1002 || got[len(got)-1] != s.Duration() {
		t.Fatalf("%d reports, the last %v; want 100 to 1002, the last at %v", len(got), got[len(got)-1], s.Duration())
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("report %d at %v after %v", i, got[i], got[i-1])
		}
	}
	if len(calls) != len(plain) || infusesim.Summarize(s, calls) != infusesim.Summarize(s, plain) {
		t.Fatal("the run differs with Progress set")
	}
}
