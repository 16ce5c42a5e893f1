package redisstore

import (
	"strings"
	"testing"
)

func testShadowsReadScript(t *testing.T, h *luaBed) {
	keys := []string{h.l.shadows}
	ok := shadowsReadArgs{MaxShadows: 4, MaxSize: 10, MaxName: 10}
	refusesOwn(t, h, readShadowsScript, keys, nil, ok, map[string]any{"max_shadows": -1, "max_size": "x", "max_name": cMax})
	read := func(a shadowsReadArgs) (int64, map[string]string) {
		t.Helper()
		v, err := h.eval(readShadowsScript, keys, scriptArgs(a)...)
		if err != nil {
			t.Fatalf("read %+v: %v", a, err)
		}
		out := v.([]any)
		if len(out)%2 != 1 {
			t.Fatalf("read %+v: %v", a, out)
		}
		m := map[string]string{}
		for i := 1; i+1 < len(out); i += 2 {
			m[out[i].(string)] = out[i+1].(string)
		}
		return out[0].(int64), m
	}
	// None, or a key of another type: none.
	if n, m := read(ok); n != 0 || len(m) != 0 {
		t.Errorf("no shadows: %d %v", n, m)
	}
	h.c.Set(bg, h.l.shadows, "x", 0)
	if n, m := read(ok); n != 0 || len(m) != 0 {
		t.Errorf("shadows in a string: %d %v", n, m)
	}
	h.c.Del(bg, h.l.shadows)
	// Every shadow counted (not the version, ""), those not too big read.
	ten := strings.Repeat("n", 10)
	h.c.HSet(bg, h.l.shadows, "", "7", "a", "1234567890", "bb", "12345678901", ten, "x", ten+"n", "y")
	n, m := read(ok)
	if n != 4 || len(m) != 2 || m["a"] != "1234567890" || m[ten] != "x" {
		t.Errorf("four shadows: %d %v", n, m)
	}
	// More than max_shadows: the count alone.
	if n, m := read(shadowsReadArgs{MaxShadows: 3, MaxSize: 10, MaxName: 10}); n != 4 || len(m) != 0 {
		t.Errorf("too many: %d %v", n, m)
	}
	// No version: every field a shadow.
	h.c.HDel(bg, h.l.shadows, "")
	if n, m := read(shadowsReadArgs{MaxShadows: 3, MaxSize: 11, MaxName: 11}); n != 4 || len(m) != 0 {
		t.Errorf("no version, too many: %d %v", n, m)
	}
	if n, m := read(shadowsReadArgs{MaxShadows: 4, MaxSize: 11, MaxName: 11}); n != 4 || len(m) != 4 {
		t.Errorf("no version: %d %v", n, m)
	}
}
