package redisstore

import (
	"github.com/infuse-go/infuse/storage"
)

// Each script's arguments, by name: a struct per Lua list of arguments
// (see scripts.go), each field tagged with its argument's name there. The
// Lua file says what each argument means; the order is the Lua list's.
// A script on one breaker is called with binding.call, a script on a
// bucket with Store.bucketCall, another with its script's Run and
// scriptArgs.

// bucketHead is every bucket script's first arguments (prelude.lua,
// BUCKET_ARGS).
type bucketHead struct {
	Chan   string `lua:"chan"`   // the namespace's channel of hints
	Bucket int    `lua:"bucket"` // the bucket's number
	Base   string `lua:"base"`   // its key prefix
}

// breakerCtx is the context of a script on one breaker (prelude.lua,
// CTX_ARGS): who calls, and what to restore if Redis holds nothing.
type breakerCtx struct {
	KName        string        `lua:"kname"`
	TTL          int64         `lua:"ttl"`      // ms
	IdleTTL      int64         `lua:"idle"`     // ms
	Deadline     int64         `lua:"deadline"` // Redis ms; 0: none
	Nonce        string        `lua:"nonce"`
	SeedInc      string        `lua:"seed_i"`
	SeedGen      uint64        `lua:"seed_g"`
	SeedState    storage.State `lua:"seed_st"`
	SeedElapsed  int64         `lua:"seed_el"` // ms since it opened (or closed); negative: a hold ahead
	SeedFailures int           `lua:"seed_f"`
	SeedMode     storage.Mode  `lua:"seed_md"`
	SeedTrips    int           `lua:"seed_tr"`
	Binding      string        `lua:"me"`
}

// onBreaker is the arguments of a script on one breaker (see
// binding.call); onBucket of a script on a bucket (Store.bucketCall);
// onKeys of a script on keys of its own.
type (
	onBreaker interface{ onBreaker() *luaScript }
	onBucket  interface{ onBucket() *luaScript }
	onKeys    interface{ onKeys() *luaScript }
)

// lua/bind.lua
type bindArgs struct {
	Member string `lua:"member"`
}

// lua/report.lua
type reportArgs struct {
	FromInc string `lua:"from_inc"`
	FromGen string `lua:"from_gen"`
	Before  int    `lua:"before"`
	Saw     bool   `lua:"saw"`
	After   int    `lua:"after"`
	FailMax int    `lua:"fail_max"`
	Force   bool   `lua:"force"`
	Resets  uint64 `lua:"resets"`
	Binding string `lua:"binding"`
	Batch   uint64 `lua:"batch"`
	Again   bool   `lua:"again"`
}

// lua/transition.lua
type transitionArgs struct {
	FromInc  string        `lua:"from_inc"`
	FromGen  string        `lua:"from_gen"` // "0": any (a manual transition)
	To       storage.State `lua:"to"`
	Failures int           `lua:"failures"`
	Manual   bool          `lua:"manual"`
	ShiftMs  int64         `lua:"shift_ms"`
	Cause    storage.Cause `lua:"cause"`
}

// lua/acquire.lua
type acquireArgs struct {
	OpenMs   int64               `lua:"open_ms"`
	MaxCalls int                 `lua:"max_calls"`
	LeaseMs  int64               `lua:"lease_ms"`
	Expiry   storage.TrialExpiry `lua:"expiry"`
	Permit   uint64              `lua:"permit"`
}

// lua/settle.lua
type settleArgs struct {
	FromInc          string          `lua:"from_inc"`
	FromGen          string          `lua:"from_gen"`
	Permit           uint64          `lua:"permit"`
	Outcome          storage.Outcome `lua:"outcome"`
	SuccessThreshold int             `lua:"success_threshold"`
	RanMs            int64           `lua:"ran_ms"` // -1: unknown
	LeaseMs          int64           `lua:"lease_ms"`
}

// lua/release.lua
type releaseArgs struct {
	FromInc string   `lua:"from_inc"`
	FromGen string   `lua:"from_gen"`
	Permits []uint64 `lua:"permits"`
}

// lua/setmode.lua
type setModeArgs struct {
	Mode    storage.Mode `lua:"mode"`
	FromInc string       `lua:"from_inc"`
	FromGen string       `lua:"from_gen"` // "0": any
}

// lua/raise.lua
type raiseArgs struct {
	FromInc string `lua:"from_inc"`
	FromGen string `lua:"from_gen"`
	ToGen   uint64 `lua:"to_gen"`
	Restore int    `lua:"restore"`
}

// lua/note.lua
type noteArgs struct {
	FromInc string `lua:"from_inc"`
	FromGen string `lua:"from_gen"`
	Op      int64  `lua:"op"`
}

// lua/read.lua
type readArgs struct {
	KNames []string `lua:"knames"`
}

// lua/changes.lua
type changesArgs struct {
	Since int64  `lua:"since"`
	Limit int    `lua:"limit"`
	Epoch string `lua:"epoch"`
	Token string `lua:"token"`
}

// lua/window.lua: the member; then, per breaker, its context and a
// windowItemArgs (see Store.windowCall).
type windowArgs struct {
	Member string `lua:"member"`
}

// lua/window.lua, ITEM_ARGS
type windowItemArgs struct {
	FromInc     string  `lua:"from_inc"`
	FromGen     string  `lua:"from_gen"`
	Calls       int64   `lua:"calls"`
	Failures    int64   `lua:"failures"`
	Slow        int64   `lua:"slow"`
	BucketMs    int64   `lua:"bucket_ms"`
	Buckets     int64   `lua:"buckets"`
	FailureRate float64 `lua:"failure_rate"`
	SlowRate    float64 `lua:"slow_rate"`
	MinCalls    int     `lua:"min_calls"`
	MinMembers  int     `lua:"min_members"`
	Requests    int64   `lua:"requests"`
	ThrottleK   float64 `lua:"throttle_k"`
	ThrottleMax float64 `lua:"throttle_max"`
}

// lua/register.lua
type registerArgs struct {
	Member string   `lua:"member"`
	TTL    int64    `lua:"ttl"` // ms
	KNames []string `lua:"knames"`
}

// lua/unregister.lua
type unregisterArgs struct {
	Member string   `lua:"member"`
	KNames []string `lua:"knames"`
}

// lua/reap.lua
type reapArgs struct {
	Member string `lua:"member"`
}

// lua/renew.lua
type renewArgs struct {
	Member string   `lua:"member"`
	TTL    int64    `lua:"ttl"` // ms
	KNames []string `lua:"knames"`
}

// lua/heartbeat.lua
type heartbeatArgs struct {
	Member  string `lua:"member"`
	TTL     int64  `lua:"ttl"` // ms
	StaleMs int64  `lua:"stale_ms"`
}

// lua/shadows_read.lua
type shadowsReadArgs struct {
	MaxShadows int `lua:"max_shadows"`
	MaxSize    int `lua:"max_size"`
	MaxName    int `lua:"max_name"`
}

// lua/shadows_set.lua
type shadowsSetArgs struct {
	Name string `lua:"name"`
	Data string `lua:"data"` // "": delete
}

func (bindArgs) onBreaker() *luaScript       { return bindScript }
func (reportArgs) onBreaker() *luaScript     { return reportScript }
func (transitionArgs) onBreaker() *luaScript { return transitionScript }
func (acquireArgs) onBreaker() *luaScript    { return acquireScript }
func (settleArgs) onBreaker() *luaScript     { return settleScript }
func (releaseArgs) onBreaker() *luaScript    { return releaseScript }
func (setModeArgs) onBreaker() *luaScript    { return setModeScript }
func (raiseArgs) onBreaker() *luaScript      { return raiseScript }
func (noteArgs) onBreaker() *luaScript       { return noteScript }
func (readArgs) onBucket() *luaScript        { return readScript }
func (changesArgs) onBucket() *luaScript     { return changesScript }
func (registerArgs) onBucket() *luaScript    { return registerScript }
func (unregisterArgs) onBucket() *luaScript  { return unregisterScript }
func (reapArgs) onBucket() *luaScript        { return reapScript }
func (renewArgs) onBucket() *luaScript       { return renewScript }
func (heartbeatArgs) onKeys() *luaScript     { return heartbeatScript }
func (shadowsReadArgs) onKeys() *luaScript   { return readShadowsScript }
func (shadowsSetArgs) onKeys() *luaScript    { return setShadowScript }

// bucketArgs are the first arguments of every bucket script, with room
// for n more.
func (s *Store) bucketArgs(k int, n int) []any {
	return bucketList.append(make([]any, 0, 3+n), bucketHead{Chan: s.l.channel, Bucket: k, Base: s.l.base[k]})
}

// bucketCall is a script on bucket k.
func (s *Store) bucketCall(k int, a onBucket) call {
	sc := a.onBucket()
	return call{sc: sc, keys: s.l.bucket[k], args: sc.args.append(s.bucketArgs(k, 8), a)}
}

// windowEntry is one breaker's part of a window script.
type windowEntry struct {
	ctx  breakerCtx
	args windowItemArgs
}

// windowCall is the window script on bucket k for the breakers of
// entries.
func (s *Store) windowCall(k int, a windowArgs, entries []windowEntry) call {
	sc := windowScript
	args := sc.args.append(s.bucketArgs(k, 1+len(entries)*(len(contextList.fields)+len(sc.item.fields))), a)
	for _, e := range entries {
		args = contextList.append(args, e.ctx)
		args = sc.item.append(args, e.args)
	}
	return call{sc: sc, keys: s.l.bucket[k], args: args}
}

// scriptArgs are the arguments of a script on keys of its own.
func scriptArgs(a onKeys) []any {
	return a.onKeys().args.append(nil, a)
}
