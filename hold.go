package infuse

import (
	"context"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// HoldOpen opens the breaker for d, as a dependency asks when it answers
// "retry after d": HTTP 429 or 503 with Retry-After, gRPC pushback
// (infusehttp and infusegrpc call it when configured). Calls are rejected
// until d has passed, and then trial calls go through as after any open
// period. A hold that opens the breaker counts as an opening in a row, as
// a trip does (see Backoff); one that extends an open period does not.
// Holds that arrive together (every in-flight call answered 429) do not
// pile up: a hold within a tenth (at most a second) of what is left of the
// open period changes nothing.
//
// d is capped at Config.MaxHoldOpen; d <= 0 does nothing. A breaker
// already open for at least d stays as it is, and a forced or disabled
// one is not changed. With a shared store (redisstore) the whole fleet
// holds off for d. HoldOpen returns how long the breaker now stays open
// (RetryAfter), and the store's error, if any: when the store cannot be
// reached the hold is made locally (and shared later), unless ctx ends
// first, when the breaker may stay as it was.
func (b *Breaker) HoldOpen(ctx context.Context, d time.Duration) (time.Duration, error) {
	return b.HoldOpenBecause(ctx, d, CauseHold)
}

// HoldOpenBecause is HoldOpen with the hold's cause, which the store
// records and events and the console show: CauseRetryAfter (infusehttp),
// CausePushback (infusegrpc), or CauseHold (any other; what HoldOpen
// gives). A cause that is no hold's is taken as CauseHold.
func (b *Breaker) HoldOpenBecause(ctx context.Context, d time.Duration, cause Cause) (time.Duration, error) {
	if !cause.IsHold() {
		cause = CauseHold
	}
	if ctx == nil {
		return 0, errNilArgument
	}
	d = min(d, b.pol.Load().MaxHoldOpen)
	if d <= 0 {
		return b.RetryAfter(), nil
	}
	for range 3 { // another member's transition may come first
		e := b.cur.Load()
		if e.mode != ModeNormal || (e.state == Open && b.RetryAfter() >= d-min(d/10, time.Second)) {
			return b.RetryAfter(), nil
		}
		failures := int(e.failures.Load())
		if e.state == Open {
			failures = e.open.tripped
		}
		start := b.storeStart()
		b.ownCall()
		s, changed, err := b.bind.Transition(ctx, storage.Transition{From: e.gen, To: Open, Failures: failures,
			OpenUntil: b.clock.Now().Add(d), Cause: cause})
		b.storeDone(start)
		b.adopt(s, madeIf(changed))
		b.ownDone()
		if changed || err != nil {
			return b.RetryAfter(), err
		}
	}
	return b.RetryAfter(), nil
}
