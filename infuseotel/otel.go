// Package infuseotel exports infuse breakers' figures as OpenTelemetry
// metric instruments, the same figures infuseprom exports to Prometheus,
// each with one attribute, infuse.breaker, the breaker's name.
//
//	infuse.breaker.state          gauge: 0 closed, 1 open, 2 half-open
//	infuse.breaker.forced         gauge: 1 while forced open or disabled
//	infuse.breaker.calls          counter ({call}), with infuse.outcome success, failure or ignored
//	infuse.breaker.rejections     counter ({call})
//	infuse.breaker.transitions    counter ({transition})
//	infuse.breaker.store_errors   counter ({error})
//	infuse.breaker.consecutive_failures ({call}), infuse.breaker.retry_after (s)
//	infuse.breaker.failure_rate, infuse.breaker.slow_call_rate (1, ratios, once the window holds MinCalls)
//	infuse.breaker.reject_probability (1, the share throttling rejects; breakers with a Throttle only)
//	infuse.breaker.ramp_share (1, the share admitted while ramping up after a recovery; breakers with a RampDuration only)
//	infuse.breaker.shadow.state, infuse.breaker.shadow.would_reject ({call}, an up-down counter: a new shadow starts from 0): while a shadow runs
//	infuse.breaker.store_duration histogram (s): calls that waited on the Storage
//
// The counters are the breaker's own (Breaker.Totals), observed when the
// reader collects: a watched breaker keeps its fast paths. Only the store
// duration histogram comes from a listener, which wants nothing but those
// events.
package infuseotel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/infuse-go/infuse"
)

// Options configures Instruments.
type Options struct {
	// MaxBreakers bounds how many breakers are watched, and so the
	// attribute sets exported. Zero means 1000.
	MaxBreakers int
}

// Instruments holds the instruments on one Meter.
type Instruments struct {
	storeDuration metric.Float64Histogram
	reg           metric.Registration
	max           int

	mu       sync.Mutex
	watching map[*infuse.Breaker]func()
	// base keeps, by name, what breakers unwatched had counted (at most
	// max names, the oldest dropped first), so that a breaker watched
	// again under the name goes on from it: a monotonic sum never goes
	// back.
	base  map[string]infuse.Totals
	order []string
}

// ErrTooManyBreakers is Watch's error past Options.MaxBreakers.
var ErrTooManyBreakers = errors.New("infuseotel: too many breakers")

var (
	success = attribute.String("infuse.outcome", "success")
	failure = attribute.String("infuse.outcome", "failure")
	ignored = attribute.String("infuse.outcome", "ignored")
)

// New creates the instruments on meter.
func New(meter metric.Meter, opts Options) (*Instruments, error) {
	if meter == nil {
		return nil, errors.New("infuseotel: nil Meter")
	}
	if opts.MaxBreakers < 0 {
		return nil, fmt.Errorf("infuseotel: MaxBreakers %d is negative", opts.MaxBreakers)
	}
	if opts.MaxBreakers == 0 {
		opts.MaxBreakers = 1000
	}
	in := &Instruments{max: opts.MaxBreakers, watching: make(map[*infuse.Breaker]func())}
	var err error
	counter := func(name, desc, unit string) metric.Int64ObservableCounter {
		c, e := meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		err = errors.Join(err, e)
		return c
	}
	calls := counter("infuse.breaker.calls", "Calls by outcome.", "{call}")
	rejections := counter("infuse.breaker.rejections", "Calls refused without running.", "{call}")
	transitions := counter("infuse.breaker.transitions", "State changes, made here or observed in the store.", "{transition}")
	storeErrors := counter("infuse.breaker.store_errors", "Errors of the breaker's storage.", "{error}")
	// Not monotonic: a new shadow starts again from 0.
	wouldReject, werr := meter.Int64ObservableUpDownCounter("infuse.breaker.shadow.would_reject",
		metric.WithDescription("Calls the running shadow candidate would have rejected since it started."), metric.WithUnit("{call}"))
	err = errors.Join(err, werr)
	var herr error
	in.storeDuration, herr = meter.Float64Histogram("infuse.breaker.store_duration",
		metric.WithDescription("How long calls waited on the breaker's storage."), metric.WithUnit("s"))
	err = errors.Join(err, herr)
	gauge := func(name, desc, unit string) metric.Float64ObservableGauge {
		g, e := meter.Float64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		err = errors.Join(err, e)
		return g
	}
	state := gauge("infuse.breaker.state", "0 closed, 1 open, 2 half-open.", "1")
	forced := gauge("infuse.breaker.forced", "1 while forced open or disabled.", "1")
	run := gauge("infuse.breaker.consecutive_failures", "The current run of consecutive failures.", "{call}")
	retry := gauge("infuse.breaker.retry_after", "What is left of the open period.", "s")
	frate := gauge("infuse.breaker.failure_rate", "Failures among the window's calls.", "1")
	srate := gauge("infuse.breaker.slow_call_rate", "Slow calls among the window's calls.", "1")
	reject := gauge("infuse.breaker.reject_probability", "The share of calls throttling rejects now.", "1")
	ramp := gauge("infuse.breaker.ramp_share", "The share of calls admitted while ramping up after a recovery.", "1")
	shadow := gauge("infuse.breaker.shadow.state", "The shadow candidate's state: 0 closed, 1 open, 2 half-open.", "1")
	if err != nil {
		return nil, fmt.Errorf("infuseotel: %w", err)
	}
	in.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, wb := range in.watched() {
			b := wb.b
			m := b.Metrics()
			name := attribute.String("infuse.breaker", m.Name)
			attrs := metric.WithAttributes(name)
			t := wb.base.Add(b.Totals())
			o.ObserveInt64(calls, int64(t.Successes), metric.WithAttributes(name, success))
			o.ObserveInt64(calls, int64(t.Failures), metric.WithAttributes(name, failure))
			o.ObserveInt64(calls, int64(t.Ignored), metric.WithAttributes(name, ignored))
			o.ObserveInt64(rejections, int64(t.Rejections), attrs)
			o.ObserveInt64(transitions, int64(t.Transitions), attrs)
			o.ObserveInt64(storeErrors, int64(t.StoreErrors), attrs)
			o.ObserveFloat64(state, float64(m.State), attrs)
			f := 0.0
			if m.Mode != infuse.ModeNormal {
				f = 1
			}
			o.ObserveFloat64(forced, f, attrs)
			o.ObserveFloat64(run, float64(m.Counts.ConsecutiveFailures), attrs)
			o.ObserveFloat64(retry, m.RetryAfter.Seconds(), attrs)
			if m.FailureRate >= 0 {
				o.ObserveFloat64(frate, m.FailureRate, attrs)
			}
			if m.SlowCallRate >= 0 {
				o.ObserveFloat64(srate, m.SlowCallRate, attrs)
			}
			if !m.Throttle.IsZero() {
				o.ObserveFloat64(reject, m.RejectProbability, attrs)
			}
			if m.RampDuration > 0 {
				o.ObserveFloat64(ramp, m.RampShare, attrs)
			}
			if s := b.Shadow(); s != nil {
				o.ObserveFloat64(shadow, float64(s.Breaker().State()), attrs)
				o.ObserveInt64(wouldReject, int64(s.WouldHaveRejected()), attrs)
			}
		}
		return nil
	}, state, forced, run, retry, frate, srate, reject, ramp, shadow, calls, rejections, transitions, storeErrors, wouldReject)
	if err != nil {
		return nil, fmt.Errorf("infuseotel: %w", err)
	}
	return in, nil
}

// watchedBreaker is a watched breaker and what its name counted before it.
type watchedBreaker struct {
	b    *infuse.Breaker
	base infuse.Totals
}

func (in *Instruments) watched() []watchedBreaker {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]watchedBreaker, 0, len(in.watching))
	for b := range in.watching {
		out = append(out, watchedBreaker{b, in.base[b.Name()]})
	}
	return out
}

// Watch starts recording b's figures.
func (in *Instruments) Watch(b *infuse.Breaker) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.watching[b]; ok {
		return nil
	}
	if len(in.watching) >= in.max {
		return fmt.Errorf("%w: %d watched", ErrTooManyBreakers, in.max)
	}
	attrs := attribute.NewSet(attribute.String("infuse.breaker", b.Name()))
	b.Totals() // the breaker counts its calls from now on
	ctx := context.Background()
	in.watching[b] = b.AddListener(infuse.ListenFor(infuse.ListenerFunc(func(e infuse.Event) {
		in.storeDuration.Record(ctx, e.Latency.Seconds(), metric.WithAttributeSet(attrs))
	}), infuse.EventStoreCall))
	return nil
}

// Unwatch stops recording b's figures.
func (in *Instruments) Unwatch(b *infuse.Breaker) {
	in.mu.Lock()
	remove, ok := in.watching[b]
	delete(in.watching, b)
	if ok {
		if in.base == nil {
			in.base = make(map[string]infuse.Totals)
		}
		name := b.Name()
		if _, had := in.base[name]; !had {
			in.order = append(in.order, name)
		}
		in.base[name] = in.base[name].Add(b.Totals())
		for len(in.base) > in.max && len(in.order) > 0 {
			delete(in.base, in.order[0])
			in.order = in.order[1:]
		}
	}
	in.mu.Unlock()
	if ok {
		remove()
	}
}

// Close unregisters the gauges' callback.
func (in *Instruments) Close() error { return in.reg.Unregister() }
