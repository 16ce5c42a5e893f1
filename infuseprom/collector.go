// Package infuseprom exports infuse breakers' figures to Prometheus.
//
// Per breaker, with the breaker's name as the only label:
//
//	infuse_breaker_state_closed, _open, _half_open   1 for the current state, else 0
//	infuse_breaker_forced                            1 while forced open or disabled
//	infuse_breaker_successes_total                   calls that succeeded (excluded errors too)
//	infuse_breaker_failures_total                    calls that failed (panics too)
//	infuse_breaker_ignored_total                     calls the caller cancelled
//	infuse_breaker_rejections_total                  calls refused while open
//	infuse_breaker_transitions_total                 state changes, local and observed
//	infuse_breaker_store_errors_total                errors of the breaker's Storage
//	infuse_breaker_consecutive_failures              the current run
//	infuse_breaker_retry_after_seconds               what is left of the open period
//	infuse_breaker_failure_ratio, _slow_call_ratio   the window's rates (0 to 1), once it holds MinCalls
//	infuse_breaker_store_seconds                     histogram of the calls that waited on the Storage calls
//	infuse_breaker_reject_probability                the share throttling rejects (breakers with a Throttle)
//	infuse_breaker_ramp_share                        the share admitted while ramping up (breakers with a RampDuration)
//	infuse_breaker_shadow_state, _shadow_would_reject_total   the shadow candidate's state and would-be rejections, while one runs
//
// The counters are the breaker's own (Breaker.Totals), read when Prometheus
// scrapes: a watched breaker keeps its fast paths, and pays a few
// nanoseconds a call for counting it. Only the store latency histogram
// comes from a listener, which wants nothing but those events.
package infuseprom

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/infuse-go/infuse"
)

// Options configures a Collector.
type Options struct {
	// Namespace prefixes every metric name. Empty means "infuse".
	Namespace string
	// MaxBreakers bounds how many breakers the collector watches, and so
	// the series it exports. Zero means 1000.
	MaxBreakers int
}

// Collector is a prometheus.Collector of breakers' figures. Register it
// with a prometheus.Registerer, then Watch each breaker.
type Collector struct {
	descs map[string]*prometheus.Desc
	max   int

	mu       sync.Mutex
	watching map[*infuse.Breaker]*watched
	names    map[string]*infuse.Breaker
	// retired keeps the figures of names that have been unwatched (at
	// most max names, the first retired dropped first; a name watched
	// again stays, sharing them), so that a breaker watched again under
	// the name (a registry's replacement) goes on from them: counters
	// never go back.
	retired map[string]*watched
	order   []string
}

type watched struct {
	remove       func()
	base         infuse.Totals // what breakers of this name counted before this one
	storeCount   atomic.Uint64
	storeSum     atomic.Int64 // ns
	storeBuckets [len(storeBuckets)]atomic.Uint64
}

// storeBuckets are the store latency histogram's upper bounds, in seconds.
var storeBuckets = [...]float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

var metricHelp = map[string]string{
	"state_closed":              "1 if the breaker is closed, else 0.",
	"state_open":                "1 if the breaker is open, else 0.",
	"state_half_open":           "1 if the breaker is half-open, else 0.",
	"forced":                    "1 while the breaker is forced open or disabled, else 0.",
	"successes_total":           "Calls that succeeded, excluded errors included.",
	"failures_total":            "Calls that failed, panics included.",
	"ignored_total":             "Calls the caller cancelled, counted as neither.",
	"rejections_total":          "Calls refused without running.",
	"transitions_total":         "State changes, made here or observed in the store.",
	"store_errors_total":        "Errors of the breaker's storage.",
	"consecutive_failures":      "The current run of consecutive failures.",
	"retry_after_seconds":       "What is left of the open period.",
	"failure_ratio":             "Failures among the window's calls (0 to 1), once it holds MinCalls.",
	"slow_call_ratio":           "Slow calls among the window's calls (0 to 1), once it holds MinCalls.",
	"reject_probability":        "The share of calls throttling rejects now (0 to 1); breakers with a Throttle only.",
	"ramp_share":                "The share of calls admitted while ramping up after a recovery (0 to 1; 0 while open); breakers with a RampDuration only.",
	"shadow_state":              "The state of the breaker's shadow candidate: 0 closed, 1 open, 2 half-open; while a shadow runs.",
	"shadow_would_reject_total": "Calls the shadow candidate would have rejected since it started; while a shadow runs.",
}

// ErrTooManyBreakers is Watch's error past Options.MaxBreakers.
var ErrTooManyBreakers = errors.New("infuseprom: too many breakers")

// New returns a Collector, or an error for invalid options.
func New(opts Options) (*Collector, error) {
	if opts.MaxBreakers < 0 {
		return nil, fmt.Errorf("infuseprom: MaxBreakers %d is negative", opts.MaxBreakers)
	}
	if opts.MaxBreakers == 0 {
		opts.MaxBreakers = 1000
	}
	if opts.Namespace == "" {
		opts.Namespace = "infuse"
	}
	c := &Collector{
		descs: make(map[string]*prometheus.Desc), max: opts.MaxBreakers,
		watching: make(map[*infuse.Breaker]*watched), names: make(map[string]*infuse.Breaker),
	}
	for name, help := range metricHelp {
		fq := prometheus.BuildFQName(opts.Namespace, "breaker", name)
		c.descs[name] = prometheus.NewDesc(fq, help, []string{"breaker"}, nil)
	}
	c.descs["store_seconds"] = prometheus.NewDesc(prometheus.BuildFQName(opts.Namespace, "breaker", "store_seconds"),
		"How long calls waited on the breaker's storage (trials, trips, manual transitions).", []string{"breaker"}, nil)
	return c, nil
}

// Watch starts exporting b's figures. A breaker's name may be watched once.
func (c *Collector) Watch(b *infuse.Breaker) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.watching[b]; ok {
		return nil
	}
	if _, ok := c.names[b.Name()]; ok {
		return fmt.Errorf("infuseprom: a breaker named %q is already watched", b.Name())
	}
	if len(c.watching) >= c.max {
		return fmt.Errorf("%w: %d watched", ErrTooManyBreakers, c.max)
	}
	w, ok := c.retired[b.Name()]
	if !ok {
		w = &watched{}
	}
	b.Totals() // the breaker counts its calls from now on
	w.remove = b.AddListener(infuse.ListenFor(infuse.ListenerFunc(w.count), infuse.EventStoreCall))
	c.watching[b] = w
	c.names[b.Name()] = b
	return nil
}

// Unwatch stops exporting b's figures.
func (c *Collector) Unwatch(b *infuse.Breaker) {
	c.mu.Lock()
	w, ok := c.watching[b]
	if ok {
		delete(c.watching, b)
		delete(c.names, b.Name())
		w.base = w.base.Add(b.Totals())
		if c.retired == nil {
			c.retired = make(map[string]*watched)
		}
		if _, had := c.retired[b.Name()]; !had {
			c.order = append(c.order, b.Name())
		}
		c.retired[b.Name()] = w
		for len(c.retired) > c.max && len(c.order) > 0 {
			delete(c.retired, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	if ok {
		w.remove()
	}
}

func (w *watched) count(e infuse.Event) {
	if e.Kind != infuse.EventStoreCall {
		return
	}
	w.storeCount.Add(1)
	w.storeSum.Add(int64(e.Latency))
	sec := e.Latency.Seconds()
	for i, ub := range storeBuckets {
		if sec <= ub {
			w.storeBuckets[i].Add(1)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	list := make(map[*infuse.Breaker]*watched, len(c.watching))
	for b, w := range c.watching {
		list[b] = w
	}
	c.mu.Unlock()
	for b, w := range list {
		m := b.Metrics()
		name := m.Name
		gauge := func(metric string, v float64) {
			ch <- prometheus.MustNewConstMetric(c.descs[metric], prometheus.GaugeValue, v, name)
		}
		counter := func(metric string, v uint64) {
			ch <- prometheus.MustNewConstMetric(c.descs[metric], prometheus.CounterValue, float64(v), name)
		}
		gauge("state_closed", boolValue(m.State == infuse.Closed))
		gauge("state_open", boolValue(m.State == infuse.Open))
		gauge("state_half_open", boolValue(m.State == infuse.HalfOpen))
		gauge("forced", boolValue(m.Mode != infuse.ModeNormal))
		t := w.base.Add(b.Totals())
		counter("successes_total", t.Successes)
		counter("failures_total", t.Failures)
		counter("ignored_total", t.Ignored)
		counter("rejections_total", t.Rejections)
		counter("transitions_total", t.Transitions)
		counter("store_errors_total", t.StoreErrors)
		gauge("consecutive_failures", float64(m.Counts.ConsecutiveFailures))
		gauge("retry_after_seconds", m.RetryAfter.Seconds())
		if m.FailureRate >= 0 {
			gauge("failure_ratio", m.FailureRate)
		}
		if m.SlowCallRate >= 0 {
			gauge("slow_call_ratio", m.SlowCallRate)
		}
		if !m.Throttle.IsZero() {
			gauge("reject_probability", m.RejectProbability)
		}
		if m.RampDuration > 0 {
			gauge("ramp_share", m.RampShare)
		}
		if s := b.Shadow(); s != nil {
			gauge("shadow_state", float64(s.Breaker().State()))
			counter("shadow_would_reject_total", s.WouldHaveRejected())
		}
		buckets := make(map[float64]uint64, len(storeBuckets))
		for i, ub := range storeBuckets {
			buckets[ub] = w.storeBuckets[i].Load()
		}
		ch <- prometheus.MustNewConstHistogram(c.descs["store_seconds"], w.storeCount.Load(),
			float64(w.storeSum.Load())/1e9, buckets, name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
