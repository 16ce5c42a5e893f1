package storage_test

import (
	"math"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

// A Backoff is taken with a multiplier of 0 (none) or 1 to 1000, a Max
// of 0 or more, a Jitter from 0 to 1, and Max or Jitter only with a
// multiplier.
func TestBackoffsAreAcceptedExactlyWithinTheirLimits(t *testing.T) {
	bo := func(b storage.Backoff) func(*storage.Settings) {
		return func(s *storage.Settings) { s.Backoff = b }
	}
	checkLimits(t, []limitCase{
		{"multiplier 1", bo(storage.Backoff{Multiplier: 1}), ""},
		{"multiplier 1000", bo(storage.Backoff{Multiplier: 1000}), ""},
		{"multiplier just under 1", bo(storage.Backoff{Multiplier: math.Nextafter(1, 0)}), "Backoff"},
		{"multiplier just over 1000", bo(storage.Backoff{Multiplier: math.Nextafter(1000, 2000)}), "Backoff"},
		{"multiplier NaN", bo(storage.Backoff{Multiplier: math.NaN()}), "Backoff"},
		{"multiplier -1", bo(storage.Backoff{Multiplier: -1}), "Backoff"},
		{"Max 1ns", bo(storage.Backoff{Multiplier: 2, Max: 1}), ""},
		{"Max -1ns", bo(storage.Backoff{Multiplier: 2, Max: -1}), "Backoff"},
		{"Jitter 1", bo(storage.Backoff{Multiplier: 2, Jitter: 1}), ""},
		{"Jitter just over 1", bo(storage.Backoff{Multiplier: 2, Jitter: math.Nextafter(1, 2)}), "Backoff"},
		{"Jitter just under 0", bo(storage.Backoff{Multiplier: 2, Jitter: -math.SmallestNonzeroFloat64}), "Backoff"},
		{"Jitter NaN", bo(storage.Backoff{Multiplier: 2, Jitter: math.NaN()}), "Backoff"},
		{"Max without a multiplier", bo(storage.Backoff{Max: time.Minute}), "Backoff"},
		{"Jitter without a multiplier", bo(storage.Backoff{Jitter: 0.1}), "Backoff"},
	})
}

// The k-th opening in a row lasts ResetTimeout × Multiplier^(k−1), at
// most Max, varied by at most Jitter of it either way, the same for every
// member that computes it for one generation; the count of openings
// starts at 1 (0 and 1 both give ResetTimeout).
func TestAnOpenPeriodGrowsByTheBackoffsFormula(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		reset := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Hour)).Draw(t, "ResetTimeout"))
		bo := storage.Backoff{
			Multiplier: rapid.Float64Range(1, 10).Draw(t, "Multiplier"),
			Max:        time.Duration(rapid.Int64Range(0, int64(24*time.Hour)).Draw(t, "Max")),
			Jitter:     rapid.Float64Range(0, 1).Draw(t, "Jitter"),
		}
		s := storage.Snapshot{Generation: rapid.Uint64().Draw(t, "Generation"), Trips: rapid.IntRange(0, 20).Draw(t, "Trips")}
		p := storage.Settings{ResetTimeout: reset, Backoff: bo}
		got := p.OpenFor(s)

		want := float64(reset) * math.Pow(bo.Multiplier, float64(max(s.Trips, 1)-1))
		if bo.Max > 0 {
			want = math.Min(want, float64(bo.Max))
		}
		want = math.Min(want, math.MaxInt64/2)
		lo, hi := want*(1-bo.Jitter)*(1-1e-9)-1, want*(1+bo.Jitter)*(1+1e-9)+1
		if float64(got) < lo || float64(got) > hi {
			t.Fatalf("%d trips, %+v, ResetTimeout %v: open for %v, want %v within ±%v", s.Trips, bo, reset, got, time.Duration(want), bo.Jitter)
		}
		if again := p.OpenFor(s); again != got {
			t.Fatalf("one generation, two periods: %v and %v", got, again)
		}
		if bo.Jitter == 0 && math.Abs(float64(got)-want) > want*1e-9+1 {
			t.Fatalf("without jitter: %v, want %v", got, time.Duration(want))
		}
	})
}

// Without a backoff every open period is ResetTimeout, however many
// times in a row the breaker opened.
func TestWithoutABackoffEveryOpenPeriodIsResetTimeout(t *testing.T) {
	p := storage.Settings{ResetTimeout: 7 * time.Second}
	for _, trips := range []int{0, 1, 2, 50, math.MaxInt32} {
		if got := p.OpenFor(storage.Snapshot{Trips: trips, Generation: 9}); got != 7*time.Second {
			t.Errorf("%d trips: %v", trips, got)
		}
	}
}

// The open period a backoff gives is a pure function of the generation
// and the trips, the same on every member and in every version of the
// library (members of a fleet in a rolling upgrade agree on it).
func TestBackoffOpenPeriodsArePinned(t *testing.T) {
	p := storage.Policy{ResetTimeout: 10 * time.Second, Backoff: storage.Backoff{Multiplier: 2}}
	for trips, want := range map[int]time.Duration{0: 10 * time.Second, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second} {
		if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: trips}); got != want {
			t.Errorf("no Max, %d trips: %v, want %v", trips, got, want)
		}
	}
	p.Backoff.Max = 30 * time.Second
	if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: 4}); got != 30*time.Second {
		t.Errorf("Max 30s, 4 trips: %v", got)
	}
	if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: 2}); got != 20*time.Second {
		t.Errorf("Max 30s, 2 trips: %v", got)
	}
	p.Backoff.Max = 20 * time.Second
	if got := p.OpenFor(storage.Snapshot{Generation: 7, Trips: 2}); got != 20*time.Second {
		t.Errorf("Max 20s, 2 trips: %v", got)
	}
	p.Backoff = storage.Backoff{Multiplier: 1000}
	if got := p.OpenFor(storage.Snapshot{Trips: 1 << 20}); got != 1<<62 { // MaxInt64/2, as a float64
		t.Errorf("a huge backoff: %v, want the cap %v", got, time.Duration(1<<62))
	}
	p.Backoff = storage.Backoff{Multiplier: 1, Jitter: 0.5}
	for gen, want := range []time.Duration{10665615751, 10911897341, 6134503420, 9314558177} {
		// Within a microsecond: an architecture may fuse a multiply and an
		// add, which rounds once instead of twice.
		if got := p.OpenFor(storage.Snapshot{Generation: uint64(gen + 1), Trips: 1}); got < want-time.Microsecond || got > want+time.Microsecond {
			t.Errorf("jitter 0.5, generation %d: %v, want %v", gen+1, got, want)
		}
	}
}

// The jitter keeps each generation's period within ±Jitter, the same for
// every member, and spreads the generations' periods over the whole range
// both ways: a fleet's breakers do not retry in step.
func TestBackoffJitterStaysInBoundsAndSpreads(t *testing.T) {
	p := storage.Policy{ResetTimeout: 10 * time.Second, Backoff: storage.Backoff{Multiplier: 1, Jitter: 0.2}}
	seen := map[time.Duration]bool{}
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for gen := uint64(1); gen <= 1000; gen++ {
		d := p.OpenFor(storage.Snapshot{Generation: gen, Trips: 1})
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("generation %d: %v is outside ±20 %% of 10s", gen, d)
		}
		if d != p.OpenFor(storage.Snapshot{Generation: gen, Trips: 1}) {
			t.Fatal("jitter differs for one generation")
		}
		seen[d] = true
		lo, hi = min(lo, d), max(hi, d)
	}
	if len(seen) < 900 {
		t.Fatalf("only %d distinct periods of 1000: the jitter hardly varies", len(seen))
	}
	if lo > 8200*time.Millisecond || hi < 11800*time.Millisecond {
		t.Fatalf("1000 generations' periods span %v to %v; want about 8s to 12s", lo, hi)
	}
}

// A trial expiry reads as a command line writes it.
func TestATrialExpiryReadsAsACommandLineWritesIt(t *testing.T) {
	for e, want := range map[storage.TrialExpiry]string{storage.ExpiryOpens: "opens", storage.ExpiryCloses: "closes",
		storage.ExpiryFrees: "frees", 3: "TrialExpiry(3)", -1: "TrialExpiry(-1)"} {
		if got := e.String(); got != want {
			t.Errorf("%d: %q, want %q", int(e), got, want)
		}
	}
}

// A ramp of n steps over d lets through (k+1)/n of the calls from k·d/n
// to (k+1)·d/n after the close, and all of them from d on: checked in
// the middle of each step and at its last nanosecond. (At a step's first
// nanosecond the division may round to the step before: a step is late
// by a nanosecond at most.)
func TestARampLetsThroughItsShareAtEachStep(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 1000).Draw(t, "steps")
		// A duration that n divides, so that each step's bounds are exact.
		step := time.Duration(rapid.Int64Range(2, int64(time.Minute)).Draw(t, "step"))
		d := time.Duration(n) * step
		k := rapid.IntRange(0, n-1).Draw(t, "k")
		want := float64(k+1) / float64(n)
		start := time.Duration(k) * step
		for _, at := range []time.Duration{start + step/2, start + step - 1} {
			if got := storage.RampShare(at, d, n); math.Abs(got-want) > 1e-12 {
				t.Fatalf("%v into a ramp of %d steps over %v: share %v, want %v", at, n, d, got, want)
			}
		}
		if got := storage.RampShare(start, d, n); math.Abs(got-want) > 1e-12 && math.Abs(got-(want-1/float64(n))) > 1e-12 {
			t.Fatalf("%v into a ramp of %d steps over %v, the step's first nanosecond: share %v, want %v", start, n, d, got, want)
		}
		if got := storage.RampShare(d, d, n); got != 1 {
			t.Fatalf("at the end of the ramp: share %v", got)
		}
	})
}

// A ramp without steps lets through elapsed/d of the calls, at least 1 %,
// all of them from d on; no ramp (d of 0 or less) lets everything
// through; a time before the close counts as the close.
func TestALinearRampLetsThroughTheShareOfTimeElapsed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(1, int64(time.Hour)).Draw(t, "d"))
		at := time.Duration(rapid.Int64Range(-int64(time.Hour), 2*int64(time.Hour)).Draw(t, "at"))
		want := 1.0
		if at < d {
			want = math.Max(float64(max(at, 0))/float64(d), 0.01)
		}
		if got := storage.RampShare(at, d, 0); math.Abs(got-want) > 1e-12 {
			t.Fatalf("%v into a ramp over %v: share %v, want %v", at, d, got, want)
		}
		if got := storage.RampShare(at, -d, 0); got != 1 {
			t.Fatalf("no ramp (%v): share %v", -d, got)
		}
		if got := storage.RampShare(at, 0, 3); got != 1 {
			t.Fatalf("no ramp, 3 steps: share %v", got)
		}
	})
	if got := storage.RampShare(-time.Second, 4*time.Second, 4); got != 0.25 {
		t.Fatalf("before the close, a ramp of 4 steps: share %v, want its first step", got)
	}
}
