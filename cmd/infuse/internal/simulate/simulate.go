// Package simulate is "infuse simulate", the command-line front of
// infusesim: it reads a scenario or a recording and candidate
// configurations from flags (parse.go), runs each, and prints the table
// (and the picture) infusesim makes.
package simulate

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/infusesim"
)

// defaultCandidate is the configuration simulated when no -candidate is
// given; a candidate's unset settings take its values, and the library's
// defaults for the others. Its reset timeout is shorter than the
// library's 60s, for a scenario of seconds.
const defaultCandidate = "fail-max=5,reset-timeout=1s"

// scenarioFlags are the flags that describe a scenario, which a replay
// does not take.
var scenarioFlags = []string{"members", "rate", "phases", "latency", "error-rate", "seed", "jitter", "sequential", "fleet", "delay"}

// Run is "infuse simulate": it measures candidate configurations on a
// simulated fleet, or on a recording, and prints a table, or JSON with
// -json. On a terminal, errOut tells how far the runs are, each second.
func Run(_ context.Context, args []string, out, errOut io.Writer) error {
	fs := cli.FlagSet("simulate", "[flags]",
		"Measures candidate breaker configurations without a fleet or a backend: a fleet of members\n"+
			"calls a backend through the phases of a scenario (by default 32 members at 500 calls/s each,\n"+
			"healthy 2 s, failing every call 6 s, healthy 4 s), each member through its own breaker made\n"+
			"from the candidate, on a virtual clock, and the figures are printed as a Markdown table,\n"+
			"a column per candidate: the calls that reached the failing backend, the probes among them,\n"+
			"how long the fleet took to stop and to recover, the healthy calls rejected.\n\n"+
			"With -json, the same figures are printed as JSON (docs/simulate.md names the fields).\n"+
			"On a terminal, standard error tells how far the runs are, each second.\n\n"+
			"-fleet shared shares one state among the members, with news travelling -delay between a\n"+
			"member and the shared state (a trip, a member's failures); local gives each member its own;\n"+
			"both prints a column of each. With -replay, the calls of a recording (made with\n"+
			"infusesim.Recorder) are replayed through each candidate instead, a breaker per recorded name.\n\n"+
			"A candidate is name=value pairs, comma-separated, with the names and values of infuse\n"+
			"shadow's flags (the settings of storage.Fields), and name for the column's heading:\n"+
			candidateHelp()+"\n"+
			"Unset settings take "+defaultCandidate+", and the library's defaults for the others\n"+
			"(0 means the default, as for infuse shadow: reset-timeout=0 is 60s).",
		"  infuse simulate\n"+
			"  infuse simulate -fleet both -candidate fail-max=5,reset-timeout=1s -candidate fail-max=20,reset-timeout=5s\n"+
			"  infuse simulate -fleet shared -delay 5ms -members 100 -rate 50 -phases 10s:0,30s:0.5:20ms,20s:0\n"+
			"  infuse simulate -svg outage.svg\n"+
			"  infuse simulate -error-rate 0.3 -candidate fail-max=100 -candidate fail-max=100,window=1s/100ms,failure-rate=0.2,min-calls=20\n"+
			"  infuse simulate -replay calls.rec -candidate fail-max=3,reset-timeout=10s -candidate 'fail-max=10,name=lenient'")
	members := fs.Int("members", 32, "members of the fleet, each calling through its own breaker")
	rate := fs.Float64("rate", 500, "calls a second each member makes")
	phases := fs.String("phases", "2s:0,6s:1,4s:0", "the backend's phases, in order: a `LIST` of duration:errorRate[:latency]")
	latency := fs.Duration("latency", 0, "how long the backend takes to answer, in the phases that give no latency")
	errorRate := fs.Float64("error-rate", 0, "the error `rate` of the outage phases (those whose rate is above 0), in place of theirs")
	seed := fs.Uint64("seed", 1, "the seed of the backend's failures and of the jitter: a run is the same for the same seed")
	jitter := fs.Float64("jitter", 0, "delay each call by a random share of an interval up to this (0 to below 1)")
	sequential := fs.Bool("sequential", false, "a member waits for its call to return before the next (beats it misses are skipped)")
	fleet := fs.String("fleet", "shared", "how the members hold their breaker's state (`MODEL`): shared, local or both")
	delay := fs.Duration("delay", time.Millisecond, "with -fleet shared: how long news takes between a member and the shared state (0: none)")
	var specs []string
	fs.Func("candidate", "a candidate `CONFIG` (repeatable): name=value,... (default "+defaultCandidate+")", func(s string) error {
		specs = append(specs, s)
		return nil
	})
	replay := fs.String("replay", "", "replay the recording in `FILE` instead of a scenario")
	svg := fs.String("svg", "", "also draw the runs, as an SVG picture, to `FILE`")
	asJSON := fs.Bool("json", false, "print the figures as JSON, for scripts, instead of the table")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage(fmt.Sprintf("simulate takes no arguments; got %q", rest[0]))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if len(specs) == 0 {
		specs = []string{defaultCandidate}
	}
	cands := make([]candidate, len(specs))
	for i, s := range specs {
		c, err := parseCandidate(s)
		if err != nil {
			return cli.Usage(fmt.Sprintf("-candidate %q: %v", s, err))
		}
		cands[i] = c
	}

	if *replay != "" {
		for _, name := range scenarioFlags {
			if set[name] {
				return cli.Usage(fmt.Sprintf("-%s does not apply with -replay: a replay takes its calls from the recording", name))
			}
		}
		return simulateReplay(out, errOut, *replay, cands, *svg, *asJSON)
	}

	sc := infusesim.Scenario{Members: *members, Rate: *rate}
	ph, err := parsePhases(*phases, *latency)
	if err != nil {
		return cli.Usage("-phases: " + err.Error())
	}
	sc.Phases = ph
	if set["error-rate"] {
		if !(*errorRate > 0 && *errorRate <= 1) {
			return cli.Usage(fmt.Sprintf("-error-rate %v: want more than 0 and at most 1", *errorRate))
		}
		outage := false
		for i := range sc.Phases {
			if sc.Phases[i].Outage() {
				sc.Phases[i].ErrorRate, outage = *errorRate, true
			}
		}
		if !outage {
			return cli.Usage("-error-rate: the phases have no outage (no phase with an error rate above 0) to apply it to")
		}
	}
	if err := sc.Validate(); err != nil {
		return cli.Usage(strings.TrimPrefix(err.Error(), "infusesim: "))
	}
	var fleets []infusesim.Fleet
	switch *fleet {
	case "shared":
		fleets = []infusesim.Fleet{infusesim.Shared}
	case "local":
		fleets = []infusesim.Fleet{infusesim.Local}
	case "both":
		fleets = []infusesim.Fleet{infusesim.Shared, infusesim.Local}
	default:
		return cli.Usage(fmt.Sprintf("-fleet %q: want shared, local or both", *fleet))
	}
	switch {
	case *delay < 0:
		return cli.Usage(fmt.Sprintf("-delay %v: want 0 or more", *delay))
	case set["delay"] && *fleet == "local":
		return cli.Usage("-delay applies to a shared fleet; -fleet local shares nothing")
	case !(*jitter >= 0 && *jitter < 1):
		return cli.Usage(fmt.Sprintf("-jitter %v: want at least 0 and below 1", *jitter))
	}

	var names []string
	var results []infusesim.Result
	var columns []scenarioColumn
	pic := infusesim.Picture{Title: "infuse simulate: " + describeScenario(sc), Span: sc.Duration(), Phases: sc.Phases}
	prog := newProgress(errOut, len(cands)*len(fleets), sc.Duration())
	defer prog.end()
	for _, c := range cands {
		for _, f := range fleets {
			name := c.name
			if len(fleets) > 1 {
				name = f.String() + ": " + name
			}
			prog.begin(len(names)+1, name)
			opts := infusesim.Options{Fleet: f, Seed: *seed, Jitter: *jitter, Sequential: *sequential, Progress: prog.hook()}
			if f == infusesim.Shared {
				opts.Delay = *delay
			}
			run, err := infusesim.SimulateRun(sc, c.cfg, opts)
			if err != nil { // what the flags asked for is more than it can run
				return cli.Usage(strings.TrimPrefix(err.Error(), "infusesim: "))
			}
			r := infusesim.Summarize(sc, run.Calls)
			names = append(names, name)
			results = append(results, r)
			columns = append(columns, columnOf(name, f, r))
			pic.Panels = append(pic.Panels, infusesim.Panel{Title: name, Members: sc.Members, Calls: run.Calls, Changes: run.Changes})
		}
	}
	prog.end()
	if *asJSON {
		doc := scenarioJSON{
			Scenario: scenarioSpec{Members: sc.Members, Rate: sc.Rate, Phases: phasesJSON(sc.Phases), Description: describeScenario(sc)},
			Fleet:    *fleet, Seed: *seed, Jitter: *jitter, Sequential: *sequential, Columns: columns,
		}
		if *fleet != "local" {
			d := delay.Seconds()
			doc.DelaySeconds = &d
		}
		if err := writePicture(io.Discard, *svg, pic); err != nil {
			return err
		}
		doc.Picture = *svg
		return breaker.WriteJSON(out, doc)
	}
	shared := fmt.Sprintf("shared (one state, news delayed %v between a member and it)", *delay)
	local := "local (a state per member)"
	fleetLine := map[string]string{"shared": shared, "local": local, "both": shared + " and " + local}[*fleet]
	fmt.Fprintf(out, "scenario: %s\nfleet: %s; seed %d\n\n", describeScenario(sc), fleetLine, *seed)
	if err := infusesim.WriteTable(out, names, results); err != nil {
		return err
	}
	return writePicture(out, *svg, pic)
}

// simulateReplay replays the recording at path through each candidate.
func simulateReplay(out, errOut io.Writer, path string, cands []candidate, svg string, asJSON bool) error {
	rec, err := infusesim.ReadRecordingFile(path)
	if err != nil {
		return err
	}
	if len(rec.Records) == 0 {
		return fmt.Errorf("%s holds no records to replay", path)
	}
	names := []string{"as recorded"}
	var results []infusesim.ReplayResult
	var pic infusesim.Picture
	var head bytes.Buffer
	doc := replayJSON{Recording: recordingJSON{Path: path, Records: len(rec.Records), Complete: rec.Complete, Dropped: rec.Dropped}}
	prog := newProgress(errOut, len(cands), 0)
	defer prog.end()
	for i, c := range cands {
		prog.begin(i+1, c.name)
		run, err := infusesim.Replay(rec.Records, c.cfg)
		if err != nil {
			return err
		}
		if i == 0 {
			doc.Recording.Breakers, doc.Recording.SpanSeconds = len(run.Names), run.Span.Seconds()
			results = append(results, run.Recorded())
			pic = infusesim.Picture{
				Title:  fmt.Sprintf("infuse simulate -replay %s", path),
				Span:   run.Span + 1,
				Phases: run.Phases(roundUp(run.Span / 120)),
			}
			status := "closed by its recorder"
			if !rec.Complete {
				status = "not closed by its recorder (cut short?)"
			}
			fmt.Fprintf(&head, "recording: %s: %d calls of %d breakers over %v, %s; %d dropped past its cap\n\n",
				path, len(rec.Records), len(run.Names), run.Span.Round(time.Millisecond), status, rec.Dropped)
		}
		names = append(names, c.name)
		results = append(results, infusesim.SummarizeReplay(run))
		pic.Panels = append(pic.Panels, infusesim.Panel{Title: c.name, Members: len(run.Names), Calls: run.Calls(), Changes: run.Changes, Labels: run.Names})
	}
	prog.end()
	if asJSON {
		for i, r := range results {
			doc.Columns = append(doc.Columns, replayColumnOf(names[i], r))
		}
		if err := writePicture(io.Discard, svg, pic); err != nil {
			return err
		}
		doc.Picture = svg
		return breaker.WriteJSON(out, doc)
	}
	if _, err := head.WriteTo(out); err != nil {
		return err
	}
	if err := infusesim.WriteReplayTable(out, names, results); err != nil {
		return err
	}
	return writePicture(out, svg, pic)
}

// writePicture writes pic to path, when one is given.
func writePicture(out io.Writer, path string, pic infusesim.Picture) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = infusesim.WriteSVG(f, pic)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the picture: %w", err)
	}
	fmt.Fprintf(out, "\npicture: %s\n", path)
	return nil
}

// roundUp returns the first round duration, from 100 ms to an hour, not
// shorter than d.
func roundUp(d time.Duration) time.Duration {
	for _, r := range []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute,
	} {
		if r >= d {
			return r
		}
	}
	return time.Hour
}

// describeScenario says what a scenario is, in a line.
func describeScenario(s infusesim.Scenario) string {
	parts := make([]string, len(s.Phases))
	for i, p := range s.Phases {
		parts[i] = p.Duration.String() + " healthy"
		if p.Outage() {
			parts[i] = fmt.Sprintf("%v failing %s%% of calls", p.Duration, strconv.FormatFloat(p.ErrorRate*100, 'g', 4, 64))
		}
		if p.Latency > 0 {
			parts[i] += fmt.Sprintf(" (latency %v)", p.Latency)
		}
	}
	return fmt.Sprintf("%d members × %s calls/s for %v: %s", s.Members,
		strconv.FormatFloat(s.Rate, 'g', -1, 64), s.Duration(), strings.Join(parts, ", "))
}
