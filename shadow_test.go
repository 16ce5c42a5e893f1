package infuse_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

// shadowEvents sums up the shadow events rec saw.
func shadowEvents(rec *infusetest.Recorder) (changes []string, rejected int) {
	for _, e := range rec.Events() {
		if !e.Shadow {
			continue
		}
		switch e.Kind {
		case infuse.EventStateChange:
			changes = append(changes, e.Name+": "+e.From.String()+"->"+e.To.String())
		case infuse.EventRejected:
			rejected++
		}
	}
	return changes, rejected
}

// A stricter candidate opens where the live breaker does not, says so,
// and counts the calls it would have rejected; the live breaker rejects
// nothing.
func TestShadowReportsWhatTheCandidateWouldHaveDone(t *testing.T) {
	rec := &infusetest.Recorder{}
	b, clock := newBreaker(t, infuse.Config{Name: "api", FailMax: 10, ResetTimeout: time.Minute, Listeners: []infuse.Listener{rec}})
	s, err := b.StartShadow(infuse.Candidate{FailMax: 3, ResetTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if b.Shadow() != s || s.Breaker().Name() != "api"+infuse.ShadowSuffix {
		t.Fatalf("Shadow() %v, candidate %q", b.Shadow(), s.Breaker().Name())
	}
	for range 5 {
		if err := b.Call(bg, boom); errors.Is(err, infuse.ErrOpen) {
			t.Fatal("the live breaker rejected a call")
		}
	}
	wantState(t, b, infuse.Closed)
	if st := s.Breaker().State(); st != infuse.Open {
		t.Fatalf("candidate %v after 5 failures with FailMax 3", st)
	}
	// The 4th and 5th failures came while the candidate was open.
	if n := s.WouldHaveRejected(); n != 2 {
		t.Fatalf("would have rejected %d, want 2", n)
	}
	changes, rejected := shadowEvents(rec)
	if len(changes) != 1 || changes[0] != "api#shadow: closed->open" || rejected != 2 {
		t.Fatalf("shadow events seen by the live breaker's listener: %v, %d rejected", changes, rejected)
	}
	// After the candidate's open period, a live success is its trial.
	clock.Advance(10 * time.Second)
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
	if st := s.Breaker().State(); st != infuse.Closed {
		t.Fatalf("candidate %v after its trial succeeded", st)
	}
	b.StopShadow()
	if b.Shadow() != nil {
		t.Fatal("a shadow after StopShadow")
	}
	for range 5 {
		_ = b.Call(bg, boom)
	}
	if st := s.Breaker().State(); st != infuse.Closed {
		t.Fatalf("a stopped candidate is still fed: %v", st)
	}
}

func TestShadowReplacesAndValidates(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Name: "api"})
	first, _ := b.StartShadow(infuse.Candidate{FailMax: 2})
	second, err := b.StartShadow(infuse.Candidate{FailMax: 3})
	if err != nil || b.Shadow() != second {
		t.Fatal(err)
	}
	_ = b.Call(bg, boom)
	_ = b.Call(bg, boom)
	if first.Breaker().Metrics().Counts.ConsecutiveFailures != 0 {
		t.Fatal("a replaced shadow is still fed")
	}
	for _, c := range []infuse.Candidate{{FailMax: -1}, {FailureRate: 2, Window: infuse.CountWindow(10)}, {Window: infuse.CountWindow(-10)},
		{Window: infuse.TimeWindow(time.Second, 0)}, {FailureRate: 0.5}} {
		if _, err := b.StartShadow(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// A candidate encodes to JSON and back as it was, and says what it sets.
func TestCandidateJSONAndString(t *testing.T) {
	c := infuse.Candidate{FailMax: 3, ResetTimeout: 10 * time.Second, Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.5, MinCalls: 20,
		SlowCallDuration: time.Second, SlowCallRate: 0.8}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back infuse.Candidate
	if err := json.Unmarshal(data, &back); err != nil || back != c {
		t.Fatalf("%s -> %+v %v", data, back, err)
	}
	if got := c.String(); got != `failMax=3 resetTimeout=10s window="last 1m0s in 1s buckets" failureRate=0.5 minCalls=20 slowCallDuration=1s slowCallRate=0.8` {
		t.Fatal(got)
	}
	if got := (infuse.Candidate{}).String(); got != "defaults" {
		t.Fatal(got)
	}
}

// A candidate with a SlowCallDuration judges the live calls by how long
// they took: slow successes open it while the live breaker, which times
// nothing of its own, stays closed; the live calls' events carry their
// duration.
func TestShadowJudgesSlowCalls(t *testing.T) {
	rec := &infusetest.Recorder{}
	b, clock := newBreaker(t, infuse.Config{Name: "api", Listeners: []infuse.Listener{rec}})
	s, err := b.StartShadow(infuse.Candidate{Window: infuse.CountWindow(10), MinCalls: 10, SlowCallDuration: 100 * time.Millisecond, SlowCallRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	call := func(d time.Duration) error {
		return b.Call(bg, func(context.Context) error { clock.Advance(d); return nil })
	}
	for range 5 {
		if err := call(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if err := call(200 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Breaker().State(); st != infuse.Closed {
		t.Fatalf("candidate %v after 9 calls", st)
	}
	if err := call(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, infuse.Closed)
	if st := s.Breaker().State(); st != infuse.Open {
		t.Fatalf("candidate %v after 5 slow calls of 10, with SlowCallRate 0.5", st)
	}
	var last infuse.Event
	for _, e := range rec.Events() {
		if e.Kind == infuse.EventSuccess {
			last = e
		}
	}
	if last.Latency != 200*time.Millisecond {
		t.Fatalf("the last success's event: %+v", last)
	}
}

// The candidate counts the live breaker's failures as failures, whatever
// their error; it has no shadow of its own; a new candidate starts afresh;
// a detached breaker takes no shadow.
func TestShadowEdges(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Name: "api", FailMax: 100})
	s, err := b.StartShadow(infuse.Candidate{FailMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = b.Call(bg, func(context.Context) error { return context.Canceled }) // bg is not done: a failure
	}
	if st := s.Breaker().State(); st != infuse.Open {
		t.Fatalf("two live failures of context.Canceled: candidate %v", st)
	}
	if _, err := s.Breaker().StartShadow(infuse.Candidate{}); err == nil {
		t.Fatal("a candidate took a shadow of its own")
	}
	s2, err := b.StartShadow(infuse.Candidate{FailMax: 50})
	if err != nil {
		t.Fatal(err)
	}
	if st := s2.Breaker().State(); st != infuse.Closed || s2.WouldHaveRejected() != 0 {
		t.Fatalf("a new candidate inherited %v", st)
	}
	if err := b.Detach(); err != nil {
		t.Fatal(err)
	}
	if b.Shadow() != nil {
		t.Fatal("a shadow survived Detach")
	}
	if _, err := b.StartShadow(infuse.Candidate{}); err == nil {
		t.Fatal("a detached breaker took a shadow")
	}
}

// A live breaker may not take a shadow's candidate's name: it would share
// the candidate's state on the same Storage, and reject calls on the
// candidate's say.
func TestALiveBreakerCannotTakeACandidatesName(t *testing.T) {
	store := infuse.NewMemoryStorage()
	api, err := infuse.New(infuse.Config{Name: "api", Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	_, err = infuse.New(infuse.Config{Name: "api" + infuse.ShadowSuffix, Storage: store})
	var ce *infuse.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Name" {
		t.Fatalf("New(api%s): %v, want a *ConfigError for Name", infuse.ShadowSuffix, err)
	}
	if _, err := api.StartShadow(infuse.Candidate{FailMax: 1}); err != nil {
		t.Fatal(err)
	}
	_ = api.Call(context.Background(), func(context.Context) error { return errors.New("boom") })
	if api.State() != infuse.Closed {
		t.Fatalf("the live breaker is %v after one failure (FailMax 5)", api.State())
	}
}

// carrier is a memory store that carries shadows, as redisstore does with
// Options.Shadows: the test asks a bound breaker to start or stop one.
type carrier struct {
	*infuse.MemoryStorage
	ask map[string]func(*infuse.Candidate)
}

func newCarrier() *carrier {
	return &carrier{MemoryStorage: infuse.NewMemoryStorage(), ask: map[string]func(*infuse.Candidate){}}
}

func (c *carrier) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	c.ask[cfg.Name] = cfg.Shadow
	return c.MemoryStorage.Bind(cfg)
}

// A store that carries shadows starts the one it names, leaves it running
// when named again, replaces it with another candidate, and stops it; a
// candidate no breaker can take is a store error, and the breaker runs on
// without a shadow.
func TestAStoreStartsAndStopsTheShadowItCarries(t *testing.T) {
	store := newCarrier()
	rec := &infusetest.Recorder{}
	b, _ := newBreaker(t, infuse.Config{Name: "api", Storage: store, Listeners: []infuse.Listener{rec}})
	ask := store.ask["api"]
	c := infuse.Candidate{FailMax: 3}
	ask(&c)
	s := b.Shadow()
	if s == nil || s.Candidate() != c {
		t.Fatalf("the store's shadow: %v", s)
	}
	ask(&infuse.Candidate{FailMax: 3})
	if b.Shadow() != s {
		t.Fatal("the same candidate, named again, restarted the shadow")
	}
	c2 := infuse.Candidate{FailMax: 4}
	ask(&c2)
	if b.Shadow() == s || b.Shadow().Candidate() != c2 {
		t.Fatalf("another candidate: shadow %v", b.Shadow())
	}
	ask(nil)
	if b.Shadow() != nil {
		t.Fatal("the store stopped its shadow, and it runs on")
	}
	ask(nil) // none running: nothing to stop
	ask(&infuse.Candidate{FailMax: -1})
	if b.Shadow() != nil {
		t.Fatal("a candidate no breaker can take runs")
	}
	var storeErr error
	for _, ev := range rec.Events() {
		if ev.Kind == infuse.EventStoreError {
			storeErr = ev.Err
		}
	}
	var ce *infuse.ConfigError
	if !errors.As(storeErr, &ce) || ce.Field != "FailMax" {
		t.Fatalf("the store error of a bad candidate: %v", storeErr)
	}
	if err := b.Call(bg, succeed); err != nil {
		t.Fatal(err)
	}
}

// A shadow the program started is the program's: the store's stop leaves
// it running, and so does the store's start of the same candidate; the
// store's own candidate replaces it.
func TestAStoreDoesNotStopAShadowTheProgramStarted(t *testing.T) {
	store := newCarrier()
	b, _ := newBreaker(t, infuse.Config{Name: "api", Storage: store})
	mine, err := b.StartShadow(infuse.Candidate{FailMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	store.ask["api"](nil)
	if b.Shadow() != mine {
		t.Fatal("the store stopped the program's shadow")
	}
	store.ask["api"](&infuse.Candidate{FailMax: 2})
	store.ask["api"](nil)
	if b.Shadow() != mine {
		t.Fatal("the store's start of the program's own candidate made it the store's")
	}
	store.ask["api"](&infuse.Candidate{FailMax: 3})
	if s := b.Shadow(); s == nil || s == mine {
		t.Fatal("the store's candidate did not replace the program's shadow")
	}
	store.ask["api"](nil)
	if b.Shadow() != nil {
		t.Fatal("the store could not stop its own shadow")
	}
}

// On a shared store the candidate's state outlives its shadow: a shadow
// the program starts begins afresh all the same, while one the store
// starts joins the fleet's candidate where it is.
func TestAShadowTheProgramStartsBeginsAfresh(t *testing.T) {
	store := newCarrier()
	b, _ := newBreaker(t, infuse.Config{Name: "api", Storage: store, FailMax: 100})
	first, err := b.StartShadow(infuse.Candidate{FailMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Call(bg, boom)
	if st := first.Breaker().State(); st != infuse.Open {
		t.Fatalf("the candidate after a failure with FailMax 1: %v", st)
	}
	again, err := b.StartShadow(infuse.Candidate{FailMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st := again.Breaker().State(); st != infuse.Closed {
		t.Fatalf("a shadow started again by the program: candidate %v, want closed", st)
	}
	_ = b.Call(bg, boom)
	b.StopShadow()
	store.ask["api"](&infuse.Candidate{FailMax: 1})
	if st := b.Shadow().Breaker().State(); st != infuse.Open {
		t.Fatalf("a shadow the store started: candidate %v, want the fleet's (open)", st)
	}
	b.StopShadow()
	b.StopShadow() // none running
	if b.Shadow() != nil {
		t.Fatal("a shadow survived StopShadow")
	}
}

// The candidate's own listeners see each live failure as a failure of the
// candidate, saying what the live call's error was.
func TestACandidatesListenerSeesTheLiveFailure(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{Name: "api", FailMax: 100})
	var rec infusetest.Recorder
	if _, err := b.StartShadow(infuse.Candidate{FailMax: 50}, &rec); err != nil {
		t.Fatal(err)
	}
	_ = b.Call(bg, boom)
	var failure error
	for _, ev := range rec.Events() {
		if ev.Kind == infuse.EventFailure {
			failure = ev.Err
		}
	}
	if failure == nil || !strings.Contains(failure.Error(), errBoom.Error()) {
		t.Fatalf("the candidate's failure event: %v; want it to name %q", failure, errBoom)
	}
}

// On the real clock, a shadow's candidate counts every live call: three
// live failures trip a candidate of FailMax 3.
func TestAShadowOnTheRealClockCountsEveryLiveCall(t *testing.T) {
	b, err := infuse.New(infuse.Config{Name: "api"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.StartShadow(infuse.Candidate{FailMax: 3, ResetTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = b.Call(bg, boom)
	}
	if got := s.Breaker().State(); got != infuse.Open {
		t.Fatalf("the candidate is %v after 3 live failures; FailMax 3", got)
	}
}
