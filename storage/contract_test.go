package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// Check gives a store a BindConfig it can call without nil checks: what
// the breaker left nil is filled, what it set is kept; an empty name or
// a state that is none is refused.
func TestCheckFillsWhatABreakerLeftNil(t *testing.T) {
	c, err := storage.BindConfig{Name: "b"}.Check()
	if err != nil {
		t.Fatal(err)
	}
	if c.Clock != (storage.SystemClock{}) {
		t.Errorf("the clock: %#v, want the system clock", c.Clock)
	}
	if before, now := time.Now(), c.Clock.Now(); now.Before(before) || now.Sub(before) > time.Hour {
		t.Errorf("the system clock reads %v at %v", now, before)
	}
	if p := c.Policy(); p != (storage.Settings{}).WithDefaults() {
		t.Errorf("the policy: %+v, want the defaults", p)
	}
	c.Observe(storage.Snapshot{})
	c.Made(storage.Snapshot{})
	c.OnError(errors.New("x"))
	c.ObserveWindow(storage.WindowCounts{})

	var observed, made []uint64
	c, err = storage.BindConfig{Name: "b", InitialState: storage.HalfOpen,
		Observe: func(s storage.Snapshot) { observed = append(observed, s.Generation) }}.Check()
	if err != nil || c.InitialState != storage.HalfOpen {
		t.Fatal(c, err)
	}
	c.Made(storage.Snapshot{Generation: 3})
	if len(observed) != 1 || observed[0] != 3 {
		t.Errorf("without Made, a store's own transition went to %v, want Observe", observed)
	}
	c, _ = storage.BindConfig{Name: "b", Observe: func(s storage.Snapshot) { observed = append(observed, s.Generation) },
		Made: func(s storage.Snapshot) { made = append(made, s.Generation) }}.Check()
	c.Made(storage.Snapshot{Generation: 4})
	if len(made) != 1 || len(observed) != 1 {
		t.Errorf("Made set: made %v, observed %v", made, observed)
	}

	if _, err := (storage.BindConfig{}).Check(); !errors.Is(err, storage.ErrEmptyName) {
		t.Errorf("no name: %v", err)
	}
	_, err = storage.BindConfig{Name: "b", InitialState: 7}.Check()
	if err == nil || err.Error() != `infuse: unknown state "State(7)", valid states: closed, open, half-open` {
		t.Errorf("state 7: %v", err)
	}
}

// The zero Outcome is none: an outcome left unset reads as neither a
// success nor a failure.
func TestTheZeroOutcomeIsNoOutcome(t *testing.T) {
	var unset storage.Outcome
	if unset == storage.OutcomeSuccess || unset == storage.OutcomeFailure || storage.OutcomeSuccess == storage.OutcomeFailure {
		t.Fatalf("the zero Outcome %d, success %d, failure %d: want three different values", unset, storage.OutcomeSuccess, storage.OutcomeFailure)
	}
}
