package infuse

import (
	"context"
	"fmt"
)

// Mode is a forced state, set by an operator and held until released; with
// a shared store it holds fleet-wide.
type Mode int

const (
	// ModeNormal: the state machine runs.
	ModeNormal Mode = iota
	// ModeForcedOpen: every call is rejected and nothing moves the breaker
	// out of the open state but a release or a manual transition.
	ModeForcedOpen
	// ModeDisabled: every call is let through and counted, and nothing
	// trips the breaker.
	ModeDisabled
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeForcedOpen:
		return "forced-open"
	case ModeDisabled:
		return "disabled"
	}
	return "Mode(?)"
}

func (m Mode) valid() bool { return m >= ModeNormal && m <= ModeDisabled }

// Mode returns the forced mode, ModeNormal when none is.
func (b *Breaker) Mode() Mode { return b.cur.Load().mode }

// ForceOpen opens the breaker and holds it open, rejecting every call,
// until Release or a manual transition. With a shared Storage it holds
// fleet-wide.
func (b *Breaker) ForceOpen(ctx context.Context) error { return b.setMode(ctx, ModeForcedOpen) }

// Disable closes the breaker and keeps it closed, letting every call
// through and counting them, until Release or a manual transition. With a
// shared Storage it holds fleet-wide.
func (b *Breaker) Disable(ctx context.Context) error { return b.setMode(ctx, ModeDisabled) }

// Release ends a forced mode: the breaker is closed and runs again.
func (b *Breaker) Release(ctx context.Context) error { return b.setMode(ctx, ModeNormal) }

func (b *Breaker) setMode(ctx context.Context, m Mode) error {
	if ctx == nil {
		return errNilArgument
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := b.storeStart()
	b.ownCall()
	s, err := b.bind.SetMode(ctx, m)
	b.storeDone(start)
	b.adopt(s, answerMade)
	b.ownDone()
	if err != nil {
		return fmt.Errorf("infuse: breaker %q to %v: %w", b.name, m, err)
	}
	return nil
}
