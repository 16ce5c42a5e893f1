package redisstore_test

// A member that stalls (a CPU-throttled pod, a GC pause, a noisy
// neighbour) keeps the fleet's promises: one trial fleet-wide, a trip on
// exactly the FailMax-th merged failure, one maker per transition, and,
// when the stall ends, a member that converges without a transition of
// its own. Only evidence that Redis is unreachable sends a member to local
// protection (health.go); a late answer is none.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// stall holds a member's traffic with Redis up, as a stalled host would:
// armed on a script, it starts when the member sends that script (before
// the request leaves, or once Redis has run it and the answer is on its
// way back) and lasts d; meanwhile every request and answer of the member
// waits for its end. The member's timers run on, as on a host whose
// network stalls: the harder case for the caller-side bounds.
type stall struct {
	g     gate
	mu    sync.Mutex
	on    string // the script that starts the stall; "" for none
	back  bool   // start once Redis has run it (the answer is held)
	d     time.Duration
	until atomic.Int64 // unix ns; the member's traffic waits for it
}

func newStall() *stall {
	s := &stall{}
	f := func(cmds []redis.Cmder, next func() error) error {
		s.wait()
		start, back := s.starts(cmds)
		if start && !back {
			s.wait()
		}
		err := next()
		s.wait() // the stall that began as it ran, or that it began
		return err
	}
	s.g.around.Store(&f)
	return s
}

// arm has the next pipeline with script name start a stall of d.
func (s *stall) arm(name string, back bool, d time.Duration) {
	s.mu.Lock()
	s.on, s.back, s.d = name, back, d
	s.mu.Unlock()
}

// starts tells whether cmds start the stall, and where they wait for it.
func (s *stall) starts(cmds []redis.Cmder) (start, back bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on == "" || !hasScript(cmds, s.on) {
		return false, false
	}
	s.on = ""
	s.until.Store(time.Now().Add(s.d).UnixNano())
	return true, s.back
}

func (s *stall) wait() {
	if d := time.Until(time.Unix(0, s.until.Load())); d > 0 {
		time.Sleep(d)
	}
}

// over waits for the stall to end and the member's requests held by it
// to be answered.
func (s *stall) over(t *testing.T, st *redisstore.Store) {
	t.Helper()
	s.wait()
	syncStore(t, st)
}

// stallFleet is a fleet of n members sharing one breaker, member 0 behind
// a stall, each reporting its transitions.
type stallFleet struct {
	t      *testing.T
	srv    *redistest.Server
	st     *stall
	stores []*redisstore.Store
	brs    []*infuse.Breaker
	mu     sync.Mutex
	made   map[change][]int // a transition, and the members that said they made it
	seen   map[change]int   // how many members saw it
}

type change struct {
	gen uint64
	to  infuse.State
}

// stallOptions: DownAfter above the longest stall, which holds every
// request of the member, while its timers run: the network-stall case
// (a stopped process is the other, and any length of it is safe: see
// TestAStoppedMemberKeepsTheFleetsPromises).
func stallOptions(ns string) redisstore.Options {
	return redisstore.Options{Namespace: ns, OpTimeout: 100 * time.Millisecond, DownAfter: 3 * time.Second,
		RefreshInterval: 200 * time.Millisecond}
}

func newStallFleet(t *testing.T, ns string, n int, cfg infuse.Config) *stallFleet {
	f := &stallFleet{t: t, srv: redistest.Start(t), st: newStall(), made: map[change][]int{}, seen: map[change]int{}}
	for i := range n {
		var s *redisstore.Store
		if i == 0 {
			s = gatedStore(t, f.srv, stallOptions(ns), &f.st.g)
		} else {
			s = newStore(t, f.srv, stallOptions(ns))
		}
		c := cfg
		c.Name, c.Storage = "dep", s
		c.Listeners = []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind != infuse.EventStateChange {
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			ch := change{e.Generation, e.To}
			f.seen[ch]++
			if !e.Remote {
				f.made[ch] = append(f.made[ch], i)
			}
		})}
		b, err := infuse.New(c)
		if err != nil {
			t.Fatal(err)
		}
		f.stores, f.brs = append(f.stores, s), append(f.brs, b)
	}
	f.sync()
	return f
}

func (f *stallFleet) sync() {
	f.t.Helper()
	for _, s := range f.stores {
		syncStore(f.t, s)
	}
}

// check: every transition made by exactly one member (one whose answer
// came after newer ones reports it late), none made alone (a generation
// of Redis's, not one numbered by a member on its own), and every member
// at Redis's state once the stall is over.
func (f *stallFleet) check() {
	f.t.Helper()
	f.st.over(f.t, f.stores[0])
	f.sync()
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, n := range f.seen {
		if len(f.made[c]) != 1 {
			f.t.Errorf("generation %#x to %v: made by members %v (%d saw it)", c.gen, c.to, f.made[c], n)
		}
		if c.gen&(1<<20-1) != 0 {
			f.t.Errorf("generation %#x to %v was made alone, with Redis there", c.gen, c.to)
		}
	}
	st := f.srv.Client(f.t).HGetAll(bg, f.stores[1].Key("dep")).Val()
	for i, b := range f.brs {
		if b.State() != f.brs[1].State() || b.Generation() != f.brs[1].Generation() {
			f.t.Errorf("member %d at %v generation %#x, member 1 at %v generation %#x (Redis %v)", i, b.State(), b.Generation(),
				f.brs[1].State(), f.brs[1].Generation(), st)
		}
	}
}

func (f *stallFleet) transitions(to infuse.State) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c := range f.seen {
		if c.to == to {
			n++
		}
	}
	return n
}

var stalls = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, time.Second}

// forEachStall runs test for each stall length, held on the request's way
// out and on the answer's way back; in parallel when parallel (each case
// has a redis-server of its own, and spends its time waiting).
func forEachStall(t *testing.T, parallel bool, test func(t *testing.T, d time.Duration, back bool)) {
	for _, d := range stalls {
		for _, back := range []bool{false, true} {
			where := "request"
			if back {
				where = "answer"
			}
			t.Run(fmt.Sprintf("%v %s", d, where), func(t *testing.T) {
				if parallel {
					t.Parallel()
				}
				test(t, d, back)
			})
		}
	}
}

// HalfOpenMaxCalls 1: while member 0's permit request, or its trial's
// outcome, is held by a stall, no two trials ever run at once anywhere.
func TestAStalledMemberTakesNoSecondTrial(t *testing.T) {
	for _, op := range []string{"acquire", "settle"} {
		t.Run(op, func(t *testing.T) {
			forEachStall(t, true, func(t *testing.T, d time.Duration, back bool) {
				f := newStallFleet(t, "trial", 3, infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond,
					HalfOpenMaxCalls: 1})
				var running, most, trials atomic.Int32
				trial := func(context.Context) error {
					n := running.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					trials.Add(1)
					time.Sleep(20 * time.Millisecond)
					running.Add(-1)
					return errBoom // open again: the next round starts open
				}
				_ = f.brs[1].Call(bg, boom)
				f.sync()
				for range 2 {
					time.Sleep(150 * time.Millisecond) // the open period ends
					f.st.arm(op, back, d)
					var wg sync.WaitGroup
					stop := time.Now().Add(d + 300*time.Millisecond)
					for i, b := range f.brs {
						wg.Go(func() {
							if i > 0 {
								time.Sleep(10 * time.Millisecond) // member 0 asks first
							}
							for time.Now().Before(stop) {
								_ = b.Call(bg, trial)
								time.Sleep(5 * time.Millisecond)
							}
						})
					}
					wg.Wait()
					f.st.over(t, f.stores[0])
				}
				f.check()
				if most.Load() > 1 {
					t.Fatalf("%d trials ran at once (HalfOpenMaxCalls 1), %d in all", most.Load(), trials.Load())
				}
				if trials.Load() == 0 {
					t.Fatal("no trial ran")
				}
			})
		})
	}
}

// FailMax 5 across three members, member 0's traffic held by a stall:
// the breaker trips on the fifth failure to reach Redis, once, made by the
// member whose failure it was, and not before.
func TestAStalledMemberKeepsTheCountExact(t *testing.T) {
	forEachStall(t, true, func(t *testing.T, d time.Duration, back bool) {
		setup := func(t *testing.T) (*stallFleet, func(i int)) {
			f := newStallFleet(t, "count", 3, infuse.Config{FailMax: 5, ResetTimeout: time.Minute})
			return f, func(i int) {
				_ = f.brs[i].Call(bg, boom)
				if i != 0 {
					syncStore(t, f.stores[i])
				}
			}
		}
		merged := func(f *stallFleet) string {
			return f.srv.Client(t).HGet(bg, f.stores[1].Key("dep"), "f").Val()
		}
		allOpen := func(f *stallFleet) func() bool {
			return func() bool {
				for _, b := range f.brs {
					if b.State() != infuse.Open {
						return false
					}
				}
				return true
			}
		}
		oneTripBy := func(t *testing.T, f *stallFleet, member int) {
			t.Helper()
			eventually(t, "the fifth failure trips the fleet", allOpen(f))
			f.check()
			if n := f.transitions(infuse.Open); n != 1 {
				t.Fatalf("%d trips", n)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for c, who := range f.made {
				if c.to == infuse.Open && (len(who) != 1 || who[0] != member) {
					t.Fatalf("the trip was made by members %v, want member %d", who, member)
				}
			}
		}
		t.Run("its own fifth", func(t *testing.T) {
			f, fail := setup(t)
			for _, i := range []int{1, 2, 1, 2} {
				fail(i)
			}
			f.sync()
			if got := merged(f); got != "4" || f.transitions(infuse.Open) != 0 {
				t.Fatalf("after four failures: merged run %q in Redis, %d trips", got, f.transitions(infuse.Open))
			}
			f.st.arm("report", back, d)
			fail(0) // the tripping call, held
			oneTripBy(t, f, 0)
		})
		t.Run("another's fifth while its fourth is held", func(t *testing.T) {
			f, fail := setup(t)
			for _, i := range []int{1, 2, 1} {
				fail(i)
			}
			f.st.arm("report", back, d)
			fail(0) // the fourth, held on its way out or on its answer's way back
			if back {
				eventually(t, "the held fourth reaches Redis", func() bool { return merged(f) == "4" })
			}
			fail(1)
			if back {
				// The fourth reached Redis: this was the fifth, and its
				// own report trips the fleet.
				oneTripBy(t, f, 1)
				return
			}
			if got := merged(f); got != "4" && !(got == "5" && d < 100*time.Millisecond) {
				t.Fatalf("before the held failure reached Redis: merged run %q", got)
			}
			for i, b := range f.brs[1:] {
				if b.State() != infuse.Closed && d >= 100*time.Millisecond {
					t.Fatalf("member %d tripped before the fifth failure reached Redis", i+1)
				}
			}
			oneTripBy(t, f, 0) // the held report completes the run
		})
	})
}

// Eight members, three callers each, one of them stalled again and again
// while the breaker trips, probes, fails its trials and recovers: every
// transition has one maker, and none is made alone.
func TestEachTransitionHasOneMakerThroughStalls(t *testing.T) {
	forEachStall(t, false, func(t *testing.T, d time.Duration, back bool) {
		f := newStallFleet(t, "makers", 8, infuse.Config{FailMax: 3, ResetTimeout: 30 * time.Millisecond})
		var failing atomic.Bool
		failing.Store(true)
		run := d*3 + 600*time.Millisecond
		stop := time.Now().Add(run)
		var wg sync.WaitGroup
		wg.Go(func() { // member 0 stalls on one script, then another, ...
			for i := 0; time.Now().Before(stop); i++ {
				f.st.arm([]string{"report", "acquire", "settle", "transition"}[i%4], back, d)
				time.Sleep(d + 50*time.Millisecond)
			}
		})
		for i := range len(f.brs) * 3 {
			b := f.brs[i%len(f.brs)]
			wg.Go(func() {
				for time.Now().Before(stop) {
					_ = b.Call(bg, func(context.Context) error {
						if failing.Load() {
							return errBoom
						}
						return nil
					})
					time.Sleep(time.Millisecond)
				}
			})
		}
		time.Sleep(run * 2 / 3)
		failing.Store(false)
		wg.Wait()
		f.check()
		if n := len(f.seen); n < 3 {
			t.Fatalf("only %d transitions", n)
		}
	})
}

// A member process stopped (SIGSTOP) for longer than DownAfter in the
// middle of its tripping call, then of its trial, keeps the fleet's
// promises when it runs again: the trip made once, by it; never two
// trials at once; and no transition of its own. A stopped process sends
// nothing while stopped, and what it sends when it runs again is
// answered: no evidence that Redis is gone, however long the stop.
func TestAStoppedMemberKeepsTheFleetsPromises(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := redistest.Start(t)
	const failMax, resetMs, maxCalls, stop = 3, 300, 1, 1500 * time.Millisecond
	ws := []*worker{
		// Member 0's requests take 10ms on their way out, so that the
		// stop most often finds one under way.
		startWorker(t, srv, "stopped", failMax, resetMs, maxCalls, "DELAY_MS=10"),
		startWorker(t, srv, "stopped", failMax, resetMs, maxCalls),
		startWorker(t, srv, "stopped", failMax, resetMs, maxCalls),
	}
	// An observer of the fleet's transitions, which makes none.
	var mu sync.Mutex
	seen := map[string]int{}
	obs := newStore(t, srv, redisstore.Options{Namespace: "stopped"})
	o, err := infuse.New(infuse.Config{Name: "fleet", Storage: obs, FailMax: failMax,
		ResetTimeout: resetMs * time.Millisecond, HalfOpenMaxCalls: maxCalls,
		Listeners: []infuse.Listener{infuse.ListenFor(infuse.ListenerFunc(func(e infuse.Event) {
			mu.Lock()
			seen[fmt.Sprintf("%d:%v", e.Generation, e.To)]++
			mu.Unlock()
		}), infuse.EventStateChange)}})
	if err != nil {
		t.Fatal(err)
	}
	pause := func(w *worker) func() {
		if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := w.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	syncAll(t, ws)

	// The tripping call, stopped.
	ws[1].do("fail")
	ws[2].do("fail")
	syncAll(t, ws)
	ws[0].send("fail")
	time.Sleep(5 * time.Millisecond)
	resume := pause(ws[0])
	time.Sleep(stop)
	resume()
	t.Logf("the stopped tripping call: %s", ws[0].read())
	syncAll(t, ws)
	syncStore(t, obs)
	for i, w := range ws {
		if got := w.do("state"); !strings.HasPrefix(got, "open") {
			t.Fatalf("worker %d after the trip: %s", i, got)
		}
	}

	// A trial, stopped: the others probe meanwhile. Never two at once.
	time.Sleep(resetMs * time.Millisecond)
	ws[0].send("probe 100")
	time.Sleep(5 * time.Millisecond)
	resume = pause(ws[0])
	ran := 0
	for end := time.Now().Add(stop); time.Now().Before(end); {
		for _, w := range ws[1:] {
			got := w.do("probe 20")
			if strings.HasPrefix(got, "ran") {
				ran++
				if got != "ran 1" {
					t.Errorf("a trial beside another: %s", got)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	resume()
	if got := ws[0].read(); strings.HasPrefix(got, "ran") && got != "ran 1" {
		t.Errorf("the stopped member's trial ran beside another: %s", got)
	}
	t.Logf("%d trials by the others while member 0 was stopped", ran)

	// One maker a transition, none made alone, one state.
	syncAll(t, ws)
	syncStore(t, obs)
	made := map[string][]int{}
	for i, w := range ws {
		for _, m := range strings.Fields(strings.TrimPrefix(w.do("made"), "made")) {
			made[m] = append(made[m], i)
			gen, _, _ := strings.Cut(m, ":")
			if g, _ := strconv.ParseUint(gen, 10, 64); g&(1<<20-1) != 0 {
				t.Errorf("worker %d made transition %s alone, with Redis there", i, m)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for c := range seen {
		if len(made[c]) != 1 {
			t.Errorf("transition %s: made by workers %v", c, made[c])
		}
	}
	want := fmt.Sprintf("%v %d", o.State(), o.Counts().ConsecutiveFailures)
	for i, w := range ws {
		if got := w.do("state"); got != want {
			t.Errorf("worker %d: %s, the observer %s", i, got, want)
		}
	}
}
