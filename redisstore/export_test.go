package redisstore

import "fmt"

// Pending tells whether the store has anything queued to send.
func (s *Store) Pending() bool { return s.pending() || s.sending() }

// IsReport tells the arguments of an EVALSHA of the report script, and
// whether it asks to trip (a caller's own view reached FailMax).
func IsReport(args []any) (report, trip bool) {
	if len(args) < 32 || args[1] != reportScript.Hash() {
		return false, false
	}
	return true, fmt.Sprint(args[31]) == "1"
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
