package bench

// Fleet protection: how many calls a fleet of callers lets through to a
// failing backend. Members are goroutines in this process, each with its
// own breaker (and, for the shared systems, its own Redis client and
// store), each calling one in-process backend at a fixed pace through the
// phases of an infusesim.Scenario. The systems take turns, run after run,
// and the table shows the median of each figure.
//
//	go test -run '^$' -bench FleetProtection -benchtime 1x . \
//	  -args -protect.members 32 -protect.rate 500 -protect.phases 2s:0,6s:1,4s:0 -protect.runs 3

import (
	"context"
	"errors"

	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

var (
	protectMembers  = flag.Int("protect.members", 32, "fleet protection: members")
	protectRate     = flag.Float64("protect.rate", 500, "fleet protection: calls a second per member")
	protectPhases   = flag.String("protect.phases", "2s:0,6s:1,4s:0", "fleet protection: the backend's phases, duration:error-rate[:latency], comma-separated")
	protectRuns     = flag.Int("protect.runs", 3, "fleet protection: runs of each system (the table shows medians)")
	protectSystems  = flag.String("protect.systems", "infuse-redis,infuse-local,gobreaker-v2-local,gobreaker-v2-distributed", "fleet protection: the systems, comma-separated")
	protectTimeline = flag.Bool("protect.timeline", true, "fleet protection: print the first 10 ms of each infuse-redis run's outage")
)

// parsePhases reads "2s:0,6s:1,4s:0" (duration:error-rate[:latency]).
func parsePhases(s string) ([]infusesim.Phase, error) {
	var ps []infusesim.Phase
	for _, f := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(f), ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("phase %q: want duration:error-rate[:latency]", f)
		}
		d, err := time.ParseDuration(parts[0])
		if err != nil {
			return nil, fmt.Errorf("phase %q: %w", f, err)
		}
		rate, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			return nil, fmt.Errorf("phase %q: %w", f, err)
		}
		p := infusesim.Phase{Duration: d, ErrorRate: rate}
		if len(parts) == 3 {
			if p.Latency, err = time.ParseDuration(parts[2]); err != nil {
				return nil, fmt.Errorf("phase %q: %w", f, err)
			}
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// phasesString writes phases as parsePhases reads them.
func phasesString(ps []infusesim.Phase) string {
	var parts []string
	for _, p := range ps {
		s := fmt.Sprintf("%v:%v", p.Duration, p.ErrorRate)
		if p.Latency > 0 {
			s += ":" + p.Latency.String()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// The breaker every system is set up as: FailMax 5, open 1 s, one trial,
// closing after one success.
const (
	protectFailMax = 5
	protectOpen    = time.Second
)

// member is one caller's protected call of its backend function (the
// same for every call, so that the harness allocates nothing per call).
type member func() error

// fleetSystem builds a fleet's members for one run; stop ends the run's
// stores and clients; commands reads the commands the members have sent
// so far (nil when there is no shared store).
type fleetSystem struct {
	name string
	new  func(b *testing.B, srv *redistest.Server, backends []func() error, run string) (ms []member, commands func() int64, stop func())
}

// commandCounter is a go-redis hook counting the commands a client sends:
// a pipeline's commands one each, a script once.
type commandCounter struct{ n *atomic.Int64 }

func (c commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// rejection tells an error that refused a call: an open breaker's (or
// one with no trial free).
func rejection(err error) bool {
	return errors.Is(err, infuse.ErrOpen) || errors.Is(err, gobreakerv2.ErrOpenState) ||
		errors.Is(err, gobreakerv2.ErrTooManyRequests)
}

// countedClients opens n clients of srv, whose commands are counted
// together, and a function that closes them.
func countedClients(srv *redistest.Server, n int) (clients []*redis.Client, commands func() int64, stop func()) {
	var cmds atomic.Int64
	for range n {
		c := redis.NewClient(redistest.Options(srv.Addr))
		c.AddHook(commandCounter{&cmds})
		clients = append(clients, c)
	}
	return clients, cmds.Load, func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}
}

func protectConfig(name string, store infuse.Storage) infuse.Config {
	return infuse.Config{Name: name, Storage: store, FailMax: protectFailMax, ResetTimeout: protectOpen,
		HalfOpenMaxCalls: 1, SuccessThreshold: 1}
}

var fleetSystems = []fleetSystem{
	{"infuse-redis", func(b *testing.B, srv *redistest.Server, backends []func() error, run string) ([]member, func() int64, func()) {
		clients, commands, stop := countedClients(srv, len(backends))
		stores := make([]*redisstore.Store, len(backends))
		ms := make([]member, len(backends))
		for i, c := range clients {
			stores[i] = redisstore.New(c, redisstore.Options{Namespace: "protect" + run})
			br, err := infuse.New(protectConfig("backend", stores[i]))
			if err != nil {
				b.Fatal(err)
			}
			fn := backends[i]
			call := func(context.Context) error { return fn() }
			ms[i] = func() error { return br.Call(ctx, call) }
		}
		return ms, commands, func() {
			for _, s := range stores {
				_ = s.Close()
			}
			stop()
		}
	}},
	{"infuse-local", func(b *testing.B, _ *redistest.Server, backends []func() error, _ string) ([]member, func() int64, func()) {
		ms := make([]member, len(backends))
		for i := range ms {
			br, err := infuse.New(protectConfig("backend", nil))
			if err != nil {
				b.Fatal(err)
			}
			fn := backends[i]
			call := func(context.Context) error { return fn() }
			ms[i] = func() error { return br.Call(ctx, call) }
		}
		return ms, nil, func() {}
	}},
	{"gobreaker-v2-local", func(b *testing.B, _ *redistest.Server, backends []func() error, _ string) ([]member, func() int64, func()) {
		ms := make([]member, len(backends))
		for i := range ms {
			cb := gobreakerv2.NewCircuitBreaker[struct{}](gobreakerSettings("backend"))
			fn := backends[i]
			call := func() (struct{}, error) { return struct{}{}, fn() }
			ms[i] = func() error { _, err := cb.Execute(call); return err }
		}
		return ms, nil, func() {}
	}},
	{"gobreaker-v2-distributed", func(b *testing.B, srv *redistest.Server, backends []func() error, run string) ([]member, func() int64, func()) {
		clients, commands, stop := countedClients(srv, len(backends))
		ms := make([]member, len(backends))
		for i, c := range clients {
			cb, err := gobreakerv2.NewDistributedCircuitBreaker[struct{}](newGobreakerRedis(c), gobreakerSettings("protect"+run))
			if err != nil {
				b.Fatal(err)
			}
			fn := backends[i]
			call := func() (struct{}, error) { return struct{}{}, fn() }
			ms[i] = func() error { _, err := cb.Execute(call); return err }
		}
		return ms, commands, stop
	}},
}

func gobreakerSettings(name string) gobreakerv2.Settings {
	return gobreakerv2.Settings{Name: name, MaxRequests: 1, Timeout: protectOpen,
		ReadyToTrip: func(c gobreakerv2.Counts) bool { return c.ConsecutiveFailures >= protectFailMax }}
}

// runFleet runs scenario sc through a system's members once and returns
// every call attempted, and the commands the members sent (-1: none).
func runFleet(b *testing.B, sys fleetSystem, srv *redistest.Server, sc infusesim.Scenario, run string) ([]infusesim.Call, int64) {
	interval := sc.Interval()
	end := sc.Duration()
	var start time.Time
	// Each member's backend: it fails or succeeds as the phase says, and
	// marks the member's current call admitted.
	cur := make([]infusesim.Call, sc.Members)
	rngs := make([]*rand.Rand, sc.Members)
	backends := make([]func() error, sc.Members)
	for i := range backends {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 1))
		backends[i] = func() error {
			c := &cur[i]
			c.Admitted = true
			ph := sc.Phases[max(sc.PhaseAt(time.Since(start)), 0)]
			if ph.Latency > 0 {
				time.Sleep(ph.Latency)
			}
			if ph.ErrorRate > 0 && rngs[i].Float64() < ph.ErrorRate {
				c.Failed = true
				return errBoom
			}
			return nil
		}
	}
	ms, commands, stop := sys.new(b, srv, backends, run)
	defer stop()
	// Let the members' stores settle (subscriptions, first reads) first.
	time.Sleep(200 * time.Millisecond)
	var before int64
	if commands != nil {
		before = commands()
	}
	start = time.Now().Add(20 * time.Millisecond)
	calls := make([][]infusesim.Call, len(ms))
	for i := range calls {
		calls[i] = make([]infusesim.Call, 0, int(end/interval)+1)
	}
	var wg sync.WaitGroup
	for i, call := range ms {
		wg.Go(func() {
			next := time.Duration(i) * interval / time.Duration(len(ms))
			for next < end {
				if d := time.Until(start.Add(next)); d > 0 {
					time.Sleep(d)
				}
				at := time.Since(start)
				if at >= end {
					break
				}
				cur[i] = infusesim.Call{Member: i, At: at}
				if err := call(); err != nil && !cur[i].Admitted && !rejection(err) {
					cur[i].Errored = true // the breaker's own failure: no rejection
				}
				calls[i] = append(calls[i], cur[i])
				// Paced: the next call an interval after this one was
				// due; a member that fell behind (a slow call, a stall)
				// skips the slots it missed rather than calling in a
				// burst, and keeps its place in the fleet's stagger.
				next += interval
				if lag := time.Since(start) - next; lag > 0 {
					next += (lag/interval + 1) * interval
				}
			}
		})
	}
	wg.Wait()
	var used int64 = -1
	if commands != nil {
		used = commands() - before
	}
	all := slices.Concat(calls...)
	slices.SortFunc(all, func(a, b infusesim.Call) int { return int(a.At - b.At) })
	return all, used
}

// BenchmarkFleetProtection runs the fleet protection scenario (see the
// flags) for each system, interleaved, and prints the table of medians.
// Each iteration is the whole comparison; run it with -benchtime 1x.
func BenchmarkFleetProtection(b *testing.B) {
	phases, err := parsePhases(*protectPhases)
	if err != nil {
		b.Fatal(err)
	}
	sc := infusesim.Scenario{Members: *protectMembers, Rate: *protectRate, Phases: phases}
	runs := *protectRuns
	if testing.Short() {
		sc = infusesim.Scenario{Members: 4, Rate: 200, Phases: []infusesim.Phase{
			{Duration: 200 * time.Millisecond}, {Duration: 300 * time.Millisecond, ErrorRate: 1}, {Duration: 200 * time.Millisecond}}}
		runs = 1
	}
	if err := sc.Validate(); err != nil {
		b.Fatal(err)
	}
	var systems []fleetSystem
	for _, name := range strings.Split(*protectSystems, ",") {
		i := slices.IndexFunc(fleetSystems, func(s fleetSystem) bool { return s.name == name })
		if i < 0 {
			b.Fatalf("unknown system %q", name)
		}
		systems = append(systems, fleetSystems[i])
	}
	srv := redistest.Start(b)
	for b.Loop() {
		results := make([][]infusesim.Result, len(systems))
		for r := range runs {
			for i, sys := range systems {
				calls, cmds := runFleet(b, sys, srv, sc, fmt.Sprintf("%d.%d.%d", time.Now().UnixNano(), r, i))
				res := infusesim.Summarize(sc, calls)
				res.Commands = cmds
				results[i] = append(results[i], res)
				if sys.name == "infuse-redis" && *protectTimeline && !testing.Short() {
					fmt.Printf("infuse-redis, run %d: the first 10 ms of the outage (leaked %d)\n\n", r+1, res.Leaked)
					_ = infusesim.Timeline(os.Stdout, sc, calls, 10*time.Millisecond, time.Millisecond)
					fmt.Println()
				}
			}
		}
		for i, sys := range systems {
			var leaks []string
			for _, r := range results[i] {
				leaks = append(leaks, fmt.Sprint(r.Leaked))
			}
			fmt.Printf("%s: calls that reached the failing backend, run by run: %s\n", sys.name, strings.Join(leaks, " "))
		}
		names := make([]string, len(systems))
		medians := make([]infusesim.Result, len(systems))
		for i, sys := range systems {
			names[i], medians[i] = sys.name, infusesim.Median(results[i])
			unit := func(s string) string { return sys.name + "-" + s }
			b.ReportMetric(float64(medians[i].Leaked), unit("leaked"))
			b.ReportMetric(float64(medians[i].Probes), unit("probes"))
		}
		fmt.Printf("%d members × %.0f calls/s, phases %s, median of %d runs:\n\n", sc.Members, sc.Rate, phasesString(sc.Phases), runs)
		_ = infusesim.WriteTable(os.Stdout, names, medians)
		fmt.Println()
	}
}
