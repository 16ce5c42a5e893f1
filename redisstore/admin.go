package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
)

// Info is what Redis holds of one breaker: what an operator's console
// shows.
type Info struct {
	Name       string
	State      infuse.State
	Mode       infuse.Mode
	Generation uint64
	// Failures is the merged run of failures (closed) or the run that
	// tripped it (open); Successes and Trials are the half-open trials'.
	Failures, Successes, Trials int
	// Trips is how many times in a row it has opened.
	Trips int
	// OpenSince is how long it has been open, by Redis's clock; RetryAfter
	// what is left of the open period as its members compute it (0 when
	// unknown, or forced open).
	OpenSince, RetryAfter time.Duration
	// Members is how many stores have refreshed it in the last three
	// RefreshIntervals.
	Members int
	// WindowCalls, WindowFailures and WindowSlow are what the fleet's time
	// window holds (breakers with a time Window and a rate; zero
	// otherwise); FailureRate is WindowFailures/WindowCalls, -1 without
	// calls. The members' MinCalls is not stored, so it is not applied.
	WindowCalls, WindowFailures, WindowSlow int64
	FailureRate                             float64
}

// ErrUnknownBreaker is returned for a name Redis holds no state for.
var ErrUnknownBreaker = errors.New("redisstore: no such breaker")

// Breakers returns every breaker stored under the store's namespace, by
// name. It reads Redis directly (SCAN and one read per breaker).
func (s *Store) Breakers(ctx context.Context) ([]Info, error) {
	prefix := s.opts.Namespace + ":{"
	var mu sync.Mutex
	var names []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, escapeGlob(prefix)+"*}", 500).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); strings.HasSuffix(k, "}") {
				mu.Lock()
				names = append(names, strings.TrimSuffix(strings.TrimPrefix(k, prefix), "}"))
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok { // every master holds some
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: listing breakers: %w", err)
	}
	sort.Strings(names)
	out := make([]Info, 0, len(names))
	for _, n := range names {
		info, err := s.Breaker(ctx, n)
		if errors.Is(err, ErrUnknownBreaker) || errors.Is(err, errBadReply) {
			continue // gone meanwhile, or not ours
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Breaker returns what Redis holds of the breaker called name.
func (s *Store) Breaker(ctx context.Context, name string) (Info, error) {
	keys := s.keys(name)
	pipe := s.client.Pipeline()
	h := pipe.HGetAll(ctx, keys[0])
	gen := pipe.HGet(ctx, keys[0], "g")
	now := pipe.Time(ctx)
	trials := pipe.ZCard(ctx, keys[1])
	members := pipe.HGetAll(ctx, keys[3])
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Info{}, fmt.Errorf("redisstore: reading breaker %q: %w", name, err)
	}
	f := h.Val()
	if len(f) == 0 {
		return Info{}, fmt.Errorf("%w: %q in namespace %q", ErrUnknownBreaker, name, s.opts.Namespace)
	}
	num := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	nowMs := now.Val().UnixMilli()
	r, err := makeRemote(num("st"), num("g"), num("oa"), num("f"), num("s"), trials.Val(), nowMs, num("md"), num("tr"))
	if err != nil {
		return Info{}, fmt.Errorf("redisstore: breaker %q: %w", name, err)
	}
	info := Info{
		Name: name, State: r.state, Mode: r.mode, Generation: r.gen,
		Failures: r.failures, Successes: r.successes, Trials: r.trials, Trips: r.trips,
	}
	if r.state == infuse.Open {
		info.OpenSince = time.Duration(max(nowMs-r.openedAt, 0)) * time.Millisecond
		if op := num("op"); op > 0 && r.mode != infuse.ModeForcedOpen {
			info.RetryAfter = max(time.Duration(op)*time.Millisecond-info.OpenSince, 0)
		}
	}
	info.FailureRate = -1
	if r.state == infuse.Closed {
		w, err := s.client.HGetAll(ctx, keys[2]+":"+gen.Val()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return Info{}, fmt.Errorf("redisstore: reading breaker %q's window: %w", name, err)
		}
		for k, v := range w {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k[0] {
			case 'c':
				info.WindowCalls += n
			case 'f':
				info.WindowFailures += n
			case 's':
				info.WindowSlow += n
			}
		}
		if info.WindowCalls > 0 {
			info.FailureRate = float64(info.WindowFailures) / float64(info.WindowCalls)
		}
	}
	recent := nowMs - 3*s.opts.RefreshInterval.Milliseconds()
	for _, v := range members.Val() {
		if at, err := strconv.ParseInt(v, 10, 64); err == nil && at >= recent {
			info.Members++
		}
	}
	return info, nil
}

// Change is a transition published by a member of the fleet.
type Change struct {
	Name       string
	State      infuse.State
	Mode       infuse.Mode
	Generation uint64
	Failures   int
	// Redis's clock when it was made.
	At time.Time
}

// Watch calls fn with every change published under the store's namespace
// until ctx is done. It takes a subscription of its own and calls ready
// (if not nil) once Redis has confirmed it: no change after that is missed.
func (s *Store) Watch(ctx context.Context, ready func(), fn func(Change)) error {
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		return fmt.Errorf("redisstore: watching: %w", err)
	}
	if ready != nil {
		ready()
	}
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			if strings.HasPrefix(m.Payload, syncPrefix) {
				continue
			}
			name, _, r, err := decodeMessage(m.Payload)
			if err != nil {
				continue
			}
			fn(Change{Name: name, State: r.state, Mode: r.mode, Generation: r.gen, Failures: r.failures,
				At: time.UnixMilli(r.now)})
		}
	}
}

// Namespace returns Options.Namespace.
func (s *Store) Namespace() string { return s.opts.Namespace }

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}
