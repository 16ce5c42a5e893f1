package infuse_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

// Two breakers with one Name on one MemoryStorage behave as two members of
// a fleet: this is the in-process picture of what redisstore does across
// processes.
func TestBreakersSharingAStoreShareState(t *testing.T) {
	store := infuse.NewMemoryStorage()
	clock := infusetest.NewClock()
	var ra, rb infusetest.Recorder
	cfg := infuse.Config{Name: "shared", Storage: store, Clock: clock, FailMax: 4, ResetTimeout: time.Second}
	cfg.Listeners = []infuse.Listener{&ra}
	a, _ := infuse.New(cfg)
	cfg.Listeners = []infuse.Listener{&rb}
	b, _ := infuse.New(cfg)

	_ = a.Call(bg, boom)
	_ = a.Call(bg, boom)
	_ = b.Call(bg, boom)
	wantCounts(t, b, 3, 0) // the merged run
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("fourth merged failure: %v, want ErrTripped", err)
	}
	wantState(t, a, infuse.Open)
	if ev := ra.Events()[len(ra.Events())-1]; ev.Kind != infuse.EventStateChange || !ev.Remote {
		t.Fatalf("a's last event %+v, want a remote state change", ev)
	}
	if ev := rb.Events()[len(rb.Events())-1]; ev.Kind != infuse.EventStateChange || ev.Remote {
		t.Fatalf("b's last event %+v, want a local state change", ev)
	}

	// One trial for the pair, not one each.
	clock.Advance(time.Second)
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- a.Call(bg, func(context.Context) error { <-release; return nil }) }()
	waitFor(t, func() bool { return b.State() == infuse.HalfOpen })
	if err := b.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("second member's call during the trial: %v, want rejected", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wantState(t, a, infuse.Closed)
	wantState(t, b, infuse.Closed)
	if got := rb.Transitions(); !strings.HasSuffix(got, "open->half-open(remote),half-open->closed(remote)") {
		t.Fatalf("b's transitions %q", got)
	}
}

func TestSuccessInOneMemberResetsTheMergedRun(t *testing.T) {
	store := infuse.NewMemoryStorage()
	clock := infusetest.NewClock()
	cfg := infuse.Config{Name: "shared", Storage: store, Clock: clock, FailMax: 3}
	a, _ := infuse.New(cfg)
	b, _ := infuse.New(cfg)
	_ = a.Call(bg, boom)
	_ = a.Call(bg, boom)
	_ = b.Call(bg, succeed) // b has no failures of its own, but the pair has two
	wantCounts(t, a, 0, 0)
	_ = a.Call(bg, boom)
	_ = a.Call(bg, boom)
	wantState(t, a, infuse.Closed)
}

func TestZeroMemoryStorageIsReady(t *testing.T) {
	var store infuse.MemoryStorage
	b, err := infuse.New(infuse.Config{Name: "zero", Storage: &store, FailMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	trip(t, b)
	if _, err := store.Bind(storage.BindConfig{}); err == nil {
		t.Fatal("Bind accepted an empty name")
	}
	if _, err := store.Bind(storage.BindConfig{Name: "x", InitialState: 7}); err == nil {
		t.Fatal("Bind accepted an invalid state")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg   infuse.Config
		field string
	}{
		{infuse.Config{}, ""},
		{infuse.Config{Name: "x", FailMax: -1}, "FailMax"},
		{infuse.Config{Name: "x", FailMax: 1 << 40}, "FailMax"},
		{infuse.Config{Name: "x", ResetTimeout: -time.Second}, "ResetTimeout"},
		{infuse.Config{Name: "x", SuccessThreshold: -2}, "SuccessThreshold"},
		{infuse.Config{Name: "x", HalfOpenMaxCalls: -3}, "HalfOpenMaxCalls"},
		{infuse.Config{Name: "x", InitialState: 3}, "InitialState"},
		{infuse.Config{Name: "x", InitialState: -1}, "InitialState"},
		{infuse.Config{Name: "x", Listeners: []infuse.Listener{nil}}, "Listeners"},
		{infuse.Config{Name: "x", Exclude: []error{nil}}, "Exclude"},
	} {
		b, err := infuse.New(c.cfg)
		if err == nil || b != nil {
			t.Fatalf("New(%+v) = %v, %v; want an error", c.cfg, b, err)
		}
		var ce *infuse.ConfigError
		if c.field == "" {
			if !strings.Contains(err.Error(), "Name is required") {
				t.Fatalf("empty name: %v", err)
			}
			continue
		}
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("New with bad %s: %v", c.field, err)
		}
	}
}

// failingStorage is a Storage whose bindings report a store error on every
// transition, as a shared store does when its server is down.
type failingStorage struct{ infuse.MemoryStorage }

var errStoreDown = errors.New("store down")

func (f *failingStorage) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	b, err := f.MemoryStorage.Bind(cfg)
	return &failingBinding{Binding: b, onError: cfg.OnError}, err
}

type failingBinding struct {
	storage.Binding
	onError func(error)
}

func (b *failingBinding) Transition(ctx context.Context, tr storage.Transition) (storage.Snapshot, bool, error) {
	s, changed, _ := b.Binding.Transition(ctx, tr)
	b.onError(errStoreDown)
	return s, changed, errStoreDown
}

func TestStoreErrorsReachListenersAndManualCalls(t *testing.T) {
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Storage: &failingStorage{}, FailMax: 1, Listeners: []infuse.Listener{&r}})
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("err = %v, want ErrTripped", err)
	}
	if err := b.Close(bg); !errors.Is(err, errStoreDown) {
		t.Fatalf("Close = %v, want the store error", err)
	}
	wantState(t, b, infuse.Closed) // applied locally all the same
	if r.Count(infuse.EventStoreError) != 1 {
		t.Fatalf("want one store-error event: %q", r.Trace())
	}
}

type bindRefused struct{}

func (bindRefused) Bind(storage.BindConfig) (storage.Binding, error) { return nil, errStoreDown }

func TestNewReportsABindFailure(t *testing.T) {
	if _, err := infuse.New(infuse.Config{Name: "x", Storage: bindRefused{}}); !errors.Is(err, errStoreDown) {
		t.Fatalf("New = %v, want the Bind error", err)
	}
}

type nilBinder struct{}

func (nilBinder) Bind(storage.BindConfig) (storage.Binding, error) { return nil, nil }

func TestNewRejectsAStorageThatBindsNothing(t *testing.T) {
	if _, err := infuse.New(infuse.Config{Name: "x", Storage: nilBinder{}}); err == nil {
		t.Fatal("New accepted a nil binding")
	}
}

// slowStorage is a MemoryStorage whose transitions take a second of
// virtual time.
type slowStorage struct {
	infuse.MemoryStorage
	clock *infusetest.Clock
}

func (s *slowStorage) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	b, err := s.MemoryStorage.Bind(cfg)
	return &slowBinding{Binding: b, clock: s.clock}, err
}

type slowBinding struct {
	storage.Binding
	clock *infusetest.Clock
}

func (b *slowBinding) Transition(ctx context.Context, tr storage.Transition) (storage.Snapshot, bool, error) {
	b.clock.Advance(time.Second)
	return b.Binding.Transition(ctx, tr)
}

func TestStoreCallsReportTheirLatency(t *testing.T) {
	clock := infusetest.NewClock()
	var r infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Clock: clock, Storage: &slowStorage{clock: clock}, Listeners: []infuse.Listener{&r}})
	_ = b.Open(bg)
	for _, e := range r.Events() {
		if e.Kind == infuse.EventStoreCall {
			if e.Latency != time.Second {
				t.Fatalf("latency %v, want 1s", e.Latency)
			}
			return
		}
	}
	t.Fatal("no store-call event")
}

// Each transition is reported as made (Event.Remote false) by the one
// breaker whose call made it, and as observed by the other (the memory
// store tells the other at once; redisstore's TestEachTransitionHasOneMaker
// covers members that learn of it from the answer to their own call).
func TestEachSharedTransitionHasOneMaker(t *testing.T) {
	store := infuse.NewMemoryStorage()
	clock := infusetest.NewClock()
	var ra, rb infusetest.Recorder
	cfg := infuse.Config{Name: "shared", Storage: store, Clock: clock, FailMax: 2, ResetTimeout: time.Second,
		HalfOpenMaxCalls: 1}
	cfg.Listeners = []infuse.Listener{&ra}
	a, _ := infuse.New(cfg)
	cfg.Listeners = []infuse.Listener{&rb}
	b, _ := infuse.New(cfg)

	_ = a.Call(bg, boom)
	_ = b.Call(bg, boom) // b's failure completes the merged run: b trips it
	clock.Advance(time.Second)
	err := b.Call(bg, func(context.Context) error {
		// b holds the trial; a is refused the permit and learns of the
		// half-open state from that answer
		if err := a.Call(bg, succeed); !errors.Is(err, infuse.ErrOpen) {
			t.Errorf("a during b's trial: %v", err)
		}
		return errBoom
	})
	if !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := a.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	if got, want := ra.Transitions(), "closed->open(remote),open->half-open(remote),half-open->open(remote),open->half-open,half-open->closed"; got != want {
		t.Errorf("a: %s, want %s", got, want)
	}
	if got, want := rb.Transitions(), "closed->open,open->half-open,half-open->open,open->half-open(remote),half-open->closed(remote)"; got != want {
		t.Errorf("b: %s, want %s", got, want)
	}
}

// BindConfig.Check fills only what was left nil.
func TestBindConfigCheckKeepsWhatIsGiven(t *testing.T) {
	var errs []error
	var windows []storage.WindowCounts
	c, err := storage.BindConfig{Name: "x", OnError: func(err error) { errs = append(errs, err) },
		ObserveWindow: func(w storage.WindowCounts) { windows = append(windows, w) }}.Check()
	if err != nil {
		t.Fatal(err)
	}
	c.OnError(errBoom)
	c.ObserveWindow(storage.WindowCounts{Calls: 1})
	if len(errs) != 1 || len(windows) != 1 {
		t.Fatalf("Check replaced the given callbacks: %v, %v", errs, windows)
	}
}
