package redisstore_test

import (
	"context"
	"errors"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// capacityBackend accepts at most perSlice calls in each slice of real
// time, and fails the rest: a backend with a fixed capacity.
type capacityBackend struct {
	perSlice int
	slice    time.Duration

	mu       sync.Mutex
	cur      int64
	used     int
	received atomic.Int64
	accepted atomic.Int64
}

var errOverloaded = errors.New("503: overloaded")

func (c *capacityBackend) call(context.Context) error {
	c.received.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := time.Now().UnixNano() / int64(c.slice); s != c.cur {
		c.cur, c.used = s, 0
	}
	if c.used >= c.perSlice {
		return errOverloaded
	}
	c.used++
	c.accepted.Add(1)
	return nil
}

// offered is what offer measured, a second: the calls the members made
// (fewer than asked on a host too busy to keep the pace), those that
// reached the backend, and those it accepted.
type offered struct{ calls, sent, accepted float64 }

// want is what a throttle with K sends the backend: K times what it
// accepts, or every call when the members make fewer.
func (o offered) want(k float64) float64 { return min(o.calls, k*o.accepted) }

// offer has every breaker call the backend perSecond times a second for
// warm then measure, and returns what it measured, and the calls
// throttled.
func offer(t *testing.T, bs []*infuse.Breaker, be *capacityBackend, perSecond int, warm, measure time.Duration) (o offered, throttled int64) {
	t.Helper()
	var wg sync.WaitGroup
	var measuring atomic.Bool
	var made atomic.Int64
	stop := make(chan struct{})
	period := time.Second / time.Duration(perSecond)
	for i, b := range bs {
		wg.Go(func() {
			// Staggered, so that the members' calls spread over the
			// period instead of arriving together.
			time.Sleep(period * time.Duration(i) / time.Duration(len(bs)))
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				err := b.Call(bg, be.call)
				if measuring.Load() {
					made.Add(1)
				}
				var oe *infuse.OpenError
				if errors.As(err, &oe) && oe.Reason == infuse.ReasonThrottled && measuring.Load() {
					atomic.AddInt64(&throttled, 1)
				}
			}
		})
	}
	time.Sleep(warm)
	before, acc := be.received.Load(), be.accepted.Load()
	measuring.Store(true)
	start := time.Now()
	time.Sleep(measure)
	measuring.Store(false)
	secs := time.Since(start).Seconds()
	o = offered{calls: float64(made.Load()) / secs, sent: float64(be.received.Load()-before) / secs,
		accepted: float64(be.accepted.Load()-acc) / secs}
	close(stop)
	wg.Wait()
	return o, throttled
}

// Eight members throttle together: the fleet sends about K times what a
// backend of fixed capacity accepts, from the fleet's merged requests and
// accepts; the listing shows the probability.
func TestFleetThrottleSendsKTimesWhatIsAccepted(t *testing.T) {
	srv := redistest.Start(t)
	const members, perSecond, k = 8, 100, 1.5
	be := &capacityBackend{perSlice: 20, slice: 50 * time.Millisecond} // 400 a second: half of 800
	opts := redisstore.Options{Namespace: "throttle"}
	var bs []*infuse.Breaker
	var first *redisstore.Store
	for range members {
		s := newStore(t, srv, opts)
		if first == nil {
			first = s
		}
		b, _ := newBreaker(t, s, infuse.Config{Name: "api", FailMax: 1 << 20,
			Window: infuse.TimeWindow(2*time.Second, 200*time.Millisecond), Throttle: infuse.Throttle{K: k}})
		bs = append(bs, b)
	}
	o, throttled := offer(t, bs, be, perSecond, 4*time.Second, 3*time.Second)
	want := o.want(k)
	t.Logf("%d members asked for %d calls a second and made %.0f, backend accepting 400: %.0f a second reach it, %.0f accepted (K × accepted, or every call made: %.0f); %d throttled",
		members, members*perSecond, o.calls, o.sent, o.accepted, want, throttled)
	if math.Abs(o.sent-want) > 0.15*want {
		t.Errorf("%.0f calls a second reach the backend, want %.0f ± 15 %%", o.sent, want)
	}
	for i, b := range bs {
		m := b.Metrics()
		if !m.Fleet || m.RejectProbability <= 0 || m.State != infuse.Closed {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	list, err := first.Breakers(bg)
	if err != nil || len(list) != 1 {
		t.Fatalf("listing: %v %v", list, err)
	}
	if i := list[0]; i.Throttle.K != k || i.Throttle.MaxRejectRate != 0.9 || i.WindowRequests == 0 || i.RejectProbability <= 0 {
		t.Errorf("listing: %+v", i)
	}
}

// With 32 members sending 5 calls a second each, a member's own window
// holds a handful of calls; the fleet's holds all of them. Reported, not
// asserted beyond the fleet's figure: a comparison of the two.
func TestFleetThrottleSmallMembers(t *testing.T) {
	if os.Getenv("INFUSE_LONG") == "" {
		t.Skip("about 15 s: make bench runs it (INFUSE_LONG=1)")
	}
	const members, perSecond, k = 32, 5, 1.5
	cfg := infuse.Config{Name: "api", FailMax: 1 << 20, Window: infuse.TimeWindow(time.Second, 100*time.Millisecond), Throttle: infuse.Throttle{K: k}}
	run := func(store func() infuse.Storage) float64 {
		be := &capacityBackend{perSlice: 8, slice: 100 * time.Millisecond} // 80 a second: half of 160
		var bs []*infuse.Breaker
		for range members {
			c := cfg
			c.Storage = store()
			b, err := infuse.New(c)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, b)
		}
		o, _ := offer(t, bs, be, perSecond, 3*time.Second, 4*time.Second)
		return o.sent
	}
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "small"}
	fleet := run(func() infuse.Storage { return newStore(t, srv, opts) })
	local := run(func() infuse.Storage { return infuse.NewMemoryStorage() })
	want := k * 80
	t.Logf("%d members × %d calls a second, backend accepting 80: fleet-wide %.0f a second reach it, per member %.0f (K × accepted = %.0f)",
		members, perSecond, fleet, local, want)
	if math.Abs(fleet-want) > 0.15*want {
		t.Errorf("fleet-wide: %.0f calls a second reach the backend, want %.0f ± 15 %%", fleet, want)
	}
}
