package redisstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/storage"
	"github.com/redis/go-redis/v9"
)

// The prelude's behaviours: the kinds of arguments, every field's
// validation and limits, restoring a state, the bucket's change counter,
// log and summary lines. Each script's own file tests how the script uses
// them.

const (
	gMax  = 1 << 43 // GMAX
	cMax  = 1 << 31 // CMAX
	tMax  = 1 << 48 // TMAX
	ahead = 24 * time.Hour
)

func testPrelude(t *testing.T, h *luaBed) {
	t.Run("kinds", func(t *testing.T) { testKinds(t, h) })
	t.Run("fields", func(t *testing.T) { testFields(t, h) })
	t.Run("maker", func(t *testing.T) { testMakerField(t, h) })
	t.Run("restore", func(t *testing.T) { testRestore(t, h) })
	t.Run("counter", func(t *testing.T) { testCounter(t, h) })
	t.Run("log", func(t *testing.T) { testLogCap(t, h) })
	t.Run("summary", func(t *testing.T) { testSummary(t, h) })
	t.Run("sweep", func(t *testing.T) { testSweep(t, h) })
	t.Run("ttl", func(t *testing.T) { testKeyTTLs(t, h) })
	t.Run("late", func(t *testing.T) { testLate(t, h) })
	t.Run("edges", func(t *testing.T) { testEdgesOfNow(t, h) })
}

// untouched are the arguments of a script that changes nothing but
// what it must restore (a report of no generation Redis holds).
var untouched = reportArgs{FromInc: "zz", FromGen: "1", FailMax: 3, Binding: "me.1"}

// withArg runs a with the argument called name (of the context, or a's
// own) set to v.
func (h *luaBed) withArg(a onBreaker, name string, v any) error {
	args := h.args(a)
	if i := contextList.index(name); i >= 0 {
		args[3+i] = v
	} else if i := a.onBreaker().args.index(name); i >= 0 {
		args[3+len(contextList.fields)+i] = v
	} else {
		h.t.Fatalf("no argument %s", name)
	}
	_, err := h.eval(a.onBreaker(), h.l.scriptKeys(h.k, h.kn), args...)
	return err
}

func testKinds(t *testing.T, h *luaBed) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tr := transitionArgs{FromInc: "zz", FromGen: "9", To: infuse.Open}
	rep := reportArgs{FromInc: "zz", FromGen: "9", FailMax: 3}
	for _, c := range []struct {
		a    onBreaker
		name string
		v    any
		ok   bool
	}{
		{tr, "kname", "", true},
		{tr, "ttl", -1, false},
		{tr, "ttl", 1, true},
		{tr, "deadline", 0, true},
		{tr, "deadline", tMax - 1, true},
		{tr, "deadline", tMax, false},
		{tr, "deadline", -1, false},
		{tr, "deadline", "1.5", false},
		{tr, "deadline", "nan", false},
		{tr, "deadline", "x", false},
		{tr, "nonce", "", false},
		{tr, "nonce", long(32), true},
		{tr, "nonce", long(33), false},
		{tr, "nonce", "A", false},
		{tr, "seed_i", "", true},
		{tr, "seed_i", long(32), true},
		{tr, "seed_i", long(33), false},
		{tr, "seed_i", "a.b", false},
		{tr, "seed_g", 0, true},
		{tr, "seed_g", gMax - 1, true},
		{tr, "seed_g", gMax, false},
		{tr, "seed_g", "07", false},
		{tr, "seed_g", "-1", false},
		{tr, "seed_st", 2, true},
		{tr, "seed_st", 3, false},
		{tr, "seed_st", -1, false},
		{tr, "seed_el", 1 - tMax, true},
		{tr, "seed_el", -tMax, false},
		{tr, "seed_el", tMax - 1, true},
		{tr, "seed_el", tMax, false},
		{tr, "seed_f", cMax - 1, true},
		{tr, "seed_f", cMax, false},
		{tr, "seed_f", -1, false},
		{tr, "me", "", true},
		{tr, "me", "m" + strings.Repeat(".", 63), true},
		{tr, "me", long(65), false},
		{tr, "me", "M", false},
		{tr, "manual", 2, false},
		{tr, "manual", "", false},
		{rep, "saw", 1, true},
		{rep, "saw", "true", false},
		{rep, "resets", 1<<53 - 1, true},
		{rep, "resets", "9007199254740992", false},
		{rep, "batch", "9007199254740991", true},
		{rep, "batch", "9007199254740992", false},
		{rep, "batch", "01", false},
	} {
		h.closed("", 2, 0)
		err := h.withArg(c.a, c.name, c.v)
		if c.ok && err != nil {
			t.Errorf("%s = %v refused: %v", c.name, c.v, err)
		}
		if !c.ok {
			h.refused(err, c.name+" = "+toString(c.v))
		}
	}
}

// testFields stores a valid state with one field set to each value, at
// and beyond its limits: the read script answers garbage as no state,
// corrupt, and any other script replaces it under a new identity and
// says so.
func testFields(t *testing.T, h *luaBed) {
	now := h.now()
	base := map[string]any{"st": 1, "g": 5, "oa": now - 1000, "f": 3, "s": 0, "ps": 2, "md": 0, "tr": 1, "i": "abc",
		"rs": 4, "op": 0, "mk": ""}
	for _, c := range []struct {
		field string
		v     any
		ok    bool
	}{
		{"st", 0, true}, {"st", 2, true}, {"st", 3, false}, {"st", -1, false}, {"st", "1.5", false}, {"st", "x", false},
		{"st", "", false}, {"st", "nan", false},
		{"g", 1, true}, {"g", gMax - 1, true}, {"g", 0, false}, {"g", gMax, false},
		{"oa", 0, true}, {"oa", -1, false}, {"oa", now + ahead.Milliseconds() - time.Minute.Milliseconds(), true},
		{"oa", now + ahead.Milliseconds() + time.Minute.Milliseconds(), false},
		{"f", 0, true}, {"f", cMax - 1, true}, {"f", cMax, false}, {"f", -1, false},
		{"s", cMax - 1, true}, {"s", cMax, false}, {"s", -1, false},
		{"ps", gMax - 1, true}, {"ps", gMax, false}, {"ps", -1, false},
		{"md", 2, true}, {"md", 3, false}, {"md", -1, false},
		{"tr", cMax - 1, true}, {"tr", cMax, false}, {"tr", -1, false},
		{"i", "", true}, {"i", strings.Repeat("z", 32), true}, {"i", strings.Repeat("z", 33), false}, {"i", "A", false},
		{"rs", gMax - 1, true}, {"rs", gMax, false}, {"rs", -1, false},
		{"op", tMax - 1, true}, {"op", tMax, false}, {"op", -1, false},
	} {
		what := c.field + " = " + toString(c.v)
		fields := []any{}
		for k, v := range base {
			if k == c.field {
				v = c.v
			}
			fields = append(fields, k, v)
		}
		h.put(fields...)
		v, err := h.bucket(readArgs{KNames: []string{h.kn}})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := decodeReplies(v)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r := rs[0]
		if c.ok != !r.absent || r.corrupt == c.ok {
			t.Errorf("%s: read as absent %v, corrupt %v", what, r.absent, r.corrupt)
			continue
		}
		if c.ok {
			// every field as stored
			want := map[string]int64{"st": int64(r.state), "g": int64(r.gen), "oa": r.openedAt, "f": int64(r.failures),
				"s": int64(r.successes), "md": int64(r.mode), "tr": int64(r.trips), "rs": int64(r.resets)}
			for f, got := range want {
				if s := h.state()[f]; s != strconv.FormatInt(got, 10) {
					t.Errorf("%s: %s read as %d, stored %s", what, f, got, s)
				}
			}
			if r.inc != h.state()["i"] {
				t.Errorf("%s: i read as %q", what, r.inc)
			}
			continue
		}
		// Any other script replaces it, under a new identity, and says so.
		before := h.changes()
		r = h.run(untouched)
		if !r.corrupt || r.inc != h.ctx.Nonce || r.gen != h.ctx.SeedGen+1 || h.changes() != before+1 {
			t.Errorf("%s: replaced by %+v", what, r)
		}
		if s := h.state(); s["i"] != h.ctx.Nonce || s["st"] != "0" {
			t.Errorf("%s: stored %v", what, s)
		}
	}
	// Fields infuse writes not are left alone; fields it writes may be
	// missing (an older version's state).
	h.put("st", 1, "g", 3, "x", "other")
	r := h.run(transitionArgs{FromGen: "0", To: infuse.HalfOpen})
	if r.corrupt || r.gen != 4 || h.state()["x"] != "other" {
		t.Errorf("a state of st and g alone: %+v, stored %v", r, h.state())
	}
	// A state key of another type is replaced by a hash.
	h.put()
	h.c.Set(bg, h.key, "x", 0)
	if r := h.run(untouched); !r.corrupt || h.state()["i"] != h.ctx.Nonce {
		t.Errorf("a string for a state: %+v", r)
	}
}

func testMakerField(t *testing.T, h *luaBed) {
	who64 := "m." + strings.Repeat("1", 62)
	for _, c := range []struct {
		mk, want string
	}{
		{"5:me.1:0:123", "me.1:0:123:0"}, // as an older version writes it: no cause
		{"5:me.1:2:123", "me.1:2:123:0"},
		{"5:me.1:2:123:6", "me.1:2:123:6"}, // a trial failed
		{"5:me.1:2:123:64", "me.1:2:123:0"},
		{"5:me.1:2:123:x", ""},
		{"5:me.1:2:123:6:1", ""},
		{"4:me.1:0:123", ""}, // another generation's
		{"5:me.1:3:123", ""},
		{"5::0:123", ""},
		{"5:Me:0:123", ""},
		{"5:me.1:0:x", ""},
		{"5:me.1:0:0", "me.1:0:0:0"},
		{"5:me.1:0:" + strconv.FormatInt(tMax, 10), ""},
		{"5:me.1:0:" + strconv.FormatInt(tMax-1, 10), "me.1:0:" + strconv.FormatInt(tMax-1, 10) + ":0"},
		{"5:" + who64 + ":1:7", who64 + ":1:7:0"},
		{"5:" + who64 + "1:1:7", ""},
		{"05:me.1:0:123", ""},
		{"", ""},
	} {
		h.put("st", 1, "g", 5, "oa", h.now(), "mk", c.mk)
		v, err := h.bucket(readArgs{KNames: []string{h.kn}})
		if err != nil {
			t.Fatal(err)
		}
		out := v.([]any)[0].([]any)
		if got := out[15]; got != c.want {
			t.Errorf("mk %q: answered %q, want %q", c.mk, got, c.want)
		}
		if _, err := decodeReply(out); err != nil {
			t.Errorf("mk %q: %v", c.mk, err)
		}
	}
	// A script's transition records its maker, the state it left and when.
	h.open("abc", 5, 1000)
	before := h.now()
	r := h.run(transitionArgs{FromInc: "abc", FromGen: "5", To: infuse.HalfOpen, Cause: storage.CauseOperator})
	after := h.now()
	if r.maker != h.ctx.Binding || r.from != infuse.Open || r.cause != storage.CauseOperator {
		t.Errorf("made by %q from %v for %v", r.maker, r.from, r.cause)
	}
	within(t, "made at", r.madeAt, before, after)
	if mk := h.state()["mk"]; mk != "6:me.1:1:"+strconv.FormatInt(r.madeAt, 10)+":9" {
		t.Errorf("mk stored %q", mk)
	}
	// A script without a transition keeps it; one without a maker
	// records none.
	if r := h.run(untouched); r.maker != h.ctx.Binding {
		t.Errorf("maker after a script that made nothing: %q", r.maker)
	}
	h.ctx.Binding = ""
	h.run(transitionArgs{FromGen: "0", To: infuse.Closed})
	if mk := h.state()["mk"]; mk != "" {
		t.Errorf("mk of no binding: %q", mk)
	}
	if r := h.run(untouched); r.maker != "" {
		t.Errorf("maker of no binding: %q", r.maker)
	}
}

func testRestore(t *testing.T, h *luaBed) {
	// Nothing stored, an idle seed: nothing is written, nothing announced.
	h.put()
	h.ctx.SeedInc, h.ctx.SeedGen = "old", 7
	n := h.changes()
	r := h.run(untouched)
	if r.corrupt || r.changed || r.gen != 7 || r.inc != "old" || r.state != infuse.Closed || len(h.state()) != 0 || h.changes() != n {
		t.Errorf("an idle seed: %+v, stored %v", r, h.state())
	}
	// An open seed: under a new incarnation, one generation up, from
	// when the seed opened, announced.
	h.ctx.SeedState, h.ctx.SeedElapsed, h.ctx.SeedFailures, h.ctx.SeedTrips = infuse.Open, 5000, 4, 2
	before := h.now()
	r = h.run(untouched)
	after := h.now()
	if r.corrupt || r.gen != 8 || r.inc != h.ctx.Nonce || r.state != infuse.Open || r.failures != 4 || r.trips != 2 ||
		h.changes() != n+1 {
		t.Errorf("an open seed: %+v", r)
	}
	within(t, "opened", r.openedAt, before-5000, after-5000)
	// Opened before Redis's clock began: at 0.
	h.put()
	h.ctx.SeedElapsed = before + 1000000
	if r := h.run(untouched); r.openedAt != 0 {
		t.Errorf("opened before 0: at %d", r.openedAt)
	}
	// A hold ahead (negative elapsed).
	h.put()
	h.ctx.SeedElapsed = -60000
	if r := h.run(untouched); r.openedAt < before+60000 {
		t.Errorf("a hold ahead: opened at %d, now %d", r.openedAt, before)
	}
	// A closed seed after a recovery keeps when it closed, idle: not
	// written.
	h.put()
	h.ctx.SeedState, h.ctx.SeedElapsed, h.ctx.SeedFailures, h.ctx.SeedTrips = infuse.Closed, 3000, 0, 0
	before = h.now()
	r = h.run(untouched)
	after = h.now()
	within(t, "closed", r.openedAt, before-3000, after-3000)
	if len(h.state()) != 0 || r.gen != 7 {
		t.Errorf("a recovered seed was written: %v (%+v)", h.state(), r)
	}
	h.ctx.SeedElapsed = 1
	before = h.now()
	r = h.run(untouched)
	within(t, "closed 1 ms ago", r.openedAt, before-1, h.now()-1)
	h.ctx.SeedElapsed = before + 1000000
	if r := h.run(untouched); r.openedAt != 1 {
		t.Errorf("closed before 0: at %d", r.openedAt)
	}
	h.ctx.SeedElapsed = 0
	if r := h.run(untouched); r.openedAt != 0 {
		t.Errorf("a close from closed: at %d", r.openedAt)
	}
	// A forced seed: not idle; closed with a mode records no close.
	h.ctx.SeedMode, h.ctx.SeedElapsed = infuse.ModeDisabled, 3000
	r = h.run(untouched)
	if r.mode != infuse.ModeDisabled || r.openedAt != 0 || r.gen != 8 || h.state()["md"] != "2" {
		t.Errorf("a disabled seed: %+v", r)
	}
	// At the last generation: it stays there.
	h.put()
	h.ctx.SeedGen = gMax - 1
	if r := h.run(untouched); r.gen != gMax-1 {
		t.Errorf("a seed at the last generation: %d", r.gen)
	}
	// The seed's own generation is the caller's, under its new identity:
	// a report of it counts (the seed is disabled: the run is merged).
	h.put()
	h.ctx.SeedGen = 7
	r = h.run(reportArgs{FromInc: "old", FromGen: "7", Before: 2, FailMax: 3})
	if r.failures != 2 || r.gen != 8 {
		t.Errorf("a report of the seed's generation: %+v", r)
	}
	// ...but not once Redis holds it.
	r = h.run(reportArgs{FromInc: "old", FromGen: "7", Before: 2, FailMax: 3})
	if r.failures != 2 {
		t.Errorf("a report of the seed's generation, after: %+v", r)
	}
	// A key lost on its own comes back as its summary line said, leases
	// and all, announced.
	h.ctx.SeedMode = infuse.ModeNormal
	h.halfOpen("abc", 9, 11, 60000)
	h.run(untouched)
	h.save()
	n = h.changes()
	h.c.Del(bg, h.key)
	r = h.run(untouched)
	if r.state != infuse.HalfOpen || r.gen != 9 || r.inc != "abc" || r.trials != 1 || r.corrupt || h.changes() != n+1 {
		t.Errorf("put back from the summary: %+v", r)
	}
	// ...with when its generation was made.
	line := h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val()
	f := strings.Fields(line)
	f[10], f[11] = "42", "6"
	h.c.HSet(bg, h.l.bucket[h.k][2], h.kn, strings.Join(f, " "))
	h.c.Del(bg, h.key)
	h.run(untouched)
	if f := strings.Fields(h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val()); len(f) != 13 || f[10] != "42" || f[11] != "6" ||
		h.state()["g"] != "9" {
		t.Errorf("put back, made at 42 for a failed trial: line %v", f)
	}
	// ...and a cause out of range as unknown.
	for _, why := range []string{"64", "x"} {
		f = strings.Fields(h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val())
		f[11] = why
		h.c.HSet(bg, h.l.bucket[h.k][2], h.kn, strings.Join(f, " "))
		h.c.Del(bg, h.key)
		h.run(untouched)
		if f := strings.Fields(h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val()); len(f) != 13 || f[11] != "0" || h.state()["g"] != "9" {
			t.Errorf("put back with cause %s: line %v", why, f)
		}
	}
	// An idle summary line, or an expired one, is not put back.
	h.closed("abc", 9, 2)
	h.run(reportArgs{FromInc: "abc", FromGen: "9", FailMax: 5})
	h.c.Del(bg, h.key)
	if r := h.run(untouched); r.gen != 7 || r.inc != "old" {
		t.Errorf("an idle line put back: %+v", r)
	}
	h.halfOpen("abc", 9)
	h.save()
	line = h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val()
	f = strings.Fields(line)
	f[12] = strconv.FormatInt(h.now()-1, 10)
	h.c.HSet(bg, h.l.bucket[h.k][2], h.kn, strings.Join(f, " "))
	h.c.Del(bg, h.key)
	if r := h.run(untouched); r.gen != 7 {
		t.Errorf("an expired line put back: %+v", r)
	}
	// A line of the first incarnation.
	h.halfOpen("", 9)
	h.save()
	if line := h.c.HGet(bg, h.l.bucket[h.k][2], h.kn).Val(); strings.Fields(line)[9] != "-" {
		t.Errorf("summary of the first incarnation: %q", line)
	}
	h.c.Del(bg, h.key)
	if r := h.run(untouched); r.gen != 9 || r.inc != "" || r.state != infuse.HalfOpen {
		t.Errorf("put back, the first incarnation: %+v", r)
	}
}

func testCounter(t *testing.T, h *luaBed) {
	sub := h.c.Subscribe(bg, h.l.channel)
	defer sub.Close()
	if _, err := sub.Receive(bg); err != nil {
		t.Fatal(err)
	}
	seqKey, logKey, chain := h.l.bucket[h.k][0], h.l.bucket[h.k][1], h.l.base[h.k]+"chain"
	change := func() {
		h.closed("abc", 3, 0)
		h.run(transitionArgs{FromInc: "abc", FromGen: "3", To: infuse.Open})
	}
	h.ctx.Nonce = "n0123456789"
	for _, c := range []struct {
		seq, want string
	}{
		{"", "n0123456789:1:n0123456"},
		{"e:5:t", "e:6:n0123456"},
		{"e:9007199254740990:t", "e:9007199254740991:n0123456"},
		{"e:9007199254740991:t", "n0123456789:1:n0123456"},
		{"e:x:t", "n0123456789:1:n0123456"},
		{"e:0:t", "e:1:n0123456"},
		{"e:99999999999999999999:t", "n0123456789:1:n0123456"},
		{"E:5:t", "n0123456789:1:n0123456"},
		{strings.Repeat("e", 32) + ":5:t", strings.Repeat("e", 32) + ":6:n0123456"},
		{strings.Repeat("e", 33) + ":5:t", "n0123456789:1:n0123456"},
		{"e:5:" + strings.Repeat("t", 16), "e:6:n0123456"},
		{"e:5:" + strings.Repeat("t", 17), "n0123456789:1:n0123456"},
	} {
		h.c.Del(bg, seqKey, logKey, chain)
		if c.seq != "" {
			h.c.Set(bg, seqKey, c.seq, 0)
		}
		h.c.ZAdd(bg, logKey, redis.Z{Score: 1, Member: "other"})
		change()
		if got := h.seq(); got != c.want {
			t.Errorf("after %q: %q, want %q", c.seq, got, c.want)
		}
		ct := decodeCounter(h.seq())
		restarted := strings.HasPrefix(c.want, "n0123456789:1:")
		if s := h.c.ZScore(bg, logKey, h.kn).Val(); s != float64(ct.n) {
			t.Errorf("after %q: logged at %v", c.seq, s)
		}
		if got := h.c.ZScore(bg, logKey, "other").Err(); (got == nil) == restarted {
			t.Errorf("after %q: the log of the counter before kept: %v", c.seq, got == nil)
		}
		if got := h.c.ZRange(bg, chain, 0, -1).Val(); len(got) != 1 ||
			got[0] != strconv.FormatInt(ct.n, 10)+":n0123456" {
			t.Errorf("after %q: chain %v", c.seq, got)
		}
		msg, err := sub.ReceiveMessage(bg)
		if err != nil {
			t.Fatal(err)
		}
		if want := "h " + strconv.Itoa(h.k) + " " + ct.epoch + " " + strconv.FormatInt(ct.n, 10) + " n0123456"; msg.Payload != want {
			t.Errorf("hint %q, want %q", msg.Payload, want)
		}
		if ttl := h.c.PTTL(bg, seqKey).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("the counter's TTL: %v", ttl)
		}
		for _, k := range []string{logKey, chain} {
			if ttl := h.c.PTTL(bg, k).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("%s's TTL: %v", k, ttl)
			}
		}
	}
	// Another history's change of the same number is dropped from the
	// chain; a log or chain of another type is replaced.
	h.c.Set(bg, seqKey, "e:5:t", 0)
	h.c.ZAdd(bg, chain, redis.Z{Score: 6, Member: "6:other"})
	change()
	if h.c.ZScore(bg, chain, "6:other").Err() == nil || h.c.ZScore(bg, chain, "6:n0123456").Val() != 6 {
		t.Errorf("chain %v", h.c.ZRange(bg, chain, 0, -1).Val())
	}
	h.c.Del(bg, logKey)
	h.c.Set(bg, logKey, "x", 0)
	change()
	if h.c.ZScore(bg, logKey, h.kn).Val() != 7 {
		t.Errorf("a log of another type was not replaced")
	}
}

func testLogCap(t *testing.T, h *luaBed) {
	seqKey, logKey, chain := h.l.bucket[h.k][0], h.l.bucket[h.k][1], h.l.base[h.k]+"chain"
	change := func() {
		h.closed("abc", 3, 0)
		h.run(transitionArgs{FromInc: "abc", FromGen: "3", To: infuse.Open})
	}
	fill := func(n int) {
		h.c.Del(bg, logKey, chain)
		zs := make([]redis.Z, n)
		for i := range zs {
			zs[i] = redis.Z{Score: float64(i + 1), Member: "b" + strconv.Itoa(i+1)}
		}
		h.c.ZAdd(bg, logKey, zs...)
	}
	// A change numbered a multiple of 64 cuts the log to its last 1024
	// names, and records where it cut ("").
	fill(1100)
	h.c.Set(bg, seqKey, "e:1200:t", 0)
	h.c.ZAdd(bg, chain, redis.Z{Score: 1, Member: "1:t"}, redis.Z{Score: 192, Member: "192:t"},
		redis.Z{Score: 193, Member: "193:t"})
	change() // 1201: no cut
	if n := h.c.ZCard(bg, logKey).Val(); n != 1101 {
		t.Errorf("log of %d before a cut", n)
	}
	h.c.Set(bg, seqKey, "e:1215:t", 0)
	change() // 1216 = 19 * 64
	if n := h.c.ZCard(bg, logKey).Val(); n != 1025 {
		t.Errorf("log of %d after a cut, want 1024 and the cut", n)
	}
	if s := h.c.ZScore(bg, logKey, "").Val(); s != 77 {
		t.Errorf("cut at %v, want 77", s)
	}
	if h.c.ZScore(bg, logKey, "b78").Err() != nil || h.c.ZScore(bg, logKey, "b77").Err() == nil {
		t.Errorf("cut the wrong names")
	}
	// and the chain to its last 1024 changes
	if got := h.c.ZRange(bg, chain, 0, -1).Val(); len(got) != 3 || got[0] != "193:t" {
		t.Errorf("chain after the cut: %v", got)
	}
	// A log of exactly 1024 names is not cut.
	fill(1023)
	h.c.Set(bg, seqKey, "e:1279:t", 0)
	change()
	if n := h.c.ZCard(bg, logKey).Val(); n != 1024 {
		t.Errorf("a log of 1024 cut to %d", n)
	}
	fill(1024)
	h.c.Set(bg, seqKey, "e:1343:t", 0)
	change()
	if n, s := h.c.ZCard(bg, logKey).Val(), h.c.ZScore(bg, logKey, "").Val(); n != 1025 || s != 1 {
		t.Errorf("a log of 1025 cut to %d at %v", n, s)
	}
}

func testSummary(t *testing.T, h *luaBed) {
	sum := h.l.bucket[h.k][2]
	// The line: st g oa f s trials md tr op i madeAt cause expires.
	h.halfOpen("abc", 4, 1, 60000, 2, 60000)
	h.c.HSet(bg, h.key, "f", 2, "s", 1, "md", 0, "tr", 3, "op", 77, "mk", "4:me.1:1:99:6")
	before := h.now()
	h.save()
	after := h.now()
	f := strings.Fields(h.c.HGet(bg, sum, h.kn).Val())
	if len(f) != 13 || strings.Join(f[:12], " ") != "2 4 "+h.state()["oa"]+" 2 1 2 0 3 77 abc 99 6" {
		t.Errorf("summary %v", f)
	}
	x, _ := strconv.ParseInt(f[12], 10, 64)
	within(t, "expires", x, before+time.Hour.Milliseconds(), after+time.Hour.Milliseconds())
	// A new line sets the summary's TTL (a sweep, one time in eight,
	// sets it too: a call that swept no line tells).
	for deadline := time.Now().Add(30 * time.Second); ; {
		h.c.Del(bg, sum)
		if r := h.save(); r.now%8 != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("every save swept")
		}
	}
	if ttl := h.c.PTTL(bg, sum).Val(); ttl <= 0 {
		t.Errorf("summary's TTL %v", ttl)
	}
	// A summary hash of another type is replaced.
	h.c.Del(bg, sum)
	h.c.Set(bg, sum, "x", 0)
	h.save()
	if h.c.HGet(bg, sum, h.kn).Err() != nil {
		t.Errorf("a summary of another type was not replaced")
	}
	// What the read script makes of lines: of a key gone, the line (2;
	// 3 once it says the key expired); a line not of 12 fields, or
	// with a bad expiry, none.
	h.c.Del(bg, h.key)
	for _, c := range []struct {
		line  string
		flag  int64 // 1: absent
		state int64
	}{
		{"1 4 5 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(h.now()+60000, 10), 2, 1},
		{"1 4 5 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(h.now()-60000, 10), 3, 1},
		{"1 4 5 3 0 0 0 1 0 abc " + strconv.FormatInt(h.now()+60000, 10), 1, 0},
		{"1 4 5 3 0 0 0 1 0 abc 0 6 " + strconv.FormatInt(h.now()+60000, 10), 2, 1}, // with its cause
		{"1 4 5 3 0 0 0 1 0 abc 0 x " + strconv.FormatInt(h.now()+60000, 10), 2, 1}, // a cause unread: unknown
		{"1 4 5 3 0 0 0 1 0 abc 0 0 0 " + strconv.FormatInt(h.now()+60000, 10), 1, 0},
		{"1 4 5 3 0 0 0 1 0 abc 0 x", 1, 0},
		{"1 4 5 3 0 0 0 1 0 abc 0 0", 3, 1},
		{"1 4 5 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(tMax, 10), 1, 0},
		{"9 4 5 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(h.now()+60000, 10), 1, 0},
		{"0 4 5 3 0 0 0 1 0 - x " + strconv.FormatInt(h.now()+60000, 10), 2, 0},
	} {
		h.c.HSet(bg, sum, h.kn, c.line)
		v, err := h.bucket(readArgs{KNames: []string{h.kn}})
		if err != nil {
			t.Fatal(err)
		}
		out := v.([]any)[0].([]any)
		if out[0] != c.flag || c.flag != 1 && out[1] != c.state {
			t.Errorf("line %q: %v", c.line, out)
		}
		if _, err := decodeReply(out); err != nil {
			t.Errorf("line %q: %v", c.line, err)
		}
	}
	h.c.HSet(bg, sum, h.kn, "1 4 5 3 0 0 0 1 0 - 42 "+strconv.FormatInt(h.now()+60000, 10))
	v, _ := h.bucket(readArgs{KNames: []string{h.kn}})
	if r, _ := decodeReply(v.([]any)[0]); r.inc != "" || r.gen != 4 || r.openedAt != 5 || r.failures != 3 || r.madeAt != 0 ||
		r.maker != "" {
		t.Errorf("read from a line: %+v", r)
	}
}

func testSweep(t *testing.T, h *luaBed) {
	sum, win := h.l.bucket[h.k][2], h.l.bucket[h.k][3]
	now := h.now()
	hour := time.Hour.Milliseconds()
	line := func(x int64) string { return "1 4 5 3 0 0 0 1 0 abc 0 " + strconv.FormatInt(x, 10) }
	h.halfOpen("abc", 4)
	// A line goes a TTL after its key expired (an hour here), and its
	// window's totals with it (whenever they expire); a window's totals
	// go when they expire.
	h.c.HSet(bg, sum, "gone", line(now-2*hour), "kept", line(now-hour/2), "bad", "x", "", "0")
	h.c.HSet(bg, win, "gone", "1 0 0 "+strconv.FormatInt(now+hour, 10), "kept", "1 0 0 "+strconv.FormatInt(now+hour, 10), "old", "1 0 0 "+strconv.FormatInt(now-1000, 10), "bad", "y")
	h.c.HSet(bg, win, "", "garbage")
	deadline := time.Now().Add(30 * time.Second)
	for h.c.HExists(bg, sum, "gone").Val() || h.c.HExists(bg, win, "old").Val() {
		if time.Now().After(deadline) {
			t.Fatal("nothing swept")
		}
		h.save()
	}
	for _, c := range []struct {
		h, f string
		kept bool
	}{
		{sum, "gone", false}, {sum, "kept", true}, {sum, "bad", false}, {sum, "", true}, {sum, h.kn, true},
		{win, "gone", false}, {win, "kept", true}, {win, "old", false}, {win, "bad", false},
	} {
		if got := h.c.HExists(bg, c.h, c.f).Val(); got != c.kept {
			t.Errorf("%s %q kept: %v", c.h, c.f, got)
		}
	}
	if ttl := h.c.PTTL(bg, win).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("totals' TTL %v", ttl)
	}
	// A cursor that is no cursor starts again.
	h.c.HSet(bg, sum, "", "x", "gone", line(now-2*hour))
	for h.c.HExists(bg, sum, "gone").Val() {
		if time.Now().After(deadline) {
			t.Fatal("nothing swept from a bad cursor")
		}
		h.save()
	}
	// A sweep runs when Redis's clock (the reply's now) is a multiple of
	// 8 ms, and then only; totals of another type are left as they are.
	swept, left := 0, 0
	for deadline := time.Now().Add(30 * time.Second); swept < 3 || left < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("in 30 s, %d calls swept, %d did not", swept, left)
		}
		h.c.HSet(bg, sum, "", "0", "gone", line(h.now()-2*hour))
		h.c.Del(bg, win)
		h.c.Set(bg, win, "x", 0)
		r := h.save()
		gone := !h.c.HExists(bg, sum, "gone").Val()
		if gone != (r.now%8 == 0) || h.c.Get(bg, win).Val() != "x" {
			t.Fatalf("a call at %d ms swept: %v", r.now, gone)
		}
		if gone {
			swept++
		} else {
			left++
		}
	}
	h.c.Del(bg, win)
	// A line goes after the ms a TTL past its key's expiry, not at it:
	// tried until a sweep ran at that very ms (or 2,000 times).
	for i := 0; i < 2000; i++ {
		T := h.now()
		h.c.HSet(bg, sum, "", "0", "edge", line(T-hour))
		r := h.save()
		gone := !h.c.HExists(bg, sum, "edge").Val()
		if gone != (r.now%8 == 0 && r.now > T) {
			t.Fatalf("a line expired at %d, swept at %d: gone %v", T-hour, r.now, gone)
		}
		if r.now == T && r.now%8 == 0 {
			break
		}
	}
	h.c.HDel(bg, sum, "edge")
	// A sweep goes on from where the last one stopped (in a hash too big
	// to be scanned at once: over 512 fields).
	h.c.Del(bg, sum)
	lines := []any{}
	for i := range 1000 {
		lines = append(lines, "k"+strconv.Itoa(i), line(now+hour))
	}
	h.c.HSet(bg, sum, lines...)
	var cursors []string
	for deadline := time.Now().Add(30 * time.Second); len(cursors) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no two sweeps in 30 s")
		}
		if r := h.save(); r.now%8 == 0 {
			cursors = append(cursors, h.c.HGet(bg, sum, "").Val())
		}
	}
	if cursors[0] == "0" || cursors[0] == cursors[1] {
		t.Errorf("the cursors of two sweeps: %v", cursors)
	}
}

func testKeyTTLs(t *testing.T, h *luaBed) {
	// An idle state lives IdleTTL, any other TTL, its leases with it.
	h.closed("abc", 3, 0)
	h.run(reportArgs{FromInc: "abc", FromGen: "3", Before: 1, FailMax: 3})
	if ttl := h.c.PTTL(bg, h.key).Val(); ttl > 2*time.Minute || ttl < time.Minute {
		t.Errorf("an idle state's TTL %v", ttl)
	}
	h.ctx.SeedMode = infuse.ModeDisabled
	h.put()
	h.run(untouched)
	if ttl := h.c.PTTL(bg, h.key).Val(); ttl < 59*time.Minute {
		t.Errorf("a disabled state's TTL %v", ttl)
	}
	h.ctx.SeedMode = infuse.ModeNormal
	h.halfOpen("abc", 3, 1, 60000)
	h.c.PExpire(bg, h.key+":t", time.Minute)
	h.c.HSet(bg, h.key, "i", "abd") // garbage: no; another identity, saved as is
	h.run(transitionArgs{FromInc: "abd", FromGen: "3", To: infuse.HalfOpen})
	if ttl := h.c.PTTL(bg, h.key).Val(); ttl < 59*time.Minute {
		t.Errorf("a half-open state's TTL %v", ttl)
	}
	// Trials count the leases that have not expired, and none that
	// outlives the state's TTL.
	h.halfOpen("abc", 3, 1, 60000, 2, -1, 3, 2*time.Hour.Milliseconds())
	if r := h.run(untouched); r.trials != 1 {
		t.Errorf("trials %d, want 1", r.trials)
	}
	h.open("abc", 3, 0)
	h.c.ZAdd(bg, h.key+":t", redis.Z{Score: float64(h.now() + 60000), Member: 1})
	if r := h.run(untouched); r.trials != 0 {
		t.Errorf("trials of an open state: %d", r.trials)
	}
	h.halfOpen("abc", 3, 1, 60000, 2, -1, 3, 2*time.Hour.Milliseconds())
	h.c.ZAdd(bg, h.key+":t", redis.Z{Score: float64(h.now() + 30000), Member: 4})
	h.c.PExpire(bg, h.key+":t", time.Minute)
	r := h.run(settleArgs{FromInc: "abc", FromGen: "3", Permit: 4, Outcome: storage.OutcomeSuccess, SuccessThreshold: 5})
	if r.trials != 1 {
		t.Errorf("trials after a settle: %d", r.trials)
	}
	if ttl := h.c.PTTL(bg, h.key+":t").Val(); ttl < 59*time.Minute {
		t.Errorf("leases' TTL %v", ttl)
	}
}

func testLate(t *testing.T, h *luaBed) {
	// A script run past its caller's deadline changes nothing and says
	// so; with no deadline (0) or one ahead, it runs.
	for _, c := range []struct {
		deadline int64
		late     bool
	}{{1, true}, {h.now() - 1000, true}, {0, false}, {h.now() + 60000, false}} {
		h.ctx.Deadline = c.deadline
		for _, a := range []onBreaker{
			transitionArgs{FromGen: "0", To: infuse.Open},
			setModeArgs{FromGen: "0", Mode: infuse.ModeForcedOpen},
			reportArgs{FromInc: "abc", FromGen: "3", Before: 3, FailMax: 3},
			acquireArgs{MaxCalls: 1, LeaseMs: 1000, Permit: 5},
			settleArgs{FromInc: "abc", FromGen: "3", Permit: 5, Outcome: storage.OutcomeSuccess, SuccessThreshold: 1},
		} {
			if _, ok := a.(settleArgs); ok {
				h.halfOpen("abc", 3, 5, 60000)
			} else if _, ok := a.(acquireArgs); ok {
				h.open("abc", 3, 60000)
			} else {
				h.closed("abc", 3, 0)
			}
			r := h.run(a)
			if r.late != c.late || r.changed == c.late || r.gen == 3 != c.late {
				t.Errorf("%T with deadline %d: late %v changed %v gen %d", a, c.deadline, r.late, r.changed, r.gen)
			}
		}
	}
	// Late, a state it had to restore is still written.
	h.ctx.Deadline = 1
	h.put("st", 9)
	r := h.run(transitionArgs{FromGen: "0", To: infuse.Open})
	if !r.late || !r.corrupt || h.state()["i"] != h.ctx.Nonce {
		t.Errorf("late over garbage: %+v", r)
	}
}

// testEdgesOfNow checks the limits set in Redis's time at their very ms:
// a deadline, an opening a day ahead, a summary line's expiry.
func testEdgesOfNow(t *testing.T, h *luaBed) {
	defer func(d int64) { h.ctx.Deadline = d }(h.ctx.Deadline)
	// A script is late past its deadline, not at it.
	h.atNow(func(T int64) reply {
		h.closed("abc", 3, 0)
		h.ctx.Deadline = T
		r := h.run(transitionArgs{FromGen: "0", To: infuse.Open})
		if r.late != (r.now > T) {
			t.Errorf("deadline %d, run at %d: late %v", T, r.now, r.late)
		}
		return r
	})
	h.ctx.Deadline = 0
	// An opening a day ahead is one; a ms further, garbage.
	for _, past := range []int64{0, 1} {
		h.atNow(func(T int64) reply {
			h.put("st", 1, "g", 5, "oa", T+ahead.Milliseconds()+past, "i", "abc")
			v, err := h.bucket(readArgs{KNames: []string{h.kn}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := decodeReply(v.([]any)[0])
			if err != nil {
				t.Fatal(err)
			}
			if garbage := r.now+ahead.Milliseconds() < T+ahead.Milliseconds()+past; r.corrupt != garbage {
				t.Errorf("opening at %d + a day + %d ms, read at %d: corrupt %v", T, past, r.now, r.corrupt)
			}
			return r
		})
	}
	// A summary line expires after its ms: the key it tells of is put
	// back at that ms, and read as not lapsed.
	sum := h.l.bucket[h.k][2]
	h.ctx.SeedInc, h.ctx.SeedGen = "old", 2
	h.atNow(func(T int64) reply {
		h.put()
		h.c.HSet(bg, sum, h.kn, "1 9 5 3 0 0 0 1 0 abc 0 "+strconv.FormatInt(T, 10))
		v, err := h.bucket(readArgs{KNames: []string{h.kn}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := decodeReply(v.([]any)[0])
		if err != nil {
			t.Fatal(err)
		}
		if !r.kept || r.lapsed != (r.now > T) {
			t.Errorf("a line expiring at %d, read at %d: %+v", T, r.now, r)
		}
		return r
	})
	h.atNow(func(T int64) reply {
		h.put()
		h.c.HSet(bg, sum, h.kn, "1 9 5 3 0 0 0 1 0 abc 0 "+strconv.FormatInt(T, 10))
		r := h.run(untouched)
		if back := r.gen == 9; back != (r.now == T) {
			t.Errorf("a line expiring at %d, restored at %d: %+v", T, r.now, r)
		}
		return r
	})
}
