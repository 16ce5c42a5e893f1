package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

type testCase struct {
	name string
	run  func(t *testing.T, s *suite)
}

var cases = []testCase{
	{"BindSeedsEachInitialState", func(t *testing.T, s *suite) {
		for _, st := range []storage.State{storage.Closed, storage.Open, storage.HalfOpen} {
			snap := s.bind(t, "seed-"+st.String(), st).Snapshot()
			wantState(t, "fresh binding", snap, st)
			if snap.Generation == 0 {
				t.Fatal("generation 0 is never a generation")
			}
			if st == storage.Open && snap.OpenedAt.IsZero() {
				t.Fatal("an Open seed has no OpenedAt")
			}
		}
	}},
	{"BindNeverOverwritesExistingState", func(t *testing.T, s *suite) {
		a := s.bind(t, "b", storage.Open)
		want := a.Snapshot()
		s.sync(t)
		for _, st := range []storage.State{storage.Closed, storage.HalfOpen, storage.Open} {
			got := s.bind(t, "b", st).Snapshot()
			// An overwrite would show in the state or the generation; the
			// opening, translated through each host's clock, may move by
			// what a late answer on a busy host adds.
			if got.State != want.State || got.Generation != want.Generation ||
				absDiff(got.OpenedAt, want.OpenedAt) > s.h.Slack+250*time.Millisecond {
				t.Fatalf("joining with %v: snapshot %+v, want the existing %+v", st, got, want)
			}
		}
	}},
	{"NamesAreIndependent", func(t *testing.T, s *suite) {
		a := s.bind(t, "a", storage.Closed)
		b := s.bind(t, "other", storage.Closed)
		s.transition(t, a, storage.Transition{To: storage.Open})
		s.sync(t)
		wantState(t, "other name", b.Snapshot(), storage.Closed)
		if len(b.observed()) != 0 {
			t.Fatalf("a change under one name reached another: %+v", b.observed())
		}
	}},
	{"TransitionCommitsFromCurrentGeneration", func(t *testing.T, s *suite) {
		m := s.bind(t, "t", storage.Closed)
		before := m.Snapshot()
		snap, changed := s.transition(t, m, storage.Transition{From: before.Generation, To: storage.Open, Failures: 3})
		if !changed || snap.State != storage.Open || snap.Generation <= before.Generation {
			t.Fatalf("Transition from the current generation: %+v changed=%v", snap, changed)
		}
		if snap.OpenedAt.IsZero() || snap.Failures != 3 {
			t.Fatalf("open snapshot %+v: want OpenedAt set and the tripping run of 3", snap)
		}
		if got := m.Snapshot(); got.Generation != snap.Generation || got.State != storage.Open {
			t.Fatalf("Snapshot after Transition = %+v, want %+v", got, snap)
		}
	}},
	{"AHoldSetsWhenTheOpenPeriodEnds", func(t *testing.T, s *suite) {
		// Transition.OpenUntil: every member computes the same end,
		// OpenedAt + Policy.OpenFor, whether the hold is longer or
		// shorter than the policy's period.
		for i, hold := range []time.Duration{s.pol().ResetTimeout * 3, s.pol().ResetTimeout / 3} {
			name := fmt.Sprintf("hold%d", i)
			a, b := s.bind(t, name, storage.Closed), s.bind(t, name, storage.Closed)
			until := s.clock().Now().Add(hold)
			snap, changed := s.transition(t, a, storage.Transition{From: a.Snapshot().Generation, To: storage.Open, OpenUntil: until})
			if !changed || snap.State != storage.Open {
				t.Fatalf("a hold of %v: %+v changed=%v", hold, snap, changed)
			}
			s.sync(t)
			p := s.pol()
			for j, m := range []*member{a, b} {
				got := m.Snapshot()
				if end := got.OpenedAt.Add(p.OpenFor(got)); got.State != storage.Open || absDiff(end, until) > s.h.Slack+50*time.Millisecond {
					t.Fatalf("member %d after a hold of %v: %+v ends at %v, want %v", j, hold, got, end, until)
				}
			}
		}
	}},
	{"ARecoverySaysWhenItClosed", func(t *testing.T, s *suite) {
		// Snapshot.ClosedAt: a close from open or half-open (a recovery,
		// which a ramp counts from) is stamped for every member; a close
		// from closed is not.
		a, b := s.bind(t, "rec", storage.Closed), s.bind(t, "rec", storage.Closed)
		s.transition(t, a, storage.Transition{From: storage.AnyGeneration, To: storage.Open})
		s.transition(t, a, storage.Transition{From: storage.AnyGeneration, To: storage.HalfOpen})
		at := s.clock().Now()
		snap, changed := s.transition(t, a, storage.Transition{From: a.Snapshot().Generation, To: storage.Closed})
		if !changed || snap.State != storage.Closed {
			t.Fatalf("closing from half-open: %+v changed=%v", snap, changed)
		}
		s.sync(t)
		for j, m := range []*member{a, b} {
			if got := m.Snapshot(); got.State != storage.Closed || absDiff(got.ClosedAt, at) > s.h.Slack+50*time.Millisecond {
				t.Fatalf("member %d after a recovery at %v: %+v", j, at, got)
			}
		}
		s.advance(time.Millisecond)
		snap, _ = s.transition(t, a, storage.Transition{From: storage.AnyGeneration, To: storage.Closed})
		s.sync(t)
		if !snap.ClosedAt.IsZero() || !b.Snapshot().ClosedAt.IsZero() {
			t.Fatalf("a close from closed: %+v, other member %+v; want no ClosedAt", snap, b.Snapshot())
		}
		if fresh := s.bind(t, "fresh", storage.Closed).Snapshot(); !fresh.ClosedAt.IsZero() {
			t.Fatalf("a new closed state: %+v", fresh)
		}
	}},
	{"TransitionFromStaleGenerationChangesNothing", func(t *testing.T, s *suite) {
		m := s.bind(t, "t", storage.Closed)
		old := m.Snapshot().Generation
		cur, _ := s.transition(t, m, storage.Transition{From: old, To: storage.Open})
		snap, changed := s.transition(t, m, storage.Transition{From: old, To: storage.Closed})
		if changed || snap.State != storage.Open || snap.Generation != cur.Generation {
			t.Fatalf("stale Transition: %+v changed=%v, want the current %+v unchanged", snap, changed, cur)
		}
	}},
	{"AnyGenerationAlwaysCommits", func(t *testing.T, s *suite) {
		m := s.bind(t, "t", storage.Closed)
		prev := m.Snapshot()
		for _, to := range []storage.State{storage.Open, storage.Open, storage.HalfOpen, storage.Closed, storage.Closed} {
			snap, changed := s.transition(t, m, storage.Transition{From: storage.AnyGeneration, To: to})
			if !changed || snap.State != to || snap.Generation <= prev.Generation {
				t.Fatalf("AnyGeneration to %v after %+v: %+v changed=%v", to, prev, snap, changed)
			}
			prev = snap
		}
	}},
	{"ConcurrentTransitionsHaveOneWinner", func(t *testing.T, s *suite) {
		const n = 8
		members := make([]*member, n)
		for i := range members {
			members[i] = s.bind(t, "race", storage.Closed)
		}
		gen := members[0].Snapshot().Generation
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for _, m := range members {
			wg.Go(func() {
				_, changed, err := m.Transition(bg, storage.Transition{From: gen, To: storage.Open})
				if err != nil {
					t.Error(err)
				}
				if changed {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d transitions from one generation committed, want 1", winners)
		}
	}},
	{"OthersObserveAChange", func(t *testing.T, s *suite) {
		a := s.bind(t, "o", storage.Closed)
		b := s.bind(t, "o", storage.Closed)
		snap, _ := s.transition(t, a, storage.Transition{To: storage.Open})
		s.sync(t)
		got, ok := b.lastSeen()
		if !ok || got.Generation != snap.Generation || got.State != storage.Open {
			t.Fatalf("the other binding observed %+v, want %+v", b.observed(), snap)
		}
		if b.Snapshot().State != storage.Open {
			t.Fatalf("the other binding's Snapshot = %+v", b.Snapshot())
		}
		for _, seen := range a.observed() {
			if seen.Generation == snap.Generation {
				t.Fatal("a binding observed its own change")
			}
		}
	}},
	{"ReportsOfAllMembersMergeAndTrip", func(t *testing.T, s *suite) {
		s.policy.FailMax = 4
		a := s.bind(t, "r", storage.Closed)
		b := s.bind(t, "r", storage.Closed)
		gen := a.Snapshot().Generation
		report(a, gen, storage.OutcomeFailure, 2)
		s.sync(t)
		report(b, gen, storage.OutcomeFailure, 1)
		s.sync(t)
		wantState(t, "three merged failures", a.Snapshot(), storage.Closed)
		if got := b.Snapshot().Failures; got != 3 {
			t.Fatalf("merged run = %d, want 3", got)
		}
		report(b, gen, storage.OutcomeFailure, 1)
		s.sync(t)
		for i, m := range []*member{a, b} {
			wantState(t, "after the fourth merged failure, member "+string(rune('a'+i)), m.Snapshot(), storage.Open)
		}
	}},
	{"ASuccessAnywhereResetsTheRun", func(t *testing.T, s *suite) {
		s.policy.FailMax = 3
		a := s.bind(t, "r", storage.Closed)
		b := s.bind(t, "r", storage.Closed)
		gen := a.Snapshot().Generation
		report(a, gen, storage.OutcomeFailure, 2)
		s.sync(t)
		report(b, gen, storage.OutcomeSuccess, 1)
		s.sync(t)
		report(a, gen, storage.OutcomeFailure, 2)
		s.sync(t)
		wantState(t, "two failures after a success", a.Snapshot(), storage.Closed)
		report(b, gen, storage.OutcomeFailure, 1)
		s.sync(t)
		wantState(t, "three failures after a success", b.Snapshot(), storage.Open)
	}},
	{"ReportsOfAnotherGenerationAreIgnored", func(t *testing.T, s *suite) {
		s.policy.FailMax = 2
		m := s.bind(t, "r", storage.Closed)
		old := m.Snapshot().Generation
		cur, _ := s.transition(t, m, storage.Transition{To: storage.Closed})
		report(m, old, storage.OutcomeFailure, 5)
		s.sync(t)
		if got := m.Snapshot(); got.State != storage.Closed || got.Generation != cur.Generation || got.Failures != 0 {
			t.Fatalf("stale reports changed the state: %+v", got)
		}
	}},
	{"NoPermitWhileClosed", func(t *testing.T, s *suite) {
		m := s.bind(t, "p", storage.Closed)
		if _, snap, ok := m.Acquire(bg); ok || snap.State != storage.Closed {
			t.Fatalf("Acquire while closed: ok=%v %+v", ok, snap)
		}
	}},
	{"OpenGrantsTheFirstPermitOnlyAfterResetTimeout", func(t *testing.T, s *suite) {
		a := s.bind(t, "p", storage.Closed)
		b := s.bind(t, "p", storage.Closed)
		opened, _ := s.transition(t, a, storage.Transition{To: storage.Open})
		s.sync(t)
		if _, snap, ok := b.Acquire(bg); ok || snap.State != storage.Open {
			t.Fatalf("Acquire before the period ended: ok=%v %+v", ok, snap)
		}
		s.advance(s.h.ResetTimeout)
		p, snap, ok := b.Acquire(bg)
		if !ok || snap.State != storage.HalfOpen || snap.Generation <= opened.Generation || p.Generation != snap.Generation {
			t.Fatalf("Acquire after the period: ok=%v permit %+v snapshot %+v", ok, p, snap)
		}
		if _, _, ok := a.Acquire(bg); ok {
			t.Fatal("a second permit with HalfOpenMaxCalls 1")
		}
		s.sync(t)
		wantState(t, "the other member", a.Snapshot(), storage.HalfOpen)
	}},
	{"PermitsAreCountedAcrossMembers", func(t *testing.T, s *suite) {
		s.policy.HalfOpenMaxCalls = 2
		members := []*member{s.bind(t, "p", storage.HalfOpen), s.bind(t, "p", storage.HalfOpen), s.bind(t, "p", storage.HalfOpen)}
		granted := 0
		var held []storage.Permit
		for range 2 {
			for _, m := range members {
				if p, _, ok := m.Acquire(bg); ok {
					granted++
					held = append(held, p)
				}
			}
		}
		if granted != 2 {
			t.Fatalf("%d permits granted across members, want HalfOpenMaxCalls = 2", granted)
		}
		if held[0] == held[1] {
			t.Fatalf("two permits are equal: %+v", held[0])
		}
		members[0].Release(held[0])
		s.sync(t)
		if _, _, ok := members[2].Acquire(bg); !ok {
			t.Fatal("a released permit was not granted again")
		}
	}},
	{"SuccessThresholdSuccessesClose", func(t *testing.T, s *suite) {
		s.policy.SuccessThreshold = 2
		s.policy.HalfOpenMaxCalls = 2
		a := s.bind(t, "s", storage.HalfOpen)
		b := s.bind(t, "s", storage.HalfOpen)
		pa, _, _ := a.Acquire(bg)
		pb, _, _ := b.Acquire(bg)
		snap, changed := a.Settle(bg, pa, storage.OutcomeSuccess)
		if changed || snap.State != storage.HalfOpen || snap.Successes != 1 {
			t.Fatalf("first success: %+v changed=%v", snap, changed)
		}
		snap, changed = b.Settle(bg, pb, storage.OutcomeSuccess)
		if !changed || snap.State != storage.Closed {
			t.Fatalf("second success: %+v changed=%v, want closed by this call", snap, changed)
		}
		if snap.Failures != 0 || snap.Successes != 0 || snap.Trials != 0 {
			t.Fatalf("closed with counts left: %+v", snap)
		}
	}},
	{"FailedTrialReopens", func(t *testing.T, s *suite) {
		m := s.bind(t, "f", storage.HalfOpen)
		p, before, _ := m.Acquire(bg)
		snap, changed := m.Settle(bg, p, storage.OutcomeFailure)
		if !changed || snap.State != storage.Open || snap.Generation <= before.Generation || snap.OpenedAt.IsZero() {
			t.Fatalf("failed trial: %+v changed=%v", snap, changed)
		}
		if _, _, ok := m.Acquire(bg); ok {
			t.Fatal("a permit right after a failed trial re-opened the breaker")
		}
	}},
	{"PermitsOfAnEarlierGenerationChangeNothing", func(t *testing.T, s *suite) {
		m := s.bind(t, "f", storage.HalfOpen)
		p, _, _ := m.Acquire(bg)
		closed, _ := s.transition(t, m, storage.Transition{To: storage.Closed})
		snap, changed := m.Settle(bg, p, storage.OutcomeFailure)
		if changed || snap.State != storage.Closed || snap.Generation != closed.Generation {
			t.Fatalf("stale permit settled: %+v changed=%v", snap, changed)
		}
		m.Release(p)
		wantState(t, "after releasing a stale permit", m.Snapshot(), storage.Closed)
	}},
	{"APermitSettlesOnce", func(t *testing.T, s *suite) {
		s.policy.SuccessThreshold = 2
		m := s.bind(t, "once", storage.HalfOpen)
		p, _, _ := m.Acquire(bg)
		m.Settle(bg, p, storage.OutcomeSuccess)
		snap, changed := m.Settle(bg, p, storage.OutcomeSuccess)
		if changed || snap.State != storage.HalfOpen || snap.Successes != 1 {
			t.Fatalf("settling a permit twice counted twice: %+v changed=%v", snap, changed)
		}
	}},
	{"ForcedOpenHoldsFleetWideUntilReleased", func(t *testing.T, s *suite) {
		a, b := s.bind(t, "forced", storage.Closed), s.bind(t, "forced", storage.Closed)
		snap, err := a.SetMode(bg, storage.ModeForcedOpen)
		if err != nil || snap.State != storage.Open || snap.Mode != storage.ModeForcedOpen {
			t.Fatalf("SetMode(forced open): %+v %v", snap, err)
		}
		s.sync(t)
		if got := b.Snapshot(); got.State != storage.Open || got.Mode != storage.ModeForcedOpen {
			t.Fatalf("the other member: %+v", got)
		}
		s.advance(s.pol().ResetTimeout + s.h.Slack + time.Millisecond)
		if _, _, ok := b.Acquire(bg); ok {
			t.Fatal("a trial permit while forced open")
		}
		if _, changed := s.transition(t, b, storage.Transition{From: b.Snapshot().Generation, To: storage.Closed}); changed {
			t.Fatal("an automatic transition ended a forced mode")
		}
		snap, err = b.SetMode(bg, storage.ModeNormal)
		if err != nil || snap.State != storage.Closed || snap.Mode != storage.ModeNormal {
			t.Fatalf("release: %+v %v", snap, err)
		}
		s.sync(t)
		if got := a.Snapshot(); got.State != storage.Closed || got.Mode != storage.ModeNormal {
			t.Fatalf("the other member after the release: %+v", got)
		}
	}},
	{"DisabledCountsAndNeverTrips", func(t *testing.T, s *suite) {
		m := s.bind(t, "disabled", storage.Closed)
		snap, err := m.SetMode(bg, storage.ModeDisabled)
		if err != nil || snap.State != storage.Closed || snap.Mode != storage.ModeDisabled {
			t.Fatalf("SetMode(disabled): %+v %v", snap, err)
		}
		report(m, snap.Generation, storage.OutcomeFailure, 2*s.pol().FailMax)
		s.sync(t)
		if got := m.Snapshot(); got.State != storage.Closed || got.Mode != storage.ModeDisabled {
			t.Fatalf("failures tripped a disabled breaker: %+v", got)
		}
	}},
	{"AReleasedPermitIsFreeForAnother", func(t *testing.T, s *suite) {
		a, b := s.bind(t, "rel", storage.HalfOpen), s.bind(t, "rel", storage.HalfOpen)
		p, _, ok := a.Acquire(bg)
		if !ok {
			t.Fatal("no first permit")
		}
		if _, _, ok := b.Acquire(bg); ok {
			t.Fatal("a second permit with HalfOpenMaxCalls 1")
		}
		a.Release(p)
		s.sync(t)
		if _, snap, ok := b.Acquire(bg); !ok {
			t.Fatalf("the released permit was not free: %+v", snap)
		}
	}},
	{"TripsGrowWhileTrialsFailAndEndOnClose", func(t *testing.T, s *suite) {
		m := s.bind(t, "trips", storage.Closed)
		snap, _ := s.transition(t, m, storage.Transition{From: m.Snapshot().Generation, To: storage.Open, Failures: s.pol().FailMax})
		if snap.Trips != 1 {
			t.Fatalf("first trip: Trips %d", snap.Trips)
		}
		for want := 2; want <= 3; want++ {
			s.advance(s.pol().OpenFor(snap) + s.h.Slack + time.Millisecond)
			p, _, ok := m.Acquire(bg)
			if !ok {
				t.Fatalf("no trial after the open period (trip %d)", want-1)
			}
			snap, _ = m.Settle(bg, p, storage.OutcomeFailure)
			if snap.State != storage.Open || snap.Trips != want {
				t.Fatalf("failed trial %d: %+v", want-1, snap)
			}
		}
		closed, _ := s.transition(t, m, storage.Transition{To: storage.Closed})
		if closed.Trips != 0 {
			t.Fatalf("Trips %d after closing", closed.Trips)
		}
	}},
	{"AnExpiredTrialDoesWhatTrialExpirySays", func(t *testing.T, s *suite) {
		for _, c := range []struct {
			expiry storage.TrialExpiry
			want   storage.State
		}{{storage.ExpiryOpens, storage.Open}, {storage.ExpiryCloses, storage.Closed}, {storage.ExpiryFrees, storage.HalfOpen}} {
			// A suite of its own: the bindings' background work reads
			// their policy, which must not change under them.
			sub := &suite{h: s.h, store: s.store, policy: storage.Policy{HalfOpenMaxWait: s.pol().ResetTimeout, TrialExpiry: c.expiry}}
			name := "expiry" + c.want.String()
			a, b := sub.bind(t, name, storage.HalfOpen), sub.bind(t, name, storage.HalfOpen)
			if _, _, ok := a.Acquire(bg); !ok {
				t.Fatalf("%v: no first permit", c.expiry)
			}
			sub.advance(sub.pol().HalfOpenMaxWait + s.h.Slack + 10*time.Millisecond)
			_, snap, ok := b.Acquire(bg)
			if snap.State != c.want || ok != (c.want == storage.HalfOpen) {
				t.Fatalf("%v: after the trial expired: %+v granted=%v", c.expiry, snap, ok)
			}
		}
	}},
	{"AHangingTrialHoldsNoPermitInALaterHalfOpen", func(t *testing.T, s *suite) {
		// A trial left hanging by a manual close belongs to its generation:
		// it neither holds a permit of a later half-open period nor expires
		// into it (ARCHITECTURE.md, "Generations").
		s.policy = storage.Policy{HalfOpenMaxWait: 4 * s.pol().ResetTimeout, TrialExpiry: storage.ExpiryOpens}
		a, b := s.bind(t, "hang", storage.HalfOpen), s.bind(t, "hang", storage.HalfOpen)
		if _, _, ok := a.Acquire(bg); !ok {
			t.Fatal("no first permit")
		}
		s.transition(t, a, storage.Transition{To: storage.Closed})
		open, _ := s.transition(t, a, storage.Transition{To: storage.Open, Failures: s.pol().FailMax})
		s.sync(t)
		s.advance(s.pol().OpenFor(open) + s.h.Slack + time.Millisecond)
		p, snap, ok := b.Acquire(bg)
		if !ok || snap.State != storage.HalfOpen {
			t.Fatalf("the later half-open period's first permit: %+v granted=%v (the hanging trial still held one)", snap, ok)
		}
		// Past the hanging trial's HalfOpenMaxWait (counted from its grant)
		// and before the new trial's, the new trial still holds the only
		// permit and nothing expired.
		s.advance(3*s.pol().ResetTimeout + s.h.Slack + time.Millisecond)
		if _, snap, ok := a.Acquire(bg); ok || snap.State != storage.HalfOpen || snap.Generation != p.Generation {
			t.Fatalf("after the hanging trial's wait: %+v granted=%v, want half-open generation %d, no permit", snap, ok, p.Generation)
		}
		if snap, _ := b.Settle(bg, p, storage.OutcomeSuccess); snap.State != storage.Closed {
			t.Fatalf("the trial's success: %+v", snap)
		}
	}},
	{"AJoiningMemberSeesTheOpenPeriodLeft", func(t *testing.T, s *suite) {
		a := s.bind(t, "join", storage.Closed)
		open, _ := s.transition(t, a, storage.Transition{From: a.Snapshot().Generation, To: storage.Open, Failures: s.pol().FailMax})
		s.advance(s.pol().ResetTimeout / 2)
		b := s.bind(t, "join", storage.Closed)
		got := b.Snapshot()
		if got.State != storage.Open || got.Generation != open.Generation {
			t.Fatalf("the joining member: %+v, want the open state of generation %d", got, open.Generation)
		}
		if d := absDiff(got.OpenedAt, open.OpenedAt); d > s.h.Slack {
			t.Fatalf("the joining member has the breaker opened at %v, %v from when it opened (%v)", got.OpenedAt, d, open.OpenedAt)
		}
	}},
	{"AClosedBindingIsToldNothingMore", func(t *testing.T, s *suite) {
		a, b, c := s.bind(t, "close", storage.Closed), s.bind(t, "close", storage.Closed), s.bind(t, "close", storage.Closed)
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		seen := len(b.observed())
		open, _ := s.transition(t, a, storage.Transition{From: a.Snapshot().Generation, To: storage.Open, Failures: s.pol().FailMax})
		s.sync(t)
		if got, ok := c.lastSeen(); !ok || got.Generation != open.Generation {
			t.Fatalf("a member still bound observed %+v, want generation %d", got, open.Generation)
		}
		if n := len(b.observed()); n != seen {
			t.Fatalf("the closed binding observed %d more snapshots", n-seen)
		}
	}},
	{"DoneContextCommitsNothing", func(t *testing.T, s *suite) {
		m := s.bind(t, "ctx", storage.Closed)
		ctx, cancel := context.WithCancel(bg)
		cancel()
		snap, changed, err := m.Transition(ctx, storage.Transition{To: storage.Open})
		if changed || err == nil || snap.State != storage.Closed {
			t.Fatalf("Transition on a done ctx: %+v changed=%v err=%v", snap, changed, err)
		}
	}},
}
