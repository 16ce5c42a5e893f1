package redisstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// remote is a breaker's state as Redis holds it, in Redis's own time.
type remote struct {
	state     storage.State
	gen       uint64
	inc       string // the incarnation: "" until Redis lost or replaced the state
	openedAt  int64  // Redis ms
	failures  int
	successes int
	trials    int
	now       int64 // Redis ms when this was read
	mode      storage.Mode
	trips     int
	resets    uint64        // how often a success has reset a run of failures
	maker     string        // the binding whose script made this generation; "" unknown
	from      storage.State // the state that transition left (with maker)
	madeAt    int64         // Redis ms when that transition was made (with maker)
	cause     storage.Cause // why it was made (with maker; unknown from an older version)
}

// idle tells a state with nothing to share but a run of failures, which
// Redis forgets IdleTTL after its last write.
func (r remote) idle() bool {
	return r.state == storage.Closed && r.mode == storage.ModeNormal
}

// sameIdentity tells whether r and o are one generation of one history.
func (r remote) sameIdentity(o remote) bool { return r.gen == o.gen && r.inc == o.inc }

// reply is a script's answer about one breaker.
type reply struct {
	remote
	absent  bool   // Redis holds no state (a read), or stores none (bind of an idle seed)
	changed bool   // the script made a transition
	late    bool   // the script ran past its caller's deadline and did nothing
	kept    bool   // the key is gone: this is what its summary line says it held
	lapsed  bool   // kept, and the line says the key expired
	corrupt bool   // something infuse did not write was found and replaced
	extra   uint64 // acquire: the permit id, 0 for none
	// window: the fleet's window after the merge (hasWindow).
	hasWindow                           bool
	wCalls, wFailures, wSlow, wRequests int64
}

// errLate is what a caller gets when Redis ran its script past the
// caller's deadline: nothing was done.
var errLate = errors.New("redisstore: Redis ran the script too late to act on it")

// errBadReply is wrapped by every decoding error: the data came from Redis
// but is not what infuse's scripts write.
var errBadReply = errors.New("redisstore: malformed data in Redis")

const (
	maxCount = 1<<31 - 1
	maxGen   = 1<<43 - 1 // the scripts' bound; shifted by provisionalBits it still fits
	maxTime  = 1 << 48
)

// decodeReply decodes a script's reply about one breaker. It never panics.
func decodeReply(v any) (reply, error) {
	vals, ok := v.([]any)
	if !ok {
		return reply{}, fmt.Errorf("%w: reply of type %T", errBadReply, v)
	}
	if len(vals) == 3 {
		var n [3]int64
		for i, x := range vals {
			if n[i], ok = x.(int64); !ok {
				return reply{}, fmt.Errorf("%w: reply value %d of type %T", errBadReply, i, x)
			}
		}
		if n[0] != 1 || n[1] < 0 || n[1] > 1 || n[2] < 0 || n[2] >= maxTime {
			return reply{}, fmt.Errorf("%w: absent reply %v", errBadReply, n)
		}
		return reply{absent: true, corrupt: n[1] == 1, remote: remote{now: n[2]}}, nil
	}
	if len(vals) != 16 && len(vals) != 20 {
		return reply{}, fmt.Errorf("%w: reply of %d values", errBadReply, len(vals))
	}
	inc, ok := vals[14].(string)
	if !ok || !validInc(inc) {
		return reply{}, fmt.Errorf("%w: incarnation %v", errBadReply, vals[14])
	}
	mk, ok := vals[15].(string)
	maker, from, madeAt, cause, good := decodeMaker(mk)
	if !ok || !good {
		return reply{}, fmt.Errorf("%w: maker %v", errBadReply, vals[15])
	}
	var n [20]int64
	for i, x := range vals {
		if i == 14 || i == 15 {
			continue
		}
		if n[i], ok = x.(int64); !ok {
			return reply{}, fmt.Errorf("%w: reply value %d of type %T", errBadReply, i, x)
		}
	}
	switch {
	case n[0] != 0 && n[0] != 2 && n[0] != 3:
		return reply{}, fmt.Errorf("%w: reply flag %d", errBadReply, n[0])
	case n[1] < 0 || n[1] > 2:
		return reply{}, fmt.Errorf("%w: state %d", errBadReply, n[1])
	case n[2] < 1 || n[2] > maxGen:
		return reply{}, fmt.Errorf("%w: generation %d", errBadReply, n[2])
	case n[3] < 0 || n[3] >= maxTime || n[7] < 0 || n[7] >= maxTime:
		return reply{}, fmt.Errorf("%w: times %d, %d", errBadReply, n[3], n[7])
	case n[4] < 0 || n[4] > maxCount || n[5] < 0 || n[5] > maxCount || n[6] < 0 || n[6] > maxCount ||
		n[12] < 0 || n[12] > maxCount:
		return reply{}, fmt.Errorf("%w: counts %d, %d, %d, %d", errBadReply, n[4], n[5], n[6], n[12])
	case n[8] < 0 || n[8] > 2 || n[9] < 0 || n[9] > 1:
		return reply{}, fmt.Errorf("%w: flags %d, %d", errBadReply, n[8], n[9])
	case n[10] < 0 || n[13] < 0:
		return reply{}, fmt.Errorf("%w: permit %d, resets %d", errBadReply, n[10], n[13])
	case n[11] < 0 || n[11] > 2:
		return reply{}, fmt.Errorf("%w: mode %d", errBadReply, n[11])
	}
	r := reply{
		remote: remote{
			state: storage.State(n[1]), gen: uint64(n[2]), inc: inc, openedAt: n[3],
			failures: int(n[4]), successes: int(n[5]), trials: int(n[6]), now: n[7],
			mode: storage.Mode(n[11]), trips: int(n[12]), resets: uint64(n[13]), maker: maker, cause: cause,
		},
		changed: n[8] == 1, late: n[8] == 2, corrupt: n[9] == 1, extra: uint64(n[10]), kept: n[0] >= 2,
		lapsed: n[0] == 3,
	}
	r.from, r.madeAt = from, madeAt
	if len(vals) == 20 {
		if n[16] < 0 || n[17] < 0 || n[18] < 0 || n[19] < 0 || n[17] > n[16] || n[18] > n[16] {
			return reply{}, fmt.Errorf("%w: window %d, %d, %d, %d", errBadReply, n[16], n[17], n[18], n[19])
		}
		r.hasWindow, r.wCalls, r.wFailures, r.wSlow, r.wRequests = true, n[16], n[17], n[18], n[19]
	}
	return r, nil
}

// decodeMaker decodes a reply's maker: "<binding>:<from state>:<made at,
// Redis ms>:<cause>", or "" for none known. The cause is a storage.Cause;
// one this version does not know is CauseUnknown.
func decodeMaker(mk string) (maker string, from storage.State, madeAt int64, cause storage.Cause, ok bool) {
	if mk == "" {
		return "", 0, 0, 0, true
	}
	f := strings.Split(mk, ":")
	if len(f) != 4 || f[0] == "" || !validMaker(f[0]) || len(f[1]) != 1 || f[1][0] < '0' || f[1][0] > '2' {
		return "", 0, 0, 0, false
	}
	at, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || at < 0 || at >= maxTime {
		return "", 0, 0, 0, false
	}
	c, err := strconv.ParseUint(f[3], 10, 8)
	if err != nil || !storage.Cause(c).Valid() {
		c = 0
	}
	return f[0], storage.State(f[1][0] - '0'), at, storage.Cause(c), true
}

// validMaker tells a binding's id as the scripts record it: a member's
// id, a dot, a number (base 36); "" for unknown.
func validMaker(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && c != '.' {
			return false
		}
	}
	return true
}

func validInc(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// decodeReplies decodes a bucket script's list of replies.
func decodeReplies(v any) ([]reply, error) {
	out, errs, err := decodeEach(v)
	if err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeEach decodes a script's replies about several breakers, each on
// its own: errs[i] is item i's error, so that bad data about one breaker
// costs that breaker only. err is for an answer that is no list at all.
func decodeEach(v any) (out []reply, errs []error, err error) {
	vals, ok := v.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("%w: replies of type %T", errBadReply, v)
	}
	out, errs = make([]reply, len(vals)), make([]error, len(vals))
	for i, x := range vals {
		out[i], errs[i] = decodeReply(x)
	}
	return out, errs, nil
}

// counter is a bucket's change counter: its epoch (new whenever the
// counter starts again; "" when there is none), its value, and the token
// of its last change (new with every change).
type counter struct {
	epoch string
	n     int64
	token string
}

// decodeCounter decodes "<epoch>:<n>:<token>"; anything else is no
// counter.
func decodeCounter(v string) counter {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return counter{}
	}
	ep, num, tok := parts[0], parts[1], parts[2]
	if ep == "" || !validInc(ep) || tok == "" || len(tok) > 16 || !validInc(tok) ||
		num == "" || len(num) > 16 || strings.TrimLeft(num, "0123456789") != "" {
		return counter{}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > 1<<53-1 {
		return counter{}
	}
	return counter{epoch: ep, n: n, token: tok}
}

// changeSet is what the changes script answers for a bucket.
type changeSet struct {
	counter
	flag  int64 // 0, or 1: the log does not reach back (read all), 2: the counter started again
	items []changed
}

type changed struct {
	kname string
	seq   int64
	r     reply
}

// decodeChanges decodes the changes script's answer. It never panics.
func decodeChanges(v any) (changeSet, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != 5 {
		return changeSet{}, fmt.Errorf("%w: changes %T", errBadReply, v)
	}
	ep, ok0 := vals[0].(string)
	seq, ok1 := vals[1].(int64)
	tok, ok4 := vals[2].(string)
	flag, ok2 := vals[3].(int64)
	items, ok3 := vals[4].([]any)
	if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 || !validInc(ep) || !validInc(tok) || len(tok) > 16 || seq < 0 || flag < 0 || flag > 2 {
		return changeSet{}, fmt.Errorf("%w: changes %v", errBadReply, vals)
	}
	cs := changeSet{counter: counter{epoch: ep, n: seq, token: tok}, flag: flag}
	for _, it := range items {
		e, ok := it.([]any)
		if !ok || len(e) != 3 {
			return changeSet{}, fmt.Errorf("%w: change %v", errBadReply, it)
		}
		kn, ok1 := e[0].(string)
		s, ok2 := e[1].(int64)
		if !ok1 || !ok2 {
			return changeSet{}, fmt.Errorf("%w: change %v", errBadReply, it)
		}
		r, err := decodeReply(e[2])
		if err != nil {
			return changeSet{}, err
		}
		cs.items = append(cs.items, changed{kname: kn, seq: s, r: r})
	}
	return cs, nil
}

// A hint is the only message members publish: "h <bucket> <epoch> <n>
// <token>", the bucket where a change was recorded and its counter. It
// says where to look, nothing more: members read the change from Redis.
func hintMessage(bucket int, c counter) string {
	return "h " + strconv.Itoa(bucket) + " " + c.epoch + " " + strconv.FormatInt(c.n, 10) + " " + c.token
}

// decodeHint decodes a hint; ok is false for anything else. It never
// panics.
func decodeHint(payload string) (bucket int, c counter, ok bool) {
	rest, found := strings.CutPrefix(payload, "h ")
	if !found || len(rest) > 64 {
		return 0, counter{}, false
	}
	b, rest, found := strings.Cut(rest, " ")
	if !found {
		return 0, counter{}, false
	}
	k, err := strconv.Atoi(b)
	if err != nil || k < 0 || k >= nBuckets || strconv.Itoa(k) != b {
		return 0, counter{}, false
	}
	f := strings.Split(rest, " ")
	if len(f) != 3 {
		return 0, counter{}, false
	}
	c = decodeCounter(f[0] + ":" + f[1] + ":" + f[2])
	if c.epoch == "" || c.n < 1 || strconv.FormatInt(c.n, 10) != f[1] {
		return 0, counter{}, false
	}
	return k, c, true
}

// summary is a breaker's line in its bucket's summary hash.
type summary struct {
	remote
	openPeriod int64 // ms, 0: not known
	expires    int64 // Redis ms
}

// decodeSummary decodes "st g oa f s trials md tr op inc ma cause
// expires" (inc "-" for none; ma when the transition to this generation
// was made, Redis ms, 0 when not known; cause a storage.Cause, absent as
// an older version writes the line; expires last, as the sweep reads it).
// It never panics.
func decodeSummary(line string) (summary, bool) {
	f := strings.Fields(line)
	var cause storage.Cause
	switch len(f) {
	case 13: // a cause this version cannot read is unknown, as the scripts take it
		if c, err := strconv.ParseUint(f[11], 10, 8); err == nil && storage.Cause(c).Valid() {
			cause = storage.Cause(c)
		}
		f = append(f[:11:11], f[12])
	case 12:
	default:
		return summary{}, false
	}
	inc := f[9]
	if inc == "-" {
		inc = ""
	}
	if !validInc(inc) {
		return summary{}, false
	}
	f = append(f[:9:9], f[10], f[11])
	var n [11]int64
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return summary{}, false
		}
		n[i] = v
	}
	if n[0] > 2 || n[1] < 1 || n[1] > maxGen || n[6] > 2 || n[3] > maxCount || n[4] > maxCount || n[5] > maxCount || n[7] > maxCount {
		return summary{}, false
	}
	if n[9] >= maxTime {
		return summary{}, false
	}
	return summary{
		remote: remote{state: storage.State(n[0]), gen: uint64(n[1]), inc: inc, openedAt: n[2], failures: int(n[3]),
			successes: int(n[4]), trials: int(n[5]), mode: storage.Mode(n[6]), trips: int(n[7]), madeAt: n[9], cause: cause},
		openPeriod: n[8], expires: n[10],
	}, true
}

// rampNote is how a member records its recovery ramp
// (infuse.Config.RampDuration, RampSteps) for operators in a closed
// state's op field: the duration in ms × 1001 + the steps (at most 1000);
// 0 for none, or one too long to record (over 8 years).
func rampNote(d time.Duration, steps int) int64 {
	ms := d.Milliseconds()
	if ms <= 0 || steps < 0 || steps > 1000 || ms >= (maxTime-1000)/1001 {
		return 0
	}
	return ms*1001 + int64(steps)
}

// decodeRampNote is the ramp a closed state's op field records; zero for
// none, or a field that is no ramp.
func decodeRampNote(v int64) (time.Duration, int) {
	if v <= 0 || v >= maxTime || v/1001 == 0 {
		return 0, 0
	}
	return time.Duration(v/1001) * time.Millisecond, int(v % 1001)
}

// fleetWindow is a fleet window's line in its bucket's window hash.
type fleetWindow struct {
	calls, failures, slow, expires int64
	// With a throttle: the requests, K and the maximum rejection rate.
	requests int64
	throttle storage.Throttle
}

// decodeWindow decodes a fleet window's line: "calls failures slow
// expires", or with a throttle "calls failures slow requests K
// maxRejectRate expires".
func decodeWindow(line string) (fleetWindow, bool) {
	f := strings.Fields(line)
	if len(f) != 4 && len(f) != 7 {
		return fleetWindow{}, false
	}
	var n [7]int64
	for i, s := range f {
		if len(f) == 7 && (i == 4 || i == 5) {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return fleetWindow{}, false
		}
		n[i] = v
	}
	w := fleetWindow{calls: n[0], failures: n[1], slow: n[2], expires: n[len(f)-1]}
	if w.failures > w.calls || w.slow > w.calls {
		return fleetWindow{}, false
	}
	if len(f) == 7 {
		k, err1 := strconv.ParseFloat(f[4], 64)
		m, err2 := strconv.ParseFloat(f[5], 64)
		w.requests, w.throttle = n[3], storage.Throttle{K: k, MaxRejectRate: m}
		if err1 != nil || err2 != nil || !(k >= 1 && k <= 1e6) || !(m > 0 && m <= 1) {
			return fleetWindow{}, false
		}
	}
	return w, true
}
