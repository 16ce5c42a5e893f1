package infuse_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

// The features that shed calls — throttling, the recovery ramp, holds,
// forced modes and shadows — on one breaker, pair by pair: each keeps its
// own promise beside the other (ARCHITECTURE.md, "Shedding while
// closed"). A rig drives the breaker on a virtual clock and checks every
// call against a model of each feature:
//
//   - throttling: its requests are the calls that reached it (those it
//     admitted and those it rejected, none that another gate rejected),
//     its accepts the successes among them; its probability is the SRE
//     formula over its window, worked out as each bucket begins, and it
//     rejects that share of its requests to within a call;
//   - the ramp: of the calls offered while it ramps, it rejects 1 − its
//     share (RampShareAfter) to within a call, and re-opens once half of
//     the calls it admitted failed;
//   - a hold: every call until its end is rejected, with the time left,
//     and the first call at its end runs;
//   - ForceOpen rejects every call, Disable lets every call through, and
//     Release closes the breaker, which runs again;
//   - a shadow changes no live call (the same script without it gives the
//     same results) and counts, and reports, a rejection for each call the
//     candidate — a breaker fed the live calls that ran — rejects.

var errBackend = errors.New("backend: 503")

// promiseTB is what the rig needs of *testing.T and *rapid.T.
type promiseTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// shadowCandidate is the candidate the rigs' shadows try.
var shadowCandidate = infuse.Candidate{FailMax: 3, ResetTimeout: 10 * time.Second}

// rig drives one breaker and keeps the features' models.
type rig struct {
	t      promiseTB
	b      *infuse.Breaker
	clock  *infusetest.Clock
	cfg    infuse.Config
	accept func(now time.Time) bool // the backend's answer to a call it gets

	// What the rig last saw of the breaker.
	gen   uint64
	state infuse.State
	mode  infuse.Mode

	// Throttling's model, over the current closed generation (the window
	// starts afresh with each): when its requests and accepts came.
	origin            time.Time
	requests, accepts []time.Time
	bucket            int64   // the newest bucket the breaker has worked p out in
	p                 float64 // the probability in force
	owedThrottle      float64 // Σ p over the requests
	throttled         int     // this generation's throttled calls
	throttledAll      int

	// The ramp's model.
	rampFrom                time.Time // when the breaker recovered; zero: no ramp
	owedRamp                float64   // Σ (1 − share) over the calls offered while ramping
	shedByRamp, rampedAll   int
	rampCalls, rampFailures int

	// The hold's.
	holdUntil time.Time
	held      int // calls the holds rejected

	// The shadow's: a breaker with the candidate's settings, fed what
	// the candidate is fed.
	shadow        *infuse.Shadow
	ref           *infuse.Breaker
	wouldReject   uint64
	shadowEvents  uint64
	ran, rejected int
	trace         []string // each call's result, for a shadow's twin
}

// newRig makes a breaker of cfg (FailMax, ResetTimeout and Name
// defaulted for the rig), with a shadow of shadowCandidate when shadowed;
// listening gives it a listener of rejections (the shadow's twin has one
// too, so that the shadow is the only difference).
func newRig(t promiseTB, cfg infuse.Config, shadowed, listening bool) *rig {
	t.Helper()
	r := &rig{t: t, clock: infusetest.NewClock(), accept: func(time.Time) bool { return true }}
	if cfg.Name == "" {
		cfg.Name = "features"
	}
	if cfg.FailMax == 0 {
		cfg.FailMax = 1 << 20 // nothing trips by count unless the case says so
	}
	if cfg.ResetTimeout == 0 {
		cfg.ResetTimeout = 5 * time.Second
	}
	cfg.Clock = r.clock
	if listening {
		cfg.Listeners = append(cfg.Listeners, infuse.ListenFor(infuse.ListenerFunc(func(ev infuse.Event) {
			if ev.Shadow {
				r.shadowEvents++
			}
		}), infuse.EventRejected))
	}
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.b, r.cfg = b, cfg
	r.gen, r.state, r.mode = b.Generation(), b.State(), b.Mode()
	r.newWindow()
	if shadowed {
		if r.shadow, err = b.StartShadow(shadowCandidate); err != nil {
			t.Fatalf("StartShadow: %v", err)
		}
		rc := infuse.Config{Name: "reference"}.WithSettings(shadowCandidate)
		rc.Clock = r.clock
		if r.ref, err = infuse.New(rc); err != nil {
			t.Fatalf("the reference candidate: %v", err)
		}
	}
	return r
}

func (r *rig) healthy() { r.accept = func(time.Time) bool { return true } }
func (r *rig) down()    { r.accept = func(time.Time) bool { return false } }

// capacity has the backend accept n calls in each second of the clock.
func (r *rig) capacity(n int) {
	second, used := int64(-1), 0
	r.accept = func(now time.Time) bool {
		if s := now.Unix(); s != second {
			second, used = s, 0
		}
		used++
		return used <= n
	}
}

// offer makes a call every step for d.
func (r *rig) offer(d, step time.Duration) {
	r.t.Helper()
	for end := r.clock.Now().Add(d); r.clock.Now().Before(end); r.clock.Advance(step) {
		r.call()
	}
}

func (r *rig) throttling() bool {
	return !r.cfg.Throttle.IsZero() && r.state == infuse.Closed && r.mode != infuse.ModeDisabled
}

// share is what the ramp admits now; 1 when it does not ramp.
func (r *rig) share() float64 {
	if r.rampFrom.IsZero() || r.state != infuse.Closed || r.mode != infuse.ModeNormal {
		return 1
	}
	return infuse.RampShareAfter(r.clock.Now().Sub(r.rampFrom), r.cfg.RampDuration, r.cfg.RampSteps)
}

// call makes one call and checks each feature's promise on it.
func (r *rig) call() {
	r.t.Helper()
	now := r.clock.Now()
	share := r.share()
	if share < 1 {
		r.owedRamp += 1 - share // every call of the closed breaker reaches the ramp
	}
	holding := !r.holdUntil.IsZero()
	ran, accepted := false, false
	err := r.b.Call(bg, func(context.Context) error {
		ran = true
		if accepted = r.accept(now); !accepted {
			return errBackend
		}
		return nil
	})
	var oe *infuse.OpenError
	reason := "ran"
	if !ran {
		if !errors.As(err, &oe) {
			r.t.Fatalf("at %v: a call neither ran nor was rejected: %v", r.elapsed(), err)
		}
		reason = oe.Reason.String()
		r.rejected++
	} else {
		r.ran++
	}
	r.trace = append(r.trace, reason)

	switch {
	case r.mode == infuse.ModeForcedOpen:
		if ran || oe.Reason != infuse.ReasonForcedOpen || oe.RetryAfter != 0 {
			r.t.Fatalf("at %v, forced open: a call %s (%v)", r.elapsed(), reason, err)
		}
	case r.mode == infuse.ModeDisabled:
		if !ran {
			r.t.Fatalf("at %v, disabled: a call was rejected: %v", r.elapsed(), err)
		}
	case holding && now.Before(r.holdUntil):
		left := r.holdUntil.Sub(now)
		if ran || oe.Reason != infuse.ReasonOpen || oe.RetryAfter < left || oe.RetryAfter > left+time.Millisecond {
			r.t.Fatalf("at %v, %v before a hold's end: a call %s (%v)", r.elapsed(), left, reason, err)
		}
		r.held++
	case holding && r.state == infuse.Open:
		if !ran {
			r.t.Fatalf("at %v, a hold's end: the trial was rejected: %v", r.elapsed(), err)
		}
		r.holdUntil = time.Time{}
	case r.state == infuse.Closed && !ran:
		switch {
		case oe.State != infuse.Closed:
			r.t.Fatalf("at %v, closed: a rejection in state %v", r.elapsed(), oe.State)
		case oe.Reason == infuse.ReasonRamping && share < 1:
			r.shedByRamp++
			r.rampedAll++
		case oe.Reason == infuse.ReasonThrottled && r.throttling():
			r.request(now)
			r.throttled++
			r.throttledAll++
		default:
			r.t.Fatalf("at %v, closed (ramp share %v, throttling %v): a call %s", r.elapsed(), share, r.throttling(), reason)
		}
	case r.state == infuse.Closed:
		if r.throttling() {
			r.request(now)
			if accepted {
				r.accepts = append(r.accepts, now)
			}
		}
		if share < 1 {
			r.rampCalls++
			if !accepted {
				r.rampFailures++
			}
		}
	}
	if d := float64(r.shedByRamp) - r.owedRamp; d > 1e-6 || d < -1-1e-6 {
		r.t.Fatalf("at %v: the ramp rejected %d calls of the %.2f its share leaves out", r.elapsed(), r.shedByRamp, r.owedRamp)
	}
	if d := float64(r.throttled) - r.owedThrottle; d > 1e-6 || d < -1-1e-6 {
		r.t.Fatalf("at %v: throttling rejected %d calls, its probability over what reached it %.2f (p now %.3f, model %.3f; requests %d, accepts %d in the window, the breaker's %d)",
			r.elapsed(), r.throttled, r.owedThrottle, r.b.Metrics().RejectProbability, r.p, r.inWindow(r.requests), r.inWindow(r.accepts), r.b.Metrics().Requests)
	}
	if ran && share < 1 && !accepted && r.rampCalls >= 10 && 2*r.rampFailures >= r.rampCalls && r.b.State() != infuse.Open {
		r.t.Fatalf("at %v: %d of the %d calls the ramp admitted failed, and it is %v", r.elapsed(), r.rampFailures, r.rampCalls, r.b.State())
	}
	if ran && r.shadow != nil {
		outcome := succeed
		if !accepted {
			outcome = boom
		}
		if errors.Is(r.ref.Call(bg, outcome), infuse.ErrOpen) {
			r.wouldReject++
		}
		if got := r.shadow.WouldHaveRejected(); got != r.wouldReject || r.shadowEvents != got {
			r.t.Fatalf("at %v: the shadow counts %d would-be rejections and reported %d; its candidate would have rejected %d",
				r.elapsed(), got, r.shadowEvents, r.wouldReject)
		}
	}
	r.observe()
}

// request is the throttle's model of a request now: counted, then the
// probability worked out again if a bucket began.
func (r *rig) request(now time.Time) {
	r.requests = r.prune(append(r.requests, now))
	r.accepts = r.prune(r.accepts)
	if b := r.bucketOf(now); b != r.bucket {
		r.bucket = b
		r.p = r.formula()
	}
	r.owedThrottle += r.p
}

// prune drops the times that have left the window for good.
func (r *rig) prune(times []time.Time) []time.Time {
	oldest := r.bucketOf(r.clock.Now()) - int64(r.cfg.Window.Duration()/r.cfg.Window.Bucket())
	i := 0
	for i < len(times) && r.bucketOf(times[i]) <= oldest {
		i++
	}
	return times[i:]
}

func (r *rig) bucketOf(t time.Time) int64 { return int64(t.Sub(r.origin) / r.cfg.Window.Bucket()) }

// inWindow counts the times in the window as of now.
func (r *rig) inWindow(times []time.Time) int64 {
	cur, n := r.bucketOf(r.clock.Now()), int64(r.cfg.Window.Duration()/r.cfg.Window.Bucket())
	c := int64(0)
	for _, t := range times {
		if b := r.bucketOf(t); b > cur-n && b <= cur {
			c++
		}
	}
	return c
}

// formula is the SRE book's probability over the model's window now.
func (r *rig) formula() float64 {
	req, acc := r.inWindow(r.requests), r.inWindow(r.accepts)
	if req == 0 {
		return 0
	}
	maxRate := r.cfg.Throttle.MaxRejectRate
	if maxRate == 0 {
		maxRate = 0.9
	}
	p := (float64(req) - r.cfg.Throttle.K*float64(acc)) / float64(req+1)
	return math.Min(math.Max(p, 0), maxRate)
}

// checkThrottle compares the breaker's throttling figures with the
// model's; reading them works p out again, as the model does.
func (r *rig) checkThrottle() {
	r.t.Helper()
	if !r.throttling() {
		return
	}
	m := r.b.Metrics()
	req, acc := r.inWindow(r.requests), r.inWindow(r.accepts)
	r.bucket, r.p = r.bucketOf(r.clock.Now()), r.formula()
	if m.Requests != req || m.Calls-m.Failures != acc || m.RejectProbability != r.p {
		r.t.Fatalf("at %v: throttling's window holds %d requests, %d accepts, p %.4f; what reached it: %d, %d, p %.4f",
			r.elapsed(), m.Requests, m.Calls-m.Failures, m.RejectProbability, req, acc, r.p)
	}
}

func (r *rig) newWindow() {
	r.origin, r.requests, r.accepts = r.clock.Now(), nil, nil
	r.bucket, r.p, r.owedThrottle, r.throttled = 0, 0, 0, 0
}

// observe takes the breaker's state after a call or an action, and
// starts what a new generation starts in the models.
func (r *rig) observe() {
	gen, state, mode := r.b.Generation(), r.b.State(), r.b.Mode()
	if gen == r.gen {
		return
	}
	prev := r.state
	r.gen, r.state, r.mode = gen, state, mode
	if state == infuse.Closed {
		r.newWindow()
	}
	r.rampFrom = time.Time{}
	if state == infuse.Closed && mode == infuse.ModeNormal && prev != infuse.Closed && r.cfg.RampDuration > 0 {
		// It recovered: the ramp starts (ramp.go).
		r.rampFrom, r.owedRamp, r.shedByRamp, r.rampCalls, r.rampFailures = r.clock.Now(), 0, 0, 0, 0
	}
}

func (r *rig) elapsed() time.Duration { return r.clock.Now().Sub(r.origin) }

// hold asks the breaker to hold open for d and checks what it did.
func (r *rig) hold(d time.Duration) {
	r.t.Helper()
	d = min(d, r.holdCap())
	before := r.b.RetryAfter()
	changes := r.mode == infuse.ModeNormal && d > 0 && !(r.state == infuse.Open && before >= d-min(d/10, time.Second))
	left, err := r.b.HoldOpen(bg, d)
	if err != nil {
		r.t.Fatalf("HoldOpen: %v", err)
	}
	r.observe()
	switch {
	case changes && (left != d || r.state != infuse.Open):
		r.t.Fatalf("a hold of %v: open for %v, %v", d, left, r.state)
	case changes:
		r.holdUntil = r.clock.Now().Add(d)
	case left != before:
		r.t.Fatalf("a hold of %v changed what is left, %v, to %v (mode %v)", d, before, left, r.mode)
	}
}

func (r *rig) holdCap() time.Duration {
	if r.cfg.MaxHoldOpen == 0 {
		return 5 * time.Minute
	}
	return r.cfg.MaxHoldOpen
}

// act runs an operator's action.
func (r *rig) act(name string, f func(context.Context) error) {
	r.t.Helper()
	if err := f(bg); err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	r.observe()
	r.holdUntil = time.Time{} // an operator's action outranks a hold: it ends it
	switch name {
	case "ForceOpen":
		if r.state != infuse.Open || r.mode != infuse.ModeForcedOpen {
			r.t.Fatalf("ForceOpen: %v, %v", r.state, r.mode)
		}
	case "Disable", "Release":
		want := map[string]infuse.Mode{"Disable": infuse.ModeDisabled, "Release": infuse.ModeNormal}[name]
		if r.state != infuse.Closed || r.mode != want {
			r.t.Fatalf("%s: %v, %v", name, r.state, r.mode)
		}
	}
}

func (r *rig) forceOpen() { r.act("ForceOpen", r.b.ForceOpen) }
func (r *rig) disable()   { r.act("Disable", r.b.Disable) }
func (r *rig) release()   { r.act("Release", r.b.Release) }

// recover opens the breaker and closes it with a trial at the end of its
// open period: the ramp starts.
func (r *rig) recover() {
	r.t.Helper()
	r.act("Open", r.b.Open)
	r.clock.Advance(r.b.RetryAfter())
	r.healthy()
	r.call()
	if r.state != infuse.Closed {
		r.t.Fatalf("the trial left the breaker %v", r.state)
	}
}

const callEvery = 5 * time.Millisecond // 200 calls a second

// sheddingPairs are the cases of TestSheddingFeaturesKeepTheirPromisesInPairs:
// every pair of throttling, the ramp, holds, forced modes and shadows.
var sheddingPairs = []struct {
	name     string
	cfg      infuse.Config
	shadowed bool
	script   func(r *rig)
	// after checks, once the script ran, that each feature was at work.
	after func(r *rig) error
}{
	{
		name: "throttle and ramp: a recovered backend gets the ramp's share, and is not throttled",
		cfg:  infuse.Config{Window: infuse.TimeWindow(5*time.Second, 100*time.Millisecond), Throttle: infuse.Throttle{K: 2}, RampDuration: 10 * time.Second},
		script: func(r *rig) {
			r.recover()
			for range 12 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
		},
		after: func(r *rig) error {
			if r.throttledAll != 0 || r.rampedAll < 1000 || r.b.Metrics().RejectProbability != 0 {
				return fmt.Errorf("%d throttled, %d shed by the ramp, p %v", r.throttledAll, r.rampedAll, r.b.Metrics().RejectProbability)
			}
			return nil
		},
	},
	{
		name: "throttle and ramp: a backend short of capacity is throttled among what the ramp admits",
		cfg: infuse.Config{Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), Throttle: infuse.Throttle{K: 1.1},
			RampDuration: 10 * time.Second, RampSteps: 5},
		script: func(r *rig) {
			r.recover()
			r.capacity(30)
			for range 12 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
		},
		after: func(r *rig) error {
			if r.throttledAll < 100 || r.rampedAll < 500 || r.state != infuse.Closed {
				return fmt.Errorf("%d throttled, %d shed by the ramp, %v", r.throttledAll, r.rampedAll, r.state)
			}
			return nil
		},
	},
	{
		name: "throttle and hold: the hold holds to its end, and throttling starts over on what reaches the backend",
		cfg:  infuse.Config{Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), Throttle: infuse.Throttle{K: 2}},
		script: func(r *rig) {
			r.down()
			r.offer(3*time.Second, callEvery)
			r.checkThrottle()
			r.hold(10 * time.Second)
			r.offer(10*time.Second, callEvery)
			r.capacity(50) // the trial goes through, then half of what comes
			for range 6 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
		},
		after: func(r *rig) error {
			if r.throttledAll < 500 || r.held != 2000 {
				return fmt.Errorf("%d throttled, %d held", r.throttledAll, r.held)
			}
			return nil
		},
	},
	{
		name: "throttle and ForceOpen: a forced open rejects all, and after Release throttling counts afresh",
		cfg:  infuse.Config{Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), Throttle: infuse.Throttle{K: 2}},
		script: func(r *rig) {
			r.down()
			r.offer(3*time.Second, callEvery)
			r.forceOpen()
			r.offer(3*time.Second, callEvery)
			r.release()
			r.checkThrottle()
			r.capacity(50)
			for range 5 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
		},
		after: func(r *rig) error {
			if r.throttled < 300 {
				return fmt.Errorf("%d throttled after the release", r.throttled)
			}
			return nil
		},
	},
	{
		name: "throttle and Disable: a disabled breaker lets all through, and throttles again once released",
		cfg:  infuse.Config{Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), Throttle: infuse.Throttle{K: 2}},
		script: func(r *rig) {
			r.down()
			r.offer(2*time.Second, callEvery)
			r.disable()
			r.offer(3*time.Second, callEvery)
			r.release()
			for range 4 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
		},
		after: func(r *rig) error {
			if r.throttled < 400 {
				return fmt.Errorf("%d throttled after the release", r.throttled)
			}
			return nil
		},
	},
	{
		name:     "throttle and shadow: the shadow rejects nothing live, and its candidate sees the calls that ran",
		cfg:      infuse.Config{Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), Throttle: infuse.Throttle{K: 2}},
		shadowed: true,
		script: func(r *rig) {
			r.capacity(40)
			for range 8 {
				r.offer(time.Second, callEvery)
				r.checkThrottle()
			}
			r.healthy()
			r.offer(15*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.throttledAll < 500 || r.wouldReject == 0 {
				return fmt.Errorf("%d throttled, %d would-be rejections", r.throttledAll, r.wouldReject)
			}
			return nil
		},
	},
	{
		name: "ramp and hold: a hold mid-ramp holds to its end, and the ramp starts again from the trial",
		cfg:  infuse.Config{RampDuration: 10 * time.Second},
		script: func(r *rig) {
			r.recover()
			r.offer(3*time.Second, callEvery)
			r.hold(4 * time.Second)
			r.offer(5*time.Second, callEvery)
			r.offer(11*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.held != 800 || r.rampedAll < 1500 || r.b.RampShare() != 1 {
				return fmt.Errorf("%d held, %d shed by the ramp, share %v", r.held, r.rampedAll, r.b.RampShare())
			}
			return nil
		},
	},
	{
		name: "ramp and ForceOpen: a forced open mid-ramp rejects all, and the ramp starts again from Release",
		cfg:  infuse.Config{RampDuration: 10 * time.Second, RampSteps: 4},
		script: func(r *rig) {
			r.recover()
			r.offer(3*time.Second, callEvery)
			r.forceOpen()
			r.offer(2*time.Second, callEvery)
			r.release()
			r.offer(11*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.rampedAll < 1100 || r.rampFrom.IsZero() {
				return fmt.Errorf("%d shed by the ramp; ramping from %v", r.rampedAll, r.rampFrom)
			}
			return nil
		},
	},
	{
		name: "ramp and Disable: a disabled breaker lets all through mid-ramp, and runs unramped once released",
		cfg:  infuse.Config{RampDuration: 10 * time.Second},
		script: func(r *rig) {
			r.recover()
			r.offer(3*time.Second, callEvery)
			r.disable()
			r.offer(2*time.Second, callEvery)
			r.release()
			r.offer(2*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.rampedAll < 300 || r.b.RampShare() != 1 {
				return fmt.Errorf("%d shed by the ramp, share %v", r.rampedAll, r.b.RampShare())
			}
			return nil
		},
	},
	{
		name:     "ramp and shadow: failures re-open the ramping breaker, and the shadow rejects nothing live",
		cfg:      infuse.Config{RampDuration: 10 * time.Second},
		shadowed: true,
		script: func(r *rig) {
			r.recover()
			r.offer(3*time.Second, callEvery)
			r.down()
			r.offer(3*time.Second, callEvery)
			if r.state != infuse.Open {
				r.t.Fatalf("the ramp's failures left the breaker %v", r.state)
			}
			r.clock.Advance(r.b.RetryAfter())
			r.healthy()
			r.offer(11*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.rampedAll < 1500 || r.wouldReject == 0 {
				return fmt.Errorf("%d shed by the ramp, %d would-be rejections", r.rampedAll, r.wouldReject)
			}
			return nil
		},
	},
	{
		name: "hold and ForceOpen: a forced open outranks a hold, and a hold made after Release holds to its end",
		cfg:  infuse.Config{},
		script: func(r *rig) {
			r.hold(10 * time.Second)
			r.offer(2*time.Second, callEvery)
			r.forceOpen()
			r.offer(2*time.Second, callEvery)
			r.hold(time.Minute) // changes nothing
			r.offer(time.Second, callEvery)
			r.release()
			r.offer(time.Second, callEvery)
			r.hold(3 * time.Second)
			r.offer(4*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.held != 1000 || r.b.State() != infuse.Closed {
				return fmt.Errorf("%d held, %v", r.held, r.b.State())
			}
			return nil
		},
	},
	{
		name: "hold and Disable: a disabled breaker lets all through and takes no hold",
		cfg:  infuse.Config{FailMax: 5},
		script: func(r *rig) {
			r.hold(10 * time.Second)
			r.offer(time.Second, callEvery)
			r.disable()
			r.down()
			r.offer(time.Second, callEvery)
			r.hold(time.Minute) // changes nothing
			r.offer(time.Second, callEvery)
			r.release()
			r.healthy()
			r.hold(2 * time.Second)
			r.offer(3*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.held != 600 || r.ran < 400 {
				return fmt.Errorf("%d held, %d ran", r.held, r.ran)
			}
			return nil
		},
	},
	{
		name:     "hold and shadow: the hold holds to its end, and the shadow sees only what ran",
		cfg:      infuse.Config{},
		shadowed: true,
		script: func(r *rig) {
			r.down()
			r.offer(time.Second, callEvery)
			r.hold(5 * time.Second)
			r.offer(6*time.Second, callEvery)
			r.offer(12*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.held != 1000 || r.wouldReject == 0 {
				return fmt.Errorf("%d held, %d would-be rejections", r.held, r.wouldReject)
			}
			return nil
		},
	},
	{
		name:     "forced modes and shadow: the live breaker's modes hold, and the shadow judges what ran",
		cfg:      infuse.Config{FailMax: 5},
		shadowed: true,
		script: func(r *rig) {
			r.down()
			r.disable()
			r.offer(2*time.Second, callEvery) // the candidate opens; the live breaker lets all through
			r.forceOpen()
			r.offer(time.Second, callEvery)
			r.release()
			r.healthy()
			r.offer(12*time.Second, callEvery)
		},
		after: func(r *rig) error {
			if r.wouldReject < 300 || r.ran < 2000 {
				return fmt.Errorf("%d would-be rejections, %d ran", r.wouldReject, r.ran)
			}
			return nil
		},
	},
}

// Each pair of the features that shed calls, on one breaker: each keeps
// its own promise (see the rig), and with a shadow the live calls go as
// they go without it.
func TestSheddingFeaturesKeepTheirPromisesInPairs(t *testing.T) {
	for _, c := range sheddingPairs {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, c.cfg, c.shadowed, c.shadowed)
			c.script(r)
			if err := c.after(r); err != nil {
				t.Fatalf("a feature was not at work: %v", err)
			}
			if !c.shadowed {
				return
			}
			twin := newRig(t, c.cfg, false, true)
			c.script(twin)
			if got, want := strings.Join(r.trace, " "), strings.Join(twin.trace, " "); got != want {
				t.Fatalf("the shadow changed the live calls' results:\nwith it    %.300s\nwithout it %.300s", diffFrom(r.trace, twin.trace), diffFrom(twin.trace, r.trace))
			}
			if twin.shadowEvents != 0 {
				t.Fatalf("%d shadow events without a shadow", twin.shadowEvents)
			}
		})
	}
}

// diffFrom is a's calls from where they part from b's.
func diffFrom(a, b []string) string {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return fmt.Sprintf("call %d on: %s", i, strings.Join(a[i:], " "))
		}
	}
	return "(a prefix)"
}

// A scenario a user met: Throttle{K: 2}, a 5 s window and a 10 s ramp,
// after recovery, 200 calls a second to a backend that accepts all it
// gets. Each second the ramp's share goes through (to within a call) and
// throttling rejects nothing: the backend accepted everything it was
// sent. (Throttling used to count the calls the ramp shed as requests
// the backend did not accept: it admitted 0.010, 0.015, … 0.285 of the
// calls where the ramp admits 0.055, 0.150, … 1, its probability at the
// 0.9 cap through most of the ramp and 0.66 at the end.)
func TestThrottleAndRampAfterRecoveryAdmitTheRampsShare(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, Window: infuse.TimeWindow(5*time.Second, 100*time.Millisecond),
		Throttle: infuse.Throttle{K: 2}, RampDuration: 10 * time.Second})
	tripAndRecover(t, b, clock)
	var shares []string
	sent, throttled, capped := 0, 0, 0
	for s := range 12 {
		admitted, want := 0, 0.0
		for i := range 200 {
			want += infuse.RampShareAfter(time.Duration(s)*time.Second+time.Duration(i)*callEvery, 10*time.Second, 0)
			err := b.Call(bg, succeed)
			var oe *infuse.OpenError
			switch {
			case err == nil:
				admitted++
			case errors.As(err, &oe) && oe.Reason == infuse.ReasonThrottled:
				throttled++
			case errors.As(err, &oe) && oe.Reason == infuse.ReasonRamping:
			default:
				t.Fatalf("second %d: %v", s, err)
			}
			clock.Advance(callEvery)
		}
		sent += admitted
		shares = append(shares, fmt.Sprintf("%.3f", float64(admitted)/200))
		if math.Abs(float64(admitted)-want) > 1 {
			t.Errorf("second %d: %d of 200 admitted, the ramp's share is %.1f", s, admitted, want)
		}
		if b.Metrics().RejectProbability == 0.9 {
			capped++
		}
	}
	p := b.Metrics().RejectProbability
	t.Logf("admitted share, seconds 0-11: %s; %d sent, %d throttled; p at the cap %d s, %.2f at the end",
		strings.Join(shares, " "), sent, throttled, capped, p)
	if throttled != 0 || p != 0 {
		t.Fatalf("%d calls throttled (p %.2f at the end) although the backend accepted all %d it was sent", throttled, p, sent)
	}
}

// Any sequence of calls, outages and operator actions on a breaker with
// any two of the features (a shadow among them or not): every call keeps
// each feature's promise (see the rig), and a shadow changes no live call.
func TestSheddingFeaturesKeepTheirPromisesInAnyOrder(t *testing.T) {
	features := []string{"throttle", "ramp", "hold", "forced", "shadow"}
	rapid.Check(t, func(t *rapid.T) {
		i := rapid.IntRange(0, len(features)-1).Draw(t, "first")
		j := rapid.IntRange(0, len(features)-1).Filter(func(j int) bool { return j != i }).Draw(t, "second")
		has := map[string]bool{features[i]: true, features[j]: true}
		cfg := infuse.Config{FailMax: rapid.SampledFrom([]int{3, 1 << 20}).Draw(t, "FailMax")}
		if has["throttle"] {
			cfg.Window = infuse.TimeWindow(2*time.Second, rapid.SampledFrom([]time.Duration{100 * time.Millisecond, time.Second}).Draw(t, "bucket"))
			cfg.Throttle = infuse.Throttle{K: rapid.SampledFrom([]float64{1, 1.5, 2}).Draw(t, "K"),
				MaxRejectRate: rapid.SampledFrom([]float64{0, 0.5}).Draw(t, "MaxRejectRate")}
		}
		if has["ramp"] {
			cfg.RampDuration = time.Duration(rapid.IntRange(1, 8).Draw(t, "ramp seconds")) * time.Second
			cfg.RampSteps = rapid.SampledFrom([]int{0, 4}).Draw(t, "RampSteps")
		}
		type action struct {
			kind string
			d    time.Duration
			n    int
		}
		kinds := []string{"offer", "offer", "offer", "backend", "advance", "recover"}
		if has["hold"] {
			kinds = append(kinds, "hold", "hold")
		}
		if has["forced"] {
			kinds = append(kinds, "ForceOpen", "Disable", "Release")
		}
		var script []action
		for range rapid.IntRange(1, 25).Draw(t, "actions") {
			script = append(script, action{
				kind: rapid.SampledFrom(kinds).Draw(t, "action"),
				d:    time.Duration(rapid.IntRange(1, 40).Draw(t, "tenths")) * 100 * time.Millisecond,
				n:    rapid.IntRange(-1, 60).Draw(t, "capacity"),
			})
		}
		run := func(shadowed, listening bool) *rig {
			r := newRig(t, cfg, shadowed, listening)
			for _, a := range script {
				switch a.kind {
				case "offer":
					r.offer(a.d, 10*time.Millisecond)
					r.checkThrottle()
				case "backend":
					switch {
					case a.n < 0:
						r.down()
					case a.n == 0:
						r.healthy()
					default:
						r.capacity(a.n)
					}
				case "advance":
					r.clock.Advance(a.d * 10)
				case "recover":
					if r.mode == infuse.ModeNormal {
						r.recover()
					}
				case "hold":
					r.hold(a.d * 5)
				case "ForceOpen":
					r.forceOpen()
				case "Disable":
					r.disable()
				case "Release":
					r.release()
				}
			}
			return r
		}
		r := run(has["shadow"], has["shadow"])
		if has["shadow"] {
			twin := run(false, true)
			if got, want := strings.Join(r.trace, " "), strings.Join(twin.trace, " "); got != want {
				t.Fatalf("the shadow changed the live calls' results:\nwith it    %.300s\nwithout it %.300s", diffFrom(r.trace, twin.trace), diffFrom(twin.trace, r.trace))
			}
		}
	})
}
