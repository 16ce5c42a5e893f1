package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// One member told "retry after" holds the whole fleet off for that long,
// longer or shorter than the policy's open period, and the operators'
// listing says how long is left.
func TestHoldOpenHoldsTheFleet(t *testing.T) {
	for _, c := range []struct {
		name          string
		reset, hold   time.Duration
		backoff       infuse.Backoff
		wantAtLeast   time.Duration
		trialNotUntil time.Duration
	}{
		{"LongerThanResetTimeout", 100 * time.Millisecond, 1500 * time.Millisecond, infuse.Backoff{}, 1200 * time.Millisecond, 1200 * time.Millisecond},
		{"ShorterThanResetTimeout", time.Minute, 600 * time.Millisecond, infuse.Backoff{}, 300 * time.Millisecond, 300 * time.Millisecond},
		{"WithBackoffAndJitter", time.Second, 1500 * time.Millisecond, infuse.Backoff{Multiplier: 3, Jitter: 0.5}, 1200 * time.Millisecond, 1200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t)
			opts := redisstore.Options{Namespace: "hold"}
			sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
			cfg := infuse.Config{Name: "api", ResetTimeout: c.reset, Backoff: c.backoff}
			a, _ := newBreaker(t, sa, cfg)
			b, _ := newBreaker(t, sb, cfg)
			syncStore(t, sa)
			syncStore(t, sb)
			start := time.Now()
			left, err := a.HoldOpen(bg, c.hold)
			if err != nil || left < c.hold-50*time.Millisecond || left > c.hold {
				t.Fatalf("HoldOpen(%v): %v %v", c.hold, left, err)
			}
			syncStore(t, sa) // a hold made before a's first answer from Redis (a busy host) is pushed
			syncStore(t, sb)
			wantState(t, b, infuse.Open)
			if got := b.RetryAfter(); got < c.wantAtLeast || got > c.hold+50*time.Millisecond {
				t.Fatalf("the other member's RetryAfter %v, want about %v", got, c.hold)
			}
			list, err := sa.Breakers(bg)
			if err != nil || len(list) != 1 {
				t.Fatalf("listing %v %v", list, err)
			}
			eventually(t, "the listing shows the hold's end", func() bool {
				list, _ = sa.Breakers(bg)
				ra := list[0].RetryAfter
				return ra > c.wantAtLeast-time.Since(start) && ra <= c.hold
			})
			for time.Since(start) < c.trialNotUntil {
				err := b.Call(bg, succeed)
				if !errors.Is(err, infuse.ErrOpen) {
					t.Fatalf("%v into a hold of %v, a call went through: %v", time.Since(start), c.hold, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Until(start.Add(c.hold + 50*time.Millisecond)))
			eventually(t, "a trial after the hold", func() bool { return b.Call(bg, succeed) == nil })
			if time.Since(start) > c.hold+2*time.Second {
				t.Fatalf("the trial came %v after a hold of %v", time.Since(start), c.hold)
			}
		})
	}
}

// When one member's trial closes the breaker, every member ramps up from
// the close Redis recorded: one that binds mid-ramp joins it where it is,
// and the operators' listing shows how far it has come.
func TestRampIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "ramp"}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{Name: "api", FailMax: 1, ResetTimeout: 100 * time.Millisecond, RampDuration: 10 * time.Second}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	_ = a.Call(bg, boom)
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
	sleepPastOpenPeriod(a)
	if err := a.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Closed)
	sa2, sb2 := a.RampShare(), b.RampShare()
	if sa2 <= 0 || sa2 >= 0.1 || sb2 <= 0 || sb2 >= 0.1 {
		t.Fatalf("ramp shares just after the close: %v and %v", sa2, sb2)
	}
	rejected := 0
	for range 100 {
		if err := b.Call(bg, succeed); errors.Is(err, infuse.ErrOpen) {
			rejected++
		}
	}
	if rejected < 80 {
		t.Fatalf("the other member rejected %d of 100 calls early in the ramp", rejected)
	}

	time.Sleep(time.Until(closed.Add(400 * time.Millisecond)))
	sc := newStore(t, srv, opts)
	c, _ := newBreaker(t, sc, cfg)
	ref := a.RampShare()
	for name, m := range map[string]*infuse.Breaker{"the member that learned of it": b, "a member bound mid-ramp": c} {
		if got := m.RampShare(); got < 0.035 || got > ref+0.01 || got < ref-0.01 {
			t.Fatalf("%s ramps at %v, the closing member at %v (0.4 s into a 10 s ramp)", name, got, ref)
		}
	}
	var info redisstore.Info
	eventually(t, "the listing shows the ramp", func() bool {
		list, err := sa.Breakers(bg)
		if err != nil || len(list) != 1 {
			t.Fatalf("listing %v %v", list, err)
		}
		info = list[0]
		return info.Ramp > 0
	})
	since := time.Since(closed)
	if info.Ramp != 10*time.Second || info.RampSteps != 0 || info.ClosedSince < since-200*time.Millisecond || info.ClosedSince > since+50*time.Millisecond {
		t.Fatalf("listing %+v, %v after the close", info, since)
	}
	if got, want := info.RampShare(), a.RampShare(); got < want-0.01 || got > want+0.01 {
		t.Fatalf("listed ramp share %v, members' %v", got, want)
	}
	one, err := sa.Breaker(bg, "api")
	if err != nil || one.Ramp != 10*time.Second || one.RampShare() >= 1 {
		t.Fatalf("Breaker: %+v %v", one, err)
	}
}

// Redis losing its data mid-ramp neither ends the ramp nor starts it
// again: a member's seed carries when the breaker closed, so the state
// put back (and a new member's view of it) ramps from the same close.
func TestARampSurvivesDataLoss(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "rampless", RefreshInterval: 200 * time.Millisecond}
	sx := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour, RampDuration: time.Minute, RampSteps: 4}
	x, _ := newBreaker(t, sx, cfg)
	if err := x.Open(bg); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	c.FlushAll(bg)
	sz := newStore(t, srv, opts)
	z, _ := newBreaker(t, sz, cfg)
	_ = z.Call(bg, boom) // one failure: reported, writing a state
	eventually(t, "the fleet agrees on a generation", func() bool {
		syncStore(t, sx)
		syncStore(t, sz)
		return x.Metrics().Generation == z.Metrics().Generation && x.Metrics().Generation > 1
	})
	if x.RampShare() != 0.25 || z.RampShare() != 0.25 {
		t.Fatalf("after data loss in the first step of a ramp of four: shares %v and %v, want 0.25", x.RampShare(), z.RampShare())
	}
	eventually(t, "the listing shows the ramp again", func() bool {
		list, err := sz.Breakers(bg)
		return err == nil && len(list) == 1 && list[0].Ramp == time.Minute && list[0].RampShare() == 0.25
	})
}

// A member that closes the breaker while Redis is out of reach shares the
// close, once Redis is back, with when it was made: its ramp goes on from
// there rather than starting over, and the fleet's runs from the same
// close.
func TestARecoveryMadeAloneKeepsItsRamp(t *testing.T) {
	srv := redistest.Start(t)
	opts := faultOptions("rampalone")
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour, RampDuration: 40 * time.Second, RampSteps: 40}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	_ = x.Open(bg) // confirmed, or (on a host slower than OpTimeout) pushed
	syncStore(t, sx)
	syncStore(t, sy)
	wantState(t, y, infuse.Open)
	srv.Kill()
	closed := time.Now()
	_ = x.Close(bg) // committed here; shared when Redis is back
	wantState(t, x, infuse.Closed)
	// 2.1s from when the close returned: the third step at least, however
	// long the close took on a busy host.
	time.Sleep(2100 * time.Millisecond)
	srv.Restart()
	eventually(t, "the close is shared", func() bool {
		if sx.Sync(bg) != nil || sy.Sync(bg) != nil {
			return false // Redis is not back yet
		}
		return y.State() == infuse.Closed && y.Metrics().Generation == x.Metrics().Generation
	})
	// 2.1 s into a ramp of 1 s steps: the third step, 3/40, at least.
	for name, m := range map[string]*infuse.Breaker{"the member that closed it": x, "the other": y} {
		if got := m.RampShare(); got < 0.075 || got > 0.075+float64(time.Since(closed)/time.Second)/40 {
			t.Fatalf("%s ramps at %v, %v after the close", name, got, time.Since(closed))
		}
	}
}

// A closed breaker's key expires IdleTTL after its last write; a member
// that binds after that, mid-ramp, still joins the ramp: the summary line
// that outlives the key says when it closed, and the listing shows it.
func TestAMemberBoundAfterTheKeyExpiredJoinsTheRamp(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "rampidle", IdleTTL: 300 * time.Millisecond}
	sx := newStore(t, srv, opts)
	cfg := infuse.Config{ResetTimeout: time.Hour, RampDuration: 40 * time.Second, RampSteps: 40}
	x, _ := newBreaker(t, sx, cfg)
	if err := x.Open(bg); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	if err := x.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	time.Sleep(time.Until(closed.Add(1100 * time.Millisecond)))
	if n := srv.Client(t).Exists(bg, sx.Key("db")).Val(); n != 0 {
		t.Fatalf("the idle key is still there after %v", time.Since(closed))
	}
	sz := newStore(t, srv, opts)
	z, _ := newBreaker(t, sz, cfg)
	if got, want := z.RampShare(), x.RampShare(); got != want || got < 2.0/40 {
		t.Fatalf("bound %v after the close: ramps at %v, the other member at %v", time.Since(closed), got, want)
	}
	list, err := sz.Breakers(bg)
	if err != nil || len(list) != 1 || !list[0].Idle || list[0].Ramp != 40*time.Second || list[0].RampShare() < 2.0/40 {
		t.Fatalf("listing %+v %v", list, err)
	}
}

// Releasing a forced open is a recovery: the fleet ramps, and the listing
// shows the ramp. An operator's close of a ramping breaker (a close from
// closed, which records no recovery) ends the ramp everywhere.
func TestAReleaseRampsAndACloseEndsTheRamp(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "rampops"}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{ResetTimeout: time.Hour, RampDuration: time.Hour, RampSteps: 4}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := x.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if err := x.Release(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	if x.RampShare() != 0.25 || y.RampShare() != 0.25 {
		t.Fatalf("after a forced open was released: shares %v and %v, want 0.25", x.RampShare(), y.RampShare())
	}
	eventually(t, "the listing shows the ramp", func() bool {
		list, err := sx.Breakers(bg)
		return err == nil && len(list) == 1 && list[0].Ramp == time.Hour && list[0].RampShare() == 0.25
	})
	if err := y.Close(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	if x.RampShare() != 1 || y.RampShare() != 1 {
		t.Fatalf("after an operator's close: shares %v and %v, want 1", x.RampShare(), y.RampShare())
	}
	list, err := sx.Breakers(bg)
	if err != nil || len(list) != 1 || list[0].ClosedSince != 0 || list[0].RampShare() != 1 {
		t.Fatalf("listing after the close: %+v %v", list, err)
	}
}

// Each member holds off for its own MaxHoldOpen at most, from when the
// hold was made, whoever made it: one member allowed a day does not hold
// the others, at the default five minutes, for a day. The listing says
// the hold is one, and since when.
func TestAHoldLastsEachMembersOwnMaxHoldOpen(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "holdcap"}
	stores := []*redisstore.Store{newStore(t, srv, opts), newStore(t, srv, opts), newStore(t, srv, opts)}
	long, _ := newBreaker(t, stores[0], infuse.Config{Name: "partner", MaxHoldOpen: 24 * time.Hour})
	m1, _ := newBreaker(t, stores[1], infuse.Config{Name: "partner"})
	m2, _ := newBreaker(t, stores[2], infuse.Config{Name: "partner"})
	for _, s := range stores {
		syncStore(t, s)
	}
	if left, err := long.HoldOpen(bg, 24*time.Hour); err != nil || left < 23*time.Hour {
		t.Fatalf("HoldOpen(24h) on the member allowed a day: %v %v", left, err)
	}
	for _, s := range stores {
		syncStore(t, s)
	}
	if got := long.RetryAfter(); got < 23*time.Hour {
		t.Fatalf("the member allowed a day holds off for %v", got)
	}
	for i, m := range []*infuse.Breaker{m1, m2} {
		if got := m.RetryAfter(); m.State() != infuse.Open || got > 5*time.Minute || got < 4*time.Minute {
			t.Fatalf("member %d, MaxHoldOpen 5m: %v, RetryAfter %v", i+1, m.State(), got)
		}
	}
	list, err := stores[1].Breakers(bg)
	if err != nil || len(list) != 1 || !list[0].Held || list[0].HeldSince > time.Minute || list[0].RetryAfter < 23*time.Hour {
		t.Fatalf("listing %+v %v", list, err)
	}
	if info, err := stores[1].Breaker(bg, "partner"); err != nil || !info.Held {
		t.Fatalf("Breaker: %+v %v", info, err)
	}
}

// An opening stored more than a day ahead (no MaxHoldOpen allows one) is
// garbage: replaced and reported, never obeyed.
func TestAnOpeningFarAheadIsGarbage(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv, redisstore.Options{Namespace: "ahead"})
	b, _ := newBreaker(t, s, infuse.Config{Name: "partner", FailMax: 1, ResetTimeout: 10 * time.Second})
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, s)
	c := srv.Client(t)
	now, _ := c.Time(bg).Result()
	c.HSet(bg, s.Key("partner"), "oa", now.Add(30*24*time.Hour).UnixMilli())
	other := newStore(t, srv, redisstore.Options{Namespace: "ahead"})
	o, _ := newBreaker(t, other, infuse.Config{Name: "partner", ResetTimeout: 10 * time.Second, MaxHoldOpen: 24 * time.Hour})
	// Whichever member meets the forgery first replaces and reports it:
	// the new member's bind, or, on a busy host, the first member's
	// refresh before that bind reaches Redis.
	eventually(t, "the member that met the forgery reports it", func() bool { return s.Errors()+other.Errors() > 0 })
	syncStore(t, other)
	wantState(t, o, infuse.Open)
	if got := o.RetryAfter(); got > 11*time.Second {
		t.Fatalf("a member bound after the forgery holds off for %v", got)
	}
	oa, _ := c.HGet(bg, s.Key("partner"), "oa").Int64()
	if now, _ := c.Time(bg).Result(); oa > now.UnixMilli() {
		t.Fatalf("the opening is still %v ahead", time.Duration(oa-now.UnixMilli())*time.Millisecond)
	}
	syncStore(t, s)
	if got := b.RetryAfter(); got > 10*time.Second {
		t.Fatalf("the first member holds off for %v", got)
	}
}
