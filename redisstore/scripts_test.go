package redisstore

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The scripts, each called directly on a real Redis through the Go
// argument builders (scriptargs.go): what each refuses, the generation
// check, every field's validation and limits, and the reply's format.
// TestScripts has a subtest per Lua file (the prelude's behaviours in
// "prelude"), in the files script_<name>_test.go; the mutation run
// (lua_mutants_test.go) runs a file's subtest against each mutant of the
// file.

// luaTests are the subtests of TestScripts, by Lua file.
var luaTests = map[string]func(t *testing.T, h *luaBed){
	"prelude":      testPrelude,
	"bind":         testBindScript,
	"report":       testReportScript,
	"transition":   testTransitionScript,
	"acquire":      testAcquireScript,
	"settle":       testSettleScript,
	"release":      testReleaseScript,
	"setmode":      testSetModeScript,
	"raise":        testRaiseScript,
	"note":         testNoteScript,
	"read":         testReadScript,
	"changes":      testChangesScript,
	"window":       testWindowScript,
	"register":     testRegisterScript,
	"unregister":   testUnregisterScript,
	"reap":         testReapScript,
	"renew":        testRenewScript,
	"heartbeat":    testHeartbeatScript,
	"shadows_read": testShadowsReadScript,
	"shadows_set":  testShadowsSetScript,
}

func TestScripts(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	names, err := luaFiles.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range names {
		name := strings.TrimSuffix(f.Name(), ".lua")
		test, ok := luaTests[name]
		if !ok {
			t.Errorf("lua/%s has no test", f.Name())
			continue
		}
		t.Run(name, func(t *testing.T) {
			if err := c.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			test(t, newLuaBed(t, c))
		})
	}
}

// Every script reads its arguments by name: ARGV[j] appears in the
// prelude's take alone (a script may count the arguments left).
func TestScriptsReadNoArgumentByPosition(t *testing.T) {
	names, _ := luaFiles.ReadDir("lua")
	argv := regexp.MustCompile(`ARGV\[[^j]`)
	for _, f := range names {
		src, _ := luaFiles.ReadFile("lua/" + f.Name())
		code := regexp.MustCompile(`--[^\n]*`).ReplaceAllString(string(src), "")
		if argv.MatchString(code) || f.Name() != "prelude.lua" && strings.Contains(code, "ARGV[") {
			t.Errorf("lua/%s reads ARGV by position", f.Name())
		}
	}
}

// A Lua list and its Go struct must name the same arguments; a list's
// entries must be well formed.
func TestArgListsMatchNames(t *testing.T) {
	type two struct {
		A string `lua:"a"`
		B []int  `lua:"b"`
	}
	for _, c := range []struct {
		list []luaArgName
		ok   bool
	}{
		{[]luaArgName{{name: "a"}, {name: "b", rest: true}}, true},
		{[]luaArgName{{name: "b", rest: true}, {name: "a"}}, false}, // the rest not last
		{[]luaArgName{{name: "a"}, {name: "b"}}, false},             // a slice not the rest
		{[]luaArgName{{name: "a"}}, false},                          // b has no argument
		{[]luaArgName{{name: "a"}, {name: "b", rest: true}, {name: "c"}}, false},
		{nil, false},
	} {
		if _, err := newArgList(c.list, reflect.TypeOf(two{})); (err == nil) != c.ok {
			t.Errorf("%v: error %v", c.list, err)
		}
	}
	l := mustArgList("test", []luaArgName{{name: "b", rest: true}}, struct {
		B []int `lua:"b"`
	}{})
	if got := l.append(nil, struct {
		B []int `lua:"b"`
	}{B: []int{1, 2}}); len(got) != 2 {
		t.Errorf("a rest of two: %v", got)
	}
}

// luaBed calls scripts on one breaker ("dep") of one namespace.
type luaBed struct {
	t   *testing.T
	c   *redis.Client
	l   *layout
	k   int // the breaker's bucket
	kn  string
	key string     // its state key
	ctx breakerCtx // the context every call sends
}

func newLuaBed(t *testing.T, c *redis.Client) *luaBed {
	l := newLayout("lua")
	h := &luaBed{t: t, c: c, l: l, k: bucketOf("dep"), kn: escape("dep")}
	h.key = l.base[h.k] + "b:" + h.kn
	h.ctx = breakerCtx{KName: h.kn, TTL: time.Hour.Milliseconds(), IdleTTL: (2 * time.Minute).Milliseconds(),
		Nonce: "nonce1", SeedGen: 1, Binding: "me.1"}
	return h
}

var bg = context.Background()

// args are a script's arguments on the breaker: the bucket's, the
// context, the script's own.
func (h *luaBed) args(a onBreaker) []any {
	args := bucketList.append(nil, bucketHead{Chan: h.l.channel, Bucket: h.k, Base: h.l.base[h.k]})
	args = contextList.append(args, h.ctx)
	return a.onBreaker().args.append(args, a)
}

// eval runs sc with keys and args as they are.
func (h *luaBed) eval(sc *luaScript, keys []string, args ...any) (any, error) {
	return sc.Eval(bg, h.c, keys, args...).Result()
}

// try runs a script on the breaker and decodes its reply.
func (h *luaBed) try(a onBreaker) (reply, error) {
	v, err := h.eval(a.onBreaker(), h.l.scriptKeys(h.k, h.kn), h.args(a)...)
	if err != nil {
		return reply{}, err
	}
	return decodeReply(v)
}

// run runs a script on the breaker: its reply, decoded.
func (h *luaBed) run(a onBreaker) reply {
	h.t.Helper()
	r, err := h.try(a)
	if err != nil {
		h.t.Fatalf("%T: %v", a, err)
	}
	return r
}

// bucket runs a bucket script.
func (h *luaBed) bucket(a onBucket) (any, error) {
	sc := a.onBucket()
	args := bucketList.append(nil, bucketHead{Chan: h.l.channel, Bucket: h.k, Base: h.l.base[h.k]})
	return h.eval(sc, h.l.bucket[h.k], sc.args.append(args, a)...)
}

// refused checks that the script ends with an error that names an
// argument.
func (h *luaBed) refused(err error, what string) {
	h.t.Helper()
	if err == nil || !strings.Contains(err.Error(), "infuse: ") {
		h.t.Errorf("%s: error %v, want the arguments refused", what, err)
	}
}

// put replaces the state with fields (name, value, ...), and forgets
// its leases and summary line.
func (h *luaBed) put(fields ...any) {
	h.t.Helper()
	if err := h.c.Del(bg, h.key, h.key+":t").Err(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.c.HDel(bg, h.l.bucket[h.k][2], h.kn).Err(); err != nil {
		h.t.Fatal(err)
	}
	if len(fields) > 0 {
		if err := h.c.HSet(bg, h.key, fields...).Err(); err != nil {
			h.t.Fatal(err)
		}
	}
}

// state is the state hash.
func (h *luaBed) state() map[string]string {
	h.t.Helper()
	m, err := h.c.HGetAll(bg, h.key).Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// field is one field of the state hash as an integer (-1: none).
func (h *luaBed) field(f string) int64 {
	h.t.Helper()
	v, ok := h.state()[f]
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		h.t.Fatalf("field %s: %q", f, v)
	}
	return n
}

// now is Redis's clock, in ms.
func (h *luaBed) now() int64 {
	h.t.Helper()
	tm, err := h.c.Time(bg).Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return tm.UnixMilli()
}

// seq is the bucket's change counter, "" for none.
func (h *luaBed) seq() string {
	v, err := h.c.Get(bg, h.l.bucket[h.k][0]).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// changes is how many changes the bucket's counter has counted.
func (h *luaBed) changes() int64 { return decodeCounter(h.seq()).n }

// open stores an open state: generation g of incarnation i, opened ago
// ms ago, with 3 failures.
func (h *luaBed) open(i string, g, ago int64) {
	h.t.Helper()
	h.put("st", 1, "g", g, "oa", h.now()-ago, "f", 3, "s", 0, "ps", 0, "md", 0, "tr", 1, "i", i, "rs", 0, "op", 0, "mk", "")
}

// save writes a half-open state as it is (its summary line too), with
// the acquire script of a breaker that grants no trial.
func (h *luaBed) save() reply {
	h.t.Helper()
	return h.run(acquireArgs{LeaseMs: 1000})
}

// halfOpen stores a half-open state, generation g of incarnation i, with
// leases (id, expiry in ms from now).
func (h *luaBed) halfOpen(i string, g int64, leases ...int64) {
	h.t.Helper()
	h.put("st", 2, "g", g, "oa", h.now()-1000, "f", 0, "s", 0, "ps", 0, "md", 0, "tr", 1, "i", i, "rs", 0, "op", 0, "mk", "")
	h.c.Del(bg, h.key+":t")
	now := h.now()
	for j := 0; j+1 < len(leases); j += 2 {
		h.c.ZAdd(bg, h.key+":t", redis.Z{Score: float64(now + leases[j+1]), Member: leases[j]})
	}
	h.c.PExpire(bg, h.key+":t", time.Hour)
}

// closed stores a closed state with f failures.
func (h *luaBed) closed(i string, g, f int64) {
	h.t.Helper()
	h.put("st", 0, "g", g, "oa", 0, "f", f, "s", 0, "ps", 0, "md", 0, "tr", 0, "i", i, "rs", 0, "op", 0, "mk", "")
}

// within checks that v lies in [lo, hi].
func within(t *testing.T, what string, v, lo, hi int64) {
	t.Helper()
	if v < lo || v > hi {
		t.Errorf("%s = %d, want within [%d, %d]", what, v, lo, hi)
	}
}

// refusesArguments checks that a script on the breaker refuses an
// argument too few or too many, and each of bad (an argument's name and
// a value of the wrong kind), and leaves the state as it was.
func refusesArguments(t *testing.T, h *luaBed, good onBreaker, bad map[string]any) {
	t.Helper()
	h.closed("", 4, 1)
	before := h.state()
	sc := good.onBreaker()
	keys := h.l.scriptKeys(h.k, h.kn)
	args := h.args(good)
	own := len(args) - len(sc.args.fields)
	fixed := len(args) // the arguments up to a list of those left
	if f := sc.args.fields; sc.args.typ.Field(f[len(f)-1]).Type.Kind() == reflect.Slice {
		own = len(h.args(good)) - reflect.ValueOf(good).Field(f[len(f)-1]).Len() - len(f) + 1
		fixed = own + len(f) - 1
	}
	_, err := h.eval(sc, keys, args[:fixed-1]...)
	h.refused(err, "an argument too few")
	if fixed == len(args) {
		_, err = h.eval(sc, keys, append(args, "x")...)
		h.refused(err, "an argument too many")
	}
	for name, v := range bad {
		i := sc.args.index(name)
		if i < 0 {
			t.Fatalf("%s: no argument %s", sc.name, name)
		}
		bad := append([]any(nil), args...)
		bad[own+i] = v
		_, err := h.eval(sc, keys, bad...)
		h.refused(err, name+" = "+strconv.Quote(toString(v)))
	}
	if got := h.state(); !sameMap(got, before) {
		t.Errorf("a refused call changed the state: %v, was %v", got, before)
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return "?"
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// index is where the argument called name comes in the list; -1 if it
// is none of it.
func (l argList) index(name string) int {
	for k, i := range l.fields {
		if l.typ.Field(i).Tag.Get("lua") == name {
			return k
		}
	}
	return -1
}

// The store loads its scripts when it starts, and keeps their hashes.
func TestScriptsLoadedAtStart(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s := New(c, Options{Namespace: "load"})
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for _, sc := range scripts {
		if sc.Hash() == "" {
			t.Fatal("a script lost its hash")
		}
		for {
			ok, err := c.ScriptExists(context.Background(), sc.Hash()).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ok[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("script %s not loaded", sc.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// refusesLate checks that a, run past its caller's deadline on the state
// setup stores, changes nothing and says so; and that with the deadline
// ahead it runs.
func refusesLate(t *testing.T, h *luaBed, a onBreaker, setup func()) {
	t.Helper()
	defer func(d int64) { h.ctx.Deadline = d }(h.ctx.Deadline)
	for _, dl := range []int64{1, h.now() - 1000} {
		setup()
		before := h.state()
		h.ctx.Deadline = dl
		r := h.run(a)
		if !r.late || r.changed || !sameMap(h.state(), before) {
			t.Errorf("%T past its deadline: %+v, stored %v", a, r, h.state())
		}
	}
	setup()
	h.ctx.Deadline = h.now() + time.Minute.Milliseconds()
	if r := h.run(a); r.late {
		t.Errorf("%T before its deadline: late", a)
	}
}

// dump is every key of the database and its value (DUMP's bytes, which
// leave the TTL out): what a refused call must leave as it was.
func (h *luaBed) dump() map[string]string {
	h.t.Helper()
	keys, err := h.c.Keys(bg, "*").Result()
	if err != nil {
		h.t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = h.c.Dump(bg, k).Val()
	}
	return out
}

// refusesOwn checks that a script of a bucket (head: the bucket's
// arguments) or of keys of its own (head nil) refuses an argument too few,
// one too many (when its list ends with no list of the arguments left),
// and each of bad (an argument's name and a value not of its kind); and
// that nothing was written.
func refusesOwn(t *testing.T, h *luaBed, sc *luaScript, keys []string, head []any, good any, bad map[string]any) {
	t.Helper()
	before := h.dump()
	args := sc.args.append(append([]any(nil), head...), good)
	fixed, rest := len(args), false // the arguments up to a list of those left
	if f := sc.args.fields; sc.args.typ.Field(f[len(f)-1]).Type.Kind() == reflect.Slice {
		fixed, rest = len(head)+len(f)-1, true
	}
	_, err := h.eval(sc, keys, args[:fixed-1]...)
	h.refused(err, sc.name+": an argument too few")
	if !rest {
		_, err = h.eval(sc, keys, append(args, "x")...)
		h.refused(err, sc.name+": an argument too many")
	}
	for name, v := range bad {
		i := sc.args.index(name)
		if i < 0 {
			t.Fatalf("%s: no argument %s", sc.name, name)
		}
		bad := append([]any(nil), args...)
		bad[len(head)+i] = v
		_, err := h.eval(sc, keys, bad...)
		h.refused(err, sc.name+": "+name+" = "+strconv.Quote(toString(v)))
	}
	if got := h.dump(); !sameMap(got, before) {
		t.Errorf("%s: a refused call wrote: %v, was %v", sc.name, got, before)
	}
}

// head is the bucket's arguments.
func (h *luaBed) head() []any {
	return bucketList.append(nil, bucketHead{Chan: h.l.channel, Bucket: h.k, Base: h.l.base[h.k]})
}

// ttlNear checks that key expires, in want at most and within a minute of
// it.
func (h *luaBed) ttlNear(key string, want time.Duration) {
	h.t.Helper()
	if ttl := h.c.PTTL(bg, key).Val(); ttl <= 0 || ttl > want || ttl < want-time.Minute {
		h.t.Errorf("%s's TTL %v, want %v", key, ttl, want)
	}
}

// atNow runs try with Redis's time T, read just before it, until try has
// run at T itself (the script's now, in its reply) twice, or 500 times:
// for what a script does at the very ms of a time it is given. try checks
// each reply, whatever its now.
func (h *luaBed) atNow(try func(T int64) reply) {
	h.t.Helper()
	same := 0
	for i := 0; i < 500 && same < 2; i++ {
		T := h.now()
		if r := try(T); r.now == T {
			same++
		}
	}
	if same < 2 {
		h.t.Logf("a script ran in the ms it was given %d times in 500", same)
	}
}
