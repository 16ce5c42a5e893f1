package redisstore

import "fmt"

// Pending tells whether the store has anything queued to send.
func (s *Store) Pending() bool { return s.pending() || s.sending() }

// IsReport tells the arguments of an EVALSHA of the report script, and
// whether it asks to trip (a caller's own view reached FailMax).
func IsReport(args []any) (report, trip bool) {
	if len(args) < 31 || args[1] != reportScript.Hash() {
		return false, false
	}
	return true, fmt.Sprint(args[30]) == "1"
}
