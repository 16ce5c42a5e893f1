package redisstore

import (
	"embed"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The scripts are the Lua files in lua/: prelude.lua, which every script
// starts with (the state's hash fields and their limits, what a bucket
// keeps, the reply, and how arguments are named and checked), and one
// file per script, which says what it does and names its arguments. See
// ARCHITECTURE.md ("The Redis store") for why they are what they are.
//
// Arguments are named on both sides. Each Lua list (BUCKET_ARGS and
// CTX_ARGS in the prelude, a script's ARGS) gives its arguments' names,
// in order, and kinds; the Lua reads them by name. In Go each list has a
// struct (bucketHead, breakerCtx, and one per script, in scriptargs.go)
// whose fields carry the same names in `lua` tags. The order is the Lua
// list's alone: when the scripts are built, each struct is matched
// against its list, name by name (a name on one side only stops the
// program at start-up, and every test with it), and the arguments are
// sent in the list's order (argList.append).

//go:embed lua/*.lua
var luaFiles embed.FS

// luaScript is one script: its text, and the order of its own arguments.
type luaScript struct {
	*redis.Script
	name string
	src  string   // the prelude, then the script's own file
	args argList  // the script's ARGS
	item *argList // the window script's ITEM_ARGS, repeated after a context each
}

// The prelude's lists: every bucket script's first arguments, and a
// breaker's context after them.
var bucketList, contextList = preludeLists()

var (
	bindScript        = newScript("bind", bindArgs{})
	reportScript      = newScript("report", reportArgs{})
	transitionScript  = newScript("transition", transitionArgs{})
	acquireScript     = newScript("acquire", acquireArgs{})
	settleScript      = newScript("settle", settleArgs{})
	releaseScript     = newScript("release", releaseArgs{})
	setModeScript     = newScript("setmode", setModeArgs{})
	raiseScript       = newScript("raise", raiseArgs{})
	noteScript        = newScript("note", noteArgs{})
	readScript        = newScript("read", readArgs{})
	changesScript     = newScript("changes", changesArgs{})
	windowScript      = newScript("window", windowArgs{}, windowItemArgs{})
	registerScript    = newScript("register", registerArgs{})
	unregisterScript  = newScript("unregister", unregisterArgs{})
	reapScript        = newScript("reap", reapArgs{})
	renewScript       = newScript("renew", renewArgs{})
	heartbeatScript   = newScript("heartbeat", heartbeatArgs{})
	readShadowsScript = newScript("shadows_read", shadowsReadArgs{})
	setShadowScript   = newScript("shadows_set", shadowsSetArgs{})
)

// luaList matches a list of arguments in a Lua file, "local NAME = {...}",
// and luaArg one of its entries, "'name:kind'" or "'name:kind...'".
var (
	luaList = regexp.MustCompile(`(?m)^local ([A-Z_]*ARGS) = \{([^}]*)\}`)
	luaArg  = regexp.MustCompile(`^'([a-z_]+):([a-z]+)(\.\.\.)?'$`)
)

// luaLists reads the lists of arguments a Lua file declares, by name.
func luaLists(file string) (map[string][]luaArgName, error) {
	src, err := luaFiles.ReadFile("lua/" + file)
	if err != nil {
		return nil, err
	}
	out := map[string][]luaArgName{}
	for _, m := range luaList.FindAllStringSubmatch(string(src), -1) {
		var list []luaArgName
		for _, e := range strings.Split(m[2], ",") {
			a := luaArg.FindStringSubmatch(strings.TrimSpace(e))
			if a == nil {
				return nil, fmt.Errorf("lua/%s: %s: bad entry %q", file, m[1], strings.TrimSpace(e))
			}
			list = append(list, luaArgName{name: a[1], kind: a[2], rest: a[3] != ""})
		}
		out[m[1]] = list
	}
	return out, nil
}

// luaArgName is an entry of a Lua list of arguments.
type luaArgName struct {
	name, kind string
	rest       bool // the last, which takes every argument left
}

func preludeLists() (bucket, context argList) {
	lists, err := luaLists("prelude.lua")
	if err != nil {
		panic(err)
	}
	return mustArgList("prelude.lua BUCKET_ARGS", lists["BUCKET_ARGS"], bucketHead{}),
		mustArgList("prelude.lua CTX_ARGS", lists["CTX_ARGS"], breakerCtx{})
}

// newScript builds the script of lua/<name>.lua, whose ARGS (and, with
// item, ITEM_ARGS) name the fields of args (and item). A mismatch is a
// mistake in this package: it panics, when the package is initialised.
func newScript(name string, args any, item ...any) *luaScript {
	file := name + ".lua"
	prelude, err := luaFiles.ReadFile("lua/prelude.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile("lua/" + file)
	if err != nil {
		panic(err)
	}
	lists, err := luaLists(file)
	if err != nil {
		panic(err)
	}
	sc := &luaScript{name: name, src: string(prelude) + string(body)}
	sc.Script = redis.NewScript(sc.src)
	sc.args = mustArgList(file+" ARGS", lists["ARGS"], args)
	if len(item) > 0 {
		l := mustArgList(file+" ITEM_ARGS", lists["ITEM_ARGS"], item[0])
		sc.item = &l
	}
	return sc
}

// argList is a Lua list of arguments matched to a Go struct: the index
// of the field that holds each argument, in the list's order.
type argList struct {
	typ    reflect.Type
	fields []int
}

func mustArgList(what string, list []luaArgName, v any) argList {
	l, err := newArgList(list, reflect.TypeOf(v))
	if err != nil {
		panic(fmt.Sprintf("redisstore: %s: %v", what, err))
	}
	return l
}

func newArgList(list []luaArgName, t reflect.Type) (argList, error) {
	if list == nil {
		return argList{}, fmt.Errorf("no list of arguments")
	}
	byTag := map[string]int{}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("lua"); tag != "" {
			byTag[tag] = i
		}
	}
	l := argList{typ: t}
	for k, a := range list {
		i, ok := byTag[a.name]
		if !ok {
			return argList{}, fmt.Errorf("%s has no field for argument %q", t, a.name)
		}
		delete(byTag, a.name)
		slice := t.Field(i).Type.Kind() == reflect.Slice
		if a.rest != slice || a.rest && k != len(list)-1 {
			return argList{}, fmt.Errorf("argument %q: a list of the arguments left must be the last and a slice", a.name)
		}
		l.fields = append(l.fields, i)
	}
	for tag := range byTag {
		return argList{}, fmt.Errorf("%s's field for %q is no argument of the script", t, tag)
	}
	return l, nil
}

// append appends v's fields in the list's order: a bool as 1 or 0, a
// slice (the arguments left) one element after another, a number or a
// string as go-redis writes it.
func (l argList) append(args []any, v any) []any {
	rv := reflect.ValueOf(v)
	if rv.Type() != l.typ {
		panic(fmt.Sprintf("redisstore: %s for arguments %s", rv.Type(), l.typ))
	}
	for _, i := range l.fields {
		f := rv.Field(i)
		if f.Kind() == reflect.Slice {
			for j := range f.Len() {
				args = appendArg(args, f.Index(j))
			}
			continue
		}
		args = appendArg(args, f)
	}
	return args
}

func appendArg(args []any, f reflect.Value) []any {
	switch f.Kind() {
	case reflect.Bool:
		if f.Bool() {
			return append(args, 1)
		}
		return append(args, 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return append(args, f.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return append(args, f.Uint())
	case reflect.Float32, reflect.Float64:
		return append(args, f.Float())
	case reflect.String:
		return append(args, f.String())
	}
	panic(fmt.Sprintf("redisstore: a script argument of kind %s", f.Kind()))
}
