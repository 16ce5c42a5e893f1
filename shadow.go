package infuse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// A shadow runs a candidate configuration beside a live breaker, on the
// live breaker's outcomes: the candidate never rejects a call, and reports
// what it would have done — the transitions it would have made and the
// calls it would have rejected — while the live breaker goes on
// protecting. It answers "what would FailMax 3 have done to our traffic?"
// before a rollout.
//
// The candidate is a Breaker of its own, named after the live one with
// ShadowSuffix, on the live breaker's Storage and Clock: with a shared
// store (redisstore) its state is the fleet's, as the live breaker's is.
// It sees each call of the live breaker that ran, when it ends: a call it
// would have rejected is counted (Shadow.WouldHaveRejected) and reported;
// any other is counted by the candidate as the live breaker counted it (a
// success or a failure), taking as long as the live call took: with a
// SlowCallDuration the candidate judges slow calls too (the live breaker
// then times its calls).
//
// While a shadow runs, the live breaker's calls take its listener path.

// ShadowSuffix ends the name of a shadow's candidate breaker.
const ShadowSuffix = storage.ShadowSuffix

// Shadow is a running shadow (see StartShadow).
type Shadow struct {
	live, cand  *Breaker
	candidate   Candidate
	wouldReject atomic.Uint64
	timesCalls  bool // the candidate has a SlowCallDuration: the live breaker times its calls
	fromStore   bool // started by the store (BindConfig.Shadow), which may stop it
	feedMu      sync.Mutex
	removeFeed  func() // nil until the feed is added
	stopped     atomic.Bool
}

// Breaker is the candidate breaker: read its State, Metrics and Totals,
// add listeners to it. Calling through it makes it count those calls too.
func (s *Shadow) Breaker() *Breaker { return s.cand }

// Candidate is the configuration the shadow tries.
func (s *Shadow) Candidate() Candidate { return s.candidate }

// WouldHaveRejected is how many of the live breaker's calls the candidate
// would have rejected since the shadow started.
func (s *Shadow) WouldHaveRejected() uint64 { return s.wouldReject.Load() }

// shadowFailure carries a live failure to the candidate, which must count
// it as one whatever the error (a context.Canceled the live breaker
// counted would otherwise be the candidate's ignored call).
type shadowFailure struct{ err error }

// It does not unwrap: the candidate must not see a context.Canceled in it.
func (e shadowFailure) Error() string { return "infuse: shadowed failure: " + e.err.Error() }

// OnEvent feeds the candidate the live breaker's outcomes.
func (s *Shadow) OnEvent(ev Event) {
	if s.stopped.Load() {
		return
	}
	var outcome error
	if ev.Kind == EventFailure {
		outcome = shadowFailure{ev.Err}
	}
	if err := s.cand.shadowCall(outcome, ev.Latency); err != nil {
		s.wouldReject.Add(1)
		var oe *OpenError
		if errors.As(err, &oe) {
			s.live.emitShadow(Event{Kind: EventRejected, Name: s.cand.name, Err: err})
		}
	}
}

// shadowCall counts on a shadow's candidate b a live call that ran for
// took and ended with outcome (nil: a success), as Allow and its done
// would, but timed by the live call; the error is b's rejection of it.
func (b *Breaker) shadowCall(outcome error, took time.Duration) error {
	e := b.cur.Load()
	if e.state == Open {
		if err := b.rejectFast(e); err != nil {
			return err
		}
	}
	t, err := b.admitSlow(context.Background(), e)
	if err != nil {
		return err
	}
	if !t.start.IsZero() {
		t.start = b.clock.Now().Add(-took)
	}
	_ = b.finish(unseenContext{}, t, outcome)
	return nil
}

// Wants makes the feed an EventFilter: outcomes only.
func (s *Shadow) Wants(k EventKind) bool { return k == EventSuccess || k == EventFailure }

// StartShadow starts a shadow of b trying candidate c (replacing any shadow
// running), with listeners for the candidate's own events. The live
// breaker's listeners also see the candidate's state changes and the calls
// it would have rejected, as events with Shadow set and the candidate's
// Name. It fails for a candidate a breaker cannot take, or when the
// Storage refuses to bind the candidate.
func (b *Breaker) StartShadow(c Candidate, listeners ...Listener) (*Shadow, error) {
	return b.startShadow(c, false, listeners)
}

func (b *Breaker) startShadow(c Candidate, fromStore bool, listeners []Listener) (*Shadow, error) {
	if b.candidate {
		return nil, errors.New("infuse: a shadow's candidate has no shadow of its own")
	}
	if b.detached.Load() {
		return nil, errors.New("infuse: the breaker is detached from its storage")
	}
	if err := c.ValidateCandidate(); err != nil {
		return nil, err
	}
	cfg := Config{Name: b.name + ShadowSuffix}.WithSettings(c)
	cfg.Clock = b.clock
	if x := b.more.Load(); x != nil {
		cfg.Storage = x.storage // nil: a breaker on its own memory; the candidate gets its own too
	}
	if b.realClock {
		cfg.Clock = nil
	}
	s := &Shadow{live: b, candidate: c, fromStore: fromStore, timesCalls: c.SlowCallDuration > 0}
	cfg.Listeners = append(append([]Listener(nil), listeners...), ListenFor(ListenerFunc(func(ev Event) {
		b.emitShadow(Event{Kind: EventStateChange, Name: ev.Name, Time: ev.Time, From: ev.From, To: ev.To,
			Generation: ev.Generation, Remote: ev.Remote})
	}), EventStateChange))
	cand, err := newBreaker(cfg, true)
	if err != nil {
		return nil, err
	}
	s.cand = cand
	if !fromStore && cand.State() != Closed {
		// A candidate of this name ran before: start this one afresh. (A
		// fleet's shadow is reset by the operator who starts it.)
		_ = cand.Close(context.Background())
	}
	if old := b.extra().shadow.Swap(s); old != nil {
		old.stop() // before the new feed: no call counts twice
	}
	remove := b.AddListener(s)
	s.feedMu.Lock()
	s.removeFeed = remove
	stopped := s.stopped.Load()
	s.feedMu.Unlock()
	if stopped {
		remove() // stopped (replaced, or StopShadow) while starting
	}
	if b.detached.Load() {
		b.StopShadow() // Detach came meanwhile
		return nil, errors.New("infuse: the breaker is detached from its storage")
	}
	return s, nil
}

// StopShadow stops b's shadow, if one runs: its candidate is told nothing
// more and lets go of its Storage.
func (b *Breaker) StopShadow() {
	x := b.more.Load()
	if x == nil {
		return
	}
	if s := x.shadow.Swap(nil); s != nil {
		s.stop()
	}
}

// Shadow returns the shadow running beside b, or nil.
func (b *Breaker) Shadow() *Shadow {
	if x := b.more.Load(); x != nil {
		return x.shadow.Load()
	}
	return nil
}

func (s *Shadow) stop() {
	if s.stopped.Swap(true) {
		return
	}
	s.feedMu.Lock()
	remove := s.removeFeed
	s.feedMu.Unlock()
	if remove != nil {
		remove()
	}
	_ = s.cand.Detach()
}

// emitShadow passes a shadow candidate's event to b's listeners.
func (b *Breaker) emitShadow(ev Event) {
	if hs := b.hooks.Load(); hs != nil {
		ev.Shadow = true
		hs.emit(ev)
	}
}

// storeShadow is BindConfig.Shadow: a store that carries candidates starts
// (c not nil) or stops (nil) the shadow it asks for. A shadow the program
// started itself is left alone unless the store starts another.
func (b *Breaker) storeShadow(c *Candidate) {
	x := b.extra()
	cur := x.shadow.Load()
	if c == nil {
		if cur != nil && cur.fromStore {
			if x.shadow.CompareAndSwap(cur, nil) {
				cur.stop()
			}
		}
		return
	}
	if cur != nil && cur.candidate == *c {
		return
	}
	if _, err := b.startShadow(*c, true, nil); err != nil {
		b.storeError(fmt.Errorf("infuse: starting the store's shadow of %q: %w", b.name, err))
	}
}
