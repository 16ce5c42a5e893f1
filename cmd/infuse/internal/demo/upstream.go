package demo

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// phase is the simulated upstream's behaviour for a while.
type phase struct {
	name     string
	length   time.Duration
	failRate float64
	latency  time.Duration
}

// schedule is the upstream's story, repeated: healthy, failing, slow,
// recovering.
var schedule = []phase{
	{"healthy", 4 * time.Second, 0.02, 2 * time.Millisecond},
	{"failing", 5 * time.Second, 0.9, 2 * time.Millisecond},
	{"slow", 4 * time.Second, 0.1, 60 * time.Millisecond},
	{"recovering", 4 * time.Second, 0.05, 2 * time.Millisecond},
}

// upstream is the simulated dependency.
type upstream struct{ start time.Time }

func (u *upstream) phase() phase {
	var total time.Duration
	for _, p := range schedule {
		total += p.length
	}
	at := time.Since(u.start) % total
	for _, p := range schedule {
		if at < p.length {
			return p
		}
		at -= p.length
	}
	return schedule[0]
}

var errUpstream = errors.New("upstream error")

func (u *upstream) call(ctx context.Context) error {
	p := u.phase()
	select {
	case <-time.After(p.latency):
	case <-ctx.Done():
		return ctx.Err()
	}
	if rand.Float64() < p.failRate {
		return errUpstream
	}
	return nil
}
