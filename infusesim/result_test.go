package infusesim_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/infuse-go/infuse/infusesim"
)

const ms = time.Millisecond

// threePhases: two members at 10 calls/s; healthy, failing, healthy, a
// second each.
var threePhases = infusesim.Scenario{Members: 2, Rate: 10, Phases: []infusesim.Phase{
	{Duration: time.Second}, {Duration: time.Second, ErrorRate: 1}, {Duration: time.Second},
}}

func call(member int, at time.Duration, admitted, failed bool) infusesim.Call {
	return infusesim.Call{Member: member, At: at, Admitted: admitted, Failed: failed}
}

func TestSummarizeComputesEachFigure(t *testing.T) {
	calls := []infusesim.Call{
		call(0, 100*ms, true, false),
		call(1, 150*ms, false, false), // rejected while healthy, before the outage
		call(0, 500*ms, true, false),
		call(1, 550*ms, true, false),
		// The outage.
		call(0, 1000*ms, true, true), // the first failing call
		call(1, 1050*ms, true, true),
		call(0, 1100*ms, false, false), // member 0's first rejection: 100 ms in
		call(1, 1150*ms, true, true),
		call(1, 1250*ms, false, false), // member 1's: 250 ms in
		call(0, 1500*ms, true, true),   // a probe
		call(1, 1600*ms, true, true),   // a probe
		// Recovery.
		call(0, 2000*ms, false, false),
		call(1, 2050*ms, true, false), // member 1 admitted 50 ms after
		call(0, 2100*ms, false, false),
		call(0, 2300*ms, true, false),  // member 0 admitted 300 ms after
		call(0, 3500*ms, false, false), // past the end: a call, nothing else
	}
	got := infusesim.Summarize(threePhases, calls)
	want := infusesim.Result{
		Calls: 16, Leaked: 5, Probes: 2, AllRejecting: 250 * ms,
		RejectedBefore: 1, RejectedRecovering: 2, Recovered: 300 * ms,
		Throughput: 2, Commands: -1,
	}
	if got != want {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, want)
	}
	checkSummary(t, threePhases, calls, got)
}

func TestSummarizeSaysNeverForWhatDidNotHappen(t *testing.T) {
	failing := []infusesim.Phase{{Duration: time.Second, ErrorRate: 1}}
	healthy := []infusesim.Phase{{Duration: time.Second}}
	for _, c := range []struct {
		name           string
		phases         []infusesim.Phase
		calls          []infusesim.Call
		allRejecting   time.Duration
		recovered      time.Duration
		rejectedBefore int
		throughput     float64
	}{
		{"a member never rejects in the outage", threePhases.Phases, []infusesim.Call{
			call(0, 1000*ms, true, true), call(0, 1100*ms, false, false), call(1, 1100*ms, true, true),
			call(0, 2000*ms, true, false), call(1, 2000*ms, true, false),
		}, infusesim.Never, 0, 0, 0},
		{"a member never admitted after it", threePhases.Phases, []infusesim.Call{
			call(0, 1000*ms, true, true), call(0, 1100*ms, false, false), call(1, 1100*ms, false, false),
			call(0, 2000*ms, true, false), call(1, 2000*ms, false, false),
		}, 100 * ms, infusesim.Never, 0, 0},
		{"no call fails", threePhases.Phases, []infusesim.Call{
			call(0, 1000*ms, false, false), call(1, 1000*ms, false, false),
		}, infusesim.Never, infusesim.Never, 0, 0},
		{"no outage", slices.Concat(healthy, healthy), []infusesim.Call{
			call(0, 100*ms, false, false), call(1, 1500*ms, false, false), call(1, 1600*ms, true, false),
		}, infusesim.Never, infusesim.Never, 2, 0.5},
		{"the outage is last", slices.Concat(healthy, failing), []infusesim.Call{
			call(0, 1000*ms, true, true), call(0, 1100*ms, false, false), call(1, 1200*ms, false, false),
		}, 200 * ms, infusesim.Never, 0, 0},
		{"only outage", failing, []infusesim.Call{call(0, 0, true, true)}, infusesim.Never, infusesim.Never, 0, 0},
	} {
		s := infusesim.Scenario{Members: 2, Rate: 10, Phases: c.phases}
		r := infusesim.Summarize(s, c.calls)
		if r.AllRejecting != c.allRejecting || r.Recovered != c.recovered || r.RejectedBefore != c.rejectedBefore || r.Throughput != c.throughput {
			t.Errorf("%s: %+v; want AllRejecting %v, Recovered %v, RejectedBefore %d, Throughput %v",
				c.name, r, c.allRejecting, c.recovered, c.rejectedBefore, c.throughput)
		}
		checkSummary(t, s, c.calls, r)
	}
}

// fataler is what checkSummary needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkSummary checks what holds of any Result: the counts add up, and
// the order of the calls does not matter.
func checkSummary(t fataler, s infusesim.Scenario, calls []infusesim.Call, r infusesim.Result) {
	t.Helper()
	admittedOutage, rejectedHealthy := 0, 0
	for _, c := range calls {
		ph := s.PhaseAt(c.At)
		switch {
		case ph < 0:
		case s.Phases[ph].Outage() && c.Admitted:
			admittedOutage++
		case !s.Phases[ph].Outage() && !c.Admitted:
			rejectedHealthy++
		}
	}
	never := func(d time.Duration) bool { return d == infusesim.Never || (d >= 0 && d <= s.Duration()) }
	switch {
	case r.Calls != len(calls):
		t.Fatalf("Calls %d for %d calls", r.Calls, len(calls))
	case r.Probes < 0 || r.Probes > r.Leaked:
		t.Fatalf("Probes %d, Leaked %d", r.Probes, r.Leaked)
	case r.Leaked != admittedOutage:
		t.Fatalf("Leaked %d, but %d calls were admitted in outages", r.Leaked, admittedOutage)
	case r.RejectedBefore < 0 || r.RejectedRecovering < 0 || r.RejectedBefore+r.RejectedRecovering > rejectedHealthy:
		t.Fatalf("RejectedBefore %d + RejectedRecovering %d > %d rejected while healthy", r.RejectedBefore, r.RejectedRecovering, rejectedHealthy)
	case !never(r.AllRejecting) || !never(r.Recovered):
		t.Fatalf("AllRejecting %v, Recovered %v: want Never or within the scenario", r.AllRejecting, r.Recovered)
	case r.Throughput < 0:
		t.Fatalf("Throughput %v", r.Throughput)
	}
	rev := slices.Clone(calls)
	slices.Reverse(rev)
	if again := infusesim.Summarize(s, rev); again != r {
		t.Fatalf("the calls' order changed the result: %+v then %+v", r, again)
	}
}

func TestSummarizeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		n := rapid.IntRange(0, 200).Draw(t, "calls")
		calls := make([]infusesim.Call, n)
		for i := range calls {
			admitted := rapid.Bool().Draw(t, "admitted")
			calls[i] = infusesim.Call{
				Member:   rapid.IntRange(0, s.Members-1).Draw(t, "member"),
				At:       time.Duration(rapid.Int64Range(0, int64(s.Duration()+time.Second)).Draw(t, "at")),
				Admitted: admitted,
				Failed:   admitted && rapid.Bool().Draw(t, "failed"),
			}
		}
		checkSummary(t, s, calls, infusesim.Summarize(s, calls))
	})
}

func TestMedianTakesEachFigureApart(t *testing.T) {
	rs := []infusesim.Result{
		{Leaked: 3, AllRejecting: infusesim.Never, Recovered: 5 * ms, Throughput: 1, Commands: 7},
		{Leaked: 1, AllRejecting: 2 * ms, Recovered: infusesim.Never, Throughput: 3, Commands: -1},
		{Leaked: 2, AllRejecting: infusesim.Never, Recovered: infusesim.Never, Throughput: 2, Commands: 9},
	}
	got := infusesim.Median(rs)
	want := infusesim.Result{Leaked: 2, AllRejecting: infusesim.Never, Recovered: infusesim.Never, Throughput: 2, Commands: 7}
	if got != want {
		t.Fatalf("Median = %+v, want %+v", got, want)
	}
	if got := infusesim.Median(rs[1:2]); got != rs[1] {
		t.Fatalf("Median of one = %+v", got)
	}
	if got := infusesim.Median(nil); got != (infusesim.Result{}) {
		t.Fatalf("Median of none = %+v", got)
	}
}

func TestWriteTableEscapesNamesAndCountsColumns(t *testing.T) {
	var b bytes.Buffer
	r := infusesim.Result{Leaked: 12, AllRejecting: 1500 * time.Microsecond, Recovered: infusesim.Never, Throughput: 499.96, Commands: 30, Calls: 1000}
	if err := infusesim.WriteTable(&b, []string{"a|b", "two\nlines"}, []infusesim.Result{r, r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if lines[0] != `| | a\|b | two lines |` || len(lines) != 10 {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range []string{"| 12 | 12 |", "| 1.5 ms |", "| never |", "| 500.0 |", "| 30.0 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if err := infusesim.WriteTable(&b, []string{"one"}, nil); err == nil {
		t.Fatal("a name without a result: no error")
	}
}

func TestTimelineWithSpanNotAWholeNumberOfSteps(t *testing.T) {
	calls := []infusesim.Call{call(0, 1000*ms, true, true), call(0, 1009*ms, true, true), call(1, 1004*ms, false, false)}
	var b bytes.Buffer
	if err := infusesim.Timeline(&b, threePhases, calls, 10*ms, 3*ms); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| 0s–3ms | 1 (1 in all) | 0 of 2 |") || !strings.Contains(b.String(), "| 3ms–6ms | 0 (1 in all) | 1 of 2 |") {
		t.Fatalf("timeline:\n%s", b.String())
	}
}

// A call the breaker failed on its own (its lock, its store) is neither a
// rejection nor admitted: it is counted apart, and the table says so.
func TestErroredCallsAreNoRejections(t *testing.T) {
	sc := infusesim.Scenario{Members: 1, Rate: 1000, Phases: []infusesim.Phase{
		{Duration: time.Second}, {Duration: time.Second, ErrorRate: 1}, {Duration: time.Second}}}
	calls := []infusesim.Call{
		{At: 100 * time.Millisecond, Errored: true},
		{At: 1100 * time.Millisecond, Admitted: true, Failed: true},
		{At: 1200 * time.Millisecond, Errored: true},
		{At: 1300 * time.Millisecond},
		{At: 2100 * time.Millisecond, Errored: true},
	}
	r := infusesim.Summarize(sc, calls)
	if r.Errors != 3 || r.RejectedBefore != 0 || r.RejectedRecovering != 0 || r.AllRejecting != 200*time.Millisecond {
		t.Fatalf("%+v", r)
	}
	var b bytes.Buffer
	if err := infusesim.WriteTable(&b, []string{"x"}, []infusesim.Result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| calls the breaker failed itself, neither run nor rejected | 3 |") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// A simulation counts no commands: its table has no row of dashes for
// them; a table where one result counted them has the row.
func TestCommandsRowOnlyWhenMeasured(t *testing.T) {
	unmeasured := infusesim.Result{Calls: 1000, AllRejecting: infusesim.Never, Recovered: infusesim.Never, Commands: -1}
	var b bytes.Buffer
	if err := infusesim.WriteTable(&b, []string{"x", "y"}, []infusesim.Result{unmeasured, unmeasured}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "commands") || strings.Contains(b.String(), "—") {
		t.Fatalf("table:\n%s", b.String())
	}
	measured := unmeasured
	measured.Commands = 30
	b.Reset()
	_ = infusesim.WriteTable(&b, []string{"x", "y"}, []infusesim.Result{unmeasured, measured})
	if !strings.Contains(b.String(), "| commands sent per 1000 calls (a script counts once) | — | 30.0 |") {
		t.Fatalf("table:\n%s", b.String())
	}
}
