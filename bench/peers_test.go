package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cep21/circuit/v4"
	"github.com/cep21/circuit/v4/closers/simplelogic"
	"github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	gobreakerv1 "github.com/sony/gobreaker"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/infuse-go/infuse"
)

// A peer is one library set up for the comparison: call makes one
// protected call of a function that succeeds, and trip opens the breaker so
// that calls are rejected.
type peer struct {
	name string
	new  func(tb testing.TB) (call func() error, trip func())
}

var errBoom = errors.New("boom")

var ctx = context.Background()

func noop(context.Context) error { return nil }

// peers lists the libraries in the order the README's table shows them.
// Each is configured as its users would for a consecutive-failure breaker
// with a long open period.
var peers = []peer{
	{"infuse", func(tb testing.TB) (func() error, func()) {
		b, err := infuse.New(infuse.Config{Name: "bench", ResetTimeout: time.Hour})
		if err != nil {
			tb.Fatal(err)
		}
		return func() error { return b.Call(ctx, noop) },
			func() { _ = b.Open(ctx) }
	}},
	{"gobreaker-v1", func(tb testing.TB) (func() error, func()) {
		b := gobreakerv1.NewCircuitBreaker(gobreakerv1.Settings{Name: "bench", Timeout: time.Hour})
		ok := func() (interface{}, error) { return nil, nil }
		fail := func() (interface{}, error) { return nil, errBoom }
		return func() error { _, err := b.Execute(ok); return err },
			func() {
				for b.State() != gobreakerv1.StateOpen {
					_, _ = b.Execute(fail)
				}
			}
	}},
	{"gobreaker-v2", func(tb testing.TB) (func() error, func()) {
		b := gobreakerv2.NewCircuitBreaker[struct{}](gobreakerv2.Settings{Name: "bench", Timeout: time.Hour})
		ok := func() (struct{}, error) { return struct{}{}, nil }
		fail := func() (struct{}, error) { return struct{}{}, errBoom }
		return func() error { _, err := b.Execute(ok); return err },
			func() {
				for b.State() != gobreakerv2.StateOpen {
					_, _ = b.Execute(fail)
				}
			}
	}},
	{"failsafe-go", func(tb testing.TB) (func() error, func()) {
		cb := circuitbreaker.NewBuilder[any]().WithDelay(time.Hour).Build()
		ex := failsafe.With[any](cb)
		ok := func() error { return nil }
		return func() error { return ex.Run(ok) }, cb.Open
	}},
	{"failsafe-go-permit", func(tb testing.TB) (func() error, func()) {
		// failsafe-go's standalone API, without its executor.
		cb := circuitbreaker.NewBuilder[any]().WithDelay(time.Hour).Build()
		return func() error {
			if !cb.TryAcquirePermit() {
				return circuitbreaker.ErrOpen
			}
			cb.RecordSuccess()
			return nil
		}, cb.Open
	}},
	{"cep21-circuit", func(tb testing.TB) (func() error, func()) {
		var m circuit.Manager
		c, err := m.CreateCircuit("bench", circuit.Config{
			Execution: circuit.ExecutionConfig{Timeout: -1},
			General: circuit.GeneralConfig{
				ClosedToOpenFactory: simplelogic.ConsecutiveErrOpenerFactory(simplelogic.ConfigConsecutiveErrOpener{ErrorThreshold: 5}),
			},
		})
		if err != nil {
			tb.Fatal(err)
		}
		return func() error { return c.Run(ctx, noop) },
			func() { c.OpenCircuit(ctx) }
	}},
	{"eapache", func(tb testing.TB) (func() error, func()) {
		b := breaker.New(5, 1, time.Hour)
		ok := func() error { return nil }
		fail := func() error { return errBoom }
		return func() error { return b.Run(ok) },
			func() {
				for b.Run(fail) != breaker.ErrBreakerOpen {
				}
			}
	}},
}

// BenchmarkClosed is one goroutine calling a closed breaker.
func BenchmarkClosed(b *testing.B) {
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			call, _ := p.new(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClosedParallel is GOMAXPROCS goroutines calling one closed
// breaker.
func BenchmarkClosedParallel(b *testing.B) {
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			call, _ := p.new(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen is one goroutine whose calls an open breaker rejects.
func BenchmarkOpen(b *testing.B) {
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			call, trip := p.new(b)
			trip()
			if call() == nil {
				b.Fatal("the breaker let a call through after trip")
			}
			b.ReportAllocs()
			for b.Loop() {
				if call() == nil {
					b.Fatal("call admitted")
				}
			}
		})
	}
}

// TestPeersBehave checks that every peer's setup does what the benchmarks
// assume: calls succeed while closed and are rejected once tripped.
func TestPeersBehave(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			call, trip := p.new(t)
			if err := call(); err != nil {
				t.Fatalf("closed call: %v", err)
			}
			trip()
			if call() == nil {
				t.Fatal("call admitted after trip")
			}
		})
	}
}
