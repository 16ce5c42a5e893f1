// Package bench compares infuse with the Go circuit breakers people use, in
// one run: a closed breaker's successful call, serial and parallel, and an
// open breaker's rejection. Each library is configured as its users would
// for a consecutive-failure breaker with a long open period, and each loop
// calls the library directly, so no harness indirection is measured.
//
//	go test -run '^$' -bench . -benchmem -count 6 . | tee bench.txt
//	benchstat -col /lib bench.txt
package bench

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cep21/circuit/v4"
	"github.com/cep21/circuit/v4/closers/simplelogic"
	"github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	gobreakerv1 "github.com/sony/gobreaker"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infuseotel"
	"github.com/infuse-go/infuse/infuseprom"
	"github.com/infuse-go/infuse/infuseslog"
)

var (
	errBoom = errors.New("boom")
	ctx     = context.Background()
)

func noop(context.Context) error { return nil }

// A peer is one library: three benchmark loops and a check that its setup
// does what the loops assume.
type peer struct {
	name     string
	closed   func(b *testing.B)       // one goroutine, closed, succeeding calls
	parallel func(b *testing.B)       // RunParallel, closed, succeeding calls
	open     func(b *testing.B)       // one goroutine, open, rejected calls
	check    func(t *testing.T) error // closed call succeeds, then trip rejects
}

func newInfuse(tb testing.TB) *infuse.Breaker {
	b, err := infuse.New(infuse.Config{Name: "bench", ResetTimeout: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func newGobreakerV1() *gobreakerv1.CircuitBreaker {
	return gobreakerv1.NewCircuitBreaker(gobreakerv1.Settings{Name: "bench", Timeout: time.Hour})
}

func newGobreakerV2() *gobreakerv2.CircuitBreaker[struct{}] {
	return gobreakerv2.NewCircuitBreaker[struct{}](gobreakerv2.Settings{Name: "bench", Timeout: time.Hour})
}

func newFailsafe() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().WithDelay(time.Hour).Build()
}

func newCep21(tb testing.TB) *circuit.Circuit {
	var m circuit.Manager
	c, err := m.CreateCircuit("bench", circuit.Config{
		Execution: circuit.ExecutionConfig{Timeout: -1}, // no per-call deadline
		General: circuit.GeneralConfig{
			ClosedToOpenFactory: simplelogic.ConsecutiveErrOpenerFactory(simplelogic.ConfigConsecutiveErrOpener{ErrorThreshold: 5}),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func newEapache() *breaker.Breaker { return breaker.New(5, 1, time.Hour) }

func gobreakerOK() (interface{}, error)   { return nil, nil }
func gobreakerFail() (interface{}, error) { return nil, errBoom }
func gobreaker2OK() (struct{}, error)     { return struct{}{}, nil }
func gobreaker2Fail() (struct{}, error)   { return struct{}{}, errBoom }
func plainOK() error                      { return nil }
func plainFail() error                    { return errBoom }
func failsafePermit(cb circuitbreaker.CircuitBreaker[any]) error {
	if !cb.TryAcquirePermit() {
		return circuitbreaker.ErrOpen
	}
	cb.RecordSuccess()
	return nil
}

// infusePeer is infuse as newB makes it: bare, or watched by a
// monitoring integration as users run it.
//
// It is kept out of the package's init, which builds peers: there its
// loops would be compiled as part of init, too big a function for the
// compiler to inline anything but the smallest calls into, and Call,
// which a user's loop inlines, would not be (eapache's Run, smaller, is
// inlined either way).
//
//go:noinline
func infusePeer(name string, newB func(testing.TB) *infuse.Breaker) peer {
	return peer{
		name: name,
		closed: func(b *testing.B) {
			br := newB(b)
			ctx, fn := context.Background(), func(context.Context) error { return nil }
			for b.Loop() {
				_ = br.Call(ctx, fn)
			}
		},
		parallel: func(b *testing.B) {
			br := newB(b)
			ctx, fn := context.Background(), func(context.Context) error { return nil }
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Call(ctx, fn)
				}
			})
		},
		open: func(b *testing.B) {
			br := newB(b)
			_ = br.Open(ctx)
			for b.Loop() {
				_ = br.Call(ctx, noop)
			}
		},
		check: func(t *testing.T) error {
			br := newB(t)
			if err := br.Call(ctx, noop); err != nil {
				return err
			}
			_ = br.Open(ctx)
			return expectRejected(br.Call(ctx, noop))
		},
	}
}

// newInfuseProm is a breaker watched by an infuseprom.Collector registered
// in a fresh registry.
func newInfuseProm(tb testing.TB) *infuse.Breaker {
	br := newInfuse(tb)
	c, err := infuseprom.New(infuseprom.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	prometheus.NewRegistry().MustRegister(c)
	if err := c.Watch(br); err != nil {
		tb.Fatal(err)
	}
	return br
}

// newInfuseOtel is a breaker watched by infuseotel instruments on an SDK
// meter provider with a manual reader.
func newInfuseOtel(tb testing.TB) *infuse.Breaker {
	br := newInfuse(tb)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	in, err := infuseotel.New(provider.Meter("bench"), infuseotel.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := in.Watch(br); err != nil {
		tb.Fatal(err)
	}
	return br
}

// newInfuseSlog is a breaker with infuseslog's listener.
func newInfuseSlog(tb testing.TB) *infuse.Breaker {
	br := newInfuse(tb)
	br.AddListener(infuseslog.Listener(slog.New(slog.DiscardHandler)))
	return br
}

var peers = []peer{
	infusePeer("infuse", newInfuse),
	infusePeer("infuse-prom", newInfuseProm),
	infusePeer("infuse-otel", newInfuseOtel),
	infusePeer("infuse-slog", newInfuseSlog),
	{
		name: "gobreaker-v1",
		closed: func(b *testing.B) {
			cb := newGobreakerV1()
			for b.Loop() {
				_, _ = cb.Execute(gobreakerOK)
			}
		},
		parallel: func(b *testing.B) {
			cb := newGobreakerV1()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = cb.Execute(gobreakerOK)
				}
			})
		},
		open: func(b *testing.B) {
			cb := newGobreakerV1()
			for cb.State() != gobreakerv1.StateOpen {
				_, _ = cb.Execute(gobreakerFail)
			}
			for b.Loop() {
				_, _ = cb.Execute(gobreakerOK)
			}
		},
		check: func(t *testing.T) error {
			cb := newGobreakerV1()
			if _, err := cb.Execute(gobreakerOK); err != nil {
				return err
			}
			for cb.State() != gobreakerv1.StateOpen {
				_, _ = cb.Execute(gobreakerFail)
			}
			_, err := cb.Execute(gobreakerOK)
			return expectRejected(err)
		},
	},
	{
		name: "gobreaker-v2",
		closed: func(b *testing.B) {
			cb := newGobreakerV2()
			for b.Loop() {
				_, _ = cb.Execute(gobreaker2OK)
			}
		},
		parallel: func(b *testing.B) {
			cb := newGobreakerV2()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = cb.Execute(gobreaker2OK)
				}
			})
		},
		open: func(b *testing.B) {
			cb := newGobreakerV2()
			for cb.State() != gobreakerv2.StateOpen {
				_, _ = cb.Execute(gobreaker2Fail)
			}
			for b.Loop() {
				_, _ = cb.Execute(gobreaker2OK)
			}
		},
		check: func(t *testing.T) error {
			cb := newGobreakerV2()
			if _, err := cb.Execute(gobreaker2OK); err != nil {
				return err
			}
			for cb.State() != gobreakerv2.StateOpen {
				_, _ = cb.Execute(gobreaker2Fail)
			}
			_, err := cb.Execute(gobreaker2OK)
			return expectRejected(err)
		},
	},
	{
		// failsafe-go as documented: a policy run by its executor.
		name: "failsafe-go",
		closed: func(b *testing.B) {
			ex := failsafe.With[any](newFailsafe())
			for b.Loop() {
				_ = ex.Run(plainOK)
			}
		},
		parallel: func(b *testing.B) {
			ex := failsafe.With[any](newFailsafe())
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = ex.Run(plainOK)
				}
			})
		},
		open: func(b *testing.B) {
			cb := newFailsafe()
			ex := failsafe.With[any](cb)
			cb.Open()
			for b.Loop() {
				_ = ex.Run(plainOK)
			}
		},
		check: func(t *testing.T) error {
			cb := newFailsafe()
			ex := failsafe.With[any](cb)
			if err := ex.Run(plainOK); err != nil {
				return err
			}
			cb.Open()
			return expectRejected(ex.Run(plainOK))
		},
	},
	{
		// failsafe-go's standalone permit API, without the executor.
		name: "failsafe-go-permit",
		closed: func(b *testing.B) {
			cb := newFailsafe()
			for b.Loop() {
				_ = failsafePermit(cb)
			}
		},
		parallel: func(b *testing.B) {
			cb := newFailsafe()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = failsafePermit(cb)
				}
			})
		},
		open: func(b *testing.B) {
			cb := newFailsafe()
			cb.Open()
			for b.Loop() {
				_ = failsafePermit(cb)
			}
		},
		check: func(t *testing.T) error {
			cb := newFailsafe()
			if err := failsafePermit(cb); err != nil {
				return err
			}
			cb.Open()
			return expectRejected(failsafePermit(cb))
		},
	},
	{
		name: "cep21-circuit",
		closed: func(b *testing.B) {
			c := newCep21(b)
			ctx, fn := context.Background(), func(context.Context) error { return nil }
			for b.Loop() {
				_ = c.Run(ctx, fn)
			}
		},
		parallel: func(b *testing.B) {
			c := newCep21(b)
			ctx, fn := context.Background(), func(context.Context) error { return nil }
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = c.Run(ctx, fn)
				}
			})
		},
		open: func(b *testing.B) {
			c := newCep21(b)
			c.OpenCircuit(ctx)
			for b.Loop() {
				_ = c.Run(ctx, noop)
			}
		},
		check: func(t *testing.T) error {
			c := newCep21(t)
			if err := c.Run(ctx, noop); err != nil {
				return err
			}
			c.OpenCircuit(ctx)
			return expectRejected(c.Run(ctx, noop))
		},
	},
	{
		name: "eapache",
		closed: func(b *testing.B) {
			br := newEapache()
			fn := func() error { return nil }
			for b.Loop() {
				_ = br.Run(fn)
			}
		},
		parallel: func(b *testing.B) {
			br := newEapache()
			fn := func() error { return nil }
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Run(fn)
				}
			})
		},
		open: func(b *testing.B) {
			br := newEapache()
			for br.Run(plainFail) != breaker.ErrBreakerOpen {
			}
			for b.Loop() {
				_ = br.Run(plainOK)
			}
		},
		check: func(t *testing.T) error {
			br := newEapache()
			if err := br.Run(plainOK); err != nil {
				return err
			}
			for br.Run(plainFail) != breaker.ErrBreakerOpen {
			}
			return expectRejected(br.Run(plainOK))
		},
	},
}

var errAdmitted = errors.New("call admitted by an open breaker")

func expectRejected(err error) error {
	if err == nil {
		return errAdmitted
	}
	return nil
}

// The benchmark names put the library last (BenchmarkClosed/lib=infuse),
// so that benchstat -col /lib lays the libraries side by side.

func BenchmarkClosed(b *testing.B) {
	for _, p := range peers {
		b.Run("lib="+p.name, func(b *testing.B) { b.ReportAllocs(); p.closed(b) })
	}
}

func BenchmarkClosedParallel(b *testing.B) {
	for _, p := range peers {
		b.Run("lib="+p.name, func(b *testing.B) { b.ReportAllocs(); p.parallel(b) })
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, p := range peers {
		b.Run("lib="+p.name, func(b *testing.B) { b.ReportAllocs(); p.open(b) })
	}
}

// TestPeersBehave checks every peer's setup: calls succeed while closed and
// are rejected once tripped, so the benchmarks measure what they claim.
func TestPeersBehave(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			if err := p.check(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkOpenParallel is an outage as a busy service sees it: every
// goroutine's call rejected, for the breakers whose rejection is cheap
// enough to matter (infuse bare and watched, eapache, gobreaker v2).
func BenchmarkOpenParallel(b *testing.B) {
	rejecting := map[string]func(b *testing.B) func() error{
		"infuse": func(b *testing.B) func() error {
			br := newInfuse(b)
			_ = br.Open(ctx)
			return func() error { return br.Call(ctx, noop) }
		},
		"infuse-prom": func(b *testing.B) func() error {
			br := newInfuseProm(b)
			_ = br.Open(ctx)
			return func() error { return br.Call(ctx, noop) }
		},
		"eapache": func(b *testing.B) func() error {
			br := newEapache()
			for range 5 {
				_ = br.Run(plainFail)
			}
			return func() error { return br.Run(plainOK) }
		},
		"gobreaker-v2": func(b *testing.B) func() error {
			cb := newGobreakerV2()
			for cb.State() != gobreakerv2.StateOpen {
				_, _ = cb.Execute(gobreaker2Fail)
			}
			return func() error { _, err := cb.Execute(gobreaker2OK); return err }
		},
	}
	for _, name := range []string{"infuse", "infuse-prom", "eapache", "gobreaker-v2"} {
		b.Run("lib="+name, func(b *testing.B) {
			call := rejecting[name](b)
			if call() == nil {
				b.Fatal("not rejecting")
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = call()
				}
			})
		})
	}
}
