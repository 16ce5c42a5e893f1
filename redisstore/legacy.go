package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse/storage"
)

// Upgrading from the first layout (keys "<namespace>:{<name>}", no
// version). A breaker that binds in this layout and finds nothing here
// reads its old key once: if the old layout held it open or in a forced
// mode, the breaker starts from that (the rest of its open period, the
// mode) and shares it in this layout. Nothing is written to the old keys;
// they expire by their TTL. See docs/upgrading.md for what happens during a
// rolling upgrade.

// legacyRead queues the reading of a breaker's state in the first layout;
// its result is nil when there is nothing worth carrying over (no key,
// closed, or not a state).
func (s *Store) legacyRead(ctx context.Context, name string) (queue func(redis.Pipeliner), result func() *remote) {
	var h *redis.SliceCmd
	var now *redis.TimeCmd
	queue = func(pipe redis.Pipeliner) {
		h = pipe.HMGet(ctx, legacyKey(s.opts.Namespace, name), "st", "g", "oa", "f", "md", "tr")
		now = pipe.Time(ctx)
	}
	result = func() *remote {
		vals, err := h.Result()
		if err != nil || len(vals) != 6 || now.Err() != nil {
			return nil
		}
		var n [6]int64
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				if i < 2 {
					return nil
				}
				continue
			}
			if n[i], err = strconv.ParseInt(str, 10, 64); err != nil || n[i] < 0 {
				return nil
			}
		}
		r := remote{state: storage.State(n[0]), openedAt: n[2], failures: int(min(n[3], maxCount)),
			mode: storage.Mode(n[4]), trips: int(min(n[5], maxCount)), now: now.Val().UnixMilli()}
		switch {
		case n[0] > 2 || n[4] > 2 || n[1] < 1:
			return nil
		case r.mode == storage.ModeNormal && r.state != storage.Open:
			return nil
		}
		return &r
	}
	return queue, result
}

// importLegacy starts the binding from a state read in the first layout,
// as its own, not yet shared: the sender seeds Redis with it. b.mu is
// held.
func (b *binding) importLegacy(r remote) {
	b.mustHold()
	b.conf = remote{}
	b.seq = 1
	b.local = storage.Snapshot{State: r.state, Generation: 1, Mode: r.mode, Trips: r.trips}
	switch {
	case r.mode == storage.ModeDisabled:
		b.local.State = storage.Closed
	case r.mode == storage.ModeForcedOpen || r.state == storage.Open:
		b.local.State = storage.Open
		b.local.Failures = r.failures
		b.local.OpenedAt = b.cfg.Clock.Now().Add(-time.Duration(max(r.now-r.openedAt, 0)) * time.Millisecond)
	}
	b.enqueueLocked()
}
