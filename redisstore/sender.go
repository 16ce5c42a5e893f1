package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// The sender sends what bindings gather: outcomes, transitions made while
// Redis was away, trial permits given back, restores and raises, open
// periods for operators, and unregistrations. It has a goroutine of its
// own, so an outcome never waits behind a read.
//
// Outcomes are paced per breaker: the first failure after a quiet
// FlushInterval goes at once; later ones gather and go at most once per
// FlushInterval. Everything that is ready goes in one pipeline.

func (s *Store) kickSender() {
	select {
	case s.sendKick <- struct{}{}:
	default:
	}
}

// enqueue gives the binding to the sender, and wakes it unless the
// binding was queued already (then the sender knows when to come back to
// it).
func (b *binding) enqueue() {
	b.s.qmu.Lock()
	_, queued := b.s.queue[b]
	b.s.queue[b] = struct{}{}
	b.s.qmu.Unlock()
	if !queued {
		b.s.kickSender()
	}
}

// enqueueLocked is enqueue with b.mu held (the lock order is b.mu, then
// the queue's).
func (b *binding) enqueueLocked() {
	b.mustHold()
	b.enqueue()
}

func (s *Store) sender() {
	defer s.wg.Done()
	s.loadScripts(s.ctx, 1)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.sendKick:
		case <-t.C:
		}
		wait, failed := s.sendRound(s.ctx, false)
		if failed {
			// Redis failed: try again after RetryInterval, not on every
			// new outcome.
			r := time.NewTimer(s.opts.RetryInterval)
			select {
			case <-s.ctx.Done():
				r.Stop()
				return
			case <-r.C:
			}
			s.kickSender()
			continue
		}
		t.Stop()
		if wait > 0 {
			t.Reset(wait)
		}
	}
}

// op is one script the sender runs for a binding, and what to do with its
// answer.
type op struct {
	call
	done func(res result) (after func())
}

// sendRound sends everything ready (everything, if all) in one pipeline.
// It returns how long until paced outcomes are ready, and whether Redis
// failed.
func (s *Store) sendRound(ctx context.Context, all bool) (wait time.Duration, failed bool) {
	var out notes
	defer out.run() // after the lock is let go
	s.sendMu.Lock()
	defer func() {
		s.sendMu.Unlock()
		// A hint that waited for this round is read now (see readHinted),
		// whichever way the round ended.
		if s.hintWaits.Swap(false) {
			s.kickReader()
		}
	}()
	s.qmu.Lock()
	queue := make([]*binding, 0, len(s.queue))
	for b := range s.queue {
		queue = append(queue, b)
	}
	clear(s.queue)
	var unreg map[string]struct{}
	if len(s.unreg) > 0 {
		unreg, s.unreg = s.unreg, make(map[string]struct{})
	}
	s.qmu.Unlock()

	now := time.Now()
	var ops []op
	for _, b := range queue {
		more, w := b.prepare(now, all)
		ops = append(ops, more...)
		if w > 0 {
			// Back in the queue, quietly: the sender comes back after w.
			s.qmu.Lock()
			s.queue[b] = struct{}{}
			s.qmu.Unlock()
			if wait == 0 || w < wait {
				wait = w
			}
		}
	}
	ops = append(ops, s.unregisterOps(unreg)...)
	if len(ops) == 0 {
		return wait, false
	}
	calls := make([]call, len(ops))
	for i, o := range ops {
		calls[i] = o.call
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	for i, res := range s.runAll(ctx, calls) {
		out.add(ops[i].done(res))
		failed = failed || res.err != nil
	}
	if !failed {
		s.recovered()
	}
	return wait, failed
}

// pending tells whether the sender has work queued.
func (s *Store) pending() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue) > 0 || len(s.unreg) > 0
}

// prepare takes what the binding has to send: at most one change of state
// (a bind or restore, a raise, its own transitions), else the permits it
// gave back, an open period to record, and its outcomes if FlushInterval
// has passed since it last sent some (or all). wait > 0 says when the
// outcomes it kept will be ready.
func (b *binding) prepare(now time.Time, all bool) (ops []op, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		// Detached: only the leases it holds go back.
		for _, rs := range b.resettles {
			b.releases = append(b.releases, rs.id)
		}
		b.resettles = nil
		if ids := b.releases; len(ids) > 0 {
			b.releases = nil
			ops = append(ops, b.releaseOp(ids))
		}
		return ops, 0
	}
	switch {
	case b.conf.gen == 0 || b.restore:
		b.restore = false
		return []op{{b.call(0, bindArgs{Member: b.s.memberID()}), func(res result) func() {
			return b.done(res, func() {
				b.mu.Lock()
				b.restore = true
				b.mu.Unlock()
			})
		}}}, 0
	case b.raise != nil:
		r := *b.raise
		b.raise = nil
		restore := 0
		switch {
		case !b.conf.idle():
			restore = 1 // over an idle state, put back the open or forced one it knew
		case b.conf.openedAt > 0:
			restore = 2 // closed after a recovery: keep when it closed
		}
		c := b.call(0, raiseArgs{FromInc: r.inc, FromGen: strconv.FormatUint(r.gen, 10), ToGen: b.conf.gen + 1, Restore: restore})
		return []op{{c, func(res result) func() {
			return b.done(res, func() {
				b.mu.Lock()
				if b.raise == nil {
					b.raise = &r
				}
				b.mu.Unlock()
			})
		}}}, 0
	case b.seq > 0:
		// Pushed only from the generation the binding knew: if Redis has
		// moved on meanwhile, its state wins.
		var c call
		fi, fg := b.from()
		if b.local.Mode != storage.ModeNormal {
			c = b.call(0, setModeArgs{Mode: b.local.Mode, FromInc: fi, FromGen: fg})
		} else {
			shift := b.holdShift(b.holdEnd, b.cfg.Policy()) // zero but for a hold made alone
			if b.local.State == storage.Closed && !b.local.ClosedAt.IsZero() {
				// A recovery made alone: when it closed, so that the
				// fleet's ramp runs from then (see lua/transition.lua).
				shift = -max(b.cfg.Clock.Now().Sub(b.local.ClosedAt), time.Millisecond)
			}
			c = b.call(0, transitionArgs{FromInc: fi, FromGen: fg, To: b.local.State, Failures: b.local.Failures,
				Manual:  b.manual, // an operator's transition, which ends a forced mode
				ShiftMs: shift.Milliseconds(), Cause: b.local.Cause})
		}
		pushedSeq := b.seq
		return []op{{c, func(res result) func() { return b.pushed(res, pushedSeq) }}}, 0
	}
	if ids := b.releases; len(ids) > 0 {
		b.releases = nil
		ops = append(ops, b.releaseOp(ids))
	}
	for _, rs := range b.resettles {
		ops = append(ops, b.resettleOp(rs))
	}
	b.resettles = nil
	if b.note {
		b.note = false
		if v := b.noted(); v > 0 {
			fi, fg := b.from()
			ops = append(ops, op{b.call(0, noteArgs{FromInc: fi, FromGen: fg, Op: v}), func(res result) func() {
				return b.done(res, func() {})
			}})
		}
	}
	// Batches whose answer never came first, in order, then the new one.
	var send []sentBatch
	for _, sb := range b.retries {
		if sb.conf.sameIdentity(b.conf) {
			send = append(send, sb)
		}
	}
	b.retries = nil
	if b.batch.n > 0 {
		next := b.lastSend.Add(b.s.opts.FlushInterval)
		if b.holdUntil.After(next) {
			next = b.holdUntil
		}
		if !all && now.Before(next) {
			wait = next.Sub(now)
		} else {
			send = append(send, b.take())
			b.lastSend = now
		}
	}
	for _, sb := range send {
		// With the deadline the sender waits for: a batch Redis runs after
		// that merges nothing and is sent again; one whose answer was lost
		// is sent again and merged once.
		c := b.reportCall(sb, b.redisDeadline(b.s.opts.DownAfter), false)
		again := func() {
			b.mu.Lock()
			if sb.conf.sameIdentity(b.conf) && b.seq == 0 {
				b.retry(sb)
			}
			b.mu.Unlock()
		}
		ops = append(ops, op{c, func(res result) func() {
			if res.err == nil {
				if r, err := decodeReply(res.v); err == nil && r.late {
					again() // too late: not merged
				}
			}
			return b.done(res, again)
		}})
	}
	return ops, wait
}

// resettleOp settles a trial again (see binding.resettles), with the
// deadline the sender waits for. b.mu is held.
func (b *binding) resettleOp(rs resettle) op {
	b.mustHold()
	c := b.call(b.redisDeadline(b.s.opts.DownAfter), settleArgs{FromInc: rs.conf.inc, FromGen: strconv.FormatUint(rs.conf.gen, 10),
		Permit: rs.id, Outcome: rs.o, SuccessThreshold: b.cfg.Policy().SuccessThreshold, RanMs: rs.ran, LeaseMs: rs.leaseMs})
	again := func() {
		b.mu.Lock()
		b.settleAgain(rs)
		b.mu.Unlock()
	}
	return op{c, func(res result) func() {
		if res.err == nil {
			if r, err := decodeReply(res.v); err == nil && r.late {
				again() // too late: not settled
			}
		}
		return b.done(res, again)
	}}
}

// releaseOp gives leases back by their numbers. b.mu is held.
func (b *binding) releaseOp(ids []uint64) op {
	b.mustHold()
	fi, fg := b.from()
	return op{b.call(0, releaseArgs{FromInc: fi, FromGen: fg, Permits: ids}), func(res result) func() {
		return b.done(res, func() {
			b.mu.Lock()
			b.releases = append(ids, b.releases...)
			b.mu.Unlock()
		})
	}}
}

// done applies the answer to something the sender sent, or, when Redis
// failed, undoes taking it (undo) and has the binding sent again later. It
// returns what tells the breaker, to run without locks.
func (b *binding) done(res result, undo func()) func() {
	if res.err == nil {
		var r reply
		if r, res.err = decodeReply(res.v); res.err == nil {
			after := b.applyAsync(r, res.n, true)
			if b.hasWork() {
				b.enqueue()
			}
			return after
		}
	}
	after := b.s.failLater(fmt.Errorf("redisstore: breaker %q: %w", b.name, res.err), res.sent, b)
	undo()
	b.enqueue()
	return after
}

// pushed applies the answer to the transitions this binding made while
// Redis was away (seq of them when sent). Committed, and none made since,
// Redis holds the binding's state: it adopts it. Refused with Redis still
// at the generation the binding knew, pushing again would change nothing:
// the binding raises Redis's state above its own instead, and adopts it.
func (b *binding) pushed(res result, seq uint64) func() {
	if res.err == nil {
		if r, err := decodeReply(res.v); err == nil && !r.absent {
			b.mu.Lock()
			switch {
			case r.changed && b.seq == seq && r.gen > b.conf.gen:
				b.seq, b.moves, b.manual = 0, nil, false
			case !r.changed && b.seq > 0 && b.conf.sameIdentity(r.remote):
				b.raise = &r.remote
			}
			b.mu.Unlock()
		}
	}
	return b.done(res, func() {})
}

// hasWork tells whether the binding has something for the sender.
func (b *binding) hasWork() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.closed && (b.conf.gen == 0 || b.restore || b.raise != nil || b.seq > 0 ||
		len(b.releases) > 0 || len(b.resettles) > 0 || b.note || b.batch.n > 0 || len(b.retries) > 0)
}

// unregisterOps tell Redis that this member no longer has these breakers
// bound (unless one was bound again meanwhile).
func (s *Store) unregisterOps(names map[string]struct{}) []op {
	var by [nBuckets][]string
	s.mu.Lock()
	for name := range names {
		if _, bound := s.bindings[name]; !bound {
			k := bucketOf(name)
			by[k] = append(by[k], escape(name))
		}
	}
	s.mu.Unlock()
	var ops []op
	for k, knames := range by {
		for len(knames) > 0 {
			n := min(len(knames), chunk)
			c := s.bucketCall(k, unregisterArgs{Member: s.id, KNames: knames[:n]})
			again := knames[:n]
			ops = append(ops, op{c, func(res result) func() {
				if res.err == nil {
					return func() { s.registerAgain(again) } // after the sender's lock
				}
				if res.err != nil {
					s.fail(fmt.Errorf("redisstore: unregistering: %w", res.err), res.sent)
					s.qmu.Lock()
					for _, kn := range again {
						if name, ok := unescape(kn); ok {
							s.unreg[name] = struct{}{}
						}
					}
					s.qmu.Unlock()
				}
				return nil
			}})
			knames = knames[n:]
		}
	}
	return ops
}

// registerAgain registers the breakers of knames that were bound again
// while their unregistering was on its way.
func (s *Store) registerAgain(knames []string) {
	s.mu.Lock()
	var names []string
	for _, kn := range knames {
		if name, ok := unescape(kn); ok {
			if _, bound := s.bindings[name]; bound {
				names = append(names, name)
			}
		}
	}
	s.mu.Unlock()
	if len(names) == 0 {
		return
	}
	var by [nBuckets][]string
	for _, name := range names {
		by[bucketOf(name)] = append(by[bucketOf(name)], name)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.DownAfter)
	defer cancel()
	s.eachBucketOf(ctx, by, "registering", s.registerArgs)
}

// chunk is how many breakers one bucket script takes at most.
const chunk = 256

// sending tells whether a round of sends is in flight.
func (s *Store) sending() bool {
	if s.sendMu.TryLock() {
		s.sendMu.Unlock()
		return false
	}
	return true
}
