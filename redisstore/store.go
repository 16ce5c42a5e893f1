package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
)

// Options configures a Store. Every zero value means the documented
// default.
type Options struct {
	// Namespace prefixes every key and the pub/sub channel, so that
	// applications (or environments) sharing one Redis do not share
	// breakers. Empty means "infuse".
	Namespace string
	// OpTimeout bounds how long a call waits on Redis: the call whose
	// failure trips the breaker, a trial's permit and outcome, a manual
	// transition, Bind. Past it the call goes on with local state. Zero
	// means 100ms. A closed-state call never waits on Redis at all.
	OpTimeout time.Duration
	// FlushInterval is how long outcomes gather before they are sent to
	// Redis in one script per breaker. Zero means 5ms.
	FlushInterval time.Duration
	// RefreshInterval is how often every bound breaker's state is re-read
	// (and its keys' TTL renewed): the safety net for a lost pub/sub
	// message. Zero means 1s.
	RefreshInterval time.Duration
	// RetryInterval is how long the store answers from local state alone
	// after Redis failed, before it tries Redis on a caller's path again.
	// The background keeps trying meanwhile. Zero means 1s.
	RetryInterval time.Duration
	// TTL is how long a breaker's keys outlive its last use. Zero means
	// 24h. It must exceed the longest ResetTimeout in use.
	TTL time.Duration
	// TrialLease is how long a half-open trial permit is held for a member
	// that dies before giving it back. Zero means 30s.
	TrialLease time.Duration
	// WindowInterval is how often each member sends its time window's
	// growth to the fleet's window (breakers with a time Window and a
	// rate). Zero means 100ms.
	WindowInterval time.Duration
}

func (o *Options) fill() {
	if o.Namespace == "" {
		o.Namespace = "infuse"
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 100 * time.Millisecond
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.TrialLease <= 0 {
		o.TrialLease = 30 * time.Second
	}
	if o.WindowInterval <= 0 {
		o.WindowInterval = 100 * time.Millisecond
	}
}

// Store keeps breaker state in Redis, shared by every breaker that binds
// to it under one Namespace and Name, in this process and in every other.
// Use it as Config.Storage for any number of breakers. See the package
// documentation for the consistency model.
//
// A Store runs two goroutines: one sends outcomes and re-reads state, one
// listens for other members' transitions. Close stops them.
type Store struct {
	client  redis.UniversalClient
	opts    Options
	channel string

	mu       sync.Mutex
	bindings map[string][]*binding // by breaker name

	kick          chan struct{} // a binding has something to send
	refreshSoon   chan struct{} // a breaker opened: record its open period for operators
	degradedUntil atomic.Int64  // unix ns; Redis is not tried on callers' paths before it
	errs          atomic.Int64  // store errors seen

	id      string // tells this store's Sync messages from other stores'
	syncMu  sync.Mutex
	syncSeq atomic.Uint64
	bindSeq atomic.Uint64
	synced  map[uint64]chan struct{}

	flushMu sync.Mutex // one flush at a time
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the background goroutines and bounded calls
	closed  atomic.Bool
	ready   chan struct{} // closed once the subscription is confirmed or given up
}

// New returns a Store on client. It never fails and never waits for Redis:
// with Redis down, breakers bound to it work from local state until Redis
// is back. It does not close client.
func New(client redis.UniversalClient, opts Options) *Store {
	opts.fill()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		client:      client,
		opts:        opts,
		channel:     opts.Namespace + ":events",
		bindings:    make(map[string][]*binding),
		kick:        make(chan struct{}, 1),
		refreshSoon: make(chan struct{}, 1),
		synced:      make(map[uint64]chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		ready:       make(chan struct{}),
		id:          strconv.FormatUint(rand.Uint64(), 36),
	}
	s.wg.Add(2)
	go s.listen()
	go s.background()
	return s
}

// Close stops the store's goroutines and waits for them and for calls in
// flight. Breakers bound to it keep their last state and stop sharing it.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Errors returns the number of Redis errors the store has met.
func (s *Store) Errors() int64 { return s.errs.Load() }

// keys returns a breaker's two keys: its state and its trial leases,
// hash-tagged on the name so they share a Cluster slot.
func (s *Store) keys(name string) []string {
	base := s.opts.Namespace + ":{" + name + "}"
	return []string{base, base + ":trials", base + ":window", base + ":members"}
}

// Key returns the key of the hash that holds a breaker's state, for
// operators and tests.
func (s *Store) Key(name string) string { return s.keys(name)[0] }

func (s *Store) degraded() bool { return time.Now().UnixNano() < s.degradedUntil.Load() }

// fail records a Redis error: it is counted, reported to the bindings'
// listeners, and keeps callers off Redis for RetryInterval.
func (s *Store) fail(err error, to []*binding) {
	s.errs.Add(1)
	s.degradedUntil.Store(time.Now().Add(s.opts.RetryInterval).UnixNano())
	for _, b := range to {
		b.cfg.OnError(err)
	}
}

func (s *Store) recovered() { s.degradedUntil.Store(0) }

// run runs a script for one breaker and decodes its reply, seeding the
// state first if Redis has none (a new breaker, an expired key, a Redis
// that lost its data).
func (s *Store) run(ctx context.Context, b *binding, sc *redis.Script, deadline int64, args ...any) (reply, error) {
	keys := s.keys(b.name)
	argv := append([]any{s.channel, b.name, s.opts.TTL.Milliseconds(), b.id, deadline}, args...)
	for attempt := 0; ; attempt++ {
		v, err := sc.Run(ctx, s.client, keys, argv...).Result()
		if err != nil {
			return reply{}, fmt.Errorf("redisstore: breaker %q: %w", b.name, err)
		}
		r, err := decodeReply(v)
		if err != nil {
			return reply{}, fmt.Errorf("redisstore: breaker %q: %w", b.name, err)
		}
		if r.corrupt {
			s.fail(fmt.Errorf("redisstore: breaker %q: %w: replaced it", b.name, errBadReply), []*binding{b})
		}
		if !r.absent || attempt > 0 || sc == bindScript {
			return r, nil
		}
		seed := b.seed()
		sr, err := s.run(ctx, b, bindScript, 0, seed...)
		if err != nil {
			return reply{}, err
		}
		b.applyAsync(sr) // what the seeding found or made
	}
}

// bounded runs a script on a caller's path: it returns after OpTimeout (or
// when ctx is done) even if Redis has not answered, whatever the client's
// own timeouts.
func (s *Store) bounded(ctx context.Context, b *binding, sc *redis.Script, args ...any) (reply, error) {
	if s.closed.Load() {
		return reply{}, errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	deadline := b.redisDeadline(s.opts.OpTimeout)
	type result struct {
		r   reply
		err error
	}
	done := make(chan result, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		r, err := s.run(ctx, b, sc, deadline, args...)
		done <- result{r, err}
	}()
	select {
	case res := <-done:
		return res.r, res.err
	case <-ctx.Done():
		return reply{}, fmt.Errorf("redisstore: breaker %q: %w", b.name, ctx.Err())
	}
}

var errClosed = errors.New("redisstore: store is closed")

// Bind implements infuse.Storage. It waits at most OpTimeout for Redis;
// without an answer the breaker starts from cfg.InitialState locally and
// joins the shared state once Redis answers.
func (s *Store) Bind(cfg infuse.BindConfig) (infuse.Binding, error) {
	cfg, err := cfg.Check()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	b := newBinding(s, cfg)
	s.mu.Lock()
	s.bindings[cfg.Name] = append(s.bindings[cfg.Name], b)
	s.mu.Unlock()

	if !s.degraded() {
		// Let the subscription settle first (at most OpTimeout, once per
		// store), so that no transition published after Bind is missed.
		t := time.NewTimer(s.opts.OpTimeout)
		select {
		case <-s.ready:
		case <-t.C:
		}
		t.Stop()
		r, err := s.bounded(context.Background(), b, bindScript, b.seed()...)
		if err == nil {
			s.recovered()
			b.applyReply(r)
			return b, nil
		}
		s.fail(err, []*binding{b})
	}
	b.markDirty() // the background binds it when Redis answers
	return b, nil
}

func (s *Store) unbind(b *binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.bindings[b.name]
	for i, o := range list {
		if o == b {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.bindings, b.name)
	} else {
		s.bindings[b.name] = list
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

// signal wakes the background goroutine to send what bindings gathered.
func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// background sends outcomes and pending transitions FlushInterval after
// they appear, and re-reads every breaker each RefreshInterval.
func (s *Store) background() {
	defer s.wg.Done()
	refresh := time.NewTicker(s.opts.RefreshInterval)
	defer refresh.Stop()
	window := time.NewTicker(s.opts.WindowInterval)
	defer window.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-window.C:
			s.sendWindows(s.ctx)
		case <-s.refreshSoon:
			s.refreshAll(s.ctx)
		case <-s.kick:
			t := time.NewTimer(s.opts.FlushInterval)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			s.flush(s.ctx)
		case <-refresh.C:
			s.flush(s.ctx)
			s.refreshAll(s.ctx)
		}
	}
}

// flush sends every binding's gathered outcomes and pending changes.
func (s *Store) flush(ctx context.Context) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for _, b := range s.all() {
		if err := b.flush(ctx); err != nil {
			s.fail(err, s.named(b.name))
			s.retryLater()
			return
		}
	}
}

// retryLater wakes the background again after RetryInterval, so pending
// work is retried without a caller's kick.
func (s *Store) retryLater() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.opts.RetryInterval)
		defer t.Stop()
		select {
		case <-s.ctx.Done():
		case <-t.C:
			s.signal()
		}
	}()
}

// sendWindows sends each merging binding's window growth.
func (s *Store) sendWindows(ctx context.Context) {
	for _, b := range s.all() {
		if !b.MergesWindows() {
			continue
		}
		if err := b.sendWindow(ctx); err != nil {
			s.fail(err, []*binding{b})
			return
		}
	}
}

func (s *Store) refreshAll(ctx context.Context) {
	seen := make(map[string]bool)
	for _, b := range s.all() {
		if seen[b.name] {
			continue
		}
		seen[b.name] = true
		ctx, cancel := context.WithTimeout(ctx, s.opts.RetryInterval)
		r, err := s.run(ctx, b, refreshScript, 0, b.id, b.openFor().Milliseconds())
		cancel()
		if err != nil {
			s.fail(err, s.named(b.name))
			return
		}
		s.recovered()
		for _, o := range s.named(b.name) {
			o.applyAsync(r)
		}
	}
}

// listen applies the transitions other members publish.
func (s *Store) listen() {
	defer s.wg.Done()
	ps := s.client.Subscribe(s.ctx, s.channel)
	defer ps.Close()
	// Wait for the confirmation, so that Sync can rely on the
	// subscription; with Redis down, the channel below resubscribes when
	// it is back.
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.OpTimeout)
	_, _ = ps.Receive(ctx)
	cancel()
	close(s.ready)
	ch := ps.Channel()
	for {
		select {
		case <-s.ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			s.receive(msg.Payload)
		}
	}
}

func (s *Store) receive(payload string) {
	if rest, ok := strings.CutPrefix(payload, syncPrefix); ok {
		id, num, _ := strings.Cut(rest, " ")
		if n, err := strconv.ParseUint(num, 10, 64); err == nil && id == s.id {
			s.syncMu.Lock()
			if c, ok := s.synced[n]; ok {
				close(c)
				delete(s.synced, n)
			}
			s.syncMu.Unlock()
		}
		return
	}
	name, origin, r, err := decodeMessage(payload)
	if err != nil {
		s.errs.Add(1)
		for _, b := range s.all() {
			b.cfg.OnError(err)
		}
		return
	}
	for _, b := range s.named(name) {
		if b.id != origin { // a binding applies its own scripts' replies itself
			b.applyAsync(reply{remote: r})
		}
	}
}

// Sync sends everything the bindings have gathered (outcomes, windows),
// then waits until every
// message published before has been received and applied: after it, each
// breaker on this store has seen every transition made before the call,
// here or by another member that had synced. It is for tests and for
// orderly shutdown.
func (s *Store) Sync(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.flush(ctx)
	s.sendWindows(ctx)
	s.refreshAll(ctx)
	n := s.syncSeq.Add(1)
	c := make(chan struct{})
	s.syncMu.Lock()
	s.synced[n] = c
	s.syncMu.Unlock()
	defer func() {
		s.syncMu.Lock()
		delete(s.synced, n)
		s.syncMu.Unlock()
	}()
	if err := s.client.Publish(ctx, s.channel, syncPrefix+s.id+" "+strconv.FormatUint(n, 10)).Err(); err != nil {
		return fmt.Errorf("redisstore: sync: %w", err)
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redisstore: sync: %w", ctx.Err())
	}
}
