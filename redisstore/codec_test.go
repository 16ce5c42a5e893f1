package redisstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

func validReply() []any {
	return []any{int64(0), int64(1), int64(7), int64(1000), int64(5), int64(0), int64(0), int64(1200),
		int64(1), int64(0), int64(0), int64(0), int64(1), int64(3), "abc", "m1.2:2:1000:6"}
}

func TestDecodeReply(t *testing.T) {
	r, err := decodeReply(validReply())
	if err != nil || r.state != 1 || r.gen != 7 || r.openedAt != 1000 || r.failures != 5 || r.now != 1200 ||
		!r.changed || r.trips != 1 || r.resets != 3 || r.inc != "abc" || r.maker != "m1.2" || r.from != 2 || r.madeAt != 1000 ||
		r.cause != storage.CauseTrialFailed {
		t.Fatalf("decodeReply = %+v, %v", r, err)
	}
	if r, err := decodeReply([]any{int64(1), int64(1), int64(5)}); err != nil || !r.absent || !r.corrupt || r.now != 5 {
		t.Fatalf("absent reply: %+v %v", r, err)
	}
	w := append(validReply(), int64(10), int64(4), int64(1), int64(12))
	if r, err := decodeReply(w); err != nil || !r.hasWindow || r.wCalls != 10 || r.wFailures != 4 || r.wSlow != 1 || r.wRequests != 12 {
		t.Fatalf("window reply: %+v %v", r, err)
	}
	// A maker's cause this version does not know is unknown; a maker
	// without one (3 parts) or with more (5) is no maker the scripts write.
	for mk, want := range map[string]storage.Cause{"m1.2:2:1000:0": 0, "m1.2:2:1000:12": storage.CausePushback, "m1.2:2:1000:13": 0,
		"m1.2:2:1000:x": 0, "m1.2:2:1000:300": 0} {
		v := validReply()
		v[15] = mk
		if r, err := decodeReply(v); err != nil || r.cause != want {
			t.Errorf("maker %q: cause %v %v, want %v", mk, r.cause, err, want)
		}
	}
	for _, mk := range []string{"m1.2:2:1000", "m1.2:2:1000:6:1"} {
		v := validReply()
		v[15] = mk
		if _, err := decodeReply(v); err == nil {
			t.Errorf("maker %q accepted", mk)
		}
	}
	for _, bad := range [][]any{
		append(validReply(), int64(10), int64(4), int64(1)),            // the window without its requests
		append(validReply(), int64(10), int64(4), int64(1), int64(-1)), // negative requests
	} {
		if _, err := decodeReply(bad); err == nil {
			t.Fatalf("accepted %v", bad)
		}
	}
}

// Every field the scripts answer with is checked: a value out of range is
// an error, never a state.
func TestDecodeReplyRejectsForeignData(t *testing.T) {
	bad := map[int][]any{
		0:  {int64(1), int64(4), "x"},
		1:  {int64(-1), int64(3), "1"},
		2:  {int64(0), int64(1 << 43), int64(-5)},
		3:  {int64(-1), int64(1 << 50)},
		4:  {int64(-1), int64(1 << 32)},
		6:  {int64(-1)},
		7:  {int64(-1), int64(1 << 50)},
		8:  {int64(3), int64(-1)},
		9:  {int64(-1)},
		10: {int64(-1)},
		11: {int64(3), int64(-1)},
		12: {int64(-3)},
		13: {int64(-1)},
		14: {"UPPER", "with space", strings.Repeat("a", 33), int64(1)},
		15: {"UPPER", "a:b", "a", "a:", "a:3:1", "a:12:1", ":1:1", "a:1", "a:1:x", "a:1:-1", strings.Repeat("a", 65) + ":1:1", int64(1)},
	}
	for i, values := range bad {
		for _, v := range values {
			r := validReply()
			r[i] = v
			if got, err := decodeReply(r); err == nil {
				t.Errorf("value %d = %v accepted: %+v", i, v, got)
			}
		}
	}
	for _, v := range []any{nil, "x", []any{}, []any{int64(1)}, []any{int64(1), int64(2), int64(0)}, []any{"a", "b", "c"}} {
		if _, err := decodeReply(v); err == nil {
			t.Errorf("decodeReply(%#v) accepted it", v)
		}
	}
	w := append(validReply(), int64(10), int64(11), int64(1)) // more failures than calls
	if _, err := decodeReply(w); err == nil {
		t.Error("a window with more failures than calls accepted")
	}
}

func TestDecodeHint(t *testing.T) {
	if k, c, ok := decodeHint("h 3 ab1 42 t0k"); !ok || k != 3 || c != (counter{epoch: "ab1", n: 42, token: "t0k"}) {
		t.Fatalf("decodeHint = %d %+v %v", k, c, ok)
	}
	for _, m := range []string{"", "h", "h 3", "h 3 42", "h 3 a 42", "h 16 a 1 t", "h -1 a 1 t", "h 3 a 0 t", "h 3 a -2 t",
		"h 3 a x t", "x 3 a 4 t", "h 3 a 4 t 5", "h 3 A 4 t", "h 03 a 4 t", "h 3 a 04 t", "h 3 :a 4 t", "h 3 a 4 T",
		"db\nx\n0 1 0 0 0 0 1 0 0", "\x00sync 1", "h 3 a 99999999999999999999 t"} {
		if _, _, ok := decodeHint(m); ok {
			t.Errorf("decodeHint(%q) accepted it", m)
		}
	}
	if c := decodeCounter("x7:12:q"); c != (counter{epoch: "x7", n: 12, token: "q"}) {
		t.Fatalf("decodeCounter = %+v", c)
	}
	for _, v := range []string{"", "12", "x:12", ":12:q", "x::q", "x:-1:q", "X:1:q", "x:1:Q", "x:1:2:3", "x:9007199254740992:q",
		"x:+5:q", "x:1:" + strings.Repeat("q", 17)} {
		if c := decodeCounter(v); c != (counter{}) {
			t.Errorf("decodeCounter(%q) = %+v", v, c)
		}
	}
}

// escape is injective and its output never holds ':', '{' or '}', so no
// two (namespace, name) pairs share a key and every key of a breaker has
// one hash tag.
func TestEscapeIsInjective(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.String().Draw(t, "a")
		b := rapid.SliceOf(rapid.Byte()).Draw(t, "b")
		ea, eb := escape(a), escape(string(b))
		if strings.ContainsAny(ea, ":{}") {
			t.Fatalf("escape(%q) = %q", a, ea)
		}
		if (ea == eb) != (a == string(b)) {
			t.Fatalf("escape(%q) = %q, escape(%q) = %q", a, ea, b, eb)
		}
		if back, ok := unescape(ea); !ok || back != a {
			t.Fatalf("unescape(escape(%q)) = %q, %v", a, back, ok)
		}
	})
}

func TestKeysOfHostileNamesAndNamespaces(t *testing.T) {
	// The collisions of the first layout: namespace "t" with name "x}:{y"
	// and namespace "t:{x}" with name "y" shared a key.
	if newLayout("t").stateKey("x}:{y") == newLayout("t:{x}").stateKey("y") {
		t.Fatal("two breakers share a key")
	}
	for _, ns := range []string{"cl{}", "{", "}", "a:b", "", "\x00\xff", "%41"} {
		l := newLayout(ns)
		for _, name := range []string{"}x", "{", "x{}", "a}b{c", "\n", "%", "\xff\xfe", "{tag}"} {
			key := l.stateKey(name)
			open, close := strings.IndexByte(key, '{'), strings.IndexByte(key, '}')
			if open < 0 || close < open+2 {
				t.Fatalf("namespace %q name %q: key %q has no hash tag", ns, name, key)
			}
			tag := key[open+1 : close]
			want := l.base[bucketOf(name)]
			if !strings.HasPrefix(key, want) || tag != want[strings.IndexByte(want, '{')+1:strings.IndexByte(want, '}')] {
				t.Fatalf("namespace %q name %q: key %q is not in its bucket %q", ns, name, key, want)
			}
		}
	}
}

// FuzzDecodeHint: whatever arrives on the channel, decoding neither panics
// nor accepts anything but a hint a script could have sent.
func FuzzDecodeHint(f *testing.F) {
	for _, s := range []string{"h 1 a 2 b", "h 15 z9 9007199254740991 q", "db\nx.1\n1 7 1000 5 0 0 1200 0 1", "\x00sync a 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, c, ok := decodeHint(s)
		if !ok {
			return
		}
		if k < 0 || k >= nBuckets || c.n < 1 || !validInc(c.epoch) || !validInc(c.token) || hintMessage(k, c) != s {
			t.Fatalf("accepted %q as %d %+v", s, k, c)
		}
	})
}

// FuzzDecodeReply feeds decodeReply arrays built from fuzzed values.
func FuzzDecodeReply(f *testing.F) {
	f.Add(int64(0), int64(1), int64(7), int64(1000), int64(5), int64(0), int64(0), int64(1200), int64(1), int64(0),
		int64(3), int64(0), int64(1), int64(0), "x", "m.1:0:5", 16)
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h, i, j, k, l, m, n, o int64, inc, maker string, cut int) {
		vals := []any{a, b, c, d, e, g, h, i, j, k, l, m, n, o, inc, maker}
		if cut >= 0 && cut < len(vals) {
			vals = vals[:cut]
		}
		r, err := decodeReply(vals)
		if err != nil || r.absent {
			return
		}
		if r.state < 0 || r.state > 2 || r.gen < 1 || r.gen > maxGen || r.failures < 0 || r.trials < 0 ||
			r.mode < 0 || r.mode > 2 || r.trips < 0 || !validInc(r.inc) || !validMaker(r.maker) {
			t.Fatalf("accepted %v as %+v", vals, r)
		}
	})
}

// FuzzDecodeSummary: a line in the operators' summary never decodes to a
// state infuse could not have written.
func FuzzDecodeSummary(f *testing.F) {
	f.Add("1 7 1000 5 0 0 0 1 60000 abc 1000 99999")
	f.Add("0 1 0 0 0 0 0 0 0 - 0 5")
	f.Add("10 5 0 20 1.5 0.9 99999")
	f.Fuzz(func(t *testing.T, s string) {
		sm, ok := decodeSummary(s)
		if ok && (sm.state > 2 || sm.gen < 1 || sm.gen > maxGen || sm.mode > 2 || sm.failures < 0) {
			t.Fatalf("accepted %q as %+v", s, sm)
		}
		if w, ok := decodeWindow(s); ok && (w.failures > w.calls || w.slow > w.calls || w.requests < 0 ||
			w.throttle.RejectProbability(w.requests, w.calls-w.failures) > 1) {
			t.Fatalf("accepted %q as %+v", s, w)
		}
	})
}

// FuzzUnescape: a key part that unescapes is one escape makes.
func FuzzUnescape(f *testing.F) {
	f.Add("a%3Ab")
	f.Fuzz(func(t *testing.T, s string) {
		if name, ok := unescape(s); ok && escape(name) != s {
			t.Fatalf("unescape(%q) = %q, which escapes to %q", s, name, escape(name))
		}
	})
}

func TestDecodeCandidateRejectsWhatIsNotOneObject(t *testing.T) {
	for _, s := range []string{`null`, `{"failMax":3}}`, `{"failMax":3}]`, `{} {}`, `[]`, `{"failMax":3,"x":1}`, `{"failMax":-1}`, ``} {
		if c, ok := decodeCandidate(s); ok {
			t.Errorf("accepted %q as %+v", s, c)
		}
	}
	if c, ok := decodeCandidate(` {"failMax":3} `); !ok || c.FailMax != 3 {
		t.Fatalf("%+v %v", c, ok)
	}
}

// FuzzDecodeCandidate: what the shadows hash holds never decodes to a
// candidate a breaker could not take, and a valid one survives encoding.
func FuzzDecodeCandidate(f *testing.F) {
	f.Add(`{"failMax":3,"resetTimeout":10000000000}`)
	f.Add(`{"windowDuration":60000000000,"windowBucket":1000000000,"failureRate":0.5}`)
	f.Add(`{"failMax":-1}`)
	f.Add(`{} {}`)
	f.Add(`null`)
	f.Add(`{"failMax":3}}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := decodeCandidate(s)
		if !ok {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted %q as %+v: %v", s, c, err)
		}
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if back, ok := decodeCandidate(string(data)); !ok || back != c {
			t.Fatalf("%+v does not survive encoding: %s", c, data)
		}
	})
}

// A recorded ramp reads back as it was; what is no ramp reads as none.
func TestRampNoteRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(1, 100*365*24*int64(time.Hour/time.Millisecond)).Draw(t, "ms")) * time.Millisecond
		steps := rapid.IntRange(0, 1000).Draw(t, "steps")
		v := rampNote(d, steps)
		if v == 0 {
			if d.Milliseconds() < (maxTime-1000)/1001 {
				t.Fatalf("%v in %d steps not recorded", d, steps)
			}
			return
		}
		if v >= maxTime {
			t.Fatalf("%v in %d steps recorded as %d, past what a field holds", d, steps, v)
		}
		if gd, gs := decodeRampNote(v); gd != d || gs != steps {
			t.Fatalf("%v in %d steps read back as %v in %d", d, steps, gd, gs)
		}
	})
	for _, v := range []int64{-1, 0, 1, 1000, maxTime, maxTime + 5} {
		if d, s := decodeRampNote(v); d != 0 || s != 0 {
			t.Fatalf("decodeRampNote(%d) = %v, %d", v, d, s)
		}
	}
	if rampNote(time.Second, 1001) != 0 || rampNote(-time.Second, 0) != 0 || rampNote(time.Microsecond, 0) != 0 {
		t.Fatal("an invalid ramp was recorded")
	}
}
