package bench

// The fleet store at scale: how much Redis work a fleet costs as breakers
// and members grow, how soon a failure reaches Redis, and how soon a trip
// reaches every member. Members are stores with clients of their own in
// this process, all on one local redis-server, with the default Options.
// Each case is one measurement (run with -benchtime 1x).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

type scaleFleet struct {
	srv      *redistest.Server
	stats    *redis.Client
	stores   []*redisstore.Store
	breakers [][]*infuse.Breaker
	// opened[m][i] is when member m saw breaker i (of the first watched)
	// open, in unix ns.
	opened [][]atomic.Int64
}

const watched = 20 // breakers with a listener, for propagation

func newScaleFleet(b *testing.B, breakers, members int) *scaleFleet {
	f := &scaleFleet{srv: redistest.Start(b)}
	f.stats = f.srv.Client(b)
	ns := fmt.Sprint("scale", time.Now().UnixNano())
	f.stores = make([]*redisstore.Store, members)
	f.breakers = make([][]*infuse.Breaker, members)
	f.opened = make([][]atomic.Int64, members)
	var wg sync.WaitGroup
	for m := range members {
		client := redis.NewClient(&redis.Options{Addr: f.srv.Addr})
		b.Cleanup(func() { _ = client.Close() })
		f.stores[m] = redisstore.New(client, redisstore.Options{Namespace: ns})
		b.Cleanup(func() { _ = f.stores[m].Close() })
		f.breakers[m] = make([]*infuse.Breaker, breakers)
		f.opened[m] = make([]atomic.Int64, watched)
		wg.Go(func() {
			for i := range breakers {
				cfg := infuse.Config{Name: fmt.Sprintf("svc-%05d", i), Storage: f.stores[m], ResetTimeout: time.Hour}
				if i < watched {
					cfg.Listeners = []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
						if e.Kind == infuse.EventStateChange && e.To == infuse.Open {
							f.opened[m][i].Store(time.Now().UnixNano())
						}
					})}
				}
				br, err := infuse.New(cfg)
				if err != nil {
					b.Error(err)
					return
				}
				f.breakers[m][i] = br
			}
		})
	}
	wg.Wait()
	for _, s := range f.stores {
		if err := s.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

func (f *scaleFleet) read(b *testing.B) redistest.Stats {
	st, err := redistest.ReadStats(context.Background(), f.stats)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// idle is the commands a second while every breaker is closed and nothing
// is called.
func (f *scaleFleet) idle(b *testing.B, d time.Duration) (perSec float64, bytesPerSec float64) {
	before := f.read(b)
	time.Sleep(d)
	diff := f.read(b).Sub(before)
	return float64(diff.Commands-redistest.StatsCost) / d.Seconds(), float64(diff.NetOutput) / d.Seconds()
}

// load calls every breaker of every member rate times a second, fail of
// the calls failing at random, for d; it returns Redis's commands a
// second and the failures a second.
func (f *scaleFleet) load(b *testing.B, rate float64, fail float64, d time.Duration) (cmdsPerSec, failuresPerSec float64) {
	ctx := context.Background()
	boom := func(context.Context) error { return errBoom }
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const tick = 10 * time.Millisecond
	for _, bs := range f.breakers {
		wg.Go(func() {
			// Each tick, rate×tick calls per breaker, spread over ticks.
			perTick := rate * float64(len(bs)) * tick.Seconds()
			owed := 0.0
			next := 0
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				for owed += perTick; owed >= 1; owed-- {
					br := bs[next]
					next = (next + 1) % len(bs)
					if rand.Float64() < fail {
						failures.Add(1)
						_ = br.Call(ctx, boom)
					} else {
						_ = br.Call(ctx, noop)
					}
				}
			}
		})
	}
	time.Sleep(d / 5) // warm up
	before := f.read(b)
	f0 := failures.Load()
	time.Sleep(d)
	diff := f.read(b).Sub(before)
	nf := failures.Load() - f0
	close(stop)
	wg.Wait()
	return float64(diff.Commands-redistest.StatsCost) / d.Seconds(), float64(nf) / d.Seconds()
}

// outcomeLatency is how long after a failing call returns Store.Breaker
// shows it, over n breakers of member 0.
func (f *scaleFleet) outcomeLatency(b *testing.B, n int) []time.Duration {
	ctx := context.Background()
	var lat []time.Duration
	for i := range n {
		br := f.breakers[0][len(f.breakers[0])-1-i]
		_ = br.Call(ctx, func(context.Context) error { return errBoom })
		t0 := time.Now()
		for {
			info, err := f.stores[0].Breaker(ctx, br.Name())
			if err == nil && info.Failures > 0 {
				break
			}
			if time.Since(t0) > 5*time.Second {
				b.Fatalf("the failure of %s never reached Redis", br.Name())
			}
		}
		lat = append(lat, time.Since(t0))
		_ = br.Call(ctx, noop)
	}
	return lat
}

// propagation trips each watched breaker on member 0 and measures when
// every other member sees it open; it also returns the bytes Redis sent
// per change.
func (f *scaleFleet) propagation(b *testing.B, idleBytesPerSec float64) (lat []time.Duration, bytesPerChange float64) {
	ctx := context.Background()
	before := f.read(b)
	start := time.Now()
	for i := range watched {
		t0 := time.Now().UnixNano()
		_ = f.breakers[0][i].Open(ctx)
		for m := 1; m < len(f.breakers); m++ {
			deadline := time.Now().Add(5 * time.Second)
			for f.opened[m][i].Load() == 0 {
				if time.Now().After(deadline) {
					b.Fatalf("member %d never saw %s open", m, f.breakers[0][i].Name())
				}
				time.Sleep(20 * time.Microsecond)
			}
			lat = append(lat, time.Duration(f.opened[m][i].Load()-t0))
		}
	}
	diff := f.read(b).Sub(before)
	bytes := float64(diff.NetOutput) - idleBytesPerSec*time.Since(start).Seconds()
	for i := range watched {
		_ = f.breakers[0][i].Close(ctx)
	}
	return lat, bytes / watched
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)*p/100, len(s)-1)]
}

// BenchmarkFleetScale is the scale table of docs/performance.md: for each size,
// idle commands a second (all members), commands a second with every
// breaker called 10 times a second per member and 1 % of calls failing,
// the commands per failure beyond the idle load, how soon a failure
// reaches Redis, trip propagation to every other member, and the bytes
// Redis sends per change.
func BenchmarkFleetScale(b *testing.B) {
	sizes := []struct{ breakers, members int }{
		{100, 1}, {1000, 1}, {5000, 1}, {100, 4}, {1000, 4}, {5000, 4},
	}
	wait := time.Second
	if testing.Short() { // make test runs every benchmark once, briefly
		sizes, wait = sizes[3:4], 100*time.Millisecond
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("breakers=%d/members=%d", sz.breakers, sz.members), func(b *testing.B) {
			f := newScaleFleet(b, sz.breakers, sz.members)
			time.Sleep(wait)
			idle, idleBytes := f.idle(b, 3*wait)
			busy, fails := f.load(b, 10, 0.01, 3*wait)
			lat := f.outcomeLatency(b, 20)
			var prop []time.Duration
			var bytes float64
			if sz.members > 1 {
				prop, bytes = f.propagation(b, idleBytes)
			}
			for b.Loop() {
			}
			b.ReportMetric(idle, "idle-cmds/s")
			b.ReportMetric(idle/float64(sz.members), "idle-cmds/s/member")
			b.ReportMetric(busy, "1%fail-cmds/s")
			b.ReportMetric(max(busy-idle, 0)/max(fails, 1), "cmds/failure")
			b.ReportMetric(float64(pct(lat, 50).Microseconds())/1000, "outcome-p50-ms")
			b.ReportMetric(float64(pct(lat, 100).Microseconds())/1000, "outcome-max-ms")
			if len(prop) > 0 {
				b.ReportMetric(float64(pct(prop, 50).Microseconds())/1000, "prop-p50-ms")
				b.ReportMetric(float64(pct(prop, 99).Microseconds())/1000, "prop-p99-ms")
				b.ReportMetric(bytes, "bytes/change")
			}
		})
	}
}

// BenchmarkFleetWindowCost is what a breaker with a fleet time window costs
// Redis: members send their windows' growth every WindowInterval (100ms),
// one script per bucket for all their windowed breakers, in one pipeline.
// Every breaker is called 10 times a second by every member, nothing
// failing.
func BenchmarkFleetWindowCost(b *testing.B) {
	const members = 4
	for _, n := range []int{10, 100, 1000} {
		if testing.Short() && n > 10 {
			continue
		}
		b.Run(fmt.Sprintf("windowed=%d/members=%d", n, members), func(b *testing.B) {
			srv := redistest.Start(b)
			stats := srv.Client(b)
			ns := fmt.Sprint("window", time.Now().UnixNano())
			var all [][]*infuse.Breaker
			for range members {
				client := redis.NewClient(&redis.Options{Addr: srv.Addr})
				b.Cleanup(func() { _ = client.Close() })
				store := redisstore.New(client, redisstore.Options{Namespace: ns})
				b.Cleanup(func() { _ = store.Close() })
				var bs []*infuse.Breaker
				for i := range n {
					br, err := infuse.New(infuse.Config{Name: fmt.Sprint("w", i), Storage: store,
						Window: infuse.TimeWindow(10*time.Second, time.Second), FailureRate: 0.5, MinCalls: 20})
					if err != nil {
						b.Fatal(err)
					}
					bs = append(bs, br)
				}
				all = append(all, bs)
			}
			f := &scaleFleet{srv: srv, stats: stats, breakers: all}
			d := 3 * time.Second
			if testing.Short() {
				d = 300 * time.Millisecond
			}
			idle, _ := f.idle(b, d)
			busy, _ := f.load(b, 10, 0, d)
			for b.Loop() {
			}
			b.ReportMetric(busy, "cmds/s")
			b.ReportMetric((busy-idle)/float64(n*members), "cmds/s/windowed-breaker/member")
			b.ReportMetric((busy-idle)/float64(members)/10, "cmds/window-send/member")
		})
	}
}
