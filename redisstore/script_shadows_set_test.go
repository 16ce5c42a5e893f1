package redisstore

import "testing"

func testShadowsSetScript(t *testing.T, h *luaBed) {
	keys := []string{h.l.shadows}
	refusesOwn(t, h, setShadowScript, keys, nil, shadowsSetArgs{Name: "a", Data: "x"}, nil)
	set := func(name, data string) {
		t.Helper()
		v, err := h.eval(setShadowScript, keys, scriptArgs(shadowsSetArgs{Name: name, Data: data})...)
		if err != nil || v != int64(1) {
			t.Fatalf("set %q %q: %v %v", name, data, v, err)
		}
	}
	// Each change sets or deletes one shadow and moves the version.
	for _, c := range []struct {
		name, data string
		want       map[string]string
	}{
		{"a", "x", map[string]string{"": "1", "a": "x"}},
		{"b", "y", map[string]string{"": "2", "a": "x", "b": "y"}},
		{"a", "z", map[string]string{"": "3", "a": "z", "b": "y"}},
		{"a", "", map[string]string{"": "4", "b": "y"}},
		{"c", "", map[string]string{"": "5", "b": "y"}},
	} {
		set(c.name, c.data)
		if got := h.c.HGetAll(bg, h.l.shadows).Val(); !sameMap(got, c.want) {
			t.Errorf("set %q %q: %v, want %v", c.name, c.data, got, c.want)
		}
	}
	// A version that is no number starts again; a key of another type
	// is replaced.
	h.c.HSet(bg, h.l.shadows, "", "v")
	set("c", "w")
	if got := h.c.HGetAll(bg, h.l.shadows).Val(); !sameMap(got, map[string]string{"": "1", "b": "y", "c": "w"}) {
		t.Errorf("over a bad version: %v", got)
	}
	h.c.Del(bg, h.l.shadows)
	h.c.Set(bg, h.l.shadows, "x", 0)
	set("a", "x")
	if got := h.c.HGetAll(bg, h.l.shadows).Val(); !sameMap(got, map[string]string{"": "1", "a": "x"}) {
		t.Errorf("over a string: %v", got)
	}
}
