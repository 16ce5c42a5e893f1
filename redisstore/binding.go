package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse"
)

// Generations. A binding's snapshots number Redis's generation G as
// G<<provisionalBits. Transitions the binding makes on its own, while Redis
// is out of reach, are numbered G<<provisionalBits + k: newer than G, older
// than anything Redis will number next. So the breaker adopts them, and
// then adopts whatever Redis says once it answers again.
const provisionalBits = 20

// localPermit marks the ids of permits granted from local state.
const localPermit = 1 << 63

// errDegraded is what a transition returns when it was made locally only:
// Redis failed recently and is not tried on callers' paths until
// RetryInterval has passed. The background pushes it when Redis is back.
var errDegraded = errors.New("redisstore: Redis unavailable; applied locally, will be shared when it is back")

// binding is one breaker's handle on the store.
type binding struct {
	s    *Store
	name string
	id   string // the origin its scripts' messages carry
	cfg  infuse.BindConfig

	mu       sync.Mutex
	conf     remote          // Redis's state as last confirmed; gen 0: never yet
	seq      uint64          // local transitions since conf
	firstTo  infuse.State    // the state of the first of them
	local    infuse.Snapshot // what the breaker is told
	batch    batch           // outcomes not yet sent
	releases []uint64        // Redis permits to give back
	dirty    bool            // something for the background to send
	permits  map[uint64]struct{}
	nextID   uint64
	closed   bool
	sent     infuse.WindowCounts // the window growth sent so far
	fleet    infuse.WindowCounts // the fleet's window as the last send found it
	// offset is Redis's clock minus this host's, in ms, as of the last
	// reply (0: none yet). It only turns a wait on this host into a
	// deadline on Redis's clock; no decision compares the two clocks.
	offset atomic.Int64
}

func newBinding(s *Store, cfg infuse.BindConfig) *binding {
	b := &binding{s: s, name: cfg.Name, cfg: cfg, seq: 1, permits: make(map[uint64]struct{})}
	b.id = s.id + "." + strconv.FormatUint(s.bindSeq.Add(1), 36)
	b.local = infuse.Snapshot{State: cfg.InitialState, Generation: 1}
	if cfg.InitialState == infuse.Open {
		b.local.OpenedAt = cfg.Clock.Now()
	}
	return b
}

// seed is the bind script's arguments: this binding's state, to seed Redis
// where it holds none, never below a generation already seen.
func (b *binding) seed() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var elapsed int64
	if b.local.State == infuse.Open {
		elapsed = max(b.cfg.Clock.Now().Sub(b.local.OpenedAt).Milliseconds(), 0)
	}
	return []any{int(b.local.State), b.conf.gen + 1, elapsed, b.local.Failures, int(b.local.Mode), b.local.Trips}
}

func (b *binding) Snapshot() infuse.Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local
}

// Report gathers a closed-state outcome for the background to send. It
// takes a mutex and does no I/O.
func (b *binding) Report(gen uint64, o infuse.Outcome) (infuse.Snapshot, bool) {
	b.mu.Lock()
	if gen != b.local.Generation || b.local.State != infuse.Closed || (o != infuse.Success && o != infuse.Failure) {
		b.mu.Unlock()
		return infuse.Snapshot{}, false
	}
	b.batch.add(o)
	if b.seq == 0 {
		b.local.Failures = b.batch.view(b.conf.failures)
	} else {
		b.local.Failures = b.batch.view(b.local.Failures)
	}
	b.dirty = true
	s := b.local
	b.mu.Unlock()
	b.s.signal()
	return s, false
}

func (b *binding) Transition(ctx context.Context, t infuse.Transition) (infuse.Snapshot, bool, error) {
	b.mu.Lock()
	if err := ctx.Err(); err != nil {
		s := b.local
		b.mu.Unlock()
		return s, false, err
	}
	if t.To < infuse.Closed || t.To > infuse.HalfOpen ||
		(t.From != infuse.AnyGeneration && (t.From != b.local.Generation || b.local.Mode != infuse.ModeNormal)) {
		s := b.local
		b.mu.Unlock()
		return s, false, nil
	}
	if b.s.degraded() || b.seq > 0 {
		// Redis is out of reach, or this binding is already ahead of it:
		// commit locally; the background shares it.
		b.step(t.To, t.Failures)
		s := b.local
		b.mu.Unlock()
		b.s.signal()
		if b.s.degraded() {
			return s, true, errDegraded
		}
		return s, true, nil
	}
	var from uint64
	if t.From != infuse.AnyGeneration {
		from = b.conf.gen
	}
	b.mu.Unlock()

	r, err := b.s.bounded(ctx, b, transitionScript, from, int(t.To), t.Failures)
	if err != nil {
		b.s.fail(err, []*binding{b})
		b.mu.Lock()
		changed := t.From == infuse.AnyGeneration || t.From == b.local.Generation
		if changed {
			b.step(t.To, t.Failures)
		}
		s := b.local
		b.mu.Unlock()
		b.s.signal()
		return s, changed, err
	}
	b.s.recovered()
	b.mu.Lock()
	b.apply(r.remote)
	s := b.local
	b.mu.Unlock()
	return s, r.changed, nil
}

func (b *binding) Acquire(ctx context.Context) (infuse.Permit, infuse.Snapshot, bool) {
	p := b.cfg.Policy()
	b.mu.Lock()
	openFor := p.OpenFor(b.local)
	switch {
	case ctx.Err() != nil || b.local.State == infuse.Closed || b.local.Mode == infuse.ModeForcedOpen:
		s := b.local
		b.mu.Unlock()
		return infuse.Permit{}, s, false
	case b.local.State == infuse.Open && b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(openFor)):
		s := b.local
		b.mu.Unlock()
		return infuse.Permit{}, s, false
	case b.s.degraded() || b.seq > 0:
		defer b.mu.Unlock()
		return b.acquireLocally(p)
	}
	b.mu.Unlock()

	// The lease: HalfOpenMaxWait, with the breaker's TrialExpiry, or else
	// TrialLease, which only frees the permit of a member that died.
	lease, expiry := b.s.opts.TrialLease, infuse.ExpiryFrees
	if p.HalfOpenMaxWait > 0 {
		lease, expiry = p.HalfOpenMaxWait, p.TrialExpiry
	}
	r, err := b.s.bounded(ctx, b, acquireScript, openFor.Milliseconds(), p.HalfOpenMaxCalls, lease.Milliseconds(), int(expiry))
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.s.fail(err, []*binding{b})
		return b.acquireLocally(p)
	}
	b.s.recovered()
	b.apply(r.remote)
	if r.extra == 0 {
		return infuse.Permit{}, b.local, false
	}
	if b.local.Generation != r.gen<<provisionalBits {
		// This binding moved on by itself meanwhile: give the lease back
		// rather than let it block the fleet's trials until it expires.
		b.releases = append(b.releases, r.extra)
		b.dirty = true
		b.s.signal()
		return infuse.Permit{}, b.local, false
	}
	return infuse.Permit{Generation: b.local.Generation, ID: r.extra}, b.local, true
}

// acquireLocally grants a permit from local state. b.mu is held.
func (b *binding) acquireLocally(p infuse.Policy) (infuse.Permit, infuse.Snapshot, bool) {
	if b.local.Mode == infuse.ModeForcedOpen {
		return infuse.Permit{}, b.local, false
	}
	if b.local.State == infuse.Open {
		if b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(p.OpenFor(b.local))) {
			return infuse.Permit{}, b.local, false
		}
		b.step(infuse.HalfOpen, 0)
		b.s.signal()
	}
	if b.local.State != infuse.HalfOpen || b.local.Trials >= p.HalfOpenMaxCalls {
		return infuse.Permit{}, b.local, false
	}
	b.nextID++
	id := localPermit | b.nextID
	b.permits[id] = struct{}{}
	b.local.Trials++
	return infuse.Permit{Generation: b.local.Generation, ID: id}, b.local, true
}

func (b *binding) Settle(ctx context.Context, p infuse.Permit, o infuse.Outcome) (infuse.Snapshot, bool) {
	b.mu.Lock()
	if p.Generation != b.local.Generation || b.local.State != infuse.HalfOpen {
		s := b.local
		b.mu.Unlock()
		return s, false
	}
	if p.ID&localPermit != 0 || b.s.degraded() || b.seq > 0 {
		defer b.mu.Unlock()
		return b.settleLocally(p, o)
	}
	gen := b.conf.gen
	b.mu.Unlock()

	r, err := b.s.bounded(context.WithoutCancel(ctx), b, settleScript, gen, p.ID, int(o), b.cfg.Policy().SuccessThreshold)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.s.fail(err, []*binding{b})
		if p.Generation != b.local.Generation {
			return b.local, false
		}
		return b.settleLocally(p, o)
	}
	b.s.recovered()
	b.apply(r.remote)
	return b.local, r.changed
}

// settleLocally counts a trial's outcome in local state. b.mu is held.
func (b *binding) settleLocally(p infuse.Permit, o infuse.Outcome) (infuse.Snapshot, bool) {
	if p.ID&localPermit != 0 {
		if _, ok := b.permits[p.ID]; !ok {
			return b.local, false
		}
		delete(b.permits, p.ID)
		b.local.Trials--
	}
	if o == infuse.Failure {
		b.step(infuse.Open, 1)
		b.s.signal()
		return b.local, true
	}
	b.local.Successes++
	if b.local.Successes >= b.cfg.Policy().SuccessThreshold {
		b.step(infuse.Closed, 0)
		b.s.signal()
		return b.local, true
	}
	return b.local, false
}

func (b *binding) Release(p infuse.Permit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Generation != b.local.Generation {
		return
	}
	if p.ID&localPermit != 0 {
		if _, ok := b.permits[p.ID]; ok {
			delete(b.permits, p.ID)
			b.local.Trials--
		}
		return
	}
	b.releases = append(b.releases, p.ID)
	b.dirty = true
	b.s.signal()
}

func (b *binding) SetMode(ctx context.Context, m infuse.Mode) (infuse.Snapshot, error) {
	if m < infuse.ModeNormal || m > infuse.ModeDisabled {
		return b.Snapshot(), fmt.Errorf("redisstore: %d is not a Mode", int(m))
	}
	if err := ctx.Err(); err != nil {
		return b.Snapshot(), err
	}
	b.mu.Lock()
	local := b.s.degraded() || b.seq > 0
	b.mu.Unlock()
	if !local {
		r, err := b.s.bounded(ctx, b, setModeScript, int(m))
		if err == nil {
			b.s.recovered()
			b.mu.Lock()
			b.apply(r.remote)
			s := b.local
			b.mu.Unlock()
			return s, nil
		}
		b.s.fail(err, []*binding{b})
	}
	b.mu.Lock()
	if m == infuse.ModeForcedOpen {
		b.step(infuse.Open, b.local.Failures)
	} else {
		b.step(infuse.Closed, 0)
	}
	b.local.Mode = m
	s := b.local
	b.mu.Unlock()
	b.s.signal()
	return s, errDegraded
}

// openFor is the open period the breaker computes for its state; 0 unless
// open.
func (b *binding) openFor() time.Duration {
	b.mu.Lock()
	s := b.local
	b.mu.Unlock()
	if s.State != infuse.Open {
		return 0
	}
	return b.cfg.Policy().OpenFor(s)
}

// MergesWindows implements infuse.WindowMerger: a time window with a rate
// is merged into the fleet's window in Redis.
func (b *binding) MergesWindows() bool {
	w := b.cfg.Window
	return w.Duration() > 0 && b.cfg.Counted != nil
}

// sendWindow sends the growth of the breaker's window since the last send.
func (b *binding) sendWindow(ctx context.Context) error {
	c, ok := b.cfg.Counted()
	b.mu.Lock()
	if !ok || b.closed || c.Generation != b.local.Generation || b.seq > 0 || b.conf.gen == 0 {
		b.mu.Unlock()
		return nil
	}
	if c.Generation != b.sent.Generation {
		b.sent = infuse.WindowCounts{Generation: c.Generation}
	}
	d := infuse.WindowCounts{Calls: c.Calls - b.sent.Calls, Failures: c.Failures - b.sent.Failures, Slow: c.Slow - b.sent.Slow}
	gen := b.conf.gen
	b.mu.Unlock()
	if d.Calls == 0 {
		return nil
	}
	p := b.cfg.Policy()
	w := b.cfg.Window
	buckets := int64((w.Duration() + w.Bucket() - 1) / w.Bucket())
	ctx, cancel := context.WithTimeout(ctx, b.s.opts.RetryInterval)
	defer cancel()
	r, err := b.s.run(ctx, b, windowScript, 0, gen, d.Calls, d.Failures, d.Slow,
		w.Bucket().Milliseconds(), buckets, p.FailureRate, p.SlowCallRate, p.MinCalls, p.MinMembers, b.id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.sent.Generation == c.Generation {
		b.sent = c
	}
	if r.hasWindow {
		b.fleet = infuse.WindowCounts{Generation: c.Generation, Calls: r.wCalls, Failures: r.wFailures, Slow: r.wSlow}
	}
	b.mu.Unlock()
	b.s.recovered()
	b.applyAsync(r)
	return nil
}

// FleetWindow implements infuse.WindowMerger: the fleet's window as the
// last send of this member's growth found it, if that was in generation
// gen.
func (b *binding) FleetWindow(gen uint64) (infuse.WindowCounts, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fleet, b.fleet.Generation == gen && gen != 0
}

func (b *binding) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.s.unbind(b)
	return nil
}

func (b *binding) markDirty() {
	b.mu.Lock()
	b.dirty = true
	b.mu.Unlock()
	b.s.signal()
}

// step makes a transition in local state only. b.mu is held.
func (b *binding) step(to infuse.State, failures int) {
	if b.seq == 0 {
		b.firstTo = to
	}
	if b.seq < 1<<provisionalBits-1 {
		b.seq++
	}
	trips := b.local.Trips
	switch to {
	case infuse.Open:
		trips++
	case infuse.Closed:
		trips = 0
	}
	b.local = infuse.Snapshot{State: to, Generation: b.conf.gen<<provisionalBits + b.seq, Trips: trips}
	if to == infuse.Open {
		b.local.OpenedAt = b.cfg.Clock.Now()
		b.local.Failures = failures
	}
	b.batch = batch{}
	clear(b.permits)
	b.dirty = true
}

// apply takes a state read from Redis, if it is not older than what the
// binding has, and reports whether the breaker's snapshot changed. b.mu is
// held.
func (b *binding) apply(r remote) bool {
	if r.now > 0 {
		b.offset.Store(r.now - time.Now().UnixMilli())
	}
	switch {
	case r.gen < b.conf.gen:
		return false
	case r.gen == b.conf.gen && b.seq > 0:
		// Redis has not caught up with this binding's own transition;
		// the background is pushing it.
		b.conf = r
		return false
	case r.gen == b.conf.gen+1 && b.seq > 1 && r.state == b.firstTo && b.conf.gen > 0:
		// Redis made the same move this binding made first on its own
		// (its reported failures tripped the breaker there too); the
		// binding's later moves still stand, on top of Redis's.
		b.conf, b.seq = r, b.seq-1
		b.firstTo = b.local.State
		b.local.Generation = r.gen<<provisionalBits + b.seq
		b.dirty = true
		b.s.signal()
		return true
	case r.gen == b.conf.gen:
		before := b.local
		b.conf = r
		b.local.Failures = b.batch.view(r.failures)
		if r.state == infuse.Open {
			b.local.Failures = r.failures
		}
		b.local.Successes, b.local.Trials = r.successes, r.trials
		b.local.Mode, b.local.Trips = r.mode, r.trips
		return b.local != before
	}
	b.conf, b.seq = r, 0
	b.local = infuse.Snapshot{
		State: r.state, Generation: r.gen << provisionalBits,
		Failures: r.failures, Successes: r.successes, Trials: r.trials,
		Mode: r.mode, Trips: r.trips,
	}
	if r.state == infuse.Open {
		select { // have its open period recorded for operators soon
		case b.s.refreshSoon <- struct{}{}:
		default:
		}
		// Redis's clock says how long ago it opened; this host's clock
		// says when that was here. No two clocks are compared.
		b.local.OpenedAt = b.cfg.Clock.Now().Add(-time.Duration(max(r.now-r.openedAt, 0)) * time.Millisecond)
	}
	b.batch = batch{}
	b.releases = nil
	clear(b.permits)
	return true
}

// redisDeadline is when, on Redis's clock, a script sent now and waited on
// for d must stop changing anything; 0 (none) before the first reply.
func (b *binding) redisDeadline(d time.Duration) int64 {
	off := b.offset.Load()
	if off == 0 {
		return 0
	}
	return time.Now().UnixMilli() + off + d.Milliseconds()
}

// applyAsync applies a state that arrived in the background and tells the
// breaker when its snapshot changed.
func (b *binding) applyAsync(r reply) {
	if r.absent {
		return
	}
	b.mu.Lock()
	changed := !b.closed && b.apply(r.remote)
	s := b.local
	b.mu.Unlock()
	if changed {
		b.cfg.Observe(s)
	}
}

// applyReply applies the reply to a call the breaker made itself.
func (b *binding) applyReply(r reply) {
	b.mu.Lock()
	b.apply(r.remote)
	b.mu.Unlock()
}

// flush sends what the binding has gathered: its seed when Redis has not
// confirmed it yet, its own transition when it is ahead of Redis, else its
// outcomes; then the permits it gave back.
func (b *binding) flush(ctx context.Context) error {
	for range 3 {
		b.mu.Lock()
		if b.closed || !b.dirty {
			b.mu.Unlock()
			return nil
		}
		var err error
		var r reply
		switch {
		case b.conf.gen == 0:
			b.dirty = false
			b.mu.Unlock()
			r, err = b.s.run(ctx, b, bindScript, 0, b.seed()...)
		case b.seq > 0 && b.local.Mode != infuse.ModeNormal:
			mode := b.local.Mode
			b.dirty = false
			b.mu.Unlock()
			r, err = b.s.run(ctx, b, setModeScript, 0, int(mode))
		case b.seq > 0:
			to, failures, from := b.local.State, b.local.Failures, b.conf.gen
			b.dirty = false
			b.mu.Unlock()
			r, err = b.s.run(ctx, b, transitionScript, 0, from, int(to), failures)
		default:
			sent, releases, gen := b.batch, b.releases, b.conf.gen
			b.batch, b.releases, b.dirty = batch{}, nil, false
			b.mu.Unlock()
			for _, id := range releases {
				if _, err = b.s.run(ctx, b, releaseScript, 0, gen, id); err != nil {
					break
				}
			}
			if err == nil && sent.n > 0 {
				saw := 0
				if sent.saw {
					saw = 1
				}
				r, err = b.s.run(ctx, b, reportScript, 0, gen, sent.before, saw, sent.after, b.cfg.Policy().FailMax)
			}
			if err != nil {
				b.mu.Lock()
				if b.conf.gen == gen && b.seq == 0 {
					b.batch = sent.then(b.batch)
					b.releases = append(releases, b.releases...)
				}
				b.dirty = true
				b.mu.Unlock()
				return err
			}
		}
		if err != nil {
			b.markDirty()
			return err
		}
		b.s.recovered()
		b.applyAsync(r)
	}
	return nil
}

// batch is a run of closed-state outcomes, folded to what merging needs.
type batch struct {
	n      int  // outcomes
	before int  // failures before the first success (all, if none)
	saw    bool // a success
	after  int  // failures after the last success
}

func (a *batch) add(o infuse.Outcome) {
	a.n++
	switch {
	case o == infuse.Success:
		a.saw, a.after = true, 0
	case a.saw:
		a.after++
	default:
		a.before++
	}
}

// view is the merged run after this batch, from a run of f before it.
func (a batch) view(f int) int {
	if a.saw {
		return a.after
	}
	return f + a.before
}

// then is a followed by c.
func (a batch) then(c batch) batch {
	switch {
	case a.n == 0:
		return c
	case c.n == 0:
		return a
	case !a.saw:
		return batch{n: a.n + c.n, before: a.before + c.before, saw: c.saw, after: c.after}
	case !c.saw:
		return batch{n: a.n + c.n, before: a.before, saw: true, after: a.after + c.before}
	}
	return batch{n: a.n + c.n, before: a.before, saw: true, after: c.after}
}
