package infuse_test

// Who made a transition (Event.Remote), and counters the answers to a
// breaker's own calls bring, when its calls race one another.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

// pausing wraps a Storage; its bindings' Report holds its answer while
// hold says so, after the store has taken the outcome.
type pausing struct {
	infuse.Storage
	hold func(gen uint64, o storage.Outcome, s storage.Snapshot, tripped bool) <-chan struct{}
}

func (p *pausing) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	in, err := p.Storage.Bind(cfg)
	return &pausingBinding{Binding: in, p: p}, err
}

type pausingBinding struct {
	storage.Binding
	p *pausing
}

func (b *pausingBinding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	s, tripped := b.Binding.Report(gen, o)
	if ch := b.p.hold(gen, o, s, tripped); ch != nil {
		<-ch
	}
	return s, tripped
}

// A call whose failure trips the breaker is slow to hear so; meanwhile a
// call of the same breaker, admitted before the trip, fails and learns of
// the trip from its own report's answer. The trip is still the breaker's
// own (it was reported as another breaker's, and no one made it).
func TestATripASiblingCallLearnsOfFirstIsStillOwn(t *testing.T) {
	release, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store := &pausing{Storage: infuse.NewMemoryStorage(), hold: func(_ uint64, _ storage.Outcome, _ storage.Snapshot, tripped bool) <-chan struct{} {
		if tripped {
			var ch <-chan struct{}
			once.Do(func() { ch = release; close(held) })
			return ch
		}
		return nil
	}}
	var rec infusetest.Recorder
	b, _ := infuse.New(infuse.Config{Name: "sib", Storage: store, Clock: infusetest.NewClock(), FailMax: 2,
		ResetTimeout: time.Hour, Listeners: []infuse.Listener{&rec}})
	_ = b.Call(bg, boom) // 1 of 2
	admitted := make(chan struct{})
	fail := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the sibling: admitted now, fails later
		_ = b.Call(bg, func(context.Context) error {
			close(admitted)
			<-fail
			return errBoom
		})
	})
	<-admitted
	tripped := make(chan error, 1)
	go func() { tripped <- b.Call(bg, boom) }() // trips; its answer is held
	<-held
	close(fail) // the sibling fails while the tripping answer is held
	wg.Wait()
	close(release)
	if err := <-tripped; !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	if got := rec.Transitions(); got != "closed->open" {
		t.Fatalf("transitions %q, want closed->open (made here)", got)
	}
}

// A trial held past HalfOpenMaxWait opens the breaker again when another
// breaker asks for a permit: that breaker made the transition.
func TestAnExpiryTheAcquiringBreakerMakesIsItsOwn(t *testing.T) {
	store := infuse.NewMemoryStorage()
	clock := infusetest.NewClock()
	var ra, rb infusetest.Recorder
	cfg := infuse.Config{Name: "exp", Storage: store, Clock: clock, FailMax: 1, ResetTimeout: time.Second,
		HalfOpenMaxWait: time.Second, TrialExpiry: infuse.ExpiryOpens}
	cfg.Listeners = []infuse.Listener{&ra}
	a, _ := infuse.New(cfg)
	cfg.Listeners = []infuse.Listener{&rb}
	b, _ := infuse.New(cfg)
	_ = a.Call(bg, boom)
	clock.Advance(time.Second)
	done, err := a.Allow(bg) // a holds the trial...
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second) // ...past HalfOpenMaxWait
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("b: %v", err)
	}
	done(nil)
	if got, want := ra.Transitions(), "closed->open,open->half-open,half-open->open(remote)"; got != want {
		t.Errorf("a: %s, want %s", got, want)
	}
	if got, want := rb.Transitions(), "closed->open(remote),open->half-open(remote),half-open->open"; got != want {
		t.Errorf("b: %s, want %s", got, want)
	}
}

// The answer to an earlier failure's report, held until a later failure
// has been counted, does not lower the count.
func TestALateAnswerDoesNotLowerTheCount(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	reports := 0
	store := &pausing{Storage: infuse.NewMemoryStorage(), hold: func(_ uint64, o storage.Outcome, _ storage.Snapshot, _ bool) <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if o == storage.OutcomeFailure {
			reports++
			if reports == 2 {
				return release
			}
		}
		return nil
	}}
	b, _ := infuse.New(infuse.Config{Name: "late", Storage: store, Clock: infusetest.NewClock(), FailMax: 5, ResetTimeout: time.Hour})
	_ = b.Call(bg, boom) // 1
	second := make(chan struct{})
	go func() { _ = b.Call(bg, boom); close(second) }() // 2: its answer (2) is held
	for {
		mu.Lock()
		n := reports
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_ = b.Call(bg, boom) // 3
	close(release)
	<-second
	if got := b.Counts().ConsecutiveFailures; got != 3 {
		t.Fatalf("%d consecutive failures, want 3", got)
	}
}
