package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// call is one script to run; result what came of it.
type call struct {
	sc   *luaScript
	keys []string
	args []any
}

type result struct {
	v    any
	err  error
	n    uint64    // the request's number
	sent time.Time // when it was sent
}

// runAll runs calls in one pipeline (split by node on a Cluster) and
// returns what each answered; more, if not nil, queues other commands in
// the same pipeline. A script is sent whole (EVAL) the first time, by its
// hash after; one that Redis has forgotten (a restart, a failover, SCRIPT
// FLUSH) is loaded again and its calls retried once.
func (s *Store) runAll(ctx context.Context, calls []call, more ...func(redis.Pipeliner)) []result {
	out := make([]result, len(calls))
	if len(calls) == 0 && len(more) == 0 {
		return out
	}
	sent := time.Now()
	cmds := make([]*redis.Cmd, len(calls))
	pipe := s.client.Pipeline()
	for i, c := range calls {
		out[i].n, out[i].sent = s.issued.Add(1), sent
		if _, ok := s.loaded.Load(c.sc); ok {
			cmds[i] = c.sc.EvalSha(ctx, pipe, c.keys, c.args...)
		} else {
			cmds[i] = c.sc.Eval(ctx, pipe, c.keys, c.args...)
		}
	}
	for _, f := range more {
		f(pipe)
	}
	_, _ = pipe.Exec(ctx)
	var again []int
	answered := false
	for i, cmd := range cmds {
		switch err := cmd.Err(); {
		case redis.HasErrorPrefix(err, "NOSCRIPT"):
			s.loaded.Delete(calls[i].sc)
			again = append(again, i)
			answered = true
		case err == nil || errors.As(err, new(redis.Error)):
			s.loaded.Store(calls[i].sc, true) // Redis has run it: it has it
			answered = answered || err == nil || isAnswer(err)
		}
	}
	if answered {
		s.recovered() // however late: Redis is there
	}
	if len(again) > 0 {
		pipe = s.client.Pipeline()
		for _, i := range again {
			c := calls[i]
			out[i].n, out[i].sent = s.issued.Add(1), time.Now()
			cmds[i] = c.sc.Eval(ctx, pipe, c.keys, c.args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for i, cmd := range cmds {
		out[i].v, out[i].err = cmd.Result()
	}
	return out
}

// run runs one script and decodes its reply about one breaker; sent is
// when the request went.
func (s *Store) run(ctx context.Context, b *binding, c call) (r reply, n uint64, sent time.Time, err error) {
	res := s.runAll(ctx, []call{c})[0]
	if res.err != nil {
		return reply{}, res.n, res.sent, fmt.Errorf("redisstore: breaker %q: %w", b.name, res.err)
	}
	r, err = decodeReply(res.v)
	if err != nil {
		return reply{}, res.n, res.sent, fmt.Errorf("redisstore: breaker %q: %w", b.name, err)
	}
	return r, res.n, res.sent, nil
}

// bounded runs f on a caller's path: it returns after wait (or when ctx
// is done) even if Redis has not answered, whatever the client's own
// timeouts, with errSlow. f's request goes on for DownAfter more, so that
// an answer that comes late is still seen (and tells that Redis is
// there); an error it ends with once the caller has left goes to late,
// if not nil.
func bounded[T any](s *Store, ctx context.Context, wait time.Duration, what string, f func(ctx context.Context) (T, error),
	late func(error)) (T, error) {
	var zero T
	if !s.enter() {
		return zero, errClosed
	}
	var left atomic.Int32 // 1: the caller took the outcome; 2: it stopped waiting
	rctx, cancel := context.WithTimeout(ctx, wait+s.opts.DownAfter)
	stop := context.AfterFunc(s.ctx, cancel)
	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer stop()
		v, err := f(rctx)
		if left.CompareAndSwap(0, 1) {
			done <- outcome{v, err}
		} else if err != nil && late != nil && ctx.Err() == nil {
			late(err)
		}
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	var why error
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		why = ctx.Err()
	case <-t.C:
		why = errSlow
	}
	if !left.CompareAndSwap(0, 2) {
		o := <-done // it came as the caller was leaving
		return o.v, o.err
	}
	return zero, fmt.Errorf("redisstore: %s: %w", what, why)
}

// errSlow is what a caller gets when Redis has not answered within
// OpTimeout: no failure of Redis yet (see health), and what Redis
// answers later is applied when it comes.
var errSlow = errors.New("no answer from Redis within OpTimeout")

// ask runs c, one of b's own calls, on a caller's path, and waits
// OpTimeout at most, or less if ctx ends first. What it returns:
//
//   - the answer (err nil), or an error Redis or the network gave in
//     time, already recorded (fail);
//   - later true: the caller stopped waiting (errSlow, or ctx's error).
//     The request goes on for DownAfter more, and late gets what comes
//     of it, on the request's goroutine: the answer, or the error. A
//     caller that stopped at OpTimeout leaves a request unanswered, which
//     health weighs; one whose own ctx ended leaves no evidence at all.
func (s *Store) ask(ctx context.Context, b *binding, c call, late func(r reply, n uint64, err error)) (r reply, n uint64, later bool, err error) {
	if !s.enter() {
		return reply{}, 0, false, errClosed
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout+s.opts.DownAfter)
	stop := context.AfterFunc(s.ctx, cancel)
	type outcome struct {
		r    reply
		n    uint64
		err  error
		sent time.Time
	}
	done := make(chan outcome, 1)
	var left atomic.Int32 // 1: the caller took the outcome; 2: it stopped waiting
	s.asking.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.asking.Add(-1)
		defer cancel()
		defer stop()
		r, n, sent, err := s.run(rctx, b, c)
		if err == nil && r.late {
			err = fmt.Errorf("redisstore: breaker %q: %w", b.name, errLate)
		}
		o := outcome{r, n, err, sent}
		if left.CompareAndSwap(0, 1) {
			done <- o
			return
		}
		if err != nil && !s.gaveUp(ctx, err) {
			s.fail(err, sent, b)
		}
		late(r, n, err)
	}()
	t := time.NewTimer(s.opts.OpTimeout)
	defer t.Stop()
	var why error
	select {
	case o := <-done:
		if o.err != nil && !s.gaveUp(ctx, o.err) {
			s.fail(o.err, o.sent, b)
		}
		return o.r, o.n, false, o.err
	case <-ctx.Done():
		why = ctx.Err()
	case <-t.C:
		why = errSlow
	}
	if !left.CompareAndSwap(0, 2) {
		o := <-done // it came as the caller was leaving
		if o.err != nil && !s.gaveUp(ctx, o.err) {
			s.fail(o.err, o.sent, b)
		}
		return o.r, o.n, false, o.err
	}
	if why == errSlow {
		s.h.unanswered(start, why)
	}
	return reply{}, 0, true, fmt.Errorf("redisstore: breaker %q: %w", b.name, why)
}

// releaseNow gives a lease back at once, for a store closed since the
// trial began (the sender is gone), within OpTimeout: otherwise the fleet
// would wait TrialLease for it.
func (s *Store) releaseNow(b *binding, id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.OpTimeout)
	defer cancel()
	b.mu.Lock()
	c := b.call(0, releaseArgs{FromGen: "0", Permits: []uint64{id}})
	b.mu.Unlock()
	_ = s.runAll(ctx, []call{c})
}

// gaveUp tells an error of a caller's own making: its context ended
// before Redis answered, or Redis ran the script past the caller's own
// deadline (sooner than OpTimeout). That is no Redis failure: nothing is
// counted, and the store is not taken off callers' paths.
func (s *Store) gaveUp(caller context.Context, err error) bool {
	if silence(err) {
		// Its context is done, or about to be: a network deadline set
		// from it may fire before the context's own timer does.
		if dl, ok := caller.Deadline(); caller.Err() != nil || ok && !time.Now().Before(dl) {
			return true
		}
	}
	dl, ok := caller.Deadline()
	return ok && errors.Is(err, errLate) && time.Until(dl) < s.opts.OpTimeout
}
