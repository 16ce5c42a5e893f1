package redisstore

import (
	"strconv"
	"testing"

	"github.com/infuse-go/infuse"
)

func testReadScript(t *testing.T, h *luaBed) {
	// The bucket's own arguments are checked too.
	head := bucketList.append(nil, bucketHead{Chan: h.l.channel, Bucket: h.k, Base: h.l.base[h.k]})
	for i, bad := range []any{nil, "x", nil} {
		if bad == nil {
			continue
		}
		args := append([]any(nil), head...)
		args[i] = bad
		_, err := h.eval(readScript, h.l.bucket[h.k], args...)
		h.refused(err, "bucket "+toString(bad))
	}
	_, err := h.eval(readScript, h.l.bucket[h.k], head[:2]...)
	h.refused(err, "no base")
	// No name: no reply.
	if v, err := h.bucket(readArgs{}); err != nil || len(v.([]any)) != 0 {
		t.Errorf("no names: %v %v", v, err)
	}
	// One reply per name, in order, as they are: a state, none, a key
	// gone with its line, garbage; nothing written.
	sum := h.l.bucket[h.k][2]
	h.halfOpen("abc", 4, 5, 60000)
	h.c.HSet(bg, h.key, "rs", 3, "mk", "4:me.2:1:9")
	h.c.HSet(bg, sum, "gone", "1 7 5 3 0 0 0 1 0 abd 0 "+strconv.FormatInt(h.now()+60000, 10))
	h.c.HSet(bg, h.l.base[h.k]+"b:bad", "st", 4)
	h.c.HSet(bg, sum, "bad2", "1 7 5 3 0 0 0 1 0 abd 0 "+strconv.FormatInt(h.now()-60000, 10))
	h.c.Set(bg, h.l.base[h.k]+"b:bad2", "x", 0)
	n := h.changes()
	v, err := h.bucket(readArgs{KNames: []string{h.kn, "none", "gone", "bad", "bad2"}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := decodeReplies(v)
	if err != nil || len(rs) != 5 {
		t.Fatalf("%d replies: %v", len(rs), err)
	}
	if r := rs[0]; r.state != infuse.HalfOpen || r.gen != 4 || r.inc != "abc" || r.trials != 1 || r.resets != 3 ||
		r.maker != "me.2" || r.absent || r.kept || r.corrupt || r.changed {
		t.Errorf("a state: %+v", r)
	}
	if r := rs[1]; !r.absent || r.corrupt {
		t.Errorf("none: %+v", r)
	}
	if r := rs[2]; !r.kept || r.lapsed || r.gen != 7 || r.inc != "abd" || r.state != infuse.Open {
		t.Errorf("gone: %+v", r)
	}
	if r := rs[3]; !r.absent || !r.corrupt {
		t.Errorf("garbage: %+v", r)
	}
	if r := rs[4]; !r.kept || !r.lapsed || !r.corrupt {
		t.Errorf("garbage of another type, a line expired: %+v", r)
	}
	if h.changes() != n || h.c.HGet(bg, h.l.base[h.k]+"b:bad", "st").Val() != "4" || h.c.Type(bg, h.l.base[h.k]+"b:bad2").Val() != "string" {
		t.Errorf("read wrote")
	}
}
