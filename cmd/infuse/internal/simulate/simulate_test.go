package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/infusesim"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

// simulateOut runs "infuse simulate args" in this process.
func simulateOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), args, &out, io.Discard)
	return out.String(), err
}

// row returns the numbers of a table row whose label starts with label.
func row(t *testing.T, table, label string) []int {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| "+label) {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")[1:]
		var ns []int
		for _, c := range cells {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil {
				t.Fatalf("row %q: %q is not a number", label, c)
			}
			ns = append(ns, n)
		}
		return ns
	}
	t.Fatalf("no row %q in\n%s", label, table)
	return nil
}

func TestSimulateByDefaultRunsTheOutageOnASharedFleet(t *testing.T) {
	out, err := simulateOut(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"scenario: 32 members × 500 calls/s for 12s: 2s healthy, 6s failing 100% of calls, 4s healthy\n",
		"fleet: shared (one state, news delayed 1ms between a member and it); seed 1\n",
		"| | fail-max=5,reset-timeout=1s |\n",
		"| calls/s per member while healthy | 500.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// A shared state stops the fleet within a few milliseconds: fewer
	// calls leak than FailMax each member.
	if leaked := row(t, out, "calls that reached the backend while it failed"); leaked[0] < 10 || leaked[0] >= 32*5 {
		t.Errorf("%d calls leaked", leaked[0])
	}
}

// The command prints what the library computes.
func TestSimulateLocalPrintsTheLibrarysTable(t *testing.T) {
	out, err := simulateOut(t, "-fleet", "local", "-seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	s := infusesim.OutageScenario()
	calls, err := infusesim.Simulate(s, infuse.Config{FailMax: 5, ResetTimeout: time.Second},
		infusesim.Options{Fleet: infusesim.Local, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	_ = infusesim.WriteTable(&want, []string{defaultCandidate}, []infusesim.Result{infusesim.Summarize(s, calls)})
	if !strings.HasSuffix(out, "\n\n"+want.String()) {
		t.Fatalf("got\n%s\nwant the table\n%s", out, want.String())
	}
}

func TestSimulateComparesCandidatesOnBothFleets(t *testing.T) {
	out, err := simulateOut(t, "-fleet", "both", "-members", "8", "-rate", "200", "-phases", "1s:0,3s:1:2ms,1s:0",
		"-candidate", "fail-max=5,reset-timeout=1s", "-candidate", "fail-max=20, reset-timeout=500ms, name=lenient")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| | shared: fail-max=5,reset-timeout=1s | local: fail-max=5,reset-timeout=1s | shared: lenient | local: lenient |\n") ||
		!strings.Contains(out, "3s failing 100% of calls (latency 2ms)") {
		t.Fatalf("output:\n%s", out)
	}
	leaked := row(t, out, "calls that reached the backend while it failed")
	if leaked[0] >= leaked[1] || leaked[2] >= leaked[3] || leaked[1] >= leaked[3] {
		t.Fatalf("leaked %v: want shared below local, and the lenient candidate above the strict", leaked)
	}
}

func TestSimulateErrorRateAndLatencyApplyToThePhases(t *testing.T) {
	out, err := simulateOut(t, "-members", "2", "-rate", "100", "-error-rate", "0.25", "-latency", "3ms", "-jitter", "0.5", "-sequential")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2s healthy (latency 3ms), 6s failing 25% of calls (latency 3ms), 4s healthy (latency 3ms)") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestSimulateBadInputIsAUsageError(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-members", "0"}, "Members is 0"},
		{[]string{"-members", "200000"}, "at most 100000"},
		{[]string{"-rate", "-1"}, "Rate is -1"},
		{[]string{"-rate", "1e6", "-members", "100"}, "at most 10000000"},
		{[]string{"-phases", ""}, "no phases"},
		{[]string{"-phases", "2s"}, "want duration:errorRate"},
		{[]string{"-phases", "1s:0,x:1"}, `phase 2 "x:1": the duration "x"`},
		{[]string{"-phases", "1s:2"}, `the error rate "2"`},
		{[]string{"-phases", "1s:0:-5ms"}, `the latency "-5ms"`},
		{[]string{"-phases", "1s:0:1ms:4"}, "want duration:errorRate"},
		{[]string{"-fleet", "everywhere"}, `-fleet "everywhere": want shared, local or both`},
		{[]string{"-delay", "-1ms"}, "-delay -1ms"},
		{[]string{"-fleet", "local", "-delay", "2ms"}, "-delay applies to a shared fleet"},
		{[]string{"-jitter", "1"}, "-jitter 1"},
		{[]string{"-error-rate", "0"}, "-error-rate 0"},
		{[]string{"-phases", "1s:0", "-error-rate", "0.5"}, "no outage"},
		{[]string{"-candidate", ""}, "empty"},
		{[]string{"-candidate", "fail-max=-1"}, "fail-max: -1 is negative"},
		{[]string{"-candidate", "fail-max"}, `"fail-max" is not name=value`},
		{[]string{"-candidate", "bogus=1"}, `unknown name "bogus"; the names are fail-max, reset-timeout, success-threshold, half-open-max-calls, window,`},
		{[]string{"-candidate", "fail-max=1,fail-max=2"}, "fail-max is given twice"},
		{[]string{"-candidate", "reset-timeout=-1s"}, "reset-timeout: -1s is negative"},
		{[]string{"-candidate", "reset-timeout=soon"}, "reset-timeout=soon: cannot parse it"},
		{[]string{"-candidate", "half-open-max-calls=x"}, "half-open-max-calls=x: cannot parse it"},
		{[]string{"-candidate", "backoff=0.5"}, "backoff: a multiplier of 0.5"},
		{[]string{"-candidate", "backoff=2/soon"}, "backoff=2/soon: a backoff's max is a duration"},
		{[]string{"-candidate", "failure-rate=0.5"}, "window: a rate needs a window"},
		{[]string{"-candidate", "window=100"}, "window: a window without FailureRate, SlowCallRate or Throttle measures nothing"},
		{[]string{"-candidate", "window=5ms/500us,failure-rate=0.5"}, "shorter than a millisecond"},
		{[]string{"-candidate", "window=soon,failure-rate=0.5"}, "window=soon: a window is a number of calls, or DURATION/BUCKET"},
		{[]string{"-candidate", "window=10s,failure-rate=0.5"}, "window=10s: a time window is DURATION/BUCKET, such as 10s/1s"},
		{[]string{"-candidate", "throttle=2"}, "throttle: throttling needs a time Window"},
		{[]string{"-candidate", "trial-expiry=never"}, "trial-expiry=never: not one of opens, closes, frees"},
		{[]string{"-candidate", "name="}, "name: empty"},
		// The names -candidate took before it spoke infuse shadow's words.
		{[]string{"-candidate", "failmax=3"}, `unknown name "failmax": it is now fail-max`},
		{[]string{"-candidate", "open=1s"}, `unknown name "open": it is now reset-timeout`},
		{[]string{"-candidate", "trials=2"}, `unknown name "trials": it is now half-open-max-calls`},
		{[]string{"-candidate", "successes=2"}, `unknown name "successes": it is now success-threshold`},
		{[]string{"-candidate", "backoff=2,backoff-max=1s"}, `unknown name "backoff-max": it is now part of backoff (backoff=MULTIPLIER/MAX)`},
		// The settings' JSON and Go names are storage's, not the command line's.
		{[]string{"-candidate", "failMax=3"}, `unknown name "failMax": write fail-max`},
		{[]string{"-candidate", "ResetTimeout=1s"}, `unknown name "ResetTimeout": write reset-timeout`},
		{[]string{"-replay", "x.rec", "-members", "3"}, "-members does not apply with -replay"},
		{[]string{"-replay", "x.rec", "-fleet", "local"}, "-fleet does not apply with -replay"},
		{[]string{"extra"}, `simulate takes no arguments; got "extra"`},
		{[]string{"-bogus"}, "flag provided but not defined"},
	} {
		_, err := simulateOut(t, c.args...)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("simulate %q: %v; want a usage error with %q", c.args, err, c.want)
		}
	}
}

// recordOutage writes a recording of one breaker's calls through an
// outage, on a virtual clock, to a file.
func recordOutage(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "calls.rec")
	clock := infusetest.NewClock()
	rec, err := infusesim.CreateRecorder(path, infusesim.RecorderOptions{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := infuse.New(infuse.Config{Name: "payments <main>", FailMax: 5, ResetTimeout: time.Second, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	for at := time.Duration(0); at < 20*time.Second; at += 10 * time.Millisecond {
		clock.Set(start.Add(at))
		_ = rec.Call(context.Background(), b, func(context.Context) error {
			clock.Advance(time.Millisecond)
			if at >= 5*time.Second && at < 10*time.Second {
				return io.ErrUnexpectedEOF
			}
			return nil
		})
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSimulateReplaysARecording(t *testing.T) {
	path := recordOutage(t)
	svg := filepath.Join(t.TempDir(), "replay.svg")
	out, err := simulateOut(t, "-replay", path, "-candidate", "fail-max=5,reset-timeout=1s", "-candidate", "fail-max=50,reset-timeout=5s", "-svg", svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"recording: " + path + ": 2000 calls of 1 breakers over 19.99s, closed by its recorder; 0 dropped past its cap\n",
		"| | as recorded | fail-max=5,reset-timeout=1s | fail-max=50,reset-timeout=5s |\n",
		"| calls replayed (rejected ones included) | 2000 | 2000 | 2000 |",
		"| times a breaker opened | — |",
		"picture: " + svg,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	failures := row(t, out, "failing calls that reached the backend")
	if failures[0] != failures[1] || failures[2] <= failures[1] {
		t.Errorf("failures reaching the backend %v: want the recorded configuration to reproduce the recording, and the lenient one to let more through", failures)
	}
	checkSVG(t, svg, "payments <main>", "fail-max=50,reset-timeout=5s")
}

// recordManyNames writes a recording of names breakers, each called
// each times, a call a millisecond, a failure in three, to a file.
func recordManyNames(t *testing.T, names, each int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "names.rec")
	rec, err := infusesim.CreateRecorder(path, infusesim.RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range names * each {
		o := infusesim.Succeeded
		if i%3 == 0 {
			o = infusesim.Failed
		}
		if err := rec.Add(infusesim.Record{Time: start.Add(time.Duration(i) * time.Millisecond), Name: fmt.Sprintf("svc-%04d", i%names), Outcome: o, Latency: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A replay's memory follows the recording, not names × window (issue 23:
// a 43 KB recording of 2,000 names with window=1000000 ran out of memory
// at 6.4 GB): the command allocates, in all, at most 1 KiB a record and
// 8 KiB a name (docs/simulate.md). One name comes first, so that
// a window allocated whole fails the test at 4 MB rather than asking the
// host for 8 GB.
func TestSimulateReplayMemoryFollowsTheRecording(t *testing.T) {
	for _, c := range []struct{ names, each int }{{1, 2}, {2000, 2}, {1, 20_000}} {
		path := recordManyNames(t, c.names, c.each)
		var out string
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err = simulateOut(t, "-replay", path, "-candidate", "window=1000000,failure-rate=0.5")
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		calls := c.names * c.each
		if want := fmt.Sprintf("%d calls of %d breakers", calls, c.names); !strings.Contains(out, want) {
			t.Fatalf("no %q in\n%s", want, out)
		}
		got := after.TotalAlloc - before.TotalAlloc
		limit := 1<<10*uint64(calls) + 8<<10*uint64(c.names) + 256<<10
		if got > limit {
			t.Fatalf("replaying %d names × %d calls with window=1000000 allocated %d KiB; want at most %d KiB (1 KiB a record, 8 KiB a name, 256 KiB more)",
				c.names, c.each, got>>10, limit>>10)
		}
		t.Logf("%d names × %d calls: %d KiB allocated, %d bytes a record", c.names, c.each, got>>10, got/uint64(calls))
	}
}

func TestSimulateWritesAPicture(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "outage.svg")
	out, err := simulateOut(t, "-members", "4", "-rate", "50", "-fleet", "both", "-svg", svg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "\npicture: "+svg+"\n") {
		t.Fatalf("output:\n%s", out)
	}
	checkSVG(t, svg, "shared: "+defaultCandidate, "local: "+defaultCandidate, "errors 100%")
}

// checkSVG reads the picture at path as XML and wants each text in it.
func checkSVG(t *testing.T, path string, texts ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var chars []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed: %v", path, err)
		}
		if c, ok := tok.(xml.CharData); ok {
			chars = append(chars, string(c))
		}
	}
	all := strings.Join(chars, "\n")
	for _, want := range texts {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in the picture", want)
		}
	}
}

func TestSimulateReplayOfABadFileSaysWhereAndWhy(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.rec")
	_ = os.WriteFile(bad, []byte("infuse-recording v1\n1 \"a\" ok 5\n2 a fail 5\n"), 0o644)
	empty := filepath.Join(dir, "empty.rec")
	_ = os.WriteFile(empty, []byte("infuse-recording v1\nend 0 0\n"), 0o644)
	for _, c := range []struct{ path, want string }{
		{bad, "recording line 3: name: want a double-quoted Go string"},
		{empty, "holds no records"},
		{filepath.Join(dir, "nosuch.rec"), "no such file"},
	} {
		_, err := simulateOut(t, "-replay", c.path)
		var ue *cli.UsageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("-replay %s: %v; want an error with %q (exit 1)", c.path, err, c.want)
		}
	}
}

// As a user runs it: the exit status and the messages.
func TestSimulateExitStatus(t *testing.T) {
	out, errOut, code := cmdtest.Run(t, "simulate", "-members", "2", "-rate", "50")
	if code != 0 || !strings.Contains(out, "| calls that reached the backend while it failed |") || errOut != "" {
		// Standard error is no terminal here: no progress on it.
		t.Fatalf("simulate: %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = cmdtest.Run(t, "simulate", "-candidate", "fail-max=-1")
	if code != 2 || !strings.Contains(errOut, `infuse simulate: -candidate "fail-max=-1": fail-max: -1 is negative`) || !strings.Contains(errOut, `Run "infuse simulate -help"`) {
		t.Fatalf("a bad candidate: %d %q", code, errOut)
	}
	_, errOut, code = cmdtest.Run(t, "simulate", "-replay", filepath.Join(t.TempDir(), "nosuch"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("a missing recording: %d %q", code, errOut)
	}
}

// A candidate's settings are infuse shadow's flags, word for word and
// value for value (storage.Fields): the same pairs given to shadow as
// flags and to simulate as -candidate make the same settings. Every
// setting is here; a new one fails the test until it is.
func TestSimulateCandidateTakesShadowsFlags(t *testing.T) {
	sample := map[string]string{
		"fail-max": "3", "reset-timeout": "10s", "success-threshold": "2", "half-open-max-calls": "2",
		"window": "10s/1s", "failure-rate": "0.5", "min-calls": "20", "slow-call-duration": "50ms",
		"slow-call-rate": "0.8", "fleet-min-members": "2", "backoff": "2/1m/0.1", "half-open-max-wait": "5s",
		"trial-expiry": "closes", "max-hold-open": "1m", "ramp-duration": "10s", "ramp-steps": "4", "throttle": "2/0.5",
	}
	var pairs, flags []string
	for _, f := range storage.Fields() {
		v, ok := sample[f.Flag]
		if !ok {
			t.Fatalf("no sample value for the setting %s (-%s)", f.Name, f.Flag)
		}
		pairs = append(pairs, f.Flag+"="+v)
		flags = append(flags, "-"+f.Flag, v)
	}
	spec := strings.Join(pairs, ",")

	c, err := parseCandidate(spec)
	if err != nil {
		t.Fatalf("-candidate %s: %v", spec, err)
	}
	want := c.cfg.Settings().String()
	if strings.Contains(want, "defaults") || strings.Count(want, "=") != len(sample) {
		t.Fatalf("-candidate %s makes %s; want every setting set", spec, want)
	}

	_, url, _, _ := cmdtest.Fleet(t, "payments")
	out, errOut, code := cmdtest.Run(t, append(append([]string{"shadow", "-redis", url, "-namespace", "ops"}, flags...), "payments")...)
	if code != 0 || !strings.Contains(out, "payments: shadow started ("+want+")") {
		t.Fatalf("shadow %q: %d %q %q; want it started with (%s)", flags, code, out, errOut, want)
	}

	out, errOut, code = cmdtest.Run(t, "simulate", "-members", "2", "-rate", "50", "-candidate", spec)
	if code != 0 || !strings.Contains(out, "| | "+spec+" |") {
		t.Fatalf("simulate -candidate %s: %d\n%s\n%s", spec, code, out, errOut)
	}
}

// The simulate commands of the README and docs/ speak the candidate's
// words as they are.
func TestSimulateCandidatesInTheDocsParse(t *testing.T) {
	var text []byte
	for _, f := range []string{"../../../../README.md", "../../../../docs/simulate.md", "../../../../docs/upgrading.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text = append(text, b...)
	}
	n := 0
	for _, line := range strings.Split(string(text), "\n") {
		_, cmd, ok := strings.Cut(line, "go run ./cmd/infuse simulate")
		if !ok {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, "#")
		fields := strings.Fields(cmd)
		for i, f := range fields {
			if f != "-candidate" || i+1 == len(fields) {
				continue
			}
			spec := strings.Trim(fields[i+1], "'")
			if _, err := parseCandidate(spec); err != nil {
				t.Errorf("the docs' -candidate %s: %v", spec, err)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("found %d -candidate in the docs' simulate commands", n)
	}
}

// -json prints the table's figures, cell for cell, by the names
// docs/simulate.md gives; a time that never came is null; and no row
// counts commands, which a simulation does not.
func TestSimulateJSONHasTheTablesFigures(t *testing.T) {
	args := []string{"-fleet", "both", "-candidate", "fail-max=5,reset-timeout=1s", "-candidate", "fail-max=1000,name=lenient",
		"-members", "4", "-rate", "100", "-phases", "1s:0,2s:1,1s:0"}
	table, err := simulateOut(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table, "commands") || strings.Contains(table, "—") {
		t.Errorf("a row without figures:\n%s", table)
	}
	svg := filepath.Join(t.TempDir(), "runs.svg")
	out, err := simulateOut(t, append(args, "-json", "-svg", svg)...)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scenario struct {
			Members int
			Rate    float64
			Phases  []struct{ DurationSeconds, ErrorRate, LatencySeconds float64 }
		}
		Fleet        string
		DelaySeconds *float64
		Seed         uint64
		Picture      string
		Columns      []map[string]any
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	if doc.Scenario.Members != 4 || doc.Scenario.Rate != 100 || len(doc.Scenario.Phases) != 3 || doc.Scenario.Phases[1].ErrorRate != 1 ||
		doc.Fleet != "both" || doc.DelaySeconds == nil || *doc.DelaySeconds != 0.001 || doc.Seed != 1 || doc.Picture != svg || len(doc.Columns) != 4 {
		t.Fatalf("-json:\n%s", out)
	}
	cell := func(label string, col int) string {
		for _, line := range strings.Split(table, "\n") {
			if strings.HasPrefix(line, "| "+label) {
				return strings.TrimSpace(strings.Split(strings.Trim(line, "|"), "|")[col+1])
			}
		}
		t.Fatalf("no row %q", label)
		return ""
	}
	ms := func(v any) string {
		if v == nil {
			return "never"
		}
		d := v.(float64) * 1000
		if d >= 100 {
			return fmt.Sprintf("%.0f ms", d)
		}
		return fmt.Sprintf("%.1f ms", d)
	}
	for i, c := range doc.Columns {
		for label, got := range map[string]string{
			"calls that reached the backend while it failed":             fmt.Sprint(c["leakedCalls"]),
			"of them after the member's own first rejection":             fmt.Sprint(c["probes"]),
			"from the first failing call until every member rejects":     ms(c["allRejectingSeconds"]),
			"healthy calls rejected before the outage":                   fmt.Sprint(c["rejectedBeforeOutage"]),
			"healthy calls rejected after it":                            fmt.Sprint(c["rejectedAfterOutage"]),
			"from the backend's recovery until every member is admitted": ms(c["recoveredSeconds"]),
			"calls/s per member while healthy":                           fmt.Sprintf("%.1f", c["callsPerSecondPerMember"]),
		} {
			if want := cell(label, i); got != want {
				t.Errorf("column %d (%v), %q: JSON %s, table %s", i, c["name"], label, got, want)
			}
		}
		if want := []string{"shared", "local"}[i%2]; c["fleet"] != want || c["name"] != want+": "+[]string{"fail-max=5,reset-timeout=1s", "lenient"}[i/2] {
			t.Errorf("column %d: %v %v", i, c["fleet"], c["name"])
		}
		if _, ok := c["allRejectingSeconds"]; !ok {
			t.Errorf("column %d: no allRejectingSeconds (null for never)", i)
		}
	}
	if doc.Columns[3]["allRejectingSeconds"] != nil {
		t.Errorf("FailMax 1000 rejected within the outage: %v", doc.Columns[3]["allRejectingSeconds"])
	}
	if _, err := os.Stat(svg); err != nil {
		t.Errorf("the picture: %v", err)
	}
}

// A replay's -json: the recording, then a column each for the recording
// and each candidate, the recording's unknown figures null.
func TestSimulateReplayJSON(t *testing.T) {
	path := recordOutage(t)
	out, err := simulateOut(t, "-replay", path, "-candidate", "fail-max=5,reset-timeout=1s", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Recording struct {
			Path              string
			Records, Breakers int
			SpanSeconds       float64
			Complete          bool
		}
		Columns []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	r := doc.Recording
	if r.Path != path || r.Records != 2000 || r.Breakers != 1 || r.SpanSeconds != 19.99 || !r.Complete || len(doc.Columns) != 2 {
		t.Fatalf("-json:\n%s", out)
	}
	rec, cand := doc.Columns[0], doc.Columns[1]
	if rec["name"] != "as recorded" || rec["opened"] != nil || rec["failedTrials"] != nil || rec["calls"] != 2000.0 {
		t.Errorf("as recorded: %v", rec)
	}
	if cand["failuresAdmitted"] != rec["failuresAdmitted"] || cand["opened"] == nil {
		t.Errorf("the recorded configuration: %v; the recording: %v", cand, rec)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader apart.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Progress draws a line on each tick, redrawn in place, and clears it at
// the end; before a tick it writes nothing.
func TestProgressLine(t *testing.T) {
	var w syncBuffer
	tick := make(chan time.Time)
	p := startProgress(&w, tick, 2, 10*time.Second)
	p.begin(2, "local: lenient")
	p.reached(4 * time.Second)
	if w.String() != "" {
		t.Fatalf("before a tick: %q", w.String())
	}
	for range 3 { // each taken once the one before is drawn: two drawn at least
		tick <- time.Now()
	}
	want := "\r\x1b[Ksimulate: run 2 of 2 (local: lenient): 40% of the scenario, "
	if got := w.String(); !strings.HasPrefix(got, want) || strings.Count(got, want) < 2 || !strings.Contains(got, " so far"+want) {
		t.Fatalf("after the ticks: %q", got)
	}
	p.end()
	p.end()
	if got := w.String(); !strings.HasSuffix(got, "so far\r\x1b[K") {
		t.Fatalf("after the end: %q", got)
	}
	var quiet syncBuffer
	p = startProgress(&quiet, make(chan time.Time), 1, 0)
	p.end()
	if quiet.String() != "" {
		t.Fatalf("a run without a tick wrote %q", quiet.String())
	}
	var replays syncBuffer
	tick = make(chan time.Time)
	p = startProgress(&replays, tick, 3, 0)
	p.begin(1, "strict")
	tick <- time.Now()
	p.end()
	if got := replays.String(); !strings.Contains(got, "simulate: replay 1 of 3 (strict), ") || strings.Contains(got, "%") {
		t.Fatalf("a replay's progress: %q", got)
	}
	// No terminal, no progress.
	if newProgress(&w, 1, time.Second) != nil {
		t.Fatal("progress on a buffer")
	}
}
