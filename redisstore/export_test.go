package redisstore

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The lock discipline is checked in every test (see checkLocks).
func init() { checkLocks = true }

// Pending tells whether the store has anything queued to send.
func (s *Store) Pending() bool { return s.pending() || s.sending() }

// IsReport tells the arguments of an EVALSHA of the report script, and
// whether it asks to trip (a caller's own view reached FailMax).
func IsReport(args []any) (report, trip bool) {
	a, ok := namedArgs(args, reportScript, true)
	if !ok {
		return false, false
	}
	return true, a["force"] == "1"
}

// namedArgs reads the arguments of an EVALSHA of sc (a command's Args:
// "evalsha", the hash, the number of keys, the keys, the arguments) by
// their names in the Lua lists: the bucket's, the breaker's context (with
// breaker), the script's own. A list of the arguments left is joined with
// spaces.
func namedArgs(cmd []any, sc *luaScript, breaker bool) (map[string]string, bool) {
	if len(cmd) < 3 || cmd[1] != sc.Hash() {
		return nil, false
	}
	nkeys, err := strconv.Atoi(fmt.Sprint(cmd[2]))
	if err != nil || len(cmd) < 3+nkeys {
		return nil, false
	}
	argv := cmd[3+nkeys:]
	lists := []argList{bucketList}
	if breaker {
		lists = append(lists, contextList)
	}
	out := map[string]string{}
	for _, l := range append(lists, sc.args) {
		for _, i := range l.fields {
			f := l.typ.Field(i)
			if f.Type.Kind() == reflect.Slice {
				out[f.Tag.Get("lua")] = strings.TrimSpace(fmt.Sprintln(argv...))
				argv = nil
				continue
			}
			if len(argv) == 0 {
				return nil, false
			}
			out[f.Tag.Get("lua")] = fmt.Sprint(argv[0])
			argv = argv[1:]
		}
	}
	return out, len(argv) == 0
}

// ScriptHash is the SHA1 of a script, by name, to spot it in a hook.
func ScriptHash(name string) string {
	switch name {
	case "acquire":
		return acquireScript.Hash()
	case "settle":
		return settleScript.Hash()
	case "setMode":
		return setModeScript.Hash()
	case "transition":
		return transitionScript.Hash()
	case "report":
		return reportScript.Hash()
	case "bind":
		return bindScript.Hash()
	case "changes":
		return changesScript.Hash()
	case "read":
		return readScript.Hash()
	case "raise":
		return raiseScript.Hash()
	case "renew":
		return renewScript.Hash()
	}
	return ""
}

// ShiftOffsets moves every binding's idea of Redis's clock by ms, as a
// step of this host's wall clock would (a step back of d: +d).
func (s *Store) ShiftOffsets(ms int64) {
	for _, b := range s.all() {
		b.offset.Add(ms)
	}
}

// ReleaseHash is the release script's hash, to spot it in a hook.
func ReleaseHash() string { return releaseScript.Hash() }

// PlantLuaMutant plants a mutant of a Lua file for the scripts' mutation
// run (lua_mutants_test.go): spec is "<file>=<path of its mutated text>".
// A mutant of the prelude is planted in every script.
func PlantLuaMutant(spec string) error {
	file, path, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("INFUSE_LUA_MUTANT %q: want <file>=<path>", spec)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	prelude, err := luaFiles.ReadFile("lua/prelude.lua")
	if err != nil {
		return err
	}
	planted := false
	for _, sc := range append(scripts, heartbeatScript, readShadowsScript, setShadowScript) {
		body := sc.src[len(prelude):]
		switch {
		case file == "prelude.lua":
			sc.src = string(text) + body
		case file == sc.name+".lua":
			sc.src = string(prelude) + string(text)
		default:
			continue
		}
		sc.Script = redis.NewScript(sc.src)
		planted = true
	}
	if !planted {
		return fmt.Errorf("INFUSE_LUA_MUTANT: no script %s", file)
	}
	return nil
}
