package infuse_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

// model is the breaker's specification as plain sequential code: the rules
// of ARCHITECTURE.md's state machine, one step at a time.
type model struct {
	state     infuse.State
	gen       int
	failures  int
	successes int
	trials    int
	openedAt  time.Time

	failMax, threshold, maxCalls int
	reset                        time.Duration
}

// outcome is what a step's function returns.
type outcome int

const (
	okOutcome outcome = iota
	failOutcome
	excludedOutcome
	cancelOutcome
)

var errExcluded = errors.New("excluded")

func (o outcome) err() error {
	switch o {
	case failOutcome:
		return errBoom
	case excludedOutcome:
		return errExcluded
	case cancelOutcome:
		return context.Canceled
	}
	return nil
}

// verdict is what a call returns, as a class.
type verdict int

const (
	vOK verdict = iota
	vCause
	vTripped
	vRejected
)

func classOf(err error) verdict {
	switch {
	case err == nil:
		return vOK
	case errors.Is(err, infuse.ErrOpen):
		return vRejected
	case errors.Is(err, infuse.ErrTripped):
		return vTripped
	}
	return vCause
}

func (m *model) next(s infuse.State) {
	m.state, m.gen = s, m.gen+1
	m.failures, m.successes, m.trials = 0, 0, 0
}

func (m *model) open(now time.Time, failures int) {
	m.next(infuse.Open)
	m.openedAt, m.failures = now, failures
}

// admit returns whether a call is admitted, and the generation and kind
// (trial or not) it is admitted under.
func (m *model) admit(now time.Time) (ok bool, gen int, trial bool) {
	if m.state == infuse.Open {
		if now.Before(m.openedAt.Add(m.reset)) {
			return false, 0, false
		}
		m.next(infuse.HalfOpen)
	}
	if m.state == infuse.HalfOpen {
		if m.trials >= m.maxCalls {
			return false, 0, false
		}
		m.trials++
		return true, m.gen, true
	}
	return true, m.gen, false
}

// settle applies the outcome of a call admitted under gen and returns
// what the caller gets.
func (m *model) settle(now time.Time, gen int, trial bool, o outcome) verdict {
	stale := gen != m.gen
	if trial && !stale {
		m.trials--
	}
	class := vOK // what the caller gets unless this call trips the breaker
	if o != okOutcome {
		class = vCause
	}
	if stale || o == cancelOutcome {
		return class
	}
	if trial {
		if o == failOutcome {
			m.open(now, 1)
			return vTripped
		}
		m.successes++
		if m.successes >= m.threshold {
			m.next(infuse.Closed)
		}
		return class
	}
	if o != failOutcome {
		m.failures = 0
		return class
	}
	m.failures++
	if m.failures >= m.failMax {
		m.open(now, m.failMax)
		return vTripped
	}
	return vCause
}

func (m *model) counts() infuse.Counts {
	switch m.state {
	case infuse.Closed:
		return infuse.Counts{ConsecutiveFailures: min(m.failures, m.failMax)}
	case infuse.Open:
		return infuse.Counts{ConsecutiveFailures: m.failures}
	}
	return infuse.Counts{ConsecutiveSuccesses: m.successes}
}

// pendingCall is a call admitted through Allow whose outcome is not in yet.
type pendingCall struct {
	done  func(error)
	gen   int
	trial bool
}

// TestBreakerMatchesModel drives a breaker and the model through the same
// random sequences of calls, held calls, clock advances, manual transitions
// and setting changes, and compares them after every step.
func TestBreakerMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{
			failMax:   rapid.IntRange(1, 4).Draw(rt, "failMax"),
			threshold: rapid.IntRange(1, 3).Draw(rt, "threshold"),
			maxCalls:  rapid.IntRange(1, 3).Draw(rt, "maxCalls"),
			reset:     time.Duration(rapid.IntRange(1, 5).Draw(rt, "resetSeconds")) * time.Second,
			gen:       1,
		}
		clock := infusetest.NewClock()
		b, err := infuse.New(infuse.Config{
			Name: "model", FailMax: m.failMax, SuccessThreshold: m.threshold,
			HalfOpenMaxCalls: m.maxCalls, ResetTimeout: m.reset, Clock: clock,
			Exclude: []error{errExcluded},
		})
		if err != nil {
			rt.Fatal(err)
		}
		outcomes := rapid.SampledFrom([]outcome{okOutcome, failOutcome, excludedOutcome, cancelOutcome})
		var pending []pendingCall

		rt.Repeat(map[string]func(*rapid.T){
			"call": func(rt *rapid.T) {
				o := outcomes.Draw(rt, "outcome")
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				err := b.Call(ctx, func(context.Context) error {
					if o == cancelOutcome {
						cancel()
					}
					return o.err()
				})
				want := vRejected
				if ok, gen, trial := m.admit(clock.Now()); ok {
					want = m.settle(clock.Now(), gen, trial, o)
				}
				if got := classOf(err); got != want {
					rt.Fatalf("call with %v returned %v (class %v), model says class %v", o, err, got, want)
				}
			},
			"hold": func(rt *rapid.T) {
				done, err := b.Allow(bg)
				ok, gen, trial := m.admit(clock.Now())
				if (err == nil) != ok {
					rt.Fatalf("Allow admitted=%v (err %v), model admitted=%v", err == nil, err, ok)
				}
				if ok {
					pending = append(pending, pendingCall{done, gen, trial})
				}
			},
			"finish": func(rt *rapid.T) {
				if len(pending) == 0 {
					rt.Skip("nothing held")
				}
				i := rapid.IntRange(0, len(pending)-1).Draw(rt, "which")
				o := outcomes.Draw(rt, "outcome")
				p := pending[i]
				pending = append(pending[:i], pending[i+1:]...)
				p.done(o.err())
				m.settle(clock.Now(), p.gen, p.trial, o)
			},
			"advance": func(rt *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(1, 3000).Draw(rt, "ms")) * time.Millisecond)
			},
			"open": func(rt *rapid.T) {
				failures := m.counts().ConsecutiveFailures
				_ = b.Open(bg)
				m.open(clock.Now(), failures)
			},
			"halfOpen": func(rt *rapid.T) {
				_ = b.HalfOpen(bg)
				m.next(infuse.HalfOpen)
			},
			"close": func(rt *rapid.T) {
				_ = b.Close(bg)
				m.next(infuse.Closed)
			},
			"setFailMax": func(rt *rapid.T) {
				m.failMax = rapid.IntRange(1, 4).Draw(rt, "newFailMax")
				b.SetFailMax(m.failMax)
			},
			"": func(rt *rapid.T) {
				if got := b.State(); got != m.state {
					rt.Fatalf("state %v, model %v", got, m.state)
				}
				if got := b.Counts(); got != m.counts() {
					rt.Fatalf("counts %+v, model %+v", got, m.counts())
				}
				if m.state == infuse.Open {
					if got, want := b.RetryAfter(), max(m.openedAt.Add(m.reset).Sub(clock.Now()), 0); got != want {
						rt.Fatalf("RetryAfter %v, model %v", got, want)
					}
				}
			},
		})
	})
}

// TestConcurrentCallsKeepInvariants runs random call scripts on several
// goroutines against one breaker and checks what must hold whatever the
// interleaving: the count never passes FailMax, every ErrTripped matches one
// transition to open, and no generation grants more trial permits at once
// than HalfOpenMaxCalls.
func TestConcurrentCallsKeepInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		failMax := rapid.IntRange(1, 5).Draw(rt, "failMax")
		maxCalls := rapid.IntRange(1, 3).Draw(rt, "maxCalls")
		clock := infusetest.NewClock()
		store := &permitCounter{Storage: infuse.NewMemoryStorage(), held: map[uint64]int{}}
		var opens, tripped atomicCount
		b, err := infuse.New(infuse.Config{
			Name: "concurrent", FailMax: failMax, HalfOpenMaxCalls: maxCalls,
			SuccessThreshold: 2, ResetTimeout: time.Second, Clock: clock, Storage: store,
			Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
				if e.Kind == infuse.EventStateChange && e.To == infuse.Open {
					opens.add()
				}
			})},
		})
		if err != nil {
			rt.Fatal(err)
		}
		scripts := make([][]outcome, rapid.IntRange(2, 6).Draw(rt, "goroutines"))
		for i := range scripts {
			scripts[i] = rapid.SliceOfN(rapid.SampledFrom([]outcome{okOutcome, failOutcome, failOutcome, cancelOutcome}), 1, 40).Draw(rt, fmt.Sprint("script", i))
		}
		var wg sync.WaitGroup
		for i, script := range scripts {
			wg.Go(func() {
				for j, o := range script {
					if (i+j)%7 == 0 {
						clock.Advance(300 * time.Millisecond)
					}
					ctx, cancel := context.WithCancel(bg)
					err := b.Call(ctx, func(context.Context) error {
						if o == cancelOutcome {
							cancel()
						}
						return o.err()
					})
					cancel()
					if errors.Is(err, infuse.ErrTripped) {
						tripped.add()
					}
					if c := b.Counts(); c.ConsecutiveFailures > failMax {
						rt.Errorf("count %d passed FailMax %d", c.ConsecutiveFailures, failMax)
					}
				}
			})
		}
		wg.Wait()
		if tripped.get() != opens.get() {
			rt.Fatalf("%d ErrTripped for %d transitions to open", tripped.get(), opens.get())
		}
		if store.most > maxCalls {
			rt.Fatalf("%d permits of one generation held at once, HalfOpenMaxCalls %d", store.most, maxCalls)
		}
		if store.outstanding() != 0 {
			rt.Fatalf("%d permits never given back", store.outstanding())
		}
	})
}

// permitCounter is a Storage that watches the permits its bindings hand
// out: how many of one generation are held at most, and that every one
// comes back.
type permitCounter struct {
	infuse.Storage
	mu   sync.Mutex
	held map[uint64]int
	most int
}

func (c *permitCounter) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	b, err := c.Storage.Bind(cfg)
	return &countingBinding{Binding: b, c: c}, err
}

func (c *permitCounter) add(gen uint64, d int) {
	c.mu.Lock()
	c.held[gen] += d
	c.most = max(c.most, c.held[gen])
	c.mu.Unlock()
}

func (c *permitCounter) outstanding() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.held {
		n += v
	}
	return n
}

type countingBinding struct {
	storage.Binding
	c *permitCounter
}

func (b *countingBinding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	p, s, ok := b.Binding.Acquire(ctx)
	if ok {
		b.c.add(p.Generation, 1)
	}
	return p, s, ok
}

func (b *countingBinding) Settle(ctx context.Context, p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	b.c.add(p.Generation, -1)
	return b.Binding.Settle(ctx, p, o)
}

func (b *countingBinding) Release(p storage.Permit) {
	b.c.add(p.Generation, -1)
	b.Binding.Release(p)
}
