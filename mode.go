package infuse

import (
	"context"
	"fmt"
)

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
