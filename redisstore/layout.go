package redisstore

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// The key layout, version 2. Every key of a namespace starts with
// escape(namespace) + ":v2:", so a namespace is one key prefix (for ACLs,
// SCAN and eyes) and a future layout has a prefix of its own.
//
// A breaker belongs to one of nBuckets buckets, by an FNV-1a hash of its
// name. Every key of a bucket carries the bucket's hash tag,
// {escape(namespace).N}, so one script can change a breaker and record the
// change in its bucket on one Cluster node:
//
//	ns:v2:{ns.N}:b:<name>           the breaker's state (a hash)
//	ns:v2:{ns.N}:b:<name>:t         its trial leases (a sorted set)
//	ns:v2:{ns.N}:b:<name>:d         its last batch of outcomes from each binding
//	ns:v2:{ns.N}:b:<name>:w:<i>:<g> its fleet window in generation g
//	ns:v2:{ns.N}:seq, :log          the bucket's change counter and log
//	ns:v2:{ns.N}:sum, :win, :nmem   the operators' summary, fleet windows, member counts
//	ns:v2:{ns.N}:r:<member>         a member's registrations in the bucket
//	ns:v2:members                   live members and their last heartbeat
//	ns:v2:events                    the pub/sub channel of change hints
//	ns:v2:shadows                   the shadows operators started (see shadows.go)
//
// escape maps every byte string to one with no ':', '{' or '}', and does so
// injectively, so no two (namespace, name) pairs share a key, a name cannot
// end or start a hash tag, and every key of a breaker hashes to its bucket's
// one slot, whatever bytes the namespace and the name hold.

// schema names the layout in every key.
const schema = "v2"

// nBuckets is how many buckets a namespace has. It is part of the layout:
// every member of a fleet must agree on it.
const nBuckets = 16

// escape percent-encodes '%', ':', '{', '}' and control bytes.
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if mustEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func mustEscape(c byte) bool {
	return c == '%' || c == ':' || c == '{' || c == '}' || c < 0x20 || c == 0x7f
}

// unescape inverts escape; ok is false for a string escape cannot have
// made.
func unescape(s string) (string, bool) {
	if !strings.ContainsRune(s, '%') {
		for i := 0; i < len(s); i++ {
			if mustEscape(s[i]) {
				return "", false
			}
		}
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil || !mustEscape(byte(v)) || s[i+1:i+3] != strings.ToUpper(s[i+1:i+3]) {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		case mustEscape(c):
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// bucketOf is the bucket of a breaker name.
func bucketOf(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % nBuckets)
}

// layout is one namespace's keys.
type layout struct {
	ns      string // as given
	prefix  string // escape(ns) + ":v2:"
	channel string
	members string
	shadows string
	base    [nBuckets]string // each bucket's key prefix, hash tag included
	bucket  [nBuckets][]string
}

func newLayout(ns string) *layout {
	e := escape(ns)
	l := &layout{ns: ns, prefix: e + ":" + schema + ":"}
	l.channel = l.prefix + "events"
	l.members = l.prefix + "members"
	l.shadows = l.prefix + "shadows"
	for k := range nBuckets {
		l.base[k] = l.prefix + "{" + e + "." + strconv.Itoa(k) + "}:"
		b := l.base[k]
		l.bucket[k] = []string{b + "seq", b + "log", b + "sum", b + "win", b + "nmem"}
	}
	return l
}

// stateKey is the key of a breaker's state hash.
func (l *layout) stateKey(name string) string {
	return l.base[bucketOf(name)] + "b:" + escape(name)
}

// scriptKeys are the KEYS of a script on one breaker: its bucket's keys,
// then its state key.
func (l *layout) scriptKeys(k int, kname string) []string {
	keys := make([]string, 0, 6)
	keys = append(keys, l.bucket[k]...)
	return append(keys, l.base[k]+"b:"+kname)
}

// legacyKey is where infuse kept a breaker's state before the versioned
// layout: read once, when a breaker binds, to carry an open or forced
// state over an upgrade.
func legacyKey(ns, name string) string { return ns + ":{" + name + "}" }
