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

	"github.com/infuse-go/infuse/storage"
	"github.com/redis/go-redis/v9"
)

// Store keeps breaker state in Redis, shared by every breaker that binds
// to it under one Namespace and Name, in this process and in every other.
// Use it as Config.Storage for any number of breakers. See the package
// documentation for the consistency model and the cost.
//
// A Store runs four goroutines: a sender (outcomes and this process's
// transitions), a reader (the heartbeat, the safety-net poll and the reads
// that hints ask for), a window sender, and a pub/sub listener; a fifth
// reads the shadows operators start (Options.Shadows). Close stops them.
type Store struct {
	client redis.UniversalClient
	opts   Options
	l      *layout
	id     string // this member: its heartbeat and registrations

	mu       sync.Mutex
	bindings map[string][]*binding // by breaker name

	h       health        // whether callers stay off Redis (see health.go)
	errs    atomic.Int64  // store errors seen
	ignored atomic.Int64  // messages on the channel that were no hint
	sh      shadowState   // the shadows operators started (Options.Shadows)
	issued  atomic.Uint64 // numbers every request sent: see binding.learned
	bindSeq atomic.Uint64 // numbers bindings
	loaded  sync.Map      // of *redis.Script: sent whole once, so Redis has it
	binds   atomic.Int64  // Bind calls so far
	asking  atomic.Int64  // callers' requests under way (see ask)
	telling atomic.Int64  // changes bindings took in, not yet told their breakers (see applyAsync)

	// The sender's queue: bindings with something to send, and names to
	// unregister.
	qmu      sync.Mutex
	queue    map[*binding]struct{}
	unreg    map[string]struct{}
	sendKick chan struct{}
	sendMu   sync.Mutex // one round of sends at a time

	// The reader's state.
	readKick chan struct{}
	hinted   atomic.Uint32 // buckets whose hints are not read yet
	// hintWaits tells the sender that hints wait for its round's answers
	// (see readHinted).
	hintWaits  atomic.Bool
	hintWaited bool                              // the reader's: the hints it has now waited once
	lastSeen   [nBuckets]atomic.Pointer[counter] // the counter last read (n -1: never)
	readMu     sync.Mutex                        // one round of reads at a time
	tokens     float64                           // hint reads allowed now (under readMu)
	tokensAt   time.Time
	reRegister atomic.Bool // register every bound breaker again on the next heartbeat
	registered atomic.Bool // the heartbeat has been seen once

	winMu sync.Mutex // one round of window sends at a time

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the background goroutines and bounded calls
	closing  atomic.Bool    // Close has begun
	closed   atomic.Bool    // callers may no longer use Redis
	life     sync.RWMutex   // orders enter's wg.Add before Close's wg.Wait
	subReady chan struct{}  // closed once the subscription is confirmed or given up
	seqReady chan struct{}  // closed once the buckets' counters were read or given up
}

// Hint reads: at most hintRate a second, in bursts of up to nBuckets, so
// that a flood of messages on the channel costs Redis a bounded load.
const hintRate = 100

// New returns a Store on client. It never fails and never waits for Redis:
// with Redis down, breakers bound to it work from local state until Redis
// is back. It does not close client.
func New(client redis.UniversalClient, opts Options) *Store {
	opts.fill()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		client:   client,
		opts:     opts,
		l:        newLayout(opts.Namespace),
		id:       strconv.FormatUint(rand.Uint64(), 36),
		bindings: make(map[string][]*binding),
		queue:    make(map[*binding]struct{}),
		unreg:    make(map[string]struct{}),
		sendKick: make(chan struct{}, 1),
		readKick: make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		subReady: make(chan struct{}),
		seqReady: make(chan struct{}),
		tokens:   nBuckets,
		tokensAt: time.Now(),
		h:        health{downAfter: opts.DownAfter, retry: opts.RetryInterval},
	}
	for k := range s.lastSeen {
		s.setSeen(k, counter{n: -1})
	}
	s.wg.Add(4)
	go s.listen()
	go s.sender()
	go s.reader()
	go s.windows()
	if opts.Shadows {
		s.wg.Add(1)
		go s.shadowsLoop()
	}
	return s
}

// Close stops the store's goroutines and waits for them and for calls in
// flight, OpTimeout (and 100ms) at most in all: a call the client does not
// let cancel ends on its own, within the client's timeouts. Breakers bound to
// it keep their last state and stop sharing it. Unless Redis is failing,
// it first sends what the breakers gathered and leaves the fleet (its
// registrations and its heartbeat), so that operators' member counts drop
// at once.
func (s *Store) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	deadline := time.Now().Add(s.opts.OpTimeout)
	if !s.degraded() {
		_, _ = bounded(s, s.ctx, s.opts.OpTimeout, "closing", func(ctx context.Context) (struct{}, error) {
			s.sendRound(ctx, true)
			s.eachBucket(ctx, "leaving", func(knames []string) onBucket { return unregisterArgs{Member: s.id, KNames: knames} })
			// A heartbeat of long ago: the next member to send its own
			// reaps whatever this one registers after this.
			return struct{}{}, s.client.ZAdd(ctx, s.l.members, redis.Z{Score: 0, Member: s.id}).Err()
		}, nil)
	}
	s.life.Lock()
	s.closed.Store(true)
	s.life.Unlock()
	s.cancel()
	// Wait for the goroutines, but not for a call to Redis that ignores
	// the cancellation (a client without ContextTimeoutEnabled waits out
	// its ReadTimeout): that one ends on its own.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(max(time.Until(deadline), 0) + 100*time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return nil
}

// Errors returns the number of Redis errors the store has met.
func (s *Store) Errors() int64 { return s.errs.Load() }

// Ignored returns the number of messages on the store's channel that it
// ignored because they were no hint: anyone who can PUBLISH can send them,
// so they are counted here, never logged nor passed to a breaker's
// OnError (a flood of them would otherwise flood the logs).
func (s *Store) Ignored() int64 { return s.ignored.Load() }

// Key returns the key of the hash that holds a breaker's state, for
// operators and tests.
func (s *Store) Key(name string) string { return s.l.stateKey(name) }

// Namespace returns Options.Namespace.
func (s *Store) Namespace() string { return s.opts.Namespace }

// degraded tells whether Redis is taken for unreachable now: callers are
// answered from local state alone (see health).
func (s *Store) degraded() bool { return s.h.down() }

// alone tells whether the store's breakers act on their own: Redis is
// taken for unreachable, or the store is closed.
func (s *Store) alone() bool { return s.degraded() || s.closed.Load() }

// fail records the error of a request sent at sent: it is counted,
// reported to the bindings' listeners, and weighed as evidence that Redis
// is unreachable (see health); an error that came with an answer (bad
// data, a script run too late) is no such evidence.
func (s *Store) fail(err error, sent time.Time, to ...*binding) {
	if after := s.failLater(err, sent, to...); after != nil {
		after()
	}
}

// failLater is fail for code that holds a lock: it counts the error now
// and returns the listeners' part for later.
func (s *Store) failLater(err error, sent time.Time, to ...*binding) func() {
	if s.closed.Load() && (errors.Is(err, context.Canceled) || errors.Is(err, errClosed)) {
		return nil // the store is closing: its own work was cut short
	}
	s.errs.Add(1)
	if isAnswer(err) {
		s.h.answered()
	} else {
		s.h.unanswered(sent, err)
	}
	if len(to) == 0 {
		return nil
	}
	return func() {
		for _, b := range to {
			b.cfg.OnError(err)
		}
	}
}

// recovered records an answer from Redis.
func (s *Store) recovered() { s.h.answered() }

// notes are the callbacks (Observe, OnError) a round of sends or reads
// gathers while it holds the store's locks, to run once it has let go of
// them: a breaker's listeners may call the breaker, or the store, back.
type notes []func()

func (n *notes) add(f func()) {
	if f != nil {
		*n = append(*n, f)
	}
}

func (n *notes) run() {
	for _, f := range *n {
		f()
	}
	*n = nil
}

// corrupt counts data that a script found in Redis and replaced, and
// returns its report to the breaker's listeners, to make without locks.
func (s *Store) corrupt(b *binding) func() {
	s.errs.Add(1)
	err := fmt.Errorf("redisstore: breaker %q: %w: replaced it", b.name, errBadReply)
	return func() { b.cfg.OnError(err) }
}

var errClosed = errors.New("redisstore: store is closed")

// enter counts a call in flight (in s.wg), unless the store is closed.
func (s *Store) enter() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// Bind implements storage.Storage. It waits at most OpTimeout for Redis;
// without an answer the breaker starts from cfg.InitialState locally and
// joins the shared state once Redis answers.
func (s *Store) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	cfg, err := cfg.Check()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	b := newBinding(s, cfg)
	s.binds.Add(1)
	s.mu.Lock()
	s.bindings[cfg.Name] = append(s.bindings[cfg.Name], b)
	s.mu.Unlock()

	if !s.degraded() {
		// Let the subscription settle first (once per store, half of
		// OpTimeout at most), so that the hint of a change made right
		// after Bind's read is not missed (the poll would catch it).
		start := time.Now()
		t := time.NewTimer(s.opts.OpTimeout / 2)
		select {
		case <-s.subReady:
		case <-t.C:
		}
		t.Stop()
		err := b.bind(s.opts.OpTimeout - time.Since(start))
		if err == nil {
			s.recovered()
			s.applyShadow(b)
			return b, nil
		}
		if errors.Is(err, errSlow) {
			s.h.unanswered(start, err) // no failure yet: the sender binds it
		} else {
			s.fail(err, start, b)
		}
	}
	b.enqueue() // the sender binds it when Redis answers
	s.applyShadow(b)
	return b, nil
}

func (s *Store) unbind(b *binding) {
	s.mu.Lock()
	list := s.bindings[b.name]
	for i, o := range list {
		if o == b {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	s.forgetShadow(b)
	last := len(list) == 0
	if last {
		delete(s.bindings, b.name)
	} else {
		s.bindings[b.name] = list
	}
	s.mu.Unlock()
	if last && !s.closed.Load() {
		s.qmu.Lock()
		s.unreg[b.name] = struct{}{}
		s.qmu.Unlock()
		s.kickSender()
	}
}

func (s *Store) named(name string) []*binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*binding(nil), s.bindings[name]...)
}

func (s *Store) all() []*binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*binding
	for _, list := range s.bindings {
		out = append(out, list...)
	}
	return out
}

// boundNames returns the names bound in this store, by bucket.
func (s *Store) boundNames() [nBuckets][]string {
	var out [nBuckets][]string
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.bindings {
		k := bucketOf(name)
		out[k] = append(out[k], name)
	}
	return out
}

// Sync sends everything the bindings have gathered (outcomes, windows,
// transitions made while Redis was away), then reads every bound breaker's
// state from Redis: after it, each breaker on this store has adopted every
// transition committed before the call and the merged run of failures as
// Redis held it. It reads every bound breaker, so its cost grows with
// them: it is for tests and for an orderly shutdown, not for a loop. A
// listener must not call it: it waits for the breakers' listeners to have
// been told.
func (s *Store) Sync(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	for _, c := range []chan struct{}{s.subReady, s.seqReady} {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Callers' requests still under way (their callers stopped waiting)
	// end first: what they made, or must send again, counts.
	if err := drain(ctx, &s.asking); err != nil {
		return err
	}
	var err error
	for range 3 {
		s.sendRound(ctx, true)
		s.sendWindows(ctx)
		if err = s.readBound(ctx); err != nil {
			continue
		}
		if !s.pending() {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("redisstore: sync: %w", err)
	}
	if s.pending() {
		s.sendRound(ctx, true)
	}
	// A change the reader or the sender took in just before (the binding
	// has it, so the reads above found nothing new) may not have reached
	// its breaker yet: a busy host can hold that goroutine between the
	// two. Sync returns once it has.
	return drain(ctx, &s.telling)
}

// drain waits until n is 0, or ctx ends.
func drain(ctx context.Context, n *atomic.Int64) error {
	for n.Load() > 0 {
		t := time.NewTimer(time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// scripts are every script the store runs.
var scripts = []*luaScript{bindScript, reportScript, transitionScript, acquireScript, settleScript,
	releaseScript, setModeScript, raiseScript, noteScript, readScript, changesScript, windowScript,
	registerScript, unregisterScript, reapScript, renewScript}

// loadScripts puts the store's scripts in Redis's script cache when the
// store starts (half by the reader, half by the sender, so that each
// finds a connection open in the client's pool), and marks them loaded:
// the first failure of the first outage then goes as a short EVALSHA
// rather than the script's whole text, which Redis would hash again. A
// script Redis has lost since (a restart, SCRIPT FLUSH) is sent whole
// again on its next use (see runAll). (Not with redis.Script.Load, which
// on a pipeline sets the script's hash to the empty reply it has before
// the pipeline runs.)
func (s *Store) loadScripts(ctx context.Context, half int) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	var some []*luaScript
	for i, sc := range scripts {
		if i%2 == half {
			some = append(some, sc)
		}
	}
	if c, ok := s.client.(*redis.ClusterClient); ok {
		for _, sc := range some { // SCRIPT LOAD on every master
			if sha, err := c.ScriptLoad(ctx, sc.src).Result(); err == nil && sha == sc.Hash() {
				s.loaded.Store(sc, true)
			}
		}
		return
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(some))
	for i, sc := range some {
		cmds[i] = pipe.ScriptLoad(ctx, sc.src)
	}
	_, _ = pipe.Exec(ctx)
	if _, ring := s.client.(*redis.Ring); ring {
		return // loaded on one shard only
	}
	for i, cmd := range cmds {
		if sha, err := cmd.Result(); err == nil && sha == some[i].Hash() {
			s.loaded.Store(some[i], true)
		}
	}
}

// memberID is the id the bind script registers: none for an operator's
// store (Options.Operator).
func (s *Store) memberID() string {
	if s.opts.Operator {
		return ""
	}
	return s.id
}
