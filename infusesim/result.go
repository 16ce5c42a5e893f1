package infusesim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Call is one call a member attempted.
type Call struct {
	// Member numbers the caller, from 0.
	Member int
	// At is when the call was attempted, from the scenario's start.
	At time.Duration
	// Admitted tells that the breaker let the call through to the backend.
	Admitted bool
	// Failed tells that the backend failed the admitted call.
	Failed bool
	// Errored tells a call the breaker neither let through nor rejected:
	// it failed on its own (a lock or a store it waits on). It counts as
	// no rejection.
	Errored bool
}

// rejected tells a call the breaker refused.
func (c Call) rejected() bool { return !c.Admitted && !c.Errored }

// Never is the Duration a Result gives for something that did not happen.
const Never time.Duration = -1

// Result is what a run of a scenario shows of a breaker configuration.
type Result struct {
	// Calls is the number of calls the members attempted.
	Calls int
	// Leaked is the number of calls that reached the backend while it
	// failed (in outage phases).
	Leaked int
	// Probes is the number of leaked calls a member let through after its
	// own first rejection in the same outage phase.
	Probes int
	// AllRejecting is the time from the first failing call of the first
	// outage until every member has rejected a call; Never when a member
	// never did in that phase.
	AllRejecting time.Duration
	// RejectedBefore is the number of calls rejected before the first
	// outage, while the backend was healthy.
	RejectedBefore int
	// RejectedRecovering is the number of calls rejected after the last
	// outage, while the backend was healthy again.
	RejectedRecovering int
	// Recovered is the time from the end of the last outage until every
	// member has had a call admitted; Never when one did not.
	Recovered time.Duration
	// Throughput is the calls a second each member attempted in the first
	// healthy phase, on average: less than Scenario.Rate when calls take
	// longer than the pace allows.
	Throughput float64
	// Commands is the number of commands the members sent to a shared
	// store (a script counts once), or -1 when not measured.
	Commands int64
	// Errors is the number of calls the breaker neither let through nor
	// rejected (Call.Errored).
	Errors int
}

// Summarize computes the Result of calls made in scenario s.
func Summarize(s Scenario, calls []Call) Result {
	r := Result{Calls: len(calls), AllRejecting: Never, Recovered: Never, Commands: -1}
	first, last := -1, -1
	for i, p := range s.Phases {
		if p.Outage() {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	// Each member's first rejection in each phase.
	type key struct{ member, phase int }
	rejected := make(map[key]time.Duration)
	admittedAfter := make(map[int]time.Duration) // first admission after the last outage
	for _, c := range calls {
		ph := s.PhaseAt(c.At)
		if ph < 0 {
			continue
		}
		k := key{c.Member, ph}
		if c.Errored {
			r.Errors++
			continue
		}
		if !c.Admitted {
			if t, ok := rejected[k]; !ok || c.At < t {
				rejected[k] = c.At
			}
		} else if last >= 0 && ph > last {
			if t, ok := admittedAfter[c.Member]; !ok || c.At < t {
				admittedAfter[c.Member] = c.At
			}
		}
	}
	healthy := -1
	firstFail := Never
	for _, c := range calls {
		ph := s.PhaseAt(c.At)
		if ph < 0 {
			continue
		}
		switch {
		case s.Phases[ph].Outage():
			if c.Admitted {
				r.Leaked++
				if t, ok := rejected[key{c.Member, ph}]; ok && c.At > t {
					r.Probes++
				}
			}
			if ph == first && c.Failed && (firstFail == Never || c.At < firstFail) {
				firstFail = c.At
			}
		case c.rejected() && (first < 0 || ph < first):
			r.RejectedBefore++
		case c.rejected() && last >= 0 && ph > last:
			r.RejectedRecovering++
		}
	}
	members := s.Members
	if first >= 0 && firstFail != Never {
		worst := time.Duration(0)
		for m := range members {
			t, ok := rejected[key{m, first}]
			if !ok {
				worst = Never
				break
			}
			worst = max(worst, t-firstFail)
		}
		r.AllRejecting = worst
	}
	if last >= 0 && last < len(s.Phases)-1 {
		end := s.PhaseStart(last + 1)
		worst := time.Duration(0)
		for m := range members {
			t, ok := admittedAfter[m]
			if !ok {
				worst = Never
				break
			}
			worst = max(worst, t-end)
		}
		r.Recovered = worst
	}
	for i, p := range s.Phases {
		if !p.Outage() {
			healthy = i
			break
		}
	}
	if healthy >= 0 {
		n := 0
		for _, c := range calls {
			if s.PhaseAt(c.At) == healthy {
				n++
			}
		}
		r.Throughput = float64(n) / float64(members) / s.Phases[healthy].Duration.Seconds()
	}
	return r
}

// Median returns the median of each figure of rs, taken figure by figure
// (Never counts as longer than any time). It returns the zero Result for
// no results.
func Median(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	ints := func(f func(Result) int) int {
		v := make([]int, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	durs := func(f func(Result) time.Duration) time.Duration {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			if v[i] = f(r); v[i] == Never {
				v[i] = math.MaxInt64
			}
		}
		slices.Sort(v)
		if m := v[len(v)/2]; m != math.MaxInt64 {
			return m
		}
		return Never
	}
	floats := func(f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	cmds := make([]int64, len(rs))
	for i, r := range rs {
		cmds[i] = r.Commands
	}
	slices.Sort(cmds)
	return Result{
		Calls:              ints(func(r Result) int { return r.Calls }),
		Leaked:             ints(func(r Result) int { return r.Leaked }),
		Probes:             ints(func(r Result) int { return r.Probes }),
		AllRejecting:       durs(func(r Result) time.Duration { return r.AllRejecting }),
		RejectedBefore:     ints(func(r Result) int { return r.RejectedBefore }),
		RejectedRecovering: ints(func(r Result) int { return r.RejectedRecovering }),
		Recovered:          durs(func(r Result) time.Duration { return r.Recovered }),
		Throughput:         floats(func(r Result) float64 { return r.Throughput }),
		Commands:           cmds[len(cmds)/2],
		Errors:             ints(func(r Result) int { return r.Errors }),
	}
}

// WriteTable writes a Markdown table of results, a column for each, headed
// by names (a "|" or a line break in a name is escaped). names and rs must
// be as long as each other. The row of commands sent is written only when
// a result measured them (Commands not -1), the row of the breaker's own
// errors only when a result has some.
func WriteTable(w io.Writer, names []string, rs []Result) error {
	if len(names) != len(rs) {
		return fmt.Errorf("infusesim: %d names for %d results", len(names), len(rs))
	}
	var b strings.Builder
	writeHeader(&b, names)
	row := func(label string, f func(Result) string) {
		b.WriteString("| " + label + " |")
		for _, r := range rs {
			b.WriteString(" " + f(r) + " |")
		}
		b.WriteString("\n")
	}
	row("calls that reached the backend while it failed", func(r Result) string { return fmt.Sprint(r.Leaked) })
	row("of them after the member's own first rejection (probes)", func(r Result) string { return fmt.Sprint(r.Probes) })
	row("from the first failing call until every member rejects", func(r Result) string { return duration(r.AllRejecting) })
	row("healthy calls rejected before the outage", func(r Result) string { return fmt.Sprint(r.RejectedBefore) })
	row("healthy calls rejected after it", func(r Result) string { return fmt.Sprint(r.RejectedRecovering) })
	row("from the backend's recovery until every member is admitted", func(r Result) string { return duration(r.Recovered) })
	row("calls/s per member while healthy", func(r Result) string { return fmt.Sprintf("%.1f", r.Throughput) })
	if slices.ContainsFunc(rs, func(r Result) bool { return r.Errors > 0 }) {
		row("calls the breaker failed itself, neither run nor rejected", func(r Result) string { return fmt.Sprint(r.Errors) })
	}
	// Only a run against a real store counts commands (the benchmarks'):
	// a simulation does not, and prints no row of dashes for them.
	if slices.ContainsFunc(rs, func(r Result) bool { return r.Commands >= 0 }) {
		row("commands sent per 1000 calls (a script counts once)", func(r Result) string {
			if r.Commands < 0 || r.Calls == 0 {
				return "—"
			}
			return fmt.Sprintf("%.1f", float64(r.Commands)*1000/float64(r.Calls))
		})
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHeader writes a Markdown table's header row and rule: an empty
// corner and a column for each name.
func writeHeader(b *strings.Builder, names []string) {
	b.WriteString("| |")
	for _, n := range names {
		b.WriteString(" " + cell(n) + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(names)) + "\n")
}

// cell makes s safe in a Markdown table cell: a "|" would end the cell and
// a line break the row.
var cellEscaper = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ", "\r", " ")

func cell(s string) string { return cellEscaper.Replace(s) }

// duration prints d with two significant decimals of milliseconds.
func duration(d time.Duration) string {
	if d == Never {
		return "never"
	}
	ms := float64(d) / float64(time.Millisecond)
	if ms >= 100 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// Timeline writes, step by step over span from the first failing call of
// the first outage, the calls that reached the failing backend and how many
// members had rejected a call by the end of each step: where the time to
// stop a fleet goes.
func Timeline(w io.Writer, s Scenario, calls []Call, span, step time.Duration) error {
	first := -1
	for i, p := range s.Phases {
		if p.Outage() {
			first = i
			break
		}
	}
	if first < 0 || step <= 0 {
		return nil
	}
	t0 := Never
	for _, c := range calls {
		if c.Failed && s.PhaseAt(c.At) == first && (t0 == Never || c.At < t0) {
			t0 = c.At
		}
	}
	if t0 == Never {
		_, err := io.WriteString(w, "no call failed\n")
		return err
	}
	steps := int(span / step)
	leaked := make([]int, steps)
	firstReject := make(map[int]time.Duration)
	for _, c := range calls {
		if s.PhaseAt(c.At) != first {
			continue
		}
		// span need not be a whole number of steps: the calls past the
		// last whole step are not shown.
		if i := int((c.At - t0) / step); c.Admitted && c.At >= t0 && i < steps {
			leaked[i]++
		}
		if c.rejected() {
			if t, ok := firstReject[c.Member]; !ok || c.At < t {
				firstReject[c.Member] = c.At
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| from the first failing call | calls reaching the backend | members rejecting |\n|---|---|---|\n")
	total := 0
	for i := range steps {
		end := t0 + time.Duration(i+1)*step
		n := 0
		for _, t := range firstReject {
			if t < end {
				n++
			}
		}
		total += leaked[i]
		fmt.Fprintf(&b, "| %v–%v | %d (%d in all) | %d of %d |\n", time.Duration(i)*step, time.Duration(i+1)*step, leaked[i], total, n, s.Members)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
