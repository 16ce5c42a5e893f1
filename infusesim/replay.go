package infusesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/infuse-go/infuse"
)

// ReplayCall is one recorded call, replayed through a candidate.
type ReplayCall struct {
	// Call is the call as the candidate saw it: Member indexes
	// ReplayRun.Names, At counts from ReplayRun.Start, Admitted tells that
	// the candidate's breaker let it through, and Failed that it was
	// admitted and Outcome is Failed.
	Call
	// Outcome is the backend's answer to the call: Succeeded, Failed or
	// Ignored, as recorded, or inferred for a call the recording's breaker
	// rejected.
	Outcome Outcome
	// Inferred tells that the recording's breaker rejected the call, so
	// Outcome and its latency are inferred: those of the call of the same
	// name nearest in time that did run (the earlier on a tie); a success
	// taking no time when no call of that name ran.
	Inferred bool
	// Trial tells that the candidate admitted the call while its breaker
	// was not closed: a trial.
	Trial bool
}

// ReplayRun is a recording replayed through one candidate configuration.
type ReplayRun struct {
	// Names are the recording's breaker names, sorted; a call's Member
	// indexes them.
	Names []string
	// Start is the time of the earliest record; offsets count from it.
	Start time.Time
	// Span is the time from Start to the latest record.
	Span time.Duration
	// Replayed holds a ReplayCall per record, in time order.
	Replayed []ReplayCall
	// Changes holds every breaker's state changes, in order.
	Changes []Change
}

// Calls returns the replayed calls as plain Calls, for a picture.
func (r ReplayRun) Calls() []Call {
	calls := make([]Call, len(r.Replayed))
	for i, c := range r.Replayed {
		calls[i] = c.Call
	}
	return calls
}

// Replay runs the recorded calls recs through the candidate configuration
// cfg on a virtual clock that starts at the earliest record's time: a
// breaker per recorded name (each with a MemoryStorage of its own, as the
// breakers of one process have), made from cfg with Name set to the
// recorded name. cfg must leave Clock and Storage nil.
//
// Every record is a call attempted at its time, rejections included, since
// they too are load the candidate might have admitted. An admitted call
// returns after its recorded latency with its recorded outcome: nil for
// Succeeded, an error for Failed, context.Canceled for Ignored (which the
// breaker counts as nothing). For a call the recording's breaker rejected,
// both are inferred (see ReplayCall.Inferred). recs need not be sorted;
// Replay does not change it.
//
// Its memory follows the recording: about 120 bytes a record and 1 KiB
// a name, and the breakers' windows. A count window of any size starts at
// 4 KiB and grows with the calls it holds (see infuse.CountWindow), so
// with one a replay allocates, in all, under 256 bytes a record and 8 KiB
// a name. A time window is allocated whole, for each name: 32 bytes a
// bucket (the buckets rounded up to a power of two) in each of twice
// GOMAXPROCS shards (2 to 64); the ten buckets of the command's windows
// take 640 bytes a shard.
func Replay(recs []Record, cfg infuse.Config) (ReplayRun, error) {
	switch {
	case len(recs) == 0:
		return ReplayRun{}, errors.New("infusesim: nothing to replay: the recording holds no records")
	case cfg.Clock != nil:
		return ReplayRun{}, errors.New("infusesim: the candidate Config sets a Clock; leave it nil, the replay gives every breaker its virtual clock")
	case cfg.Storage != nil:
		return ReplayRun{}, errors.New("infusesim: the candidate Config sets a Storage; leave it nil: each recorded name gets a breaker with its own")
	}
	for i, rec := range recs {
		if err := rec.check(); err != nil {
			return ReplayRun{}, fmt.Errorf("record %d: %w", i+1, err)
		}
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Time.Compare(b.Time) })

	run := ReplayRun{Start: recs[0].Time, Span: recs[len(recs)-1].Time.Sub(recs[0].Time)}
	index := make(map[string]int)
	for _, rec := range recs {
		if _, ok := index[rec.Name]; !ok {
			index[rec.Name] = 0
			run.Names = append(run.Names, rec.Name)
		}
	}
	slices.Sort(run.Names)
	for i, n := range run.Names {
		index[n] = i
	}
	outcomes, latencies := infer(recs, index, len(run.Names))

	en := newEngine(run.Start)
	breakers := make([]*infuse.Breaker, len(run.Names))
	for i, name := range run.Names {
		c := cfg
		c.Name, c.Clock = name, &en.clock
		c.Listeners = append(slices.Clip(cfg.Listeners), infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventStateChange {
				run.Changes = append(run.Changes, Change{Member: i, At: e.Time.Sub(run.Start), From: e.From, To: e.To, Remote: e.Remote})
			}
		}))
		b, err := infuse.New(c)
		if err != nil {
			return ReplayRun{}, fmt.Errorf("infusesim: the candidate Config: %w", err)
		}
		breakers[i] = b
	}

	run.Replayed = make([]ReplayCall, len(recs))
	ctx := context.Background()
	for i, rec := range recs {
		at := rec.Time.Sub(run.Start)
		en.runUntil(at) // the calls that return by then
		m := index[rec.Name]
		b := breakers[m]
		trial := b.State() != infuse.Closed
		done, err := b.Allow(ctx)
		admitted := err == nil
		o := outcomes[i]
		run.Replayed[i] = ReplayCall{
			Call:     Call{Member: m, At: at, Admitted: admitted, Failed: admitted && o == Failed},
			Outcome:  o,
			Inferred: rec.Outcome == Rejected,
			Trial:    admitted && trial,
		}
		if !admitted {
			continue
		}
		var out error
		switch o {
		case Failed:
			out = errBackend
		case Ignored:
			out = context.Canceled
		}
		if latencies[i] == 0 {
			done(out)
		} else {
			en.after(latencies[i], event{kind: evComplete, done: done, err: out})
		}
	}
	en.runAll()
	return run, nil
}

// infer returns each record's backend outcome and latency: as recorded
// for a call that ran; for a rejected one, those of the call of the same
// name nearest in time that ran with a success or failure (the earlier on
// a tie), or a success taking no time when there is none. recs is in time
// order.
func infer(recs []Record, index map[string]int, names int) ([]Outcome, []time.Duration) {
	outcomes := make([]Outcome, len(recs))
	latencies := make([]time.Duration, len(recs))
	informs := func(o Outcome) bool { return o == Succeeded || o == Failed }
	// prev[i] is the informing record of i's name at or before i; next[i]
	// the one at or after it; -1 for none.
	prev := make([]int, len(recs))
	next := make([]int, len(recs))
	last := make([]int, names)
	for n := range last {
		last[n] = -1
	}
	for i, rec := range recs {
		n := index[rec.Name]
		if informs(rec.Outcome) {
			last[n] = i
		}
		prev[i] = last[n]
	}
	for n := range last {
		last[n] = -1
	}
	for i := len(recs) - 1; i >= 0; i-- {
		n := index[recs[i].Name]
		if informs(recs[i].Outcome) {
			last[n] = i
		}
		next[i] = last[n]
	}
	for i, rec := range recs {
		if rec.Outcome != Rejected {
			outcomes[i], latencies[i] = rec.Outcome, rec.Latency
			continue
		}
		src := prev[i]
		if p, q := prev[i], next[i]; p < 0 || (q >= 0 && recs[q].Time.Sub(rec.Time) < rec.Time.Sub(recs[p].Time)) {
			src = q
		}
		if src < 0 {
			outcomes[i] = Succeeded
			continue
		}
		outcomes[i], latencies[i] = recs[src].Outcome, recs[src].Latency
	}
	return outcomes, latencies
}

// Phases returns the backend's behaviour over the replay as phases of
// length bucket (the last one shorter), each with the share of the calls
// starting in it that failed (recorded or inferred, whoever admitted
// them; Latency is left 0); runs of phases with one ErrorRate are merged.
// It gives a picture of a replay the shading a scenario's phases give.
func (r ReplayRun) Phases(bucket time.Duration) []Phase {
	if bucket <= 0 || len(r.Replayed) == 0 {
		return nil
	}
	n := max(int((r.Span+bucket-1)/bucket), 1)
	type acc struct{ calls, failed int }
	accs := make([]acc, n)
	for _, c := range r.Replayed {
		if c.Outcome != Succeeded && c.Outcome != Failed {
			continue
		}
		a := &accs[min(int(c.At/bucket), n-1)]
		a.calls++
		if c.Outcome == Failed {
			a.failed++
		}
	}
	var phases []Phase
	for i, a := range accs {
		p := Phase{Duration: bucket}
		if i == n-1 {
			p.Duration = max(r.Span-time.Duration(i)*bucket, 1)
		}
		if a.calls > 0 {
			p.ErrorRate = float64(a.failed) / float64(a.calls)
		}
		if k := len(phases) - 1; k >= 0 && phases[k].ErrorRate == p.ErrorRate {
			phases[k].Duration += p.Duration
			continue
		}
		phases = append(phases, p)
	}
	return phases
}

// ReplayResult is what a replay shows of a candidate configuration. A
// figure that cannot be known (the recording's own trials and trips) is
// -1.
type ReplayResult struct {
	// Calls is the number of calls replayed, the recording's rejections
	// included.
	Calls int
	// Admitted is the number of calls the breakers let through.
	Admitted int
	// FailuresAdmitted is the number of failing calls that reached the
	// backend.
	FailuresAdmitted int
	// FailedTrials is the number of them admitted as trials, while the
	// breaker was not closed.
	FailedTrials int
	// FailuresRejected is the number of failing calls the breakers kept
	// from the backend.
	FailuresRejected int
	// SuccessesRejected is the number of calls the backend would have
	// served that the breakers rejected: the cost of the protection.
	SuccessesRejected int
	// Opened is the number of times a breaker opened.
	Opened int
	// Inferred is the number of calls whose outcome is inferred, because
	// the recording's breaker rejected them.
	Inferred int
}

// SummarizeReplay computes the ReplayResult of a replay.
func SummarizeReplay(r ReplayRun) ReplayResult {
	var res ReplayResult
	for _, c := range r.Replayed {
		res.Calls++
		if c.Inferred {
			res.Inferred++
		}
		switch {
		case c.Admitted:
			res.Admitted++
			if c.Outcome == Failed {
				res.FailuresAdmitted++
				if c.Trial {
					res.FailedTrials++
				}
			}
		case c.Outcome == Failed:
			res.FailuresRejected++
		case c.Outcome == Succeeded:
			res.SuccessesRejected++
		}
	}
	for _, ch := range r.Changes {
		if ch.To == infuse.Open {
			res.Opened++
		}
	}
	return res
}

// Recorded computes the ReplayResult of the recording itself: what the
// breakers that were recorded did. Their trials and trips are not in a
// recording; they are -1.
func (r ReplayRun) Recorded() ReplayResult {
	res := ReplayResult{FailedTrials: -1, Opened: -1}
	for _, c := range r.Replayed {
		res.Calls++
		switch {
		case !c.Inferred:
			res.Admitted++
			if c.Outcome == Failed {
				res.FailuresAdmitted++
			}
		case c.Outcome == Failed:
			res.Inferred++
			res.FailuresRejected++
		case c.Outcome == Succeeded:
			res.Inferred++
			res.SuccessesRejected++
		default:
			res.Inferred++
		}
	}
	return res
}

// WriteReplayTable writes a Markdown table of replay results, a column for
// each, headed by names, as WriteTable does for scenario results.
func WriteReplayTable(w io.Writer, names []string, rs []ReplayResult) error {
	if len(names) != len(rs) {
		return fmt.Errorf("infusesim: %d names for %d results", len(names), len(rs))
	}
	var b strings.Builder
	writeHeader(&b, names)
	row := func(label string, f func(ReplayResult) int) {
		b.WriteString("| " + label + " |")
		for _, r := range rs {
			if v := f(r); v < 0 {
				b.WriteString(" — |")
			} else {
				fmt.Fprintf(&b, " %d |", v)
			}
		}
		b.WriteString("\n")
	}
	row("calls replayed (rejected ones included)", func(r ReplayResult) int { return r.Calls })
	row("failing calls that reached the backend", func(r ReplayResult) int { return r.FailuresAdmitted })
	row("of them trials (the breaker not closed)", func(r ReplayResult) int { return r.FailedTrials })
	row("failing calls rejected (kept off the backend)", func(r ReplayResult) int { return r.FailuresRejected })
	row("healthy calls rejected", func(r ReplayResult) int { return r.SuccessesRejected })
	row("calls admitted", func(r ReplayResult) int { return r.Admitted })
	row("times a breaker opened", func(r ReplayResult) int { return r.Opened })
	row("outcomes inferred (the recorded breaker rejected the call)", func(r ReplayResult) int { return r.Inferred })
	_, err := io.WriteString(w, b.String())
	return err
}
