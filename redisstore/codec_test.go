package redisstore

import (
	"strings"
	"testing"
)

func TestDecodeMessageRoundTrip(t *testing.T) {
	name, origin, r, err := decodeMessage("db\nabc.1\n1 7 1000 5 0 0 1200 0 1")
	if err != nil || name != "db" || origin != "abc.1" || r.state != 1 || r.gen != 7 || r.openedAt != 1000 || r.failures != 5 || r.now != 1200 {
		t.Fatalf("decodeMessage = %q %q %+v %v", name, origin, r, err)
	}
	// A name may hold anything, newlines included.
	if name, _, _, err := decodeMessage("a\nb\nx.2\n0 1 0 0 0 0 5 2 0"); err != nil || name != "a\nb" {
		t.Fatalf("name with a newline: %q %v", name, err)
	}
}

func TestDecodeRejectsForeignData(t *testing.T) {
	for _, m := range []string{
		"", "db", "db\n1 2", "db\no\n1 2 3", "db\no\n9 1 0 0 0 0 0", "db\no\n0 0 0 0 0 0 0",
		"db\no\n0 1 0 -1 0 0 0", "db\no\n0 1 x 0 0 0 0", "\no\n0 1 0 0 0 0 0",
		"db\no\n0 99999999999999999999 0 0 0 0 0 0 0",
		"db\no\n0 1 0 0 0 0 0 3 0", "db\no\n0 1 0 0 0 0 0 0 -1", "db\no\n0 1 0 0 0 0 0",
	} {
		if _, _, _, err := decodeMessage(m); err == nil {
			t.Errorf("decodeMessage(%q) accepted it", m)
		}
	}
	for _, v := range []any{
		nil, "x", []any{}, []any{int64(-2)}, []any{"a"},
		[]any{int64(0), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), "x", int64(0), int64(0)},
		[]any{int64(3), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)},
		[]any{int64(0), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(-1), int64(0), int64(0)},
		[]any{int64(0), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(5), int64(0)},
	} {
		if _, err := decodeReply(v); err == nil {
			t.Errorf("decodeReply(%#v) accepted it", v)
		}
	}
	w := []any{int64(0), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(10), int64(4), int64(1)}
	if r, err := decodeReply(w); err != nil || !r.hasWindow || r.wCalls != 10 || r.wFailures != 4 || r.wSlow != 1 {
		t.Fatalf("window reply: %+v %v", r, err)
	}
	w[13] = int64(11) // more failures than calls
	if _, err := decodeReply(w); err == nil {
		t.Error("a window with more failures than calls accepted")
	}
	if r, err := decodeReply([]any{int64(-1)}); err != nil || !r.absent {
		t.Fatalf("absent reply: %+v %v", r, err)
	}
}

// FuzzDecodeMessage: whatever arrives on the channel, decoding neither
// panics nor accepts a state infuse could not have written.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{"db\nx.1\n1 7 1000 5 0 0 1200 0 1", "db\n\n0 1 0 0 0 0 0 2 0", "\x00sync a 1", "a\nb\nc\n2 3 4 5 6 7 8 1 9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, _, r, err := decodeMessage(s)
		if err != nil {
			return
		}
		if name == "" || r.state < 0 || r.state > 2 || r.gen < 1 || r.failures < 0 || r.successes < 0 || r.trials < 0 {
			t.Fatalf("accepted %q as %q %+v", s, name, r)
		}
		if !strings.Contains(s, name) {
			t.Fatalf("name %q not in %q", name, s)
		}
	})
}

// FuzzDecodeReply feeds decodeReply arrays built from fuzzed integers.
func FuzzDecodeReply(f *testing.F) {
	f.Add(int64(1), int64(7), int64(1000), int64(5), int64(0), int64(0), int64(1200), int64(1), int64(0), int64(3), int64(0), int64(1), 12)
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h, i, j, k, l, m int64, n int) {
		vals := []any{a, b, c, d, e, g, h, i, j, k, l, m}
		if n >= 0 && n < len(vals) {
			vals = vals[:n]
		}
		r, err := decodeReply(vals)
		if err != nil || r.absent {
			return
		}
		if r.state < 0 || r.state > 2 || r.gen < 1 || r.failures < 0 || r.trials < 0 || r.mode < 0 || r.mode > 2 || r.trips < 0 {
			t.Fatalf("accepted %v as %+v", vals, r)
		}
	})
}
