package bench

// Rate-based breakers: a closed breaker's successful call when every call
// is counted in a sliding window.

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/infuse-go/infuse"
)

type windowPeer struct {
	name string
	// new returns one closed-state call that succeeds; an error means
	// the breaker rejected it, and the loop stops (it would time
	// rejections).
	new func(tb testing.TB) func() error
}

func newRateInfuse(tb testing.TB, w infuse.Window) func() error {
	b, err := infuse.New(infuse.Config{Name: "bench", Window: w, FailureRate: 0.5, MinCalls: 20, ResetTimeout: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, fn := context.Background(), func(context.Context) error { return nil }
	return func() error { return b.Call(ctx, fn) }
}

var windowPeers = []windowPeer{
	{"infuse-time-window", func(tb testing.TB) func() error {
		return newRateInfuse(tb, infuse.TimeWindow(10*time.Second, time.Second))
	}},
	{"infuse-count-window", func(tb testing.TB) func() error {
		return newRateInfuse(tb, infuse.CountWindow(100))
	}},
	{"failsafe-go-time-window", func(tb testing.TB) func() error {
		cb := circuitbreaker.NewBuilder[any]().WithFailureRateThreshold(0.5, 20, 10*time.Second).WithDelay(time.Hour).Build()
		return func() error { return failsafePermit(cb) }
	}},
	{"gobreaker-v2-rolling-window", func(tb testing.TB) func() error {
		cb := gobreakerv2.NewCircuitBreaker[struct{}](gobreakerv2.Settings{
			Name: "bench", Interval: 10 * time.Second, BucketPeriod: time.Second, Timeout: time.Hour,
			ReadyToTrip: func(c gobreakerv2.Counts) bool {
				return c.Requests >= 20 && c.TotalFailures*2 >= c.Requests
			},
		})
		return func() error { _, err := cb.Execute(gobreaker2OK); return err }
	}},
}

func BenchmarkWindowClosed(b *testing.B) {
	for _, p := range windowPeers {
		b.Run("lib="+p.name, func(b *testing.B) {
			call := p.new(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWindowClosedParallel(b *testing.B) {
	for _, p := range windowPeers {
		b.Run("lib="+p.name, func(b *testing.B) {
			call := p.new(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						panic(err) // b.Fatal is not for RunParallel's goroutines
					}
				}
			})
		})
	}
}
