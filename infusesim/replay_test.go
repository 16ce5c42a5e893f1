package infusesim_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/infusetest"
)

// recorded is the configuration of the breakers in generated recordings.
var recorded = infuse.Config{FailMax: 5, ResetTimeout: time.Second}

// outageRecording records ten minutes of two services' calls through
// breakers made from recorded, on a virtual clock: "payments" at 100
// calls/s fails every call from 2:00 to 4:00, "search" at 50 calls/s half
// of them from 6:00 to 6:30. Calls take 2 ms.
func outageRecording(t testing.TB) []infusesim.Record {
	t.Helper()
	clock := infusetest.NewClock()
	start := clock.Now()
	var buf bytes.Buffer
	rec, err := infusesim.NewRecorder(&buf, infusesim.RecorderOptions{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	breaker := func(name string) *infuse.Breaker {
		c := recorded
		c.Name, c.Clock = name, clock
		b, err := infuse.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	payments, search := breaker("payments"), breaker("search")
	ctx := context.Background()
	n := 0
	for at := time.Duration(0); at < 10*time.Minute; at += 10 * time.Millisecond {
		clock.Set(start.Add(at))
		fails := at >= 2*time.Minute && at < 4*time.Minute
		_ = rec.Call(ctx, payments, func(context.Context) error {
			clock.Advance(2 * time.Millisecond)
			if fails {
				return errDown
			}
			return nil
		})
		if at%(20*time.Millisecond) == 0 {
			clock.Set(start.Add(at + 5*time.Millisecond))
			n++
			fails := at >= 6*time.Minute && at < 6*time.Minute+30*time.Second && n%2 == 0
			_ = rec.Call(ctx, search, func(context.Context) error {
				clock.Advance(2 * time.Millisecond)
				if fails {
					return errDown
				}
				return nil
			})
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := infusesim.ReadRecording(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return got.Records
}

func replay(t testing.TB, recs []infusesim.Record, cfg infuse.Config) infusesim.ReplayRun {
	t.Helper()
	run, err := infusesim.Replay(recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// Replayed through the configuration that recorded it, a recording
// comes out as it went in: the same calls admitted and rejected.
func TestReplayThroughTheRecordedConfigurationReproducesTheRecording(t *testing.T) {
	recs := outageRecording(t)
	run := replay(t, recs, recorded)
	if len(run.Names) != 2 || run.Names[0] != "payments" || run.Names[1] != "search" {
		t.Fatalf("names %q", run.Names)
	}
	if len(run.Replayed) != len(recs) || len(recs) != 90000 {
		t.Fatalf("%d calls replayed of %d recorded; want 90000", len(run.Replayed), len(recs))
	}
	for i, c := range run.Replayed {
		if c.Admitted == c.Inferred {
			t.Fatalf("call %d (%+v): admitted %v, but the recording's breaker rejected it: %v", i, c.Call, c.Admitted, c.Inferred)
		}
	}
	got, want := infusesim.SummarizeReplay(run), run.Recorded()
	want.FailedTrials, want.Opened = got.FailedTrials, got.Opened
	if got != want {
		t.Fatalf("replay %+v\nrecording %+v", got, want)
	}
	// Payments: five failures, then a trial about a second for two
	// minutes; search: every other call fails, never five in a row.
	payments := 0
	for _, c := range run.Replayed {
		if c.Member == 0 && c.Failed {
			payments++
		}
	}
	if payments < 5+115 || payments > 5+120 || got.Opened != payments-5+1 || got.FailuresAdmitted != payments+750 {
		t.Fatalf("payments let %d failures through; figures %+v", payments, got)
	}
}

func TestReplayComparesCandidates(t *testing.T) {
	recs := outageRecording(t)
	base := infusesim.SummarizeReplay(replay(t, recs, recorded))
	strict := infusesim.SummarizeReplay(replay(t, recs, infuse.Config{FailMax: 2, ResetTimeout: 10 * time.Second}))
	never := infusesim.SummarizeReplay(replay(t, recs, infuse.Config{FailMax: 1 << 30}))
	if strict.FailuresAdmitted >= base.FailuresAdmitted {
		t.Errorf("a stricter candidate let %d failures through, the recorded one %d", strict.FailuresAdmitted, base.FailuresAdmitted)
	}
	if never.FailuresRejected != 0 || never.SuccessesRejected != 0 || never.Admitted != never.Calls || never.Opened != 0 {
		t.Errorf("a breaker that never trips: %+v", never)
	}
	if never.FailuresAdmitted <= base.FailuresAdmitted || never.Inferred != base.Inferred {
		t.Errorf("never trips %+v; recorded config %+v", never, base)
	}
	for _, r := range []infusesim.ReplayResult{base, strict, never} {
		if r.Calls != r.Admitted+r.FailuresRejected+r.SuccessesRejected || r.FailedTrials > r.FailuresAdmitted {
			t.Errorf("the counts do not add up: %+v", r)
		}
	}
	var b bytes.Buffer
	if err := infusesim.WriteReplayTable(&b, []string{"recorded", "strict"}, []infusesim.ReplayResult{replay(t, recs, recorded).Recorded(), strict}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| times a breaker opened | — |") || !strings.Contains(b.String(), "| calls replayed (rejected ones included) | 90000 | 90000 |") {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestReplayInfersTheOutcomeOfARejectedCall(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	recs := []infusesim.Record{
		{Time: at(90), Name: "a", Outcome: infusesim.Rejected},
		{Time: at(0), Name: "a", Outcome: infusesim.Succeeded, Latency: time.Millisecond},
		{Time: at(10), Name: "a", Outcome: infusesim.Rejected},
		{Time: at(25), Name: "a", Outcome: infusesim.Rejected}, // as near to both: the earlier
		{Time: at(30), Name: "b", Outcome: infusesim.Rejected}, // b has no call that ran
		{Time: at(40), Name: "a", Outcome: infusesim.Rejected},
		{Time: at(45), Name: "a", Outcome: infusesim.Ignored, Latency: time.Millisecond}, // tells nothing
		{Time: at(50), Name: "a", Outcome: infusesim.Failed, Latency: 2 * time.Millisecond},
	}
	run := replay(t, recs, infuse.Config{FailMax: 1 << 30})
	want := []struct {
		member   int
		o        infusesim.Outcome
		inferred bool
	}{
		{0, infusesim.Succeeded, false},
		{0, infusesim.Succeeded, true},
		{0, infusesim.Succeeded, true},
		{1, infusesim.Succeeded, true},
		{0, infusesim.Failed, true},
		{0, infusesim.Ignored, false},
		{0, infusesim.Failed, false},
		{0, infusesim.Failed, true},
	}
	for i, w := range want {
		c := run.Replayed[i]
		if c.Member != w.member || c.Outcome != w.o || c.Inferred != w.inferred || !c.Admitted || c.Failed != (w.o == infusesim.Failed) {
			t.Errorf("call %d: %+v; want member %d, %v, inferred %v", i, c, w.member, w.o, w.inferred)
		}
	}
	if run.Start != t0 || run.Span != 90*time.Millisecond {
		t.Errorf("start %v, span %v", run.Start, run.Span)
	}
	if recs[0].Outcome != infusesim.Rejected || !recs[0].Time.Equal(at(90)) {
		t.Error("Replay reordered its argument")
	}
}

func TestReplayPhasesShowTheOutage(t *testing.T) {
	run := replay(t, outageRecording(t), recorded)
	phases := run.Phases(10 * time.Second)
	var at, total time.Duration
	for _, p := range phases {
		mid := at + p.Duration/2
		switch {
		case mid > 2*time.Minute && mid < 4*time.Minute && p.ErrorRate < 0.6:
			t.Errorf("at %v the payments outage shows an error rate of %v", mid, p.ErrorRate)
		case (mid < 2*time.Minute || mid > 7*time.Minute) && p.ErrorRate != 0:
			t.Errorf("at %v, healthy, an error rate of %v", mid, p.ErrorRate)
		}
		at += p.Duration
		total += p.Duration
	}
	if total < run.Span || total > run.Span+10*time.Second || len(phases) > 60 {
		t.Errorf("%d phases lasting %v for a span of %v", len(phases), total, run.Span)
	}
}

func TestReplayRefusesWhatItCannotRun(t *testing.T) {
	recs := []infusesim.Record{{Time: t0, Name: "a", Outcome: infusesim.Succeeded}}
	for _, c := range []struct {
		recs []infusesim.Record
		cfg  infuse.Config
		want string
	}{
		{nil, recorded, "no records"},
		{recs, infuse.Config{Clock: infusetest.NewClock()}, "sets a Clock"},
		{recs, infuse.Config{Storage: infuse.NewMemoryStorage()}, "sets a Storage"},
		{recs, infuse.Config{FailMax: -2}, "FailMax"},
		{[]infusesim.Record{{Time: t0, Outcome: infusesim.Succeeded}}, recorded, "record 1"},
	} {
		if _, err := infusesim.Replay(c.recs, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error with %q", err, c.want)
		}
	}
}

// manyNames is a recording of names breakers, each called each times,
// a call a millisecond, a failure in three.
func manyNames(names, each int) []infusesim.Record {
	recs := make([]infusesim.Record, names*each)
	for i := range recs {
		o := infusesim.Succeeded
		if i%3 == 0 {
			o = infusesim.Failed
		}
		recs[i] = infusesim.Record{Time: t0.Add(time.Duration(i) * time.Millisecond), Name: fmt.Sprintf("svc-%04d", i%names), Outcome: o, Latency: time.Millisecond}
	}
	return recs
}

// allocated is what f allocates on the heap in all, whatever it frees
// again: a bound on the memory it needs (and a collection that runs
// meanwhile may add a few KiB of its own).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Replay's memory follows the recording, not names × window: with a
// count window of any size it allocates, in all, at most 256 bytes a
// record and 8 KiB a name (as Replay's comment says). Issue 23: a 43 KB
// recording of 2,000 names replayed with a window of a million calls ran
// out of memory at 6.4 GB, each breaker's window allocated whole (4 MB).
// One name comes first, so that a window allocated whole fails the test
// at 4 MB rather than asking the host for 8 GB.
func TestReplayMemoryFollowsTheRecording(t *testing.T) {
	cfg := infuse.Config{FailMax: 5, ResetTimeout: time.Second, Window: infuse.CountWindow(1_000_000), FailureRate: 0.5}
	for _, c := range []struct{ names, each int }{{1, 2}, {2000, 2}, {1, 50_000}} {
		recs := manyNames(c.names, c.each)
		var run infusesim.ReplayRun
		var err error
		got := allocated(func() { run, err = infusesim.Replay(recs, cfg) })
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Names) != c.names || len(run.Replayed) != len(recs) {
			t.Fatalf("%d names, %d calls replayed; want %d, %d", len(run.Names), len(run.Replayed), c.names, len(recs))
		}
		limit := 256*uint64(len(recs)) + 8<<10*uint64(c.names) + 16<<10
		if got > limit {
			t.Fatalf("replaying %d names × %d calls with a count window of a million calls allocated %d KiB; want at most %d KiB (256 bytes a record, 8 KiB a name, 16 KiB slack)",
				c.names, c.each, got>>10, limit>>10)
		}
	}
}

func BenchmarkReplayTenMinutes(b *testing.B) {
	recs := outageRecording(b)
	b.ReportMetric(float64(len(recs)), "records")
	for b.Loop() {
		replay(b, recs, recorded)
	}
}
