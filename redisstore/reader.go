package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The reader keeps the members' view of Redis fresh, at a cost that does
// not grow with the number of breakers:
//
//   - A hint on the channel names a bucket and its change counter; the
//     reader reads that bucket's changes since the counter it last saw, in
//     one script, and only those. Hints are never trusted: a stale one
//     costs nothing, and reads are rate-limited (hintRate a second) so a
//     flood of forged ones costs a bounded load.
//   - Every RefreshInterval it sends the member's heartbeat and reads every
//     bucket's counter in one round trip: a missed hint is caught there.
//     A counter that went back (Redis lost the bucket) or a log that no
//     longer reaches back to the reader's counter has it read every bound
//     breaker of the bucket.
//   - Every TTL/3 it renews what the member holds that has something to
//     share.

// listen passes the channel's hints to the reader.
func (s *Store) listen() {
	defer s.wg.Done()
	ps := s.client.Subscribe(s.ctx, s.l.channel)
	defer ps.Close()
	// Wait for the confirmation, so that Bind can rely on the
	// subscription; with Redis down, the channel below resubscribes when
	// it is back.
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.OpTimeout)
	_, _ = ps.Receive(ctx)
	cancel()
	close(s.subReady)
	ch := ps.Channel()
	for {
		select {
		case <-s.ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			s.hint(msg.Payload)
		}
	}
}

// seen is the counter the reader last read for bucket k (n -1: never).
func (s *Store) seen(k int) counter { return *s.lastSeen[k].Load() }

func (s *Store) setSeen(k int, c counter) { s.lastSeen[k].Store(&c) }

// hint takes a message from the channel. Anything but a hint of a change
// the reader has not seen yet is ignored: a counter it has read, or an
// older one of the same epoch (the poll notices a history that went back).
func (s *Store) hint(payload string) {
	k, c, ok := decodeHint(payload)
	if !ok {
		s.ignored.Add(1)
		return
	}
	if last := s.seen(k); c == last || (c.epoch == last.epoch && c.n < last.n) {
		return
	}
	s.hinted.Or(1 << k)
	s.kickReader()
}

func (s *Store) kickReader() {
	select {
	case s.readKick <- struct{}{}:
	default:
	}
}

func (s *Store) reader() {
	defer s.wg.Done()
	ctx := s.ctx
	s.loadScripts(ctx, 0)
	// The counters as they are now, unless a breaker was bound before
	// they were read: then a change right after its bind could be taken
	// as seen, so the first poll reads every bucket instead.
	if seqs, err := s.readSeqs(ctx); err == nil && s.binds.Load() == 0 {
		for k, c := range seqs {
			s.setSeen(k, c)
		}
	}
	close(s.seqReady)
	s.heartbeat(ctx)
	refresh := time.NewTicker(s.opts.RefreshInterval)
	defer refresh.Stop()
	renew := time.NewTicker(max(s.opts.TTL/3, time.Millisecond))
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			s.heartbeat(ctx)
			s.poll(ctx)
		case <-renew.C:
			s.renew(ctx)
		case <-s.readKick:
			s.readHinted(ctx)
		}
	}
}

// readSeqs reads every bucket's change counter: one MGET on a single
// server, a GET per bucket (in one pipeline) on a Cluster.
func (s *Store) readSeqs(ctx context.Context) ([nBuckets]counter, error) {
	var out [nBuckets]counter
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	keys := make([]string, nBuckets)
	for k := range keys {
		keys[k] = s.l.bucket[k][0]
	}
	vals := make([]any, nBuckets)
	switch s.client.(type) {
	case *redis.ClusterClient, *redis.Ring:
		pipe := s.client.Pipeline()
		cmds := make([]*redis.StringCmd, nBuckets)
		for k, key := range keys {
			cmds[k] = pipe.Get(ctx, key)
		}
		_, _ = pipe.Exec(ctx)
		for k, c := range cmds {
			v, err := c.Result()
			switch {
			case err == nil:
				vals[k] = v
			case errors.Is(err, redis.Nil), redis.HasErrorPrefix(err, "WRONGTYPE"):
			default:
				return out, err
			}
		}
	default:
		v, err := s.client.MGet(ctx, keys...).Result()
		if err != nil {
			return out, err
		}
		copy(vals, v)
	}
	for k, v := range vals {
		if str, ok := v.(string); ok {
			out[k] = decodeCounter(str)
		}
	}
	return out, nil
}

// poll is the safety net: it reads every bucket's counter and what changed
// where one moved. A counter that started again (a new epoch: Redis lost
// the bucket, or it expired) has it read every bound breaker of the
// bucket, which restores what Redis lost.
func (s *Store) poll(ctx context.Context) {
	sent := time.Now()
	seqs, err := s.readSeqs(ctx)
	if err != nil {
		s.fail(fmt.Errorf("redisstore: polling: %w", err), sent)
		return
	}
	s.recovered()
	var moved uint32
	var full []int
	for k, cur := range seqs {
		switch last := s.seen(k); {
		case last.n < 0 || last.epoch != "" && (cur.epoch != last.epoch || cur.n < last.n ||
			cur.n == last.n && cur.token != last.token):
			// Never read, or the counter started again, or the history
			// went back (a failover to a replica behind): read it all.
			full = append(full, k)
			s.setSeen(k, cur)
		case cur.n > last.n:
			moved |= 1 << k // the changes read checks the history it continues
		}
	}
	if len(full) == 0 && moved == 0 {
		return
	}
	// A round of sends under way may bring what these reads would (a
	// trip this member's outcomes made): its answers go first, so that
	// the member reports a trip of its own as its own.
	s.sendMu.Lock()
	//lint:ignore SA2001 an empty critical section: it waits for the round
	s.sendMu.Unlock()
	if len(full) > 0 {
		var out notes
		s.readMu.Lock()
		s.readBuckets(ctx, full, &out)
		s.readMu.Unlock()
		out.run()
	}
	if moved != 0 {
		s.readChanges(ctx, moved)
	}
}

// readHinted reads the buckets hints named, as far as the rate allows;
// the rest wait for the next token.
func (s *Store) readHinted(ctx context.Context) {
	// A hint that comes while this member's outcomes are on their way
	// waits for their answers: most often it tells of the change those
	// answers bring (a trip the fleet's failures made), and a read then
	// would only queue behind them on Redis. The sender kicks the reader
	// when its round ends.
	// It waits once: a sender busy round after round does not hold hints
	// back for longer than one of its rounds.
	if !s.hintWaited && s.sending() {
		s.hintWaited = true
		s.hintWaits.Store(true)
		if s.sending() || !s.hintWaits.Swap(false) {
			return
		}
	}
	s.hintWaited = false
	s.readMu.Lock()
	now := time.Now()
	s.tokens = min(s.tokens+now.Sub(s.tokensAt).Seconds()*hintRate, nBuckets)
	s.tokensAt = now
	mask := s.hinted.Swap(0)
	var take uint32
	for k := range nBuckets {
		if mask&(1<<k) != 0 && s.tokens >= 1 {
			take |= 1 << k
			s.tokens--
		}
	}
	if rest := mask &^ take; rest != 0 {
		s.hinted.Or(rest)
		wait := time.Duration((1 - s.tokens) / hintRate * float64(time.Second))
		time.AfterFunc(wait, s.kickReader)
	}
	s.readMu.Unlock()
	if take != 0 {
		// A read that found a change was worth it: it costs no token, so
		// the rate bounds only what forged or stale hints cost.
		useful := s.readChanges(ctx, take)
		s.readMu.Lock()
		s.tokens = min(s.tokens+float64(useful), nBuckets)
		s.readMu.Unlock()
	}
}

// readChanges reads what changed in the buckets of mask since the reader
// last looked, and gives it to the bindings of those breakers. It returns
// how many of the buckets had changed.
func (s *Store) readChanges(ctx context.Context, mask uint32) (useful int) {
	var out notes
	defer out.run() // after the lock is let go
	s.readMu.Lock()
	defer s.readMu.Unlock()
	const limit = 256
	var ks []int
	var calls []call
	for k := range nBuckets {
		if mask&(1<<k) == 0 {
			continue
		}
		last := s.seen(k)
		ks = append(ks, k)
		calls = append(calls, s.bucketCall(k, changesArgs{Since: max(last.n, 0), Limit: limit, Epoch: last.epoch, Token: last.token}))
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	var full []int
	for i, res := range s.runAll(ctx, calls) {
		k := ks[i]
		if res.err != nil {
			s.fail(fmt.Errorf("redisstore: reading changes: %w", res.err), res.sent)
			continue
		}
		cs, err := decodeChanges(res.v)
		if err != nil {
			s.fail(err, res.sent)
			continue
		}
		for _, c := range cs.items {
			if name, ok := unescape(c.kname); ok {
				for _, b := range s.named(name) {
					out.add(b.applyAsync(c.r, res.n, false))
				}
			}
		}
		if cs.counter != s.seen(k) {
			useful++
		}
		if len(cs.items) == limit { // more to read (the counter is as of the last change answered)
			s.hinted.Or(1 << k)
			s.kickReader()
		}
		s.setSeen(k, cs.counter)
		if cs.flag != 0 {
			full = append(full, k)
		}
	}
	s.readBuckets(ctx, full, &out)
	return useful
}

// readBuckets reads every bound breaker of the buckets ks. If that
// fails, the buckets count as never read, so that the next poll reads
// them again. s.readMu is held.
func (s *Store) readBuckets(ctx context.Context, ks []int, out *notes) {
	if len(ks) == 0 {
		return
	}
	all := s.boundNames()
	var some [nBuckets][]string
	for _, k := range ks {
		some[k] = all[k]
	}
	sent := time.Now()
	if err := s.readNames(ctx, some, out); err != nil {
		s.fail(err, sent)
		for _, k := range ks {
			s.setSeen(k, counter{n: -1})
		}
	}
}

// readBound reads every bound breaker.
func (s *Store) readBound(ctx context.Context) error {
	var out notes
	defer out.run() // after the lock is let go
	s.readMu.Lock()
	defer s.readMu.Unlock()
	return s.readNames(ctx, s.boundNames(), &out)
}

// readNames reads the named breakers, a script per bucket (and chunk), in
// one pipeline, and gives each state to the breaker's bindings.
func (s *Store) readNames(ctx context.Context, names [nBuckets][]string, out *notes) error {
	var calls []call
	var batches [][]string
	for k, list := range names {
		for len(list) > 0 {
			n := min(len(list), chunk)
			knames := make([]string, n)
			for i, name := range list[:n] {
				knames[i] = escape(name)
			}
			calls = append(calls, s.bucketCall(k, readArgs{KNames: knames}))
			batches = append(batches, list[:n])
			list = list[n:]
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	var first error
	for i, res := range s.runAll(ctx, calls) {
		err := res.err
		var rs []reply
		if err == nil {
			if rs, err = decodeReplies(res.v); err == nil && len(rs) != len(batches[i]) {
				err = fmt.Errorf("%w: %d states for %d breakers", errBadReply, len(rs), len(batches[i]))
			}
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("redisstore: reading breakers: %w", err)
			}
			continue
		}
		for j, name := range batches[i] {
			for _, b := range s.named(name) {
				out.add(b.applyAsync(rs[j], res.n, false))
			}
		}
	}
	if first == nil && len(calls) > 0 {
		s.recovered()
	}
	return first
}

// heartbeat tells Redis this member is alive, registers its breakers again
// if Redis had dropped it, and reaps members that stopped.
func (s *Store) heartbeat(ctx context.Context) {
	if s.closing.Load() {
		return // leaving: no heartbeat, no registering again
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	sent := time.Now()
	v, err := heartbeatScript.Run(ctx, s.client, []string{s.l.members}, scriptArgs(heartbeatArgs{Member: s.id,
		TTL: s.opts.TTL.Milliseconds(), StaleMs: s.opts.staleAfter().Milliseconds()})...).Result()
	if err != nil {
		s.fail(fmt.Errorf("redisstore: heartbeat: %w", err), sent)
		return
	}
	s.recovered()
	vals, _ := v.([]any)
	if len(vals) == 0 {
		s.fail(fmt.Errorf("%w: heartbeat %v", errBadReply, v), sent)
		return
	}
	added := vals[0] == int64(1)
	was := s.registered.Swap(true)
	// Dropped (reaped while silent, or lost): register again now, and once
	// more next time, after any reaper still at work has finished.
	again := s.reRegister.Swap(false)
	if added && was {
		s.reRegister.Store(true)
	}
	if (added && was) || again {
		s.registerAll(ctx)
	}
	var stale []string
	for _, x := range vals[1:] {
		if id, ok := x.(string); ok && id != s.id && len(id) <= 64 {
			stale = append(stale, id)
		}
	}
	s.reap(ctx, stale)
}

// registerAll registers every bound breaker (none for an operator).
func (s *Store) registerAll(ctx context.Context) {
	if s.opts.Operator {
		return
	}
	s.eachBucket(ctx, "registering", s.registerArgs)
}

// registerArgs register knames for this member.
func (s *Store) registerArgs(knames []string) onBucket {
	return registerArgs{Member: s.id, TTL: s.opts.TTL.Milliseconds(), KNames: knames}
}

// renew keeps alive what this member holds (see lua/renew.lua).
func (s *Store) renew(ctx context.Context) {
	s.eachBucket(ctx, "renewing", func(knames []string) onBucket {
		return renewArgs{Member: s.id, TTL: s.opts.TTL.Milliseconds(), KNames: knames}
	})
}

// eachBucket runs a bucket script over every bound breaker, in chunks:
// the script of args(knames), for each bucket's chunk of knames.
func (s *Store) eachBucket(ctx context.Context, what string, args func(knames []string) onBucket) {
	s.eachBucketOf(ctx, s.boundNames(), what, args)
}

// eachBucketOf runs a bucket script over the named breakers, in chunks.
func (s *Store) eachBucketOf(ctx context.Context, names [nBuckets][]string, what string, args func(knames []string) onBucket) {
	var calls []call
	for k, list := range names {
		for len(list) > 0 {
			n := min(len(list), chunk)
			knames := make([]string, n)
			for i, name := range list[:n] {
				knames[i] = escape(name)
			}
			calls = append(calls, s.bucketCall(k, args(knames)))
			list = list[n:]
		}
	}
	for _, res := range s.runAll(ctx, calls) {
		if res.err != nil {
			s.fail(fmt.Errorf("redisstore: %s: %w", what, res.err), res.sent)
			return
		}
	}
}

// reap drops the registrations of members that stopped sending
// heartbeats, then the members (a member not reaped, because this failed,
// is claimed again by the next heartbeat after a while).
func (s *Store) reap(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	var calls []call
	for _, id := range ids {
		for k := range nBuckets {
			calls = append(calls, s.bucketCall(k, reapArgs{Member: id}))
		}
	}
	for _, res := range s.runAll(ctx, calls) {
		if res.err != nil {
			s.fail(fmt.Errorf("redisstore: reaping: %w", res.err), res.sent)
			return
		}
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	sent := time.Now()
	if err := s.client.ZRem(ctx, s.l.members, members...).Err(); err != nil {
		s.fail(fmt.Errorf("redisstore: reaping: %w", err), sent)
	}
}
