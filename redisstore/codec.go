package redisstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/infuse-go/infuse"
)

// remote is a breaker's state as Redis holds it, in Redis's own time.
type remote struct {
	state     infuse.State
	gen       uint64
	openedAt  int64 // Redis ms
	failures  int
	successes int
	trials    int
	now       int64 // Redis ms when this was read
	mode      infuse.Mode
	trips     int
}

// reply is a script's answer.
type reply struct {
	remote
	absent  bool   // no state: seed it and try again
	changed bool   // the script made a transition
	corrupt bool   // foreign data was found and dropped
	extra   uint64 // acquire: the permit id, 0 for none
	// window: the fleet's window after the merge (hasWindow).
	hasWindow                bool
	wCalls, wFailures, wSlow int64
}

// errBadReply is wrapped by every decoding error: the data came from Redis
// but is not what infuse's scripts write.
var errBadReply = errors.New("redisstore: malformed data in Redis")

// maxCount bounds the counters a reply may carry; larger ones are foreign.
const maxCount = 1 << 31

// decodeReply decodes a script's reply. It never panics.
func decodeReply(v any) (reply, error) {
	vals, ok := v.([]any)
	if !ok {
		return reply{}, fmt.Errorf("%w: reply of type %T", errBadReply, v)
	}
	if len(vals) == 1 {
		if n, ok := vals[0].(int64); ok && n == -1 {
			return reply{absent: true}, nil
		}
	}
	if len(vals) != 12 && len(vals) != 15 {
		return reply{}, fmt.Errorf("%w: reply of %d values", errBadReply, len(vals))
	}
	var n [15]int64
	for i, x := range vals {
		if n[i], ok = x.(int64); !ok {
			return reply{}, fmt.Errorf("%w: reply value %d of type %T", errBadReply, i, x)
		}
	}
	r, err := makeRemote(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[10], n[11])
	if err != nil {
		return reply{}, err
	}
	if n[9] < 0 {
		return reply{}, fmt.Errorf("%w: permit id %d", errBadReply, n[9])
	}
	rep := reply{remote: r, changed: n[7] == 1, corrupt: n[8] == 1, extra: uint64(n[9])}
	if len(vals) == 15 {
		if n[12] < 0 || n[13] < 0 || n[14] < 0 || n[13] > n[12] || n[14] > n[12] {
			return reply{}, fmt.Errorf("%w: window %d, %d, %d", errBadReply, n[12], n[13], n[14])
		}
		rep.hasWindow, rep.wCalls, rep.wFailures, rep.wSlow = true, n[12], n[13], n[14]
	}
	return rep, nil
}

func makeRemote(st, g, oa, f, s, trials, now, md, tr int64) (remote, error) {
	switch {
	case md < 0 || md > 2:
		return remote{}, fmt.Errorf("%w: mode %d", errBadReply, md)
	case tr < 0 || tr > maxCount:
		return remote{}, fmt.Errorf("%w: trips %d", errBadReply, tr)
	case st < 0 || st > 2:
		return remote{}, fmt.Errorf("%w: state %d", errBadReply, st)
	case g < 1 || g >= 1<<(64-provisionalBits):
		return remote{}, fmt.Errorf("%w: generation %d", errBadReply, g)
	case f < 0 || f > maxCount || s < 0 || s > maxCount || trials < 0 || trials > maxCount:
		return remote{}, fmt.Errorf("%w: counts %d, %d, %d", errBadReply, f, s, trials)
	case oa < 0 || now < 0:
		return remote{}, fmt.Errorf("%w: times %d, %d", errBadReply, oa, now)
	}
	return remote{
		state: infuse.State(st), gen: uint64(g), openedAt: oa,
		failures: int(f), successes: int(s), trials: int(trials), now: now,
		mode: infuse.Mode(md), trips: int(tr),
	}, nil
}

// syncPrefix marks the messages Store.Sync sends itself; no breaker name
// starts with a NUL byte's escape.
const syncPrefix = "\x00sync "

// decodeMessage decodes a pub/sub message:
// "name\norigin\nst g oa f s trials now md tr". It never panics.
func decodeMessage(payload string) (name, origin string, r remote, err error) {
	i := strings.LastIndexByte(payload, '\n')
	if i < 0 {
		return "", "", remote{}, fmt.Errorf("%w: message without a name", errBadReply)
	}
	head, fields := payload[:i], strings.Fields(payload[i+1:])
	j := strings.LastIndexByte(head, '\n')
	if j < 0 {
		return "", "", remote{}, fmt.Errorf("%w: message without an origin", errBadReply)
	}
	name, origin = head[:j], head[j+1:]
	if name == "" || len(fields) != 9 {
		return "", "", remote{}, fmt.Errorf("%w: message %q", errBadReply, payload)
	}
	var n [9]int64
	for k, f := range fields {
		if n[k], err = strconv.ParseInt(f, 10, 64); err != nil {
			return "", "", remote{}, fmt.Errorf("%w: message field %q", errBadReply, f)
		}
	}
	r, err = makeRemote(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8])
	return name, origin, r, err
}
