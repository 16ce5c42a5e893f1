package infuseprom_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/infuse-go/infuse"
)

// Every metric the collector exports passes promlint: names, units,
// _total on counters, help text.
func TestMetricsPassPromlint(t *testing.T) {
	c, reg := registered(t)
	b, err := infuse.New(infuse.Config{Name: "db", Window: infuse.TimeWindow(time.Minute, time.Second),
		FailureRate: 0.5, SlowCallRate: 0.5, SlowCallDuration: time.Second, MinCalls: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Watch(b); err != nil {
		t.Fatal(err)
	}
	_ = b.Call(bg, func(context.Context) error { return nil })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 15 {
		t.Fatalf("only %d families", len(mfs))
	}
	// Gauges of 0..1 values are _ratio, as Prometheus names them ("rate"
	// reads as per second).
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"infuse_breaker_failure_ratio", "infuse_breaker_slow_call_ratio"} {
		if !names[want] {
			t.Errorf("no %s in %v", want, names)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
