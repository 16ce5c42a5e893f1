package simulate

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
)

// progress tells a person at a terminal how far the runs are: on each
// tick (a second) a line, redrawn in place, cleared at the end. Nothing
// is written before the first tick, so a run that takes less than one
// writes nothing. A nil *progress does nothing.
type progress struct {
	w     io.Writer
	runs  int
	span  time.Duration // the scenario's; 0 for a replay
	start time.Time

	mu    sync.Mutex
	run   int
	name  string
	at    time.Duration
	drawn bool

	stop, done chan struct{}
}

// newProgress is the progress of runs runs of a scenario of span (0: of
// replays) told on w each second, when w is a terminal; nil otherwise.
func newProgress(w io.Writer, runs int, span time.Duration) *progress {
	if !cli.IsTerminal(w) {
		return nil
	}
	t := time.NewTicker(time.Second)
	p := startProgress(w, t.C, runs, span)
	go func() { <-p.done; t.Stop() }()
	return p
}

// startProgress reports to w on each tick until end.
func startProgress(w io.Writer, tick <-chan time.Time, runs int, span time.Duration) *progress {
	p := &progress{w: w, runs: runs, span: span, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-tick:
				p.draw()
			}
		}
	}()
	return p
}

// begin says that run (from 1) of the column name starts.
func (p *progress) begin(run int, name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.run, p.name, p.at = run, name, 0
	p.mu.Unlock()
}

// reached is infusesim.Options.Progress: the run reached virtual time at.
func (p *progress) reached(at time.Duration) {
	p.mu.Lock()
	p.at = at
	p.mu.Unlock()
}

// hook is the run's infusesim.Options.Progress, nil without progress.
func (p *progress) hook() func(time.Duration) {
	if p == nil {
		return nil
	}
	return p.reached
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	what := "run"
	if p.span == 0 {
		what = "replay"
	}
	line := fmt.Sprintf("simulate: %s %d of %d (%s)", what, p.run, p.runs, p.name)
	if p.span > 0 {
		line += fmt.Sprintf(": %d%% of the scenario", int(100*p.at/p.span))
	}
	line += fmt.Sprintf(", %v so far", time.Since(p.start).Round(time.Second))
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	p.drawn = true
}

// end stops the reports and clears the line, if one was drawn.
func (p *progress) end() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
		return // ended already
	default:
	}
	close(p.stop)
	<-p.done
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
