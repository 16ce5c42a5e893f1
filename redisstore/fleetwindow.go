package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// Fleet windows. Every WindowInterval the store sends the growth of each
// merging breaker's time window since its last send: one script per
// bucket for all of that bucket's breakers, all buckets in one pipeline.
// A breaker whose window did not grow sends nothing.

func (s *Store) windows() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.WindowInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sendWindows(s.ctx)
		}
	}
}

// windowItem is one breaker's growth to send.
type windowItem struct {
	b    *binding
	seen storage.WindowCounts
}

// windowsPerScript bounds how many breakers one window script merges.
const windowsPerScript = 64

func (s *Store) sendWindows(ctx context.Context) {
	var out notes
	defer out.run() // after the lock is let go
	s.winMu.Lock()
	defer s.winMu.Unlock()
	var by [nBuckets][]windowItem
	var args [nBuckets][]windowEntry
	for _, b := range s.all() {
		if !b.MergesWindows() {
			continue
		}
		if it, e, ok := b.windowItem(); ok {
			by[b.bucket] = append(by[b.bucket], it)
			args[b.bucket] = append(args[b.bucket], e)
		}
	}
	var calls []call
	var items [][]windowItem
	for k, list := range by {
		a := args[k]
		for len(list) > 0 {
			n := min(len(list), windowsPerScript)
			calls = append(calls, s.windowCall(k, windowArgs{Member: s.id}, a[:n]))
			items = append(items, list[:n])
			list, a = list[n:], a[n:]
		}
	}
	if len(calls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	for i, res := range s.runAll(ctx, calls) {
		err := res.err
		var rs []reply
		var errs []error
		if err == nil {
			if rs, errs, err = decodeEach(res.v); err == nil && len(rs) != len(items[i]) {
				err = fmt.Errorf("%w: %d windows for %d breakers", errBadReply, len(rs), len(items[i]))
			}
		}
		if err != nil {
			bs := make([]*binding, len(items[i]))
			for j, it := range items[i] {
				bs[j] = it.b
			}
			out.add(s.failLater(fmt.Errorf("redisstore: sending windows: %w", err), res.sent, bs...))
			continue
		}
		for j, it := range items[i] {
			if errs[j] != nil {
				// Bad data about one breaker: its window only.
				out.add(s.failLater(fmt.Errorf("redisstore: sending the window of %q: %w", it.b.name, errs[j]), res.sent, it.b))
				continue
			}
			out.add(it.b.windowSent(it.seen, rs[j], res.n))
		}
	}
}

// MergesWindows implements storage.WindowMerger: a time window with a rate
// is merged into the fleet's window in Redis.
func (b *binding) MergesWindows() bool {
	w := b.cfg.Window
	return w.Duration() > 0 && b.cfg.Counted != nil
}

// windowItem is the growth of the breaker's window since the last send,
// with the script arguments that send it; ok is false when there is none.
func (b *binding) windowItem() (windowItem, windowEntry, bool) {
	c, ok := b.cfg.Counted()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok || b.closed || c.Generation != b.local.Generation || b.seq > 0 || b.conf.gen == 0 {
		return windowItem{}, windowEntry{}, false
	}
	if c.Generation != b.sent.Generation {
		b.sent = storage.WindowCounts{Generation: c.Generation}
	}
	d := storage.WindowCounts{Calls: c.Calls - b.sent.Calls, Failures: c.Failures - b.sent.Failures,
		SlowCalls: c.SlowCalls - b.sent.SlowCalls, Requests: c.Requests - b.sent.Requests}
	if d.Calls <= 0 && d.Requests <= 0 {
		return windowItem{}, windowEntry{}, false
	}
	p := b.cfg.Policy()
	w := b.cfg.Window
	buckets := int64((w.Duration() + w.Bucket() - 1) / w.Bucket())
	fi, fg := b.from()
	e := windowEntry{ctx: b.context(0), args: windowItemArgs{FromInc: fi, FromGen: fg, Calls: max(d.Calls, 0),
		Failures: max(d.Failures, 0), Slow: max(d.SlowCalls, 0), BucketMs: w.Bucket().Milliseconds(), Buckets: buckets,
		FailureRate: p.FailureRate, SlowRate: p.SlowCallRate, MinCalls: p.MinCalls, MinMembers: p.FleetMinMembers,
		Requests: max(d.Requests, 0), ThrottleK: p.Throttle.K, ThrottleMax: p.Throttle.MaxRejectRate}}
	return windowItem{b: b, seen: c}, e, true
}

// windowSent takes the window script's answer for this breaker, and
// returns what tells the breaker: the fleet's window, pushed through
// BindConfig.ObserveWindow, and any change the answer brings.
func (b *binding) windowSent(c storage.WindowCounts, r reply, n uint64) func() {
	b.mu.Lock()
	if b.sent.Generation == c.Generation {
		b.sent = c
	}
	b.mu.Unlock()
	apply := b.applyAsync(r, n, true)
	if !r.hasWindow {
		return apply
	}
	fleet := storage.WindowCounts{Generation: c.Generation, Calls: r.wCalls, Failures: r.wFailures, SlowCalls: r.wSlow, Requests: r.wRequests}
	return func() {
		b.cfg.ObserveWindow(fleet)
		if apply != nil {
			apply()
		}
	}
}
