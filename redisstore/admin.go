package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse/storage"
)

// Info is what Redis holds of one breaker: what an operator's console
// shows.
type Info struct {
	Name       string
	State      storage.State
	Mode       storage.Mode
	Generation uint64
	// Failures is the merged run of failures (closed) or the run that
	// tripped it (open); Successes and Trials are the half-open trials'.
	Failures, Successes, Trials int
	// Trips is how many times in a row it has opened.
	Trips int
	// OpenSince is how long it has been open, by Redis's clock; RetryAfter
	// what is left of the open period as its members compute it (0 when
	// unknown, or forced open). Held tells an open period set by a hold
	// (infuse.Breaker.HoldOpen), made HeldSince ago: RetryAfter is then
	// what its maker holds off for, and each member holds off until its
	// own Config.MaxHoldOpen has passed since the hold was made, if that
	// comes first.
	OpenSince, RetryAfter time.Duration
	Held                  bool
	HeldSince             time.Duration
	// Members is how many live members (stores sending heartbeats) have it
	// bound.
	Members int
	// Idle tells a breaker Redis keeps no state for: closed, with nothing
	// to share, listed because members have it bound. Its Generation is 0.
	Idle bool
	// WindowCalls, WindowFailures and WindowSlowCalls are what the fleet's time
	// window held at its last update (breakers with a time Window and a
	// rate; zero otherwise); FailureRate is WindowFailures/WindowCalls, -1
	// without calls. The members' MinCalls is not stored, so it is not
	// applied.
	WindowCalls, WindowFailures, WindowSlowCalls int64
	FailureRate                                  float64
	// Throttle is the members' Config.Throttle (zero without one);
	// WindowRequests the fleet window's requests, and RejectProbability
	// the share of calls the members throttle as of the window's last
	// update (see storage.Throttle).
	Throttle          storage.Throttle
	WindowRequests    int64
	RejectProbability float64
	// ClosedSince is how long ago, by Redis's clock, it closed after being
	// open or half-open (zero while not closed, and after a close from
	// closed; a breaker disabled while open has one, and no ramp); Ramp and RampSteps are the members' recovery ramp
	// (infuse.Config.RampDuration, RampSteps), as the member that closed
	// it recorded them (zero without one). RampShare says where the ramp
	// is.
	ClosedSince time.Duration
	Ramp        time.Duration
	RampSteps   int
	// Cause is why the transition to this generation was made, as its
	// maker recorded it (storage.CauseUnknown when a state written by an
	// older version, or an idle breaker, does not say).
	Cause storage.Cause
}

// RampShare is the share of calls the members admit while they ramp up
// after the breaker closed (see storage.RampShare), as of the
// listing: below 1 while the ramp runs, 1 otherwise.
func (i Info) RampShare() float64 {
	if i.State != storage.Closed || i.Mode != storage.ModeNormal || i.Ramp <= 0 {
		return 1
	}
	return storage.RampShare(i.ClosedSince, i.Ramp, i.RampSteps)
}

// ErrUnknownBreaker is returned for a name Redis holds no state for and no
// member has bound.
var ErrUnknownBreaker = errors.New("redisstore: no such breaker")

// Breakers returns every breaker of the store's namespace, by name: those
// Redis holds state for, and the idle ones members have bound. It reads
// each bucket's summary, window totals and member counts: three commands
// per bucket, whatever the number of breakers. Each bucket is read at one
// instant; a line that does not decode is skipped.
func (s *Store) Breakers(ctx context.Context) ([]Info, error) {
	pipe := s.client.Pipeline()
	var sums, wins, nmems [nBuckets]*redis.MapStringStringCmd
	for k := range nBuckets {
		keys := s.l.bucket[k]
		sums[k], wins[k], nmems[k] = pipe.HGetAll(ctx, keys[2]), pipe.HGetAll(ctx, keys[3]), pipe.HGetAll(ctx, keys[4])
	}
	tm := pipe.Time(ctx)
	_, _ = pipe.Exec(ctx)
	if err := tm.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: listing breakers: %w", err)
	}
	now := tm.Val().UnixMilli()
	var out []Info
	for k := range nBuckets {
		sum, err1 := read(sums[k])
		win, err2 := read(wins[k])
		nmem, err3 := read(nmems[k])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("redisstore: listing breakers: %w", err)
		}
		for kn, line := range sum {
			name, ok := unescape(kn)
			sm, ok2 := decodeSummary(line)
			if kn == "" || !ok || !ok2 || sm.expires < now || bucketOf(name) != k {
				continue
			}
			out = append(out, s.info(name, sm, now, win[kn], nmem[kn]))
		}
		for kn, count := range nmem {
			name, ok := unescape(kn)
			n, _ := strconv.Atoi(count)
			if !ok || n <= 0 || bucketOf(name) != k {
				continue
			}
			i := Info{Name: name, Idle: true, Members: n, FailureRate: -1}
			if sm, ok := decodeSummary(sum[kn]); ok {
				if sm.expires >= now {
					continue // listed above
				}
				setRecovery(&i, sm, now) // its key expired mid-ramp: its line still says when it closed
			}
			out = append(out, i)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// setRecovery fills i's ClosedSince and ramp from a closed breaker's
// summary line, which holds when it closed and the ramp its members noted.
func setRecovery(i *Info, sm summary, now int64) {
	if sm.state == storage.Closed && sm.openedAt > 0 {
		i.ClosedSince = time.Duration(max(now-sm.openedAt, 0)) * time.Millisecond
		i.Ramp, i.RampSteps = decodeRampNote(sm.openPeriod)
	}
}

// read is a hash's fields; a key of another type reads as empty.
func read(c *redis.MapStringStringCmd) (map[string]string, error) {
	m, err := c.Result()
	if err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, err
	}
	return m, nil
}

// info builds a breaker's Info from its summary line, window line and
// member count.
func (s *Store) info(name string, sm summary, now int64, window, members string) Info {
	i := Info{
		Name: name, State: sm.state, Mode: sm.mode, Generation: sm.gen,
		Failures: sm.failures, Successes: sm.successes, Trials: sm.trials, Trips: sm.trips, FailureRate: -1,
		Cause: sm.cause,
	}
	i.Members, _ = strconv.Atoi(members)
	i.Members = max(i.Members, 0)
	if sm.state == storage.Open {
		i.OpenSince = time.Duration(max(now-sm.openedAt, 0)) * time.Millisecond
		if sm.openPeriod > 0 && sm.mode != storage.ModeForcedOpen {
			// From the opening as stored, which a hold may put ahead.
			i.RetryAfter = max(time.Duration(sm.openPeriod-(now-sm.openedAt))*time.Millisecond, 0)
		}
		if sm.madeAt > 0 && sm.openedAt > sm.madeAt && sm.mode != storage.ModeForcedOpen {
			i.Held, i.HeldSince = true, time.Duration(max(now-sm.madeAt, 0))*time.Millisecond
		}
	}
	setRecovery(&i, sm, now)
	if sm.state == storage.Closed {
		if w, ok := decodeWindow(window); ok && w.expires >= now {
			i.WindowCalls, i.WindowFailures, i.WindowSlowCalls = w.calls, w.failures, w.slow
			if w.calls > 0 {
				i.FailureRate = float64(w.failures) / float64(w.calls)
			}
			i.WindowRequests, i.Throttle = w.requests, w.throttle
			i.RejectProbability = w.throttle.RejectProbability(w.requests, w.calls-w.failures)
		}
	}
	return i
}

// Breaker returns what Redis holds of the breaker called name.
func (s *Store) Breaker(ctx context.Context, name string) (Info, error) {
	k, kn := bucketOf(name), escape(name)
	res := s.runAll(ctx, []call{s.bucketCall(k, readArgs{KNames: []string{kn}})})[0]
	if res.err != nil {
		return Info{}, fmt.Errorf("redisstore: reading breaker %q: %w", name, res.err)
	}
	rs, err := decodeReplies(res.v)
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("%w: %d states", errBadReply, len(rs))
	}
	if err != nil {
		return Info{}, fmt.Errorf("redisstore: breaker %q: %w", name, err)
	}
	r := rs[0]
	pipe := s.client.Pipeline()
	sum := pipe.HGet(ctx, s.l.bucket[k][2], kn)
	win := pipe.HGet(ctx, s.l.bucket[k][3], kn)
	nmem := pipe.HGet(ctx, s.l.bucket[k][4], kn)
	_, _ = pipe.Exec(ctx)
	for _, c := range []*redis.StringCmd{sum, win, nmem} {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "WRONGTYPE") {
			return Info{}, fmt.Errorf("redisstore: reading breaker %q: %w", name, err)
		}
	}
	if r.absent || r.lapsed {
		n, _ := strconv.Atoi(nmem.Val())
		if r.corrupt {
			return Info{}, fmt.Errorf("redisstore: breaker %q: %w", name, errBadReply)
		}
		if n <= 0 {
			return Info{}, fmt.Errorf("%w: %q in namespace %q", ErrUnknownBreaker, name, s.opts.Namespace)
		}
		return Info{Name: name, Idle: true, Members: n, FailureRate: -1}, nil
	}
	sm := summary{remote: r.remote}
	if line, ok := decodeSummary(sum.Val()); ok && line.gen == r.gen {
		sm.openPeriod = line.openPeriod
	}
	return s.info(name, sm, r.now, win.Val(), nmem.Val()), nil
}

// Change is a transition made by a member of the fleet, as Redis holds it
// when the watcher reads it.
type Change struct {
	Name       string
	State      storage.State
	Mode       storage.Mode
	Generation uint64
	Failures   int
	// Cause is why the transition to Generation was made, as its maker
	// recorded it (storage.CauseUnknown where it did not: an older
	// version, a breaker nobody moved).
	Cause storage.Cause
	// Redis's clock when it was read, a moment after it was made.
	At time.Time
}

// Watch calls fn with every change recorded under the store's namespace
// until ctx is done. It takes a subscription of its own and calls ready
// (if not nil) once Redis has confirmed it: no change after that is
// missed. A message on the channel only says where to look: what fn gets
// is read from Redis, at most hintRate reads a second however many
// messages arrive; changes that follow each other fast may be seen as
// their last. It is WatchWith without Lost and Back: it says nothing of a
// time Redis does not answer.
func (s *Store) Watch(ctx context.Context, ready func(), fn func(Change)) error {
	return s.WatchWith(ctx, WatchHandler{Ready: ready, Change: fn})
}

// WatchHandler is what WatchWith tells: the changes, and when Redis stops
// and starts answering the watcher. Change is required; the others may be
// nil.
type WatchHandler struct {
	// Ready is called once Redis has confirmed the subscription.
	Ready func()
	// Change is called with every change read.
	Change func(Change)
	// Lost is called when a read of Redis fails after the last one
	// succeeded (Redis is down, out of reach, or silent for
	// Options.DownAfter), with its error: until Back, no change is read,
	// and the hints published meanwhile are lost.
	Lost func(err error)
	// Back is called when Redis answers again after Lost, before the
	// changes made meanwhile are read and passed to Change (each
	// breaker's latest, as Redis holds it then: the steps between are
	// not told).
	Back func(Outage)
}

// Outage is what a watcher can tell of a time Redis did not answer it.
type Outage struct {
	// Since is when the first read failed, by this process's clock; For
	// how long it was until one succeeded again; Err the first failure.
	Since time.Time
	For   time.Duration
	Err   error
	// Changes is how many changes Redis recorded meanwhile (each a
	// transition, a forced mode or a state put back), by its counters of
	// changes; with Reset, those recorded since they started again.
	Changes int64
	// Reset tells that Redis's counters of changes started again
	// meanwhile: Redis lost what it held (restarted without its data,
	// flushed, or failed over to a replica that was behind). The
	// breakers' states are then what members have put back since.
	Reset bool
}

// WatchWith calls h.Change with every change recorded under the store's
// namespace until ctx is done, as Watch does, and tells h.Lost and h.Back
// when Redis stops answering and when it answers again. Redis is polled
// every Options.RefreshInterval, so a loss is told within about
// RefreshInterval plus DownAfter.
func (s *Store) WatchWith(ctx context.Context, h WatchHandler) error {
	ps := s.client.Subscribe(ctx, s.l.channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		return fmt.Errorf("redisstore: watching: %w", err)
	}
	last, err := s.readSeqs(ctx)
	if err != nil {
		return fmt.Errorf("redisstore: watching: %w", err)
	}
	if h.Ready != nil {
		h.Ready()
	}
	ch := ps.Channel()
	ticker := time.NewTicker(s.opts.RefreshInterval)
	defer ticker.Stop()
	var down *Outage // while Redis does not answer
	// poll reads the counters: the buckets that moved, and whether Redis
	// answers.
	poll := func() (mask uint32) {
		seqs, err := s.readSeqs(ctx)
		if err != nil {
			if ctx.Err() == nil && down == nil {
				down = &Outage{Since: time.Now(), Err: err}
				if h.Lost != nil {
					h.Lost(err)
				}
			}
			return 0
		}
		if down != nil {
			o := *down
			down = nil
			o.For = time.Since(o.Since)
			for k, c := range seqs {
				switch {
				case c.epoch == last[k].epoch && c.n >= last[k].n:
					o.Changes += c.n - last[k].n
				case last[k] == counter{}: // the bucket's first changes
					o.Changes += c.n
				default: // its counter started again, or went back
					o.Reset = true
					o.Changes += c.n
				}
			}
			if h.Back != nil {
				h.Back(o)
			}
		}
		for k, c := range seqs {
			if c != last[k] {
				mask |= 1 << k
			}
		}
		return mask
	}
	for {
		var mask uint32
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			mask = poll()
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			mask |= s.watchHint(m.Payload, &last)
		drain:
			for {
				select {
				case m, ok := <-ch:
					if !ok {
						break drain
					}
					mask |= s.watchHint(m.Payload, &last)
				default:
					break drain
				}
			}
			if down != nil {
				// A hint while Redis was taken for lost: it is back, which
				// is told before what changed.
				mask = poll()
			}
		}
		if mask != 0 {
			s.watchRead(ctx, mask, &last, h.Change)
			t := time.NewTimer(time.Second / hintRate)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

func (s *Store) watchHint(payload string, last *[nBuckets]counter) uint32 {
	if k, c, ok := decodeHint(payload); ok && (c.epoch != last[k].epoch || c.n > last[k].n) {
		return 1 << k
	}
	return 0
}

// watchRead reads the changes in the buckets of mask and passes them on,
// as many reads as a bucket has changes for.
func (s *Store) watchRead(ctx context.Context, mask uint32, last *[nBuckets]counter, fn func(Change)) {
	const limit = 1024
	for k := range nBuckets {
		if mask&(1<<k) == 0 {
			continue
		}
		for range 16 { // at most 16 reads of a bucket a round
			since := last[k]
			if since.epoch == "" {
				since.n = 0
			}
			c := s.bucketCall(k, changesArgs{Since: since.n, Limit: limit, Epoch: since.epoch, Token: since.token})
			res := s.runAll(ctx, []call{c})[0]
			if res.err != nil {
				break
			}
			cs, err := decodeChanges(res.v)
			if err != nil {
				break
			}
			if cs.flag == 2 {
				// The counter started again, or its history went back:
				// everything of what Redis holds now.
				if cs.epoch == "" || last[k].epoch == "" && last[k].n == 0 {
					last[k] = cs.counter
					break
				}
				last[k] = counter{}
				continue
			}
			for _, c := range cs.items {
				name, ok := unescape(c.kname)
				if !ok || c.r.absent {
					continue
				}
				fn(Change{Name: name, State: c.r.state, Mode: c.r.mode, Generation: c.r.gen, Failures: c.r.failures,
					Cause: c.r.cause, At: time.UnixMilli(c.r.now)})
			}
			last[k] = cs.counter // as of the last change answered
			if len(cs.items) < limit {
				break
			}
		}
	}
}
