package bench

// What a breaker costs in memory: per-host, per-tenant and per-endpoint
// breakers make 10⁴–10⁶ breakers a process. Each case builds n breakers,
// calls each once (so that whatever a first call allocates is counted),
// and reports the live heap they add, after a GC, in bytes per breaker
// (the slice that holds them, 8 bytes a breaker, included):
//
//	cd bench && go test -run '^$' -bench '^BenchmarkMemoryPerBreaker$' -benchtime 1x -count 3 .
//
// The Redis cases bind fewer breakers (each Bind is a round trip to a
// local redis-server) to one store, one member, and report the breaker's
// own share (B/breaker) apart from its binding's in the store
// (store-B/breaker, measured by binding the same names without breakers).

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/breaker"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infuseprom"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/storage"
)

const (
	memBreakers      = 50_000
	memRedisBreakers = 5_000
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // a second time: finalizers and weak pointers queued by the first
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// perBreaker is the live heap that make adds, per breaker, for n
// breakers: make returns what it built, to be kept alive until measured.
func perBreaker(n int, make func(n int) any) float64 {
	before := liveHeap()
	kept := make(n)
	after := liveHeap()
	runtime.KeepAlive(kept)
	return float64(int64(after)-int64(before)) / float64(n)
}

func infuseBreakers(tb testing.TB, n int, cfg func(i int) infuse.Config) []*infuse.Breaker {
	bs := make([]*infuse.Breaker, n)
	for i := range bs {
		br, err := infuse.New(cfg(i))
		if err != nil {
			tb.Fatal(err)
		}
		_ = br.Call(ctx, noop)
		bs[i] = br
	}
	return bs
}

func hostName(i int) string { return fmt.Sprintf("host-%06d.example", i) }

// BenchmarkMemoryPerBreaker reports the heap each breaker costs (the
// names, which every library keeps, included), bare, with a count window,
// watched by a Prometheus collector, and bound to the Redis store, beside
// gobreaker v2 and eapache.
func BenchmarkMemoryPerBreaker(b *testing.B) {
	cases := []struct {
		name  string
		n     int
		build func(b *testing.B, n int) any
	}{
		{"infuse", memBreakers, func(b *testing.B, n int) any {
			return infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour}
			})
		}},
		{"infuse-count-window-100", memBreakers, func(b *testing.B, n int) any {
			return infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour, Window: infuse.CountWindow(100), FailureRate: 0.5}
			})
		}},
		{"infuse-count-window-1000000", memBreakers / 10, func(b *testing.B, n int) any {
			// The ring is allocated as calls reach it (issue 23): 4 KiB
			// after one call, where the whole ring was 4 MB.
			return infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour, Window: infuse.CountWindow(1_000_000), FailureRate: 0.5}
			})
		}},
		{"infuse-counted", memBreakers, func(b *testing.B, n int) any {
			// What a watched breaker adds to itself: its call counts,
			// allocated the first time Totals is read.
			bs := infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour}
			})
			for _, br := range bs {
				_ = br.Totals()
			}
			return bs
		}},
		{"infuse-prom", memBreakers, func(b *testing.B, n int) any {
			// Watched by a Prometheus collector: the counts and the
			// collector's entry for the breaker.
			c, err := infuseprom.New(infuseprom.Options{MaxBreakers: n})
			if err != nil {
				b.Fatal(err)
			}
			bs := infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour}
			})
			for _, br := range bs {
				if err := c.Watch(br); err != nil {
					b.Fatal(err)
				}
				_ = br.Totals()
			}
			return []any{c, bs}
		}},
		{"gobreaker-v2", memBreakers, func(b *testing.B, n int) any {
			cbs := make([]*gobreakerv2.CircuitBreaker[struct{}], n)
			for i := range cbs {
				cbs[i] = gobreakerv2.NewCircuitBreaker[struct{}](gobreakerv2.Settings{Name: hostName(i), Timeout: time.Hour})
				_, _ = cbs[i].Execute(gobreaker2OK)
			}
			return cbs
		}},
		{"eapache", memBreakers, func(b *testing.B, n int) any {
			// eapache keeps no name: the other libraries' figures include
			// theirs (24 bytes here).
			bs := make([]*breaker.Breaker, n)
			for i := range bs {
				bs[i] = breaker.New(5, 1, time.Hour)
				_ = bs[i].Run(plainOK)
			}
			return bs
		}},
	}
	for _, c := range cases {
		b.Run("lib="+c.name, func(b *testing.B) {
			b.ReportMetric(perBreaker(c.n, func(n int) any { return c.build(b, n) }), "B/breaker")
			b.ReportMetric(0, "ns/op")
		})
	}
	b.Run("lib=infuse-redisstore", func(b *testing.B) {
		srv := redistest.Start(b)
		newStore := func(ns string) *redisstore.Store {
			client := srv.Client(b)
			s := redisstore.New(client, redisstore.Options{Namespace: ns})
			b.Cleanup(func() { _ = s.Close() })
			if err := s.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			return s
		}
		n := memRedisBreakers
		// The store's share: bindings alone, as a breaker makes them.
		bindings := newStore("bindings")
		store := perBreaker(n, func(n int) any {
			bs := make([]storage.Binding, n)
			for i := range bs {
				var err error
				bs[i], err = bindings.Bind(storage.BindConfig{Name: hostName(i), Clock: systemClock{},
					Policy:  func() storage.Policy { return storage.Policy{FailMax: 5, ResetTimeout: time.Hour} },
					Observe: func(storage.Snapshot) {}, Made: func(storage.Snapshot) {}})
				if err != nil {
					b.Fatal(err)
				}
			}
			return bs
		})
		breakers := newStore("breakers")
		total := perBreaker(n, func(n int) any {
			return infuseBreakers(b, n, func(i int) infuse.Config {
				return infuse.Config{Name: hostName(i), ResetTimeout: time.Hour, Storage: breakers}
			})
		})
		b.ReportMetric(total-store, "B/breaker")
		b.ReportMetric(store, "store-B/breaker")
		b.ReportMetric(0, "ns/op")
	})
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
