package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// Generations. A binding's snapshots number Redis's generation G as
// G<<provisionalBits. Transitions the binding makes on its own, while Redis
// is out of reach, are numbered G<<provisionalBits + k: newer than G, older
// than anything Redis will number next. So the breaker adopts them, and
// then adopts whatever Redis says once it answers again.
const provisionalBits = 20

// errDegraded is what a manual transition or mode returns when it was
// made locally only: Redis is taken for unreachable (see health), or did
// not answer in time. The sender pushes it when Redis answers.
var errDegraded = errors.New("redisstore: Redis did not confirm it; applied locally, to be shared when Redis answers unless the fleet has moved on")

// maxMoves bounds the moves a binding remembers; maxRetries the batches
// it keeps to send again.
const (
	maxMoves   = 64
	maxRetries = 1024
)

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

// checkLocks has every method that needs b.mu held check that it is
// (mustHold): on in this package's tests (export_test.go), so that the
// lock discipline is checked by every test that runs the code rather than
// by comments; off in production, where mustHold costs one load.
var checkLocks bool

// mustHold panics, when checkLocks is on, unless b.mu is held. A
// sync.Mutex does not say by whom: a check made while another goroutine
// holds it passes, so it catches a caller that forgot the lock whenever
// that caller runs uncontended, as tests mostly do.
func (b *binding) mustHold() {
	if checkLocks && b.mu.TryLock() {
		b.mu.Unlock()
		panic("redisstore: binding." + callerName() + " called without b.mu held")
	}
}

// callerName is the name of mustHold's caller, for its panic.
func callerName() string {
	pc, _, _, _ := runtime.Caller(2)
	name := runtime.FuncForPC(pc).Name()
	return name[strings.LastIndex(name, ".")+1:]
}

func newBinding(s *Store, cfg storage.BindConfig) *binding {
	b := &binding{s: s, name: cfg.Name, kname: escape(cfg.Name), bucket: bucketOf(cfg.Name), cfg: cfg, seq: 1,
		permits: make(map[uint64]struct{}), leases: make(map[uint64]lease)}
	b.id = s.id + "." + strconv.FormatUint(s.bindSeq.Add(1), 36)
	b.local = storage.Snapshot{State: cfg.InitialState, Generation: 1}
	if cfg.InitialState == storage.Open {
		b.local.OpenedAt = cfg.Clock.Now()
	}
	return b
}

// call is the script of a's kind on this breaker, with its context (see
// scriptargs.go) and a. b.mu is held.
func (b *binding) call(deadline int64, a onBreaker) call {
	b.mustHold()
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
	b.mustHold()
	o := &b.s.opts
	var (
		inc       string
		g         uint64
		st        storage.State
		el        int64
		f, tr     int
		md        storage.Mode
		openSince time.Duration
	)
	recovered := false // closed from open or half-open: openSince is since it closed
	if c := b.conf; c.gen != 0 {
		inc, g, st, f, md, tr = c.inc, c.gen, c.state, c.failures, c.mode, c.trips
		// A hold may have put the opening ahead (see holdShift).
		openSince = time.Duration(max(c.now-c.openedAt, -maxHoldAhead.Milliseconds()))*time.Millisecond + time.Since(b.confAt)
		recovered = c.state == storage.Closed && c.openedAt > 0
	} else {
		st, f, md, tr = b.local.State, b.local.Failures, b.local.Mode, b.local.Trips
		openSince = b.cfg.Clock.Now().Sub(b.local.OpenedAt)
		if st == storage.Closed && !b.local.ClosedAt.IsZero() {
			openSince, recovered = b.cfg.Clock.Now().Sub(b.local.ClosedAt), true
		}
		g = 1
	}
	if st == storage.Closed && md == storage.ModeNormal {
		f = 0
	} else if b.conf.gen == 0 {
		g = 0 // a new state: the script numbers it 1
	}
	switch {
	case st == storage.Open:
		el = max(openSince.Milliseconds(), -maxHoldAhead.Milliseconds())
	case recovered && md == storage.ModeNormal:
		// When it closed, so that a restore keeps the ramp's start: 1 ms
		// at least, 0 being a close from closed.
		el = max(openSince.Milliseconds(), 1)
	}
	return breakerCtx{KName: b.kname, TTL: o.TTL.Milliseconds(), IdleTTL: o.IdleTTL.Milliseconds(), Deadline: deadline,
		Nonce: strconv.FormatUint(rand.Uint64(), 36), SeedInc: inc, SeedGen: g, SeedState: st, SeedElapsed: el,
		SeedFailures: f, SeedMode: md, SeedTrips: tr, Binding: b.id}
}

// from is the confirmed generation, as scripts compare it. b.mu is held.
func (b *binding) from() (string, string) {
	b.mustHold()
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
		if r.corrupt {
			// Reported when the answer comes, even after OpTimeout: the
			// script replaced the data then, and no later read sees it.
			b.s.corrupt(b)()
		}
		if r.extra != 1 { // Redis holds a state
			return bound{r: r, n: res.n}, nil
		}
		return bound{r: r, n: res.n, legacy: legacy()}, nil
	}, func(err error) { b.s.fail(err, start, b) })
	if err != nil {
		return err
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

func (b *binding) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.s.unbind(b)
	return nil
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
	b.mustHold()
	if b.local.State != storage.Open {
		return 0
	}
	return b.cfg.Policy().OpenFor(b.local)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
