package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
)

// Generations. A binding's snapshots number Redis's generation G as
// G<<provisionalBits. Transitions the binding makes on its own, while Redis
// is out of reach, are numbered G<<provisionalBits + k: newer than G, older
// than anything Redis will number next. So the breaker adopts them, and
// then adopts whatever Redis says once it answers again.
const provisionalBits = 20

// localPermit marks the ids of permits granted from local state.
const localPermit = 1 << 63

// errDegraded is what a manual transition or mode returns when it was
// made locally only: Redis is taken for unreachable (see health), or did
// not answer in time. The sender pushes it when Redis answers.
var errDegraded = errors.New("redisstore: Redis did not confirm it; applied locally, to be shared when Redis answers unless the fleet has moved on")

// move is a transition a binding made alone: its state, and whether an
// operator made it.
type move struct {
	to     infuse.State
	manual bool
}

// maxMoves bounds the moves a binding remembers; maxRetries the batches
// it keeps to send again.
const (
	maxMoves   = 64
	maxRetries = 1024
)

// sentBatch is a batch of outcomes with its number, for the generation it
// was gathered in: sent again after a lost answer, the report script
// merges it once.
type sentBatch struct {
	batch
	id    uint64
	conf  remote
	tries int       // sends whose answer never came
	at    time.Time // when it was taken
}

// lease is a trial lease Redis granted: its length in ms, and when the
// grant reached this host.
type lease struct {
	ms int64
	at time.Time
}

// binding is one breaker's handle on the store.
type binding struct {
	s      *Store
	name   string
	kname  string // the name as it appears in keys
	id     string // names its batches of outcomes
	bucket int
	cfg    storage.BindConfig

	mu sync.Mutex
	// conf is Redis's state as last confirmed (gen 0: never yet), read at
	// confAt on this host. learned is the store's request number when it
	// was: Redis answering a later request with an older state has lost
	// what it held.
	conf    remote
	confAt  time.Time
	learned uint64
	// confN is the number of the request whose answer conf is: within
	// one generation, an answer to an earlier request (a read that
	// crossed a report's answer on another connection) is older news.
	confN uint64
	seq   uint64           // local transitions since conf
	moves []move           // the first of them (at most maxMoves)
	base  int              // the run of failures the last local transition left
	local storage.Snapshot // what the breaker is told
	batch batch            // outcomes not yet sent
	// What the sender has to do: releases to give back, Redis's state to
	// raise above conf (it went back), a state to restore (Redis lost
	// it), an open period to record for operators.
	releases []uint64
	// resettles are trials' outcomes whose settle came to nothing (an
	// error, a script run too late) with Redis there: the sender settles
	// them again, so that no outcome is lost (a settle already made
	// finds no lease and changes nothing).
	resettles []resettle
	raise     *remote
	restore   bool
	note      bool
	lastSend  time.Time // of outcomes, for FlushInterval's pacing
	// holdUntil keeps the outcomes that made the run FailMax long for the
	// breaker's tripping call, which sends them itself (so that the
	// sender does not trip the fleet behind its back).
	holdUntil time.Time
	// holdEnd is the end of a hold (storage.Transition.OpenUntil) the
	// binding made alone, for the sender to push with it; zero when none.
	holdEnd time.Time
	permits map[uint64]struct{}
	// leases are the trial leases Redis granted this binding, by number:
	// how long each lasts and when it was granted here, so that a failed
	// trial reopens the breaker from when it failed (see Settle).
	leases map[uint64]lease
	nextID uint64
	closed bool
	// shadowMu orders the changes of its breaker's shadow (see applyShadow).
	shadowMu sync.Mutex
	// inflight counts the breaker's own calls waiting on Redis. A change
	// the reader applies meanwhile is held (not observed): most often it
	// is the change that call is making, which the breaker adopts from
	// the call's answer as its own.
	told        uint64 // the generation a caller was last told its transition from changed
	lastAcquire time.Time
	acquiring   int // Acquire calls waiting on Redis
	inflight    int
	held        bool
	heldMade    bool             // the held change was made by this member's sender
	heldSnap    storage.Snapshot // the held change (see supersede)
	manual      bool             // the local transitions include an operator's
	nextBatch   uint64
	retries     []sentBatch // batches sent whose answer never came, oldest first
	// offsetSet tells that offset holds a reading.
	offsetSet atomic.Bool
	sent      storage.WindowCounts // the window growth sent so far
	// offset is Redis's clock minus this host's, in ms, as of the last
	// reply. It only turns a wait on this host into a
	// deadline on Redis's clock; no decision compares the two clocks.
	offset atomic.Int64
}

func newBinding(s *Store, cfg storage.BindConfig) *binding {
	b := &binding{s: s, name: cfg.Name, kname: escape(cfg.Name), bucket: bucketOf(cfg.Name), cfg: cfg, seq: 1,
		permits: make(map[uint64]struct{}), leases: make(map[uint64]lease)}
	b.id = s.id + "." + strconv.FormatUint(s.bindSeq.Add(1), 36)
	b.local = storage.Snapshot{State: cfg.InitialState, Generation: 1}
	if cfg.InitialState == infuse.Open {
		b.local.OpenedAt = cfg.Clock.Now()
	}
	return b
}

// call is the script of a's kind on this breaker, with its context (see
// scriptargs.go) and a. b.mu is held.
func (b *binding) call(deadline int64, a onBreaker) call {
	s := b.s
	sc := a.onBreaker()
	args := s.bucketArgs(b.bucket, len(contextList.fields)+len(sc.args.fields))
	args = contextList.append(args, b.context(deadline))
	return call{sc: sc, keys: s.l.scriptKeys(b.bucket, b.kname), args: sc.args.append(args, a)}
}

// context is the breaker's context: its kname, TTLs, deadline, a nonce,
// the seed Redis restores when it holds nothing (the confirmed state, or
// before any, the breaker's own), and the binding's id, which Redis
// records as the maker of a transition the script makes. A closed state is
// seeded without its failures: an idle state is restored as it was, with
// nothing to announce. b.mu is held.
func (b *binding) context(deadline int64) breakerCtx {
	o := &b.s.opts
	var (
		inc       string
		g         uint64
		st        infuse.State
		el        int64
		f, tr     int
		md        infuse.Mode
		openSince time.Duration
	)
	recovered := false // closed from open or half-open: openSince is since it closed
	if c := b.conf; c.gen != 0 {
		inc, g, st, f, md, tr = c.inc, c.gen, c.state, c.failures, c.mode, c.trips
		// A hold may have put the opening ahead (see holdShift).
		openSince = time.Duration(max(c.now-c.openedAt, -maxHoldAhead.Milliseconds()))*time.Millisecond + time.Since(b.confAt)
		recovered = c.state == infuse.Closed && c.openedAt > 0
	} else {
		st, f, md, tr = b.local.State, b.local.Failures, b.local.Mode, b.local.Trips
		openSince = b.cfg.Clock.Now().Sub(b.local.OpenedAt)
		if st == infuse.Closed && !b.local.ClosedAt.IsZero() {
			openSince, recovered = b.cfg.Clock.Now().Sub(b.local.ClosedAt), true
		}
		g = 1
	}
	if st == infuse.Closed && md == infuse.ModeNormal {
		f = 0
	} else if b.conf.gen == 0 {
		g = 0 // a new state: the script numbers it 1
	}
	switch {
	case st == infuse.Open:
		el = max(openSince.Milliseconds(), -maxHoldAhead.Milliseconds())
	case recovered && md == infuse.ModeNormal:
		// When it closed, so that a restore keeps the ramp's start: 1 ms
		// at least, 0 being a close from closed.
		el = max(openSince.Milliseconds(), 1)
	}
	return breakerCtx{KName: b.kname, TTL: o.TTL.Milliseconds(), IdleTTL: o.IdleTTL.Milliseconds(), Deadline: deadline,
		Nonce: strconv.FormatUint(rand.Uint64(), 36), SeedInc: inc, SeedGen: g, SeedState: st, SeedElapsed: el,
		SeedFailures: f, SeedMode: md, SeedTrips: tr, Binding: b.id}
}

// view is the merged run as this binding sees it: the run Redis last
// answered (or its own transition left), then the batches it has not seen
// answered, then the outcomes not sent. b.mu is held.
func (b *binding) view() int {
	f := b.conf.failures
	if b.seq > 0 {
		return b.batch.view(b.base)
	}
	for _, r := range b.retries {
		f = r.view(f)
	}
	return b.batch.view(f)
}

// reportCall is the report script for batch sb. b.mu is held.
func (b *binding) reportCall(sb sentBatch, deadline int64, force bool) call {
	return b.call(deadline, reportArgs{FromInc: sb.conf.inc, FromGen: strconv.FormatUint(sb.conf.gen, 10), Before: sb.before,
		Saw: sb.saw, After: sb.after, FailMax: b.cfg.Policy().FailMax, Force: force, Resets: b.conf.resets, Binding: b.id,
		Batch: sb.id, Again: sb.tries > 0})
}

// take takes the unsent outcomes as a numbered batch. b.mu is held.
func (b *binding) take() sentBatch {
	b.nextBatch++
	sb := sentBatch{batch: b.batch, id: b.nextBatch, conf: b.conf, at: time.Now()}
	b.batch = batch{}
	return sb
}

// from is the confirmed generation, as scripts compare it. b.mu is held.
func (b *binding) from() (string, string) {
	return b.conf.inc, strconv.FormatUint(b.conf.gen, 10)
}

// bind runs the bind script on the caller's path and adopts what Redis
// holds; where Redis holds nothing, it looks for the breaker in the layout
// before this one, so that a breaker open or forced there stays so.
func (b *binding) bind(wait time.Duration) error {
	start := time.Now()
	b.mu.Lock()
	c := b.call(0, bindArgs{Member: b.s.memberID()})
	b.mu.Unlock()
	type bound struct {
		r      reply
		n      uint64
		legacy *remote
	}
	v, err := bounded(b.s, context.Background(), wait, fmt.Sprintf("binding breaker %q", b.name), func(ctx context.Context) (bound, error) {
		// The first layout is read in the same round trip, in case Redis
		// holds nothing in this one.
		queue, legacy := b.s.legacyRead(ctx, b.name)
		res := b.s.runAll(ctx, []call{c}, queue)[0]
		if res.err != nil {
			return bound{}, fmt.Errorf("redisstore: breaker %q: %w", b.name, res.err)
		}
		r, err := decodeReply(res.v)
		if err != nil {
			return bound{}, fmt.Errorf("redisstore: breaker %q: %w", b.name, err)
		}
		if r.extra != 1 { // Redis holds a state
			return bound{r: r, n: res.n}, nil
		}
		return bound{r: r, n: res.n, legacy: legacy()}, nil
	}, func(err error) { b.s.fail(err, start, b) })
	if err != nil {
		return err
	}
	if v.r.corrupt {
		b.s.corrupt(b)()
	}
	b.mu.Lock()
	b.apply(v.r.remote, v.n)
	if v.legacy != nil && b.seq == 0 {
		b.importLegacy(*v.legacy)
	}
	b.mu.Unlock()
	return nil
}

func (b *binding) Snapshot() storage.Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local
}

// Report gathers a closed-state outcome for the sender. It takes a mutex
// and does no I/O.
func (b *binding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	b.mu.Lock()
	if gen != b.local.Generation || b.local.State != infuse.Closed || (o != storage.OutcomeSuccess && o != storage.OutcomeFailure) {
		b.mu.Unlock()
		return storage.Snapshot{}, false
	}
	b.batch.add(o)
	b.local.Failures = b.view()
	if b.local.Failures >= b.cfg.Policy().FailMax && b.local.Mode == infuse.ModeNormal && b.seq == 0 {
		b.holdUntil = time.Now().Add(b.s.opts.OpTimeout)
	}
	s := b.local
	b.mu.Unlock()
	b.enqueue()
	return s, false
}

func (b *binding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	b.mu.Lock()
	if err := ctx.Err(); err != nil {
		s := b.local
		b.mu.Unlock()
		return s, false, err
	}
	if t.To < infuse.Closed || t.To > infuse.HalfOpen ||
		(t.From != storage.AnyGeneration && (t.From != b.local.Generation || b.local.Mode != infuse.ModeNormal)) {
		s := b.local
		b.mu.Unlock()
		return s, false, nil
	}
	if b.s.degraded() || b.seq > 0 || b.conf.gen == 0 {
		// Redis is out of reach, or this binding is ahead of it: commit
		// locally; the sender shares it.
		b.step(t.To, t.Failures, t.From == storage.AnyGeneration)
		b.hold(t, b.cfg.Policy())
		s := b.local
		degraded := b.s.degraded()
		b.mu.Unlock()
		b.enqueue()
		if degraded {
			return s, true, errDegraded
		}
		return s, true, nil
	}
	// The failure that makes this member's view of the run FailMax long
	// trips the fleet through the report script: it trips whatever the
	// merged run unless a success elsewhere has reset the run since this
	// member last saw it.
	p := b.cfg.Policy()
	run := t.From != storage.AnyGeneration && b.local.State == infuse.Closed && t.To == infuse.Open && t.Failures >= p.FailMax &&
		t.OpenUntil.IsZero()
	deadline := b.callerDeadline(ctx)
	fi, fg := b.from()
	var c call
	var sent sentBatch
	if run {
		sent, b.holdUntil = b.take(), time.Time{}
		c = b.reportCall(sent, deadline, true)
	} else {
		if t.From == storage.AnyGeneration {
			fg = "0"
		}
		// The script applies the shift to an opening only.
		c = b.call(deadline, transitionArgs{FromInc: fi, FromGen: fg, To: t.To, Failures: t.Failures,
			ShiftMs: b.holdShift(t.OpenUntil, p).Milliseconds()})
	}
	b.inflight++
	b.mu.Unlock()

	// An automatic move (a trip) is made alone only while Redis is taken
	// for unreachable (see health); a manual one, or a hold, is made here
	// whenever Redis does not confirm it, and shared when it answers.
	automatic := t.From != storage.AnyGeneration && t.OpenUntil.IsZero()
	r, n, later, err := b.s.ask(ctx, b, c, func(r reply, n uint64, err error) {
		b.late(r, n, err, func() {
			if run && sent.n > 0 && sent.conf.sameIdentity(b.conf) && b.seq == 0 {
				b.retry(sent) // not merged: the sender sends it again
				b.enqueueLocked()
			}
		})
	})
	if err != nil {
		b.mu.Lock()
		if !later {
			b.ownEnd(nil)
			if run && sent.n > 0 {
				b.retry(sent)
			}
		}
		changed := false
		if !b.s.gaveUp(ctx, err) && (!automatic || b.s.alone()) &&
			(t.From == storage.AnyGeneration || t.From == b.local.Generation) {
			b.step(t.To, t.Failures, t.From == storage.AnyGeneration)
			b.hold(t, p)
			changed = b.tell(t.From, true)
		}
		s := b.local
		b.mu.Unlock()
		b.enqueue()
		return s, changed, err
	}
	b.s.recovered()
	b.mu.Lock()
	// Another call of this breaker that gave up on Redis has made this
	// move alone meanwhile, and told its caller: one ErrTripped a trip.
	changed := b.tell(t.From, r.changed)
	after, outran, fire := b.answered(r, n)
	if outran != nil {
		changed = false // the answer is a newer change, not this call's
	}
	s := b.local
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	switch {
	case fire != nil:
		fire(s)
	case run && !r.changed && s.State == infuse.Closed && s.Generation == t.From:
		// Not tripped: the run was reset elsewhere. The breaker takes the
		// merged run, lower than its own view.
		b.cfg.Observe(s)
	}
	return s, changed, nil
}

// late takes what came of one of the breaker's own calls after its caller
// stopped waiting (see Store.ask): the answer, applied as the call's own
// (a change the call made goes to the breaker through Made, the breaker's
// own, since no caller adopts it), or err. lost, if not nil, runs (b.mu
// held) when the call came to nothing: an error, or a script run too
// late.
func (b *binding) late(r reply, n uint64, err error, lost func()) {
	b.mu.Lock()
	if err != nil {
		held := b.held
		b.ownEnd(nil)
		if lost != nil {
			lost()
		}
		// A change held meanwhile: no caller takes it from this call.
		tell := b.cfg.Observe
		if b.heldMade {
			tell = b.cfg.Made
		}
		snap, told := b.local, held && !b.held
		b.mu.Unlock()
		if told {
			tell(snap)
		}
		return
	}
	after, outran, fire := b.answered(r, n)
	mine := r.changed && b.conf.sameIdentity(r.remote) && b.local.Generation == r.gen<<provisionalBits
	if r.late && lost != nil {
		lost()
	}
	snap := b.local
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	switch {
	case fire != nil:
		fire(snap)
	case mine:
		b.cfg.Made(snap)
	}
}

// tell says whether to tell a caller that its transition from generation
// from made the change: one caller for a generation, so that one trip
// gives one ErrTripped, even when one caller made it alone (Redis did not
// answer in time) and another's script made it in Redis. b.mu is held.
func (b *binding) tell(from uint64, changed bool) bool {
	if !changed || from == storage.AnyGeneration {
		return changed
	}
	if b.told == from {
		return false
	}
	b.told = from
	return true
}

// retry keeps a batch whose answer never came, to send again. b.mu is
// held.
func (b *binding) retry(sb sentBatch) {
	sb.tries++
	i := len(b.retries)
	for i > 0 && b.retries[i-1].id > sb.id {
		i--
	}
	b.retries = append(b.retries[:i], append([]sentBatch{sb}, b.retries[i:]...)...)
	// Outcomes older than IdleTTL are forgotten, as Redis forgets a run
	// of failures that long quiet.
	for len(b.retries) > 0 && (len(b.retries) > maxRetries || time.Since(b.retries[0].at) > b.s.opts.IdleTTL) {
		b.retries = b.retries[1:]
	}
}

func (b *binding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	p := b.cfg.Policy()
	b.mu.Lock()
	openFor := p.OpenFor(b.local)
	switch {
	case ctx.Err() != nil || b.local.State == infuse.Closed || b.local.Mode == infuse.ModeForcedOpen:
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	case b.local.State == infuse.Open && b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(openFor)):
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	case b.s.degraded() || b.seq > 0 || b.conf.gen == 0:
		defer b.mu.Unlock()
		return b.acquireLocally(p)
	case b.acquiring > 0 && b.local.State == infuse.Open,
		b.local.State == infuse.HalfOpen && b.local.Trials >= p.HalfOpenMaxCalls &&
			time.Since(b.lastAcquire) < b.s.opts.FlushInterval:
		// The open period is over and another call is asking Redis for the
		// trial already; or every permit is held, as far as the binding
		// knows: it asks Redis again at most once per FlushInterval, not
		// for every call.
		s := b.local
		b.mu.Unlock()
		return storage.Permit{}, s, false
	}
	// The lease: HalfOpenMaxWait, with the breaker's TrialExpiry, or else
	// TrialLease, which only frees the permit of a member that died.
	leaseFor, expiry := b.s.opts.TrialLease, infuse.ExpiryFrees
	if p.HalfOpenMaxWait > 0 {
		leaseFor, expiry = p.HalfOpenMaxWait, p.TrialExpiry
	}
	id := rand.Uint64()&(1<<52-1) | 1 // the lease's number: this binding's, to give back unanswered
	b.lastAcquire = time.Now()
	b.acquiring++
	c := b.call(b.callerDeadline(ctx), acquireArgs{OpenMs: openFor.Milliseconds(), MaxCalls: p.HalfOpenMaxCalls,
		LeaseMs: leaseFor.Milliseconds(), Expiry: expiry, Permit: id})
	b.inflight++
	b.mu.Unlock()

	r, n, later, err := b.s.ask(ctx, b, c, func(r reply, n uint64, err error) {
		// Too late for the caller: a lease granted goes back. The
		// binding asks no other permit of Redis for the open state
		// meanwhile (acquiring).
		b.late(r, n, err, nil)
		b.mu.Lock()
		b.acquiring--
		if err != nil || r.extra != 0 {
			b.releases = append(b.releases, id)
			b.enqueueLocked()
		}
		b.mu.Unlock()
	})
	if later {
		// No permit: one granted alone, beside the fleet's, could make a
		// trial too many.
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.s.alone() && !b.s.gaveUp(ctx, err) {
			return b.acquireLocally(p)
		}
		return storage.Permit{}, b.local, false
	}
	b.mu.Lock()
	b.acquiring--
	b.mu.Unlock()
	if err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.ownEnd(nil)
		// Redis may have granted the lease all the same: give it back.
		b.releases = append(b.releases, id)
		b.enqueueLocked()
		if b.s.alone() && !b.s.gaveUp(ctx, err) {
			return b.acquireLocally(p)
		}
		return storage.Permit{}, b.local, false
	}
	b.mu.Lock()
	before, held := b.local.Generation, b.held
	after, outran, fire := b.answered(r, n)
	perm, snap, ok := b.granted(r)
	// A permit in a half-open state another member made: the breaker
	// observes that change before it adopts the answer as its own.
	if fire == nil && ok && !r.changed && snap.Generation != before {
		fire = b.cfg.Observe
	}
	// A transition this call made without a permit (a trial held past its
	// lease, and its TrialExpiry), even if the reader brought it first:
	// the breaker's own.
	if fire == nil && !ok && r.changed && outran == nil && (snap.Generation != before || held) {
		fire = b.cfg.Made
	}
	if ok {
		if len(b.leases) >= maxMoves { // leases never settled nor released
			clear(b.leases)
		}
		b.leases[perm.ID] = lease{ms: leaseFor.Milliseconds(), at: time.Now()}
	}
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	if fire != nil {
		fire(snap)
	}
	return perm, snap, ok
}

// granted is what Acquire returns for a reply. b.mu is held.
func (b *binding) granted(r reply) (storage.Permit, storage.Snapshot, bool) {
	if r.extra == 0 {
		return storage.Permit{}, b.local, false
	}
	if b.local.Generation != r.gen<<provisionalBits || !b.conf.sameIdentity(r.remote) {
		// This binding moved on by itself meanwhile: give the lease back
		// rather than let it block the fleet's trials until it expires.
		b.releases = append(b.releases, r.extra)
		b.enqueueLocked()
		return storage.Permit{}, b.local, false
	}
	return storage.Permit{Generation: b.local.Generation, ID: r.extra}, b.local, true
}

// acquireLocally grants a permit from local state. b.mu is held.
func (b *binding) acquireLocally(p storage.Policy) (storage.Permit, storage.Snapshot, bool) {
	if b.local.Mode == infuse.ModeForcedOpen {
		return storage.Permit{}, b.local, false
	}
	if b.local.State == infuse.Open {
		if b.cfg.Clock.Now().Before(b.local.OpenedAt.Add(p.OpenFor(b.local))) {
			return storage.Permit{}, b.local, false
		}
		b.step(infuse.HalfOpen, 0, false)
		b.enqueueLocked()
	}
	if b.local.State != infuse.HalfOpen || b.local.Trials >= p.HalfOpenMaxCalls {
		return storage.Permit{}, b.local, false
	}
	b.nextID++
	id := localPermit | b.nextID
	b.permits[id] = struct{}{}
	b.local.Trials++
	return storage.Permit{Generation: b.local.Generation, ID: id}, b.local, true
}

func (b *binding) Settle(ctx context.Context, p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	b.mu.Lock()
	if p.Generation != b.local.Generation || b.local.State != infuse.HalfOpen {
		s := b.local
		b.mu.Unlock()
		return s, false
	}
	if p.ID&localPermit != 0 || b.s.degraded() || b.seq > 0 {
		defer b.mu.Unlock()
		if p.ID&localPermit == 0 {
			// A lease Redis granted, settled here alone: give it back when
			// Redis answers, so that the fleet's trials are not held up.
			b.releases = append(b.releases, p.ID)
			b.enqueueLocked()
		}
		return b.settleLocally(p, o)
	}
	fi, fg := b.from()
	// With a failure, how long the trial ran since its lease was granted
	// here: Redis opens the breaker again from the lease's grant plus
	// that, not from when the answer reaches it (behind, say, the rest of
	// the fleet asking for the trial).
	ran, leaseMs := int64(-1), int64(0)
	if l, ok := b.leases[p.ID]; ok {
		delete(b.leases, p.ID)
		ran, leaseMs = max(time.Since(l.at).Milliseconds(), 0), l.ms
	}
	c := b.call(b.redisDeadline(b.s.opts.OpTimeout), settleArgs{FromInc: fi, FromGen: fg, Permit: p.ID, Outcome: o,
		SuccessThreshold: b.cfg.Policy().SuccessThreshold, RanMs: ran, LeaseMs: leaseMs})
	again := resettle{conf: b.conf, id: p.ID, o: o, ran: ran, leaseMs: leaseMs}
	b.inflight++
	b.mu.Unlock()

	giveBack := func() {
		// The script did not run, or ran without the binding knowing:
		// give the lease back once Redis answers (a settled lease is
		// gone already), so that the fleet's trials are not held up.
		b.releases = append(b.releases, p.ID)
		b.enqueueLocked()
	}
	r, n, later, err := b.s.ask(context.WithoutCancel(ctx), b, c, func(r reply, n uint64, err error) {
		// Too late for the caller: settled again by the sender, so that
		// the outcome counts.
		b.late(r, n, err, func() { b.settleAgain(again) })
	})
	if errors.Is(err, errClosed) {
		b.s.releaseNow(b, p.ID) // no sender any more
	}
	if err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		alone := b.s.alone()
		if !later {
			b.ownEnd(nil)
			if alone {
				giveBack()
			} else {
				b.settleAgain(again) // Redis is there: the sender settles it
			}
		}
		if p.Generation != b.local.Generation || !alone {
			// Redis is there: it counts the outcome when the script
			// reaches it, and the breaker learns it from the answer.
			return b.local, false
		}
		if later {
			giveBack()
		}
		return b.settleLocally(p, o)
	}
	return b.ownAnswer(r, n)
}

// resettle is a trial's outcome to settle again: the settle script's
// arguments for lease id of generation conf.
type resettle struct {
	conf         remote
	id           uint64
	o            storage.Outcome
	ran, leaseMs int64
}

// settleAgain has the sender settle a trial again, unless its generation
// has passed: then its lease only goes back. b.mu is held.
func (b *binding) settleAgain(r resettle) {
	if !r.conf.sameIdentity(b.conf) || len(b.resettles) >= maxMoves {
		b.releases = append(b.releases, r.id)
	} else {
		b.resettles = append(b.resettles, r)
	}
	b.enqueueLocked()
}

// settleLocally counts a trial's outcome in local state. b.mu is held.
func (b *binding) settleLocally(p storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	if p.ID&localPermit != 0 {
		if _, ok := b.permits[p.ID]; !ok {
			return b.local, false
		}
		delete(b.permits, p.ID)
		b.local.Trials--
	}
	if o == storage.OutcomeFailure {
		b.step(infuse.Open, 1, false)
		b.enqueueLocked()
		return b.local, true
	}
	b.local.Successes++
	if b.local.Successes >= b.cfg.Policy().SuccessThreshold {
		b.step(infuse.Closed, 0, false)
		b.enqueueLocked()
		return b.local, true
	}
	return b.local, false
}

func (b *binding) Release(p storage.Permit) {
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
	delete(b.leases, p.ID)
	b.releases = append(b.releases, p.ID)
	b.enqueueLocked()
}

func (b *binding) SetMode(ctx context.Context, m infuse.Mode) (storage.Snapshot, error) {
	if m < infuse.ModeNormal || m > infuse.ModeDisabled {
		return b.Snapshot(), fmt.Errorf("redisstore: %d is not a Mode", int(m))
	}
	if err := ctx.Err(); err != nil {
		return b.Snapshot(), err
	}
	b.mu.Lock()
	local := b.s.degraded() || b.seq > 0 || b.conf.gen == 0
	var c call
	if !local {
		c = b.call(b.callerDeadline(ctx), setModeArgs{Mode: m, FromGen: "0"})
		b.inflight++
	}
	b.mu.Unlock()
	var err error
	if !local {
		var r reply
		var n uint64
		var later bool
		r, n, later, err = b.s.ask(ctx, b, c, func(r reply, n uint64, err error) { b.late(r, n, err, nil) })
		if err == nil {
			snap, _ := b.ownAnswer(r, n)
			return snap, nil
		}
		b.mu.Lock()
		if !later {
			b.ownEnd(nil)
		}
		s := b.local
		b.mu.Unlock()
		if b.s.gaveUp(ctx, err) {
			return s, err // the caller gave up: nothing is made
		}
	}
	// Made here, and shared by the sender when Redis answers (unless the
	// fleet has moved on).
	b.mu.Lock()
	if m == infuse.ModeForcedOpen {
		b.step(infuse.Open, b.local.Failures, true)
	} else {
		b.step(infuse.Closed, 0, true)
	}
	b.local.Mode = m
	s := b.local
	b.mu.Unlock()
	b.enqueue()
	switch {
	case err != nil:
		return s, fmt.Errorf("%w: %w", errDegraded, err)
	case b.s.alone():
		return s, errDegraded
	}
	return s, nil // ahead of Redis: the sender shares it
}

func (b *binding) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.s.unbind(b)
	return nil
}

// maxHoldAhead bounds how far ahead of now a stored opening is taken to
// be (a hold's: see holdShift): a day, far above any MaxHoldOpen.
const maxHoldAhead = 24 * time.Hour

// holdShift is how far from Redis's now the transition script puts an
// opening that holds until until (storage.Transition.OpenUntil), so that
// the open period, as every member computes it for the generation the
// script makes (the next one), ends then: 0 for no hold. b.mu is held.
func (b *binding) holdShift(until time.Time, p storage.Policy) time.Duration {
	if until.IsZero() {
		return 0
	}
	trips := b.conf.trips + 1
	if b.conf.state == infuse.Open {
		trips = b.conf.trips // a hold extending an open period is no new trip
	}
	next := storage.Snapshot{State: infuse.Open, Generation: (b.conf.gen + 1) << provisionalBits, Trips: trips}
	return until.Sub(b.cfg.Clock.Now()) - p.OpenFor(next)
}

// hold applies a hold (storage.Transition.OpenUntil) to a transition the
// binding made alone, and keeps it for the sender to push. b.mu is held.
func (b *binding) hold(t storage.Transition, p storage.Policy) {
	if t.To == infuse.Open && !t.OpenUntil.IsZero() && b.local.State == infuse.Open {
		b.local.OpenedAt = t.OpenUntil.Add(-p.OpenFor(b.local))
		b.holdEnd = t.OpenUntil
	}
}

// step makes a transition in local state only; manual tells an
// operator's. b.mu is held.
func (b *binding) step(to infuse.State, failures int, manual bool) {
	if len(b.moves) < maxMoves {
		b.moves = append(b.moves, move{to: to, manual: manual})
	}
	b.manual = b.manual || manual
	if b.seq < 1<<provisionalBits-1 {
		b.seq++
	}
	b.holdEnd = time.Time{}
	trips := b.local.Trips
	switch to {
	case infuse.Open:
		trips++
	case infuse.Closed:
		trips = 0
	}
	recovers := to == infuse.Closed && b.local.State != infuse.Closed
	b.local = storage.Snapshot{State: to, Generation: b.conf.gen<<provisionalBits + b.seq, Trips: trips,
		Maker: storage.MakerHere, From: b.local.State}
	if to == infuse.Open {
		b.local.OpenedAt = b.cfg.Clock.Now()
		b.local.Failures = failures
	}
	if recovers {
		b.local.ClosedAt = b.cfg.Clock.Now()
	}
	b.base = b.local.Failures
	b.batch = batch{}
	clear(b.permits)
	clear(b.leases)
}

// applyOwn applies the reply to a script this binding ran for its
// breaker, which adopts the result itself. b.mu is held; what it returns
// (a report of replaced data) is for after it is let go.
func (b *binding) applyOwn(r reply, n uint64) (after func()) {
	if r.corrupt {
		after = b.s.corrupt(b)
	}
	if r.absent {
		b.applyAbsent(n)
		return after
	}
	b.apply(r.remote, n)
	b.noteOpen(r)
	return after
}

// noteOpen has what the members compute recorded for operators when this
// binding's own script opened the breaker (the open period) or closed it
// after a recovery (the ramp, if one is configured). b.mu is held.
func (b *binding) noteOpen(r reply) {
	if !r.changed || r.mode != infuse.ModeNormal || !b.conf.sameIdentity(r.remote) {
		return
	}
	if r.state == infuse.Open || (r.state == infuse.Closed && r.openedAt > 0 && b.cfg.Policy().RampDuration > 0) {
		b.note = true
		b.enqueueLocked()
	}
}

// noted is the figure noteOpen has recorded: the open period in ms while
// open, the ramp (rampNote) while closed. b.mu is held.
func (b *binding) noted() int64 {
	if b.local.State == infuse.Closed {
		p := b.cfg.Policy()
		return rampNote(p.RampDuration, p.RampSteps)
	}
	return b.openFor().Milliseconds()
}

// apply takes a state read from Redis with request number n, if it is not
// older than what the binding has, and reports whether the breaker's
// snapshot changed. b.mu is held.
func (b *binding) apply(r remote, n uint64) bool {
	if r.now > 0 {
		b.offset.Store(r.now - hostMillis())
		b.offsetSet.Store(true)
	}
	c := b.conf
	if (c.gen == 0 && b.seq > 1 || c.gen != 0 && b.seq > 0 && r.inc != c.inc) &&
		(b.local.State != r.state || b.local.Mode != r.mode) {
		// The first answer from Redis, to a binding that has made
		// transitions alone (seq starts at 1: its initial state), or one
		// from a Redis that lost what the binding knew and holds a state
		// put back since (someone's last view, under a new incarnation):
		// the binding's moves, made after, stand on top of Redis's state,
		// and the sender pushes them (an automatic one only if no mode is
		// forced there).
		b.setConf(r, n)
		b.relabel()
		b.enqueueLocked()
		return true
	}
	var keep batch
	if c.gen == 0 && b.local.State == infuse.Closed && r.state == infuse.Closed && r.mode == infuse.ModeNormal {
		keep = b.batch // outcomes gathered before Redis first answered
	}
	switch {
	case c.gen == 0 || r.gen > c.gen:
		// newer: adopt it, below
	case r.sameIdentity(c) && (r.state != c.state || r.mode != c.mode) && n > b.learned:
		// One generation, two states: Redis lost what it held and a raise
		// reached the number this binding had seen. Lift it above.
		b.raise = &r
		b.enqueueLocked()
		return false
	case r.sameIdentity(c) && n < b.confN && r.state == c.state && r.mode == c.mode:
		return false // an answer to a request issued before conf's: its counts may be older
	case r.sameIdentity(c):
		if b.seq > 0 {
			// Redis has not caught up with this binding's own transition;
			// the sender is pushing it.
			b.setConf(r, n)
			return false
		}
		before := b.local
		b.setConf(r, n)
		b.local.Failures = b.view()
		if r.state == infuse.Open {
			b.local.Failures = r.failures
		}
		b.local.Successes, b.local.Trials = r.successes, r.trials
		b.local.Mode, b.local.Trips = r.mode, r.trips
		return b.local != before
	case n > b.learned:
		// Asked after the binding learned generation c, Redis answers
		// with an older one, or another of the same number: it lost what
		// it held, and someone seeded it again. Lift it above everything
		// this member has seen, so that every member adopts it.
		b.raise = &r
		b.enqueueLocked()
		return false
	default:
		return false // an answer to an older request
	}
	if r.gen == c.gen+1 && c.gen > 0 && b.seq > 1 && len(b.moves) > 1 && r.mode == infuse.ModeNormal &&
		!b.moves[0].manual && r.state == b.moves[0].to {
		// Redis made the same automatic move this binding made first on
		// its own (its reported failures tripped the breaker there too);
		// the binding's later moves still stand, on top of Redis's.
		b.setConf(r, n)
		b.seq--
		b.moves = b.moves[1:]
		b.manual = false
		for _, m := range b.moves {
			b.manual = b.manual || m.manual
		}
		b.relabel()
		b.enqueueLocked()
		return true
	}
	b.setConf(r, n)
	b.seq = 0
	b.holdEnd = time.Time{}
	b.moves = nil
	b.raise = nil
	b.retries = nil
	b.local = b.snapshotOf(r)
	b.batch = keep
	if keep.n > 0 {
		b.local.Failures = keep.view(r.failures)
		b.enqueueLocked()
	}
	// Releases stay: a lease's number is random, so giving back one of
	// another generation does nothing, and one of this generation (granted
	// while the answer was lost) must go back.
	b.note = false
	b.manual = false
	clear(b.permits)
	clear(b.leases)
	return true
}

// snapshotOf is the snapshot of a state read from Redis.
func (b *binding) snapshotOf(r remote) storage.Snapshot {
	s := storage.Snapshot{
		State: r.state, Generation: r.gen << provisionalBits,
		Failures: r.failures, Successes: r.successes, Trials: r.trials,
		Mode: r.mode, Trips: r.trips,
	}
	switch r.maker {
	case "":
	case b.id:
		s.Maker, s.From = storage.MakerHere, r.from
	default:
		s.Maker, s.From = storage.MakerElsewhere, r.from
	}
	now := b.cfg.Clock.Now()
	switch {
	case r.state == infuse.Open:
		// Redis's clock says how long ago it opened; this host's clock
		// says when that was here. No two clocks are compared.
		ago := time.Duration(max(r.now-r.openedAt, -maxHoldAhead.Milliseconds())) * time.Millisecond
		s.OpenedAt = now.Add(-ago)
		// A hold (storage.Transition.OpenUntil) put the opening ahead of
		// when it was made: this member holds off for its own
		// MaxHoldOpen at most from then (a Policy without one: a day),
		// whoever made the hold, and for the open period after it opened
		// at least.
		made := r.now // when it is not known: when Redis said so
		if r.maker != "" {
			made = min(r.madeAt, r.now)
		}
		if p := b.cfg.Policy(); r.openedAt > made && p.MaxHoldOpen > 0 {
			madeHere := now.Add(-time.Duration(r.now-made) * time.Millisecond)
			if last := madeHere.Add(p.MaxHoldOpen); s.OpenedAt.Add(p.OpenFor(s)).After(last) {
				s.OpenedAt = later(last.Add(-p.OpenFor(s)), madeHere)
			}
		}
	case r.state == infuse.Closed && r.openedAt > 0:
		// When it closed after a recovery, the same way.
		ago := time.Duration(max(r.now-r.openedAt, 0)) * time.Millisecond
		s.ClosedAt = now.Add(-ago)
	}
	return s
}

// ownAnswer takes the answer to one of the breaker's own calls, which
// adopts the snapshot it returns; made tells whether the call made the
// change that snapshot is.
func (b *binding) ownAnswer(r reply, n uint64) (snap storage.Snapshot, made bool) {
	b.s.recovered()
	b.mu.Lock()
	after, outran, fire := b.answered(r, n)
	snap = b.local
	b.mu.Unlock()
	if after != nil {
		after()
	}
	if outran != nil {
		b.cfg.Made(*outran)
	}
	if fire != nil {
		fire(snap)
	}
	return snap, r.changed && outran == nil
}

// answered takes the answer r (request n) to one of the breaker's own
// calls: it applies it and ends the call (ownEnd, whose fire tells the
// breaker of a change held meanwhile). When the binding learned a newer
// change while the call was under way, outran is the change the call
// made: the breaker hears of it as its own (Made: in order if the newer
// one was held from it, else late), and the call claims nothing. b.mu is
// held; after (a report of replaced data) is for once it is let go.
func (b *binding) answered(r reply, n uint64) (after func(), outran *storage.Snapshot, fire func(storage.Snapshot)) {
	after = b.applyOwn(r, n)
	if first := b.supersede(); first != nil {
		after = inOrder(after, first)
	}
	fire = b.ownEnd(&r)
	if r.changed && r.inc == b.conf.inc && r.gen < b.conf.gen {
		s := b.snapshotOf(r.remote)
		outran = &s
	}
	return after, outran, fire
}

// ownEnd ends one of the breaker's own calls, whose answer (nil after an
// error) the binding has applied. When a change held meanwhile was not
// this call's, it returns how the breaker must still be told of it:
// Observe, or Made for a change this member's sender made (a trip its
// outcomes completed). b.mu is held.
func (b *binding) ownEnd(r *reply) func(storage.Snapshot) {
	b.inflight--

	switch {
	case !b.held:
		return nil
	case r != nil && r.changed && b.conf.sameIdentity(r.remote):
		b.held = false // the held change was this call's
		return nil
	case b.inflight > 0:
		return nil
	}
	b.held = false
	switch {
	case r == nil:
		return nil
	case b.heldMade:
		return b.cfg.Made
	}
	return b.cfg.Observe
}

// supersede lets go of a change held for the breaker's own calls in
// flight (see inflight) once the binding has applied a newer one: the
// breaker must hear of the held change first, in order, or a transition
// this member made would be reported by no member at all. It returns
// what tells the breaker, nil if nothing was held or the held change is
// still the binding's state. b.mu is held.
func (b *binding) supersede() func() {
	if !b.held || b.local.Generation == b.heldSnap.Generation {
		return nil
	}
	s := b.heldSnap
	tell := b.cfg.Observe
	if b.heldMade || s.Maker == storage.MakerHere {
		tell = b.cfg.Made
	}
	b.held, b.heldMade = false, false
	return func() { tell(s) }
}

// inOrder is a then b, either of them nil.
func inOrder(a, b func()) func() {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func() { a(); b() }
}

// relabel numbers the binding's own transitions on top of a new conf.
// Local trial permits of the old number are void. b.mu is held.
func (b *binding) relabel() {
	b.local.Generation = b.conf.gen<<provisionalBits + b.seq
	if b.local.Trials > 0 && len(b.permits) > 0 {
		b.local.Trials -= len(b.permits)
		clear(b.permits)
		clear(b.leases)
	}
}

func (b *binding) setConf(r remote, n uint64) {
	b.conf, b.confAt, b.learned, b.confN = r, time.Now(), b.s.issued.Load(), n
}

// applyAbsent takes a read that found no state. Nothing is lost if the
// breaker was idle; anything else is put back. b.mu is held.
func (b *binding) applyAbsent(n uint64) {
	if b.conf.gen != 0 && !b.conf.idle() && n > b.learned {
		b.restore = true
		b.enqueueLocked()
	}
}

// applyAsync applies a reply that arrived in the background (a read, or
// the answer to something the sender sent) and returns what tells the
// breaker, to run without locks: its snapshot if it changed, a report of
// replaced data.
func (b *binding) applyAsync(r reply, n uint64, own bool) func() {
	var report func()
	if r.corrupt {
		report = b.s.corrupt(b)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return report
	}
	if r.absent || (r.lapsed && !r.idle()) {
		// Nothing, or an open or forced state whose key lapsed: nothing
		// known for sure; a member that knew one puts its own back.
		b.applyAbsent(n)
		b.mu.Unlock()
		return report
	}
	changed := b.apply(r.remote, n)
	first := b.supersede()
	// The sender's own script made it (a trip its outcomes completed): the
	// breaker is told so even if another answer brought the state first.
	madeHere := own && r.changed && b.conf.sameIdentity(r.remote) && b.conf.gen == r.gen
	changed = changed || madeHere
	// It made a change the binding has learned newer ones than already:
	// the breaker hears of it late, as its own.
	var outran *storage.Snapshot
	if own && r.changed && r.inc == b.conf.inc && r.gen < b.conf.gen {
		o := b.snapshotOf(r.remote)
		outran = &o
	}
	if own {
		b.noteOpen(r)
	}
	if r.kept && !r.idle() && b.conf.sameIdentity(r.remote) {
		b.restore = true // its key was lost on its own: put it back
		b.enqueueLocked()
	}
	if changed && b.inflight > 0 && b.local.Maker != storage.MakerElsewhere {
		// This binding made it, or Redis does not say who did (a state an
		// older version wrote): the breaker's own calls in flight may
		// claim it from their answers. (Another's change is told at once:
		// Redis says whose it is.)
		b.held, changed = true, false
		b.heldMade, b.heldSnap = madeHere, b.local
	}
	s := b.local
	b.mu.Unlock()
	report = inOrder(report, first)
	if !changed && outran == nil {
		return report
	}
	tell := b.cfg.Observe
	if madeHere || s.Maker == storage.MakerHere {
		tell = b.cfg.Made // the breaker reports it as its own; others observe it
	}
	return func() {
		if report != nil {
			report()
		}
		if outran != nil {
			b.cfg.Made(*outran)
		}
		if changed {
			tell(s)
		}
	}
}

// callerDeadline is redisDeadline for a caller's path: OpTimeout, or the
// caller's own deadline if sooner, so that nothing is made after the
// caller gave up.
func (b *binding) callerDeadline(ctx context.Context) int64 {
	d := b.s.opts.OpTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(dl), time.Millisecond))
	}
	return b.redisDeadline(d)
}

// redisDeadline is when, on Redis's clock, a script sent now and waited on
// for d must stop changing anything; 0 (none) before the first reply.
func (b *binding) redisDeadline(d time.Duration) int64 {
	if !b.offsetSet.Load() {
		return 0
	}
	return max(hostMillis()+b.offset.Load()+d.Milliseconds(), 1)
}

var hostSkew atomic.Int64 // ms; zero but in tests

// hostMillis reads this host's clock, in ms since the epoch, moved by
// hostSkew: tests set the host's clock apart from Redis's.
func hostMillis() int64 {
	return time.Now().UnixMilli() + hostSkew.Load()
}

// openFor is the open period the breaker computes for its state; 0 unless
// open. b.mu is held.
func (b *binding) openFor() time.Duration {
	if b.local.State != infuse.Open {
		return 0
	}
	return b.cfg.Policy().OpenFor(b.local)
}

// batch is a run of closed-state outcomes, folded to what merging needs.
type batch struct {
	n      int  // outcomes
	before int  // failures before the first success (all, if none)
	saw    bool // a success
	after  int  // failures after the last success
}

func (a *batch) add(o storage.Outcome) {
	a.n++
	switch {
	case o == storage.OutcomeSuccess:
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

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
