package infuseprom_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infuseprom"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/registry"
)

var bg = context.Background()

// scrape serves reg over HTTP, as Prometheus would read it, and parses the
// text format.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value is the figure of metric for breaker; ok false when absent.
func value(families map[string]*dto.MetricFamily, metric, breaker string) (float64, bool) {
	f, ok := families[metric]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "breaker" {
			return -1, false
		}
		if m.GetLabel()[0].GetValue() == breaker {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// registered is a collector with default options on a registry of its own.
func registered(t *testing.T) (*infuseprom.Collector, *prometheus.Registry) {
	t.Helper()
	col, err := infuseprom.New(infuseprom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	return col, reg
}

func TestScrapeAfterAScriptedSequence(t *testing.T) {
	col, reg := registered(t)
	clock := infusetest.NewClock()
	b, _ := infuse.New(infuse.Config{Name: "db", FailMax: 3, ResetTimeout: 30 * time.Second, Clock: clock,
		Window: infuse.CountWindow(10), FailureRate: 0.9, MinCalls: 4})
	if err := col.Watch(b); err != nil {
		t.Fatal(err)
	}
	fail := func(context.Context) error { return errors.New("down") }
	ok := func(context.Context) error { return nil }
	_ = b.Call(bg, ok)
	_ = b.Call(bg, ok)
	_ = b.Call(bg, fail)
	_ = b.Call(bg, fail)
	ctx, cancel := context.WithCancel(bg)
	_ = b.Call(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })

	f := scrape(t, reg)
	want := map[string]float64{
		"infuse_breaker_state_closed":         1,
		"infuse_breaker_state_open":           0,
		"infuse_breaker_state_half_open":      0,
		"infuse_breaker_forced":               0,
		"infuse_breaker_successes_total":      2,
		"infuse_breaker_failures_total":       2,
		"infuse_breaker_ignored_total":        1,
		"infuse_breaker_rejections_total":     0,
		"infuse_breaker_transitions_total":    0,
		"infuse_breaker_consecutive_failures": 2,
		"infuse_breaker_retry_after_seconds":  0,
		"infuse_breaker_failure_ratio":        0.5,
		"infuse_breaker_slow_call_ratio":      0,
	}
	check(t, f, want)

	_ = b.Call(bg, fail) // trips
	_ = b.Call(bg, ok)   // rejected
	_ = b.Call(bg, ok)   // rejected
	clock.Advance(10 * time.Second)
	f = scrape(t, reg)
	check(t, f, map[string]float64{
		"infuse_breaker_state_closed":         0,
		"infuse_breaker_state_open":           1,
		"infuse_breaker_failures_total":       3,
		"infuse_breaker_rejections_total":     2,
		"infuse_breaker_transitions_total":    1,
		"infuse_breaker_consecutive_failures": 3,
		"infuse_breaker_retry_after_seconds":  20,
	})
	if _, ok := value(f, "infuse_breaker_failure_ratio", "db"); ok {
		t.Fatal("a failure rate exported while open (the window belongs to the closed state)")
	}
	// A manual close waits on the store: one observation of its latency.
	_ = b.Close(bg)
	f = scrape(t, reg)
	if h := f["infuse_breaker_store_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 {
		t.Fatalf("store latency samples %d, want the close's 1", h.GetSampleCount())
	}
	col.Unwatch(b)
	if f := scrape(t, reg); len(f) != 0 {
		t.Fatalf("after Unwatch: %d families", len(f))
	}
}

func check(t *testing.T, f map[string]*dto.MetricFamily, want map[string]float64) {
	t.Helper()
	for metric, w := range want {
		got, ok := value(f, metric, "db")
		if !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", metric, got, ok, w)
		}
	}
}

func TestCardinalityIsBounded(t *testing.T) {
	col, _ := infuseprom.New(infuseprom.Options{MaxBreakers: 2})
	reg, _ := registry.New(registry.Options{Template: infuse.Config{Name: "h:"}, Max: 2,
		OnCreate: func(_ string, b *infuse.Breaker) { _ = col.Watch(b) },
		OnEvict:  func(_ string, b *infuse.Breaker) { col.Unwatch(b) },
	})
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, err := reg.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	pr := prometheus.NewRegistry()
	pr.MustRegister(col)
	f := scrape(t, pr)
	if n := len(f["infuse_breaker_state_closed"].GetMetric()); n != 2 {
		t.Fatalf("%d series, want the 2 the registry keeps", n)
	}
	extra, _ := infuse.New(infuse.Config{Name: "x"})
	if err := col.Watch(extra); !errors.Is(err, infuseprom.ErrTooManyBreakers) {
		t.Fatalf("a third breaker: %v", err)
	}
	if _, err := infuseprom.New(infuseprom.Options{MaxBreakers: -1}); err == nil {
		t.Fatal("negative MaxBreakers accepted")
	}
}

func Example() {
	col, _ := infuseprom.New(infuseprom.Options{})
	reg := prometheus.NewRegistry() // or prometheus.DefaultRegisterer
	reg.MustRegister(col)
	b, _ := infuse.New(infuse.Config{Name: "payments"})
	if err := col.Watch(b); err != nil {
		panic(err)
	}
	_ = b.Call(context.Background(), func(context.Context) error { return nil })
	families, _ := reg.Gather() // what promhttp.HandlerFor(reg, ...) serves
	for _, f := range families {
		if f.GetName() == "infuse_breaker_successes_total" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output: infuse_breaker_successes_total 1
}

// A breaker replaced by another of its name (a registry's eviction and
// creation) goes on from its counts: counters never go back.
func TestCountersGoOnAcrossAReplacedBreaker(t *testing.T) {
	c, _ := infuseprom.New(infuseprom.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	first, _ := infuse.New(infuse.Config{Name: "db"})
	_ = c.Watch(first)
	for range 10 {
		_ = first.Call(bg, func(context.Context) error { return nil })
	}
	c.Unwatch(first)
	second, _ := infuse.New(infuse.Config{Name: "db"})
	_ = c.Watch(second)
	_ = second.Call(bg, func(context.Context) error { return nil })
	if v, ok := value(scrape(t, reg), "infuse_breaker_successes_total", "db"); !ok || v != 11 {
		t.Fatalf("successes_total %v, want 11", v)
	}
}

// A breaker per host from a registry, each watched by the collector as the
// registry makes it and forgotten as it drops it: the wiring for breakers
// made on demand (infusehttp's Transport with a registry, for one).
func Example_registry() {
	col, _ := infuseprom.New(infuseprom.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	hosts, _ := registry.New(registry.Options{
		Template: infuse.Config{FailMax: 5},
		Max:      100,
		OnCreate: func(_ string, b *infuse.Breaker) { _ = col.Watch(b) },
		OnEvict:  func(_ string, b *infuse.Breaker) { col.Unwatch(b) },
	})
	for _, host := range []string{"api.example.com", "cdn.example.com", "api.example.com"} {
		b, _ := hosts.Get(host)
		_ = b.Call(context.Background(), func(context.Context) error { return nil })
	}
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "infuse_breaker_successes_total" {
			for _, m := range f.GetMetric() {
				fmt.Println(m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// api.example.com 2
	// cdn.example.com 1
}

// A throttling breaker exports the share it rejects; others do not.
func TestScrapeShowsThrottling(t *testing.T) {
	col, reg := registered(t)
	clock := infusetest.NewClock()
	b, _ := infuse.New(infuse.Config{Name: "api", FailMax: 1 << 20, Clock: clock,
		Window: infuse.TimeWindow(10*time.Second, time.Second), Throttle: infuse.Throttle{K: 1, MaxRejectRate: 0.5}})
	plain, _ := infuse.New(infuse.Config{Name: "db", Clock: clock})
	for _, x := range []*infuse.Breaker{b, plain} {
		if err := col.Watch(x); err != nil {
			t.Fatal(err)
		}
	}
	f := scrape(t, reg)
	if v, ok := value(f, "infuse_breaker_reject_probability", "api"); !ok || v != 0 {
		t.Fatalf("before any failure: %v %v", v, ok)
	}
	for range 10 {
		_ = b.Call(bg, func(context.Context) error { return errors.New("down") })
	}
	clock.Advance(time.Second)
	f = scrape(t, reg)
	if v, ok := value(f, "infuse_breaker_reject_probability", "api"); !ok || v != 0.5 {
		t.Fatalf("with every call failing: %v %v, want MaxRejectRate 0.5", v, ok)
	}
	if _, ok := value(f, "infuse_breaker_reject_probability", "db"); ok {
		t.Fatal("a breaker without a Throttle exports a rejection probability")
	}
}

// A breaker's running shadow is exported beside it.
func TestScrapeShowsTheShadow(t *testing.T) {
	col, reg := registered(t)
	b, _ := infuse.New(infuse.Config{Name: "api", FailMax: 100, Clock: infusetest.NewClock()})
	if err := col.Watch(b); err != nil {
		t.Fatal(err)
	}
	if _, ok := value(scrape(t, reg), "infuse_breaker_shadow_state", "api"); ok {
		t.Fatal("a shadow state without a shadow")
	}
	if _, err := b.StartShadow(infuse.Candidate{FailMax: 1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = b.Call(bg, func(context.Context) error { return errors.New("down") })
	}
	f := scrape(t, reg)
	if v, ok := value(f, "infuse_breaker_shadow_state", "api"); !ok || v != 1 {
		t.Fatalf("shadow state %v %v, want open (1)", v, ok)
	}
	if v, ok := value(f, "infuse_breaker_shadow_would_reject_total", "api"); !ok || v != 2 {
		t.Fatalf("would reject %v %v, want 2", v, ok)
	}
}

// A breaker with a recovery ramp exports how much of it admits.
func TestScrapeShowsTheRamp(t *testing.T) {
	col, reg := registered(t)
	b, _ := infuse.New(infuse.Config{Name: "api", RampDuration: time.Minute, RampSteps: 4, Clock: infusetest.NewClock()})
	c, _ := infuse.New(infuse.Config{Name: "db", Clock: infusetest.NewClock()})
	for _, x := range []*infuse.Breaker{b, c} {
		if err := col.Watch(x); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Open(bg)
	_ = b.Close(bg)
	f := scrape(t, reg)
	if v, ok := value(f, "infuse_breaker_ramp_share", "api"); !ok || v != 0.25 {
		t.Fatalf("ramp share %v %v, want 0.25", v, ok)
	}
	if _, ok := value(f, "infuse_breaker_ramp_share", "db"); ok {
		t.Fatal("a breaker without a ramp exports a ramp share")
	}
}
