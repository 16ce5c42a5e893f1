package infuse

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infuse-go/infuse/internal/coarse"
)

// openForCoarse trips a breaker with the real clock and an open period of
// a second, and holds the coarse clock: its timer waits for the lock until
// the test ends, so the test sets what it reads.
func openForCoarse(t *testing.T, listeners ...Listener) (*Breaker, *epoch) {
	t.Helper()
	b, err := New(Config{Name: "coarse", FailMax: 1, ResetTimeout: time.Second, Listeners: listeners})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Call(context.Background(), func(context.Context) error { return errors.New("boom") })
	t.Cleanup(coarse.Hold())
	return b, b.cur.Load()
}

// tick moves the held coarse clock on by a tick, as its timer does.
func tick() { coarse.Tick() }

func rejectedByCoarseClock(err error) *OpenError {
	var oe *OpenError
	// The slow path's refusals, once the period is over by the system
	// clock, come from the store, which the tests do not move: RetryAfter
	// 0. Those of the coarse clock have some left.
	if errors.As(err, &oe) && oe.RetryAfter > 0 {
		return oe
	}
	return nil
}

// A coarse clock whose timer runs late (here: it reads 99 ms behind the
// truth, the last tenth of the period being 100 ms) rejects no call once
// the open period is over: near the end, the system clock decides.
func TestALateCoarseClockRejectsNothingLate(t *testing.T) {
	b, e := openForCoarse(t)
	// Opened 1.001 s ago by the system clock: the period is over.
	e.open.at = time.Now().Add(-1001 * time.Millisecond)
	e.open.mono = int64(time.Since(coarse.Base)) - int64(1001*time.Millisecond)
	coarse.Set(int64(time.Since(coarse.Base)) - int64(99*time.Millisecond))
	for range 100 {
		if oe := rejectedByCoarseClock(b.Call(context.Background(), func(context.Context) error { return nil })); oe != nil {
			t.Fatalf("a call rejected after the open period ended: %v", oe)
		}
	}
}

// An open breaker makes its rejection once per tick of the coarse clock
// and returns it as it is while the clock reads the same: RetryAfter
// true to the tick, never below the truth, every rejection counted. A
// listener that wants rejections sees each one.
func TestARejectionIsMadeOnceATick(t *testing.T) {
	for _, counted := range []bool{false, true} {
		t.Run(map[bool]string{false: "bare", true: "counted"}[counted], func(t *testing.T) {
			testRejectionMadeOnceATick(t, counted)
		})
	}
}

func testRejectionMadeOnceATick(t *testing.T, counted bool) {
	var seen int
	b, e := openForCoarse(t, ListenFor(ListenerFunc(func(Event) { seen++ }), EventStateChange))
	if counted {
		b.Totals()
	}
	now := int64(time.Since(coarse.Base))
	e.open.mono = now - int64(200*time.Millisecond)
	coarse.Set(now)
	call := func() *OpenError {
		t.Helper()
		oe := rejectedByCoarseClock(b.Call(context.Background(), func(context.Context) error { return nil }))
		if oe == nil {
			t.Fatal("not rejected")
		}
		return oe
	}
	first := call()
	if first.RetryAfter != 800*time.Millisecond || first.Reason != ReasonOpen || first.Name != "coarse" {
		t.Fatalf("first rejection %+v, want 800ms left", *first)
	}
	if again := call(); again != first {
		t.Fatalf("within a tick: %+v, a new rejection", *again)
	}
	// Uncounted, it is returned in line, at the caller, until the tick;
	// counted, every call takes the path that counts it.
	if inline := (*rejection)(atomic.LoadPointer(&b.rejecting)); (inline != nil && &inline.err == first) == counted {
		t.Fatalf("counted %v: the rejection returned in line is %v", counted, inline)
	}
	tick()
	next := call()
	if next == first || next.RetryAfter != 799*time.Millisecond {
		t.Fatalf("a tick later: %+v (same as the first: %v), want 799ms left", *next, next == first)
	}
	// Allow and Execute reuse it too.
	if _, err := b.Allow(context.Background()); err != error(next) {
		t.Fatalf("Allow: %v", err)
	}
	if _, err := Execute(context.Background(), b, func(context.Context) (int, error) { return 0, nil }); err != error(next) {
		t.Fatalf("Execute: %v", err)
	}
	if got := b.Totals().Rejections; counted && got != 5 {
		t.Fatalf("%d rejections counted, want 5", got)
	}
	// Taken back at the tick, a rejection is made again at the first call.
	tick()
	if atomic.LoadPointer(&b.rejecting) != nil {
		t.Fatal("a rejection outlived its tick")
	}

	b.AddListener(ListenFor(ListenerFunc(func(ev Event) {
		if ev.Kind == EventRejected {
			seen++
		}
	}), EventRejected))
	seen = 0
	for range 3 {
		call()
	}
	if seen != 3 {
		t.Fatalf("a listener saw %d of 3 rejections", seen)
	}
}

// A forced open's rejection says RetryAfter 0 whatever the time, and is
// reused as long as the breaker stays forced open.
func TestAForcedOpenRejectionIsReused(t *testing.T) {
	b, err := New(Config{Name: "forced"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ForceOpen(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := b.Call(context.Background(), func(context.Context) error { return nil })
	var oe *OpenError
	if !errors.As(first, &oe) || oe.Reason != ReasonForcedOpen || oe.RetryAfter != 0 {
		t.Fatalf("forced open: %v", first)
	}
	if again := b.Call(context.Background(), func(context.Context) error { return nil }); again != first {
		t.Fatalf("forced open, again: a new rejection %v", again)
	}
}

// A new ResetTimeout applies to the rejections of the current open
// period at once, not from the next tick.
func TestSetResetTimeoutRemakesTheRejection(t *testing.T) {
	b, e := openForCoarse(t)
	now := int64(time.Since(coarse.Base))
	e.open.mono = now - int64(200*time.Millisecond)
	coarse.Set(now)
	first := rejectedByCoarseClock(b.Call(context.Background(), func(context.Context) error { return nil }))
	if first == nil || first.RetryAfter != 800*time.Millisecond {
		t.Fatalf("first rejection %v, want 800ms left", first)
	}
	b.SetResetTimeout(2 * time.Second)
	next := rejectedByCoarseClock(b.Call(context.Background(), func(context.Context) error { return nil }))
	if next == nil || next.RetryAfter != 1800*time.Millisecond {
		t.Fatalf("after SetResetTimeout(2s): %v, want 1.8s left", next)
	}
}

// With the real clock and an open period of at least coarse.MinOpen, a
// rejection reads the coarse clock and says what is left of the period;
// near its end, or for a shorter period, the slow path decides.
func TestRejectFastReadsTheCoarseClock(t *testing.T) {
	b := newInternal(t, Config{ResetTimeout: coarse.MinOpen})
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := b.cur.Load()
	fast := func() error {
		t.Helper()
		coarse.Read() // starts the clock if stopped
		return b.rejectFast(e)
	}
	err := fast()
	if err == nil {
		t.Fatal("no fast rejection of an open period of coarse.MinOpen")
	}
	if left := openError(t, err).RetryAfter; left > coarse.MinOpen || left < coarse.MinOpen-coarse.Margin {
		t.Fatalf("RetryAfter = %v just after opening for %v", left, coarse.MinOpen)
	}
	b.SetResetTimeout(coarse.MinOpen - 1)
	if err := fast(); err != nil {
		t.Fatalf("a period below coarse.MinOpen rejected fast: %v", err)
	}
	b.SetResetTimeout(time.Minute)
	e.open.mono -= int64(10 * time.Second)
	// The coarse clock may run behind by more than a tick on a busy
	// machine: RetryAfter is then that much long, within a second here.
	err = fast()
	if err == nil {
		t.Fatal("no fast rejection 10s into a minute")
	}
	if left := openError(t, err).RetryAfter; left > 51*time.Second || left < 49*time.Second {
		t.Fatalf("RetryAfter = %v 10s into a minute", left)
	}
	e.open.mono -= int64(45 * time.Second) // 5s left: within a tenth of the period
	if err := fast(); err != nil {
		t.Fatalf("rejected fast %v before the end of the period: %v", openError(t, err).RetryAfter, err)
	}
}

// A rejection reuses its error while RetryAfter stays within a
// millisecond above what is left, never below it.
func TestRejectOpenReusesItsErrorWithinAMillisecond(t *testing.T) {
	b := newInternal(t, Config{Clock: &manualClock{now: time.Unix(1000, 0)}})
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := b.cur.Load()
	const left = 10 * time.Second
	first := openError(t, b.rejectOpen(e, left, reuseNever))
	for _, c := range []struct {
		left time.Duration
		same bool
	}{
		{left, true},
		{left - time.Millisecond + 1, true},
		{left - time.Millisecond, false},
		{left + 1, false},
	} {
		got := openError(t, b.rejectOpen(e, c.left, reuseNever))
		if (got == first) != c.same || (!c.same && got.RetryAfter != c.left) {
			t.Fatalf("left %v after %v: same error %v (RetryAfter %v), want same %v", c.left, first.RetryAfter, got == first, got.RetryAfter, c.same)
		}
		first = got
	}
}
