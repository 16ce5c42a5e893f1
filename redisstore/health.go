package redisstore

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// health decides when the store takes Redis for unreachable, so that its
// breakers protect themselves alone (local trips, local trial permits),
// and when it takes it back. Only evidence sends a store there:
//
//   - Redis or the network says so: a connection refused, reset or
//     closed, or an error reply that says Redis cannot serve now
//     (LOADING, BUSY, READONLY, OOM, CLUSTERDOWN and the like); or
//   - silence: a request went unanswered (a caller stopped waiting for it
//     after OpTimeout, or a background request timed out), and a request
//     sent after that one went unanswered too, DownAfter or more after
//     the first, with no answer to any request in between.
//
// An answer that arrives late but arrives is no failure: the store
// applies it when it comes and never acts alone because of it. A host
// that stalls (a CPU-throttled pod, a GC pause, a stopped process) makes
// every request in flight late at once, but the requests it sends once
// it runs again are answered: the silence rule asks for a request sent
// after the first went unanswered, so a stall alone never sends a store
// to local protection, however long.
//
// Down, the store keeps callers off Redis for RetryInterval after the
// last evidence; the background keeps trying, and the first answer takes
// the store back.
type health struct {
	downAfter time.Duration
	retry     time.Duration
	suspect   atomic.Int64 // unix ns: the first request unanswered since the last answer; 0: none
	downUntil atomic.Int64 // unix ns: callers stay off Redis before it
}

// answered records an answer from Redis: any reply, an error reply about
// the data included.
func (h *health) answered() {
	if h.suspect.Load() != 0 {
		h.suspect.Store(0)
	}
	if h.downUntil.Load() != 0 {
		h.downUntil.Store(0)
	}
}

// unanswered records a request sent at sent that Redis did not answer
// (err says how), and reports whether the store is down now.
func (h *health) unanswered(sent time.Time, err error) bool {
	now := time.Now().UnixNano()
	if !silence(err) {
		h.downUntil.Store(now + int64(h.retry))
		return true
	}
	first := h.suspect.Load()
	if first == 0 {
		h.suspect.CompareAndSwap(0, now)
		return h.down()
	}
	if sent.UnixNano() > first && now-first >= int64(h.downAfter) {
		h.downUntil.Store(now + int64(h.retry))
		return true
	}
	return h.down()
}

// down tells whether callers stay off Redis now.
func (h *health) down() bool { return time.Now().UnixNano() < h.downUntil.Load() }

// silence tells an error that says only that no answer came in time (a
// timeout of any kind: the caller's, the client's, its pool's), which a
// slow host makes as surely as an unreachable Redis.
func silence(err error) bool {
	var ne net.Error
	return errors.Is(err, errSlow) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, redis.ErrPoolTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// isAnswer tells an error that came with an answer from Redis: Redis
// reached and the request run, though not as asked (malformed data, a
// script run too late, an error reply about the data). Such an error
// costs the breaker it concerns, never the store's health. An error
// reply that says Redis cannot serve now (loading, busy, read-only, out
// of memory, a cluster down) is no answer.
func isAnswer(err error) bool {
	if errors.Is(err, errBadReply) || errors.Is(err, errLate) {
		return true
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range unavailable {
		if strings.HasPrefix(msg, p) {
			return false
		}
	}
	return true
}

// unavailable are the prefixes of error replies of a Redis that cannot
// serve the fleet now.
var unavailable = []string{"LOADING", "BUSY", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "OOM",
	"NOREPLICAS", "MISCONF", "NOAUTH", "WRONGPASS", "NOPERM"}
