package storage_test

import (
	"testing"

	"github.com/infuse-go/infuse/storage"
)

// A state reads as pybreaker stores it, and ParseState reads it back; a
// number that is no state says which, and is not Valid.
func TestAStateReadsAsPybreakerStoresIt(t *testing.T) {
	for s, name := range map[storage.State]string{storage.Closed: "closed", storage.Open: "open", storage.HalfOpen: "half-open"} {
		if s.String() != name || !s.Valid() {
			t.Errorf("%d: %q, valid %v", int(s), s.String(), s.Valid())
		}
		if back, err := storage.ParseState(name); err != nil || back != s {
			t.Errorf("ParseState(%q) = %v, %v", name, back, err)
		}
	}
	for _, s := range []storage.State{-1, 3} {
		if s.Valid() {
			t.Errorf("State %d is valid", int(s))
		}
	}
	if got := storage.State(3).String(); got != "State(3)" {
		t.Errorf("State 3 reads %q", got)
	}
	_, err := storage.ParseState("Open")
	if err == nil || err.Error() != `infuse: unknown state "Open", valid states: closed, open, half-open` {
		t.Errorf("ParseState(\"Open\"): %v", err)
	}
}

// A mode reads as the command line writes it; a number that is no mode
// is not Valid.
func TestAModeReadsAsTheCommandLineWritesIt(t *testing.T) {
	for m, name := range map[storage.Mode]string{storage.ModeNormal: "normal", storage.ModeForcedOpen: "forced-open",
		storage.ModeDisabled: "disabled", 3: "Mode(?)"} {
		if m.String() != name || m.Valid() != (name != "Mode(?)") {
			t.Errorf("%d: %q, valid %v", int(m), m.String(), m.Valid())
		}
	}
	if storage.Mode(-1).Valid() {
		t.Error("Mode -1 is valid")
	}
}
