package infuseotel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infuseotel"
	"github.com/infuse-go/infuse/infusetest"
)

var bg = context.Background()

// figures reads every instrument through a manual reader: name (plus
// "/"+outcome for calls) to value, for the breaker named db.
func figures(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(bg, &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

func key(name string, attrs attribute.Set) string {
	if v, ok := attrs.Value("infuse.breaker"); !ok || v.AsString() != "db" {
		return "other:" + name
	}
	if v, ok := attrs.Value("infuse.outcome"); ok {
		return name + "/" + v.AsString()
	}
	return name
}

// instruments makes Instruments on a fresh provider with a manual
// reader, shut down when the test ends.
func instruments(t *testing.T) (*infuseotel.Instruments, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(bg) })
	in, err := infuseotel.New(provider.Meter("test"), infuseotel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in, reader
}

func TestInstrumentsAfterAScriptedSequence(t *testing.T) {
	in, reader := instruments(t)
	clock := infusetest.NewClock()
	b, _ := infuse.New(infuse.Config{Name: "db", FailMax: 2, ResetTimeout: 30 * time.Second, Clock: clock})
	if err := in.Watch(b); err != nil {
		t.Fatal(err)
	}
	fail := func(context.Context) error { return errors.New("down") }
	_ = b.Call(bg, func(context.Context) error { return nil })
	_ = b.Call(bg, fail)
	_ = b.Call(bg, fail) // trips
	_ = b.Call(bg, fail) // rejected
	clock.Advance(5 * time.Second)
	got := figures(t, reader)
	want := map[string]float64{
		"infuse.breaker.calls/success":        1,
		"infuse.breaker.calls/failure":        2,
		"infuse.breaker.rejections":           1,
		"infuse.breaker.transitions":          1,
		"infuse.breaker.state":                1,
		"infuse.breaker.forced":               0,
		"infuse.breaker.consecutive_failures": 2,
		"infuse.breaker.retry_after":          25,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], w, got)
		}
	}
	if _, ok := got["infuse.breaker.failure_rate"]; ok {
		t.Error("a failure rate without a window")
	}
	if _, ok := got["infuse.breaker.ramp_share"]; ok {
		t.Error("a ramp share without a RampDuration")
	}
}

func TestOptions(t *testing.T) {
	if _, err := infuseotel.New(nil, infuseotel.Options{}); err == nil {
		t.Fatal("nil meter accepted")
	}
	provider := sdkmetric.NewMeterProvider()
	defer provider.Shutdown(bg)
	in, _ := infuseotel.New(provider.Meter("x"), infuseotel.Options{MaxBreakers: 1})
	a, _ := infuse.New(infuse.Config{Name: "a"})
	c, _ := infuse.New(infuse.Config{Name: "c"})
	_ = in.Watch(a)
	if err := in.Watch(c); !errors.Is(err, infuseotel.ErrTooManyBreakers) {
		t.Fatalf("second breaker: %v", err)
	}
	in.Unwatch(a)
	if err := in.Watch(c); err != nil {
		t.Fatal(err)
	}
}

func Example() {
	reader := sdkmetric.NewManualReader() // in production: a periodic reader and an exporter
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	in, _ := infuseotel.New(provider.Meter("checkout"), infuseotel.Options{})
	b, _ := infuse.New(infuse.Config{Name: "payments"})
	_ = in.Watch(b)
	_ = b.Call(context.Background(), func(context.Context) error { return nil })

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "infuse.breaker.calls" {
			continue
		}
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if v, _ := dp.Attributes.Value("infuse.outcome"); v.AsString() == "success" {
				fmt.Println(m.Name, "success", dp.Value, m.Unit)
			}
		}
	}
	// Output: infuse.breaker.calls success 1 {call}
}

// Counters carry the units the semantic conventions ask for; "1" is for
// ratios only.
func TestUnits(t *testing.T) {
	in, reader := instruments(t)
	b, _ := infuse.New(infuse.Config{Name: "u"})
	_ = in.Watch(b)
	_ = b.Call(context.Background(), func(context.Context) error { return nil })
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"infuse.breaker.calls": "{call}", "infuse.breaker.rejections": "{call}",
		"infuse.breaker.transitions": "{transition}", "infuse.breaker.store_errors": "{error}",
		"infuse.breaker.state": "1", "infuse.breaker.retry_after": "s",
	}
	got := map[string]string{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		got[m.Name] = m.Unit
	}
	for name, unit := range want {
		if got[name] != unit {
			t.Errorf("%s: unit %q, want %q", name, got[name], unit)
		}
	}
}

// A breaker replaced by another of its name goes on from its counts: the
// monotonic sum never goes back.
func TestCountsGoOnAcrossAReplacedBreaker(t *testing.T) {
	in, reader := instruments(t)
	first, _ := infuse.New(infuse.Config{Name: "db"})
	_ = in.Watch(first)
	for range 10 {
		_ = first.Call(context.Background(), func(context.Context) error { return nil })
	}
	in.Unwatch(first)
	second, _ := infuse.New(infuse.Config{Name: "db"})
	_ = in.Watch(second)
	_ = second.Call(context.Background(), func(context.Context) error { return nil })
	if got := figures(t, reader)["infuse.breaker.calls/success"]; got != 11 {
		t.Fatalf("successes %v, want 11", got)
	}
}

// A running shadow and a recovery ramp are exported beside the breaker,
// and neither without one.
func TestShadowAndRamp(t *testing.T) {
	in, reader := instruments(t)
	clock := infusetest.NewClock()
	b, _ := infuse.New(infuse.Config{Name: "db", FailMax: 100, ResetTimeout: time.Second, Clock: clock,
		RampDuration: 10 * time.Second, RampSteps: 4})
	if err := in.Watch(b); err != nil {
		t.Fatal(err)
	}
	got := figures(t, reader)
	if _, ok := got["infuse.breaker.shadow.state"]; ok {
		t.Fatalf("a shadow state without a shadow: %v", got)
	}
	if got["infuse.breaker.ramp_share"] != 1 {
		t.Fatalf("ramp share before any recovery: %v", got)
	}
	if _, err := b.StartShadow(infuse.Candidate{FailMax: 1}); err != nil {
		t.Fatal(err)
	}
	fail := func(context.Context) error { return errors.New("down") }
	for range 3 {
		_ = b.Call(bg, fail)
	}
	if err := b.Open(bg); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(bg); err != nil {
		t.Fatal(err)
	}
	got = figures(t, reader)
	want := map[string]float64{
		"infuse.breaker.shadow.state":        1,
		"infuse.breaker.shadow.would_reject": 2,
		"infuse.breaker.ramp_share":          0.25,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], w, got)
		}
	}
}
