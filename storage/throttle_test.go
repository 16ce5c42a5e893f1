package storage_test

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

// The rejection probability is the SRE book's formula, checked against a
// model in exact rational arithmetic.
func TestThrottleFormulaMatchesTheModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		k := rapid.Float64Range(1, 10).Draw(rt, "K")
		maxRate := rapid.Float64Range(0, 1).Draw(rt, "MaxRejectRate")
		requests := rapid.Int64Range(0, 1<<40).Draw(rt, "requests")
		accepts := rapid.Int64Range(0, requests).Draw(rt, "accepts")
		th := storage.Throttle{K: k, MaxRejectRate: maxRate}
		got := th.RejectProbability(requests, accepts)

		// The model: max(0, (requests − K·accepts) / (requests + 1)),
		// capped at MaxRejectRate (0 meaning 0.9).
		if maxRate == 0 {
			maxRate = 0.9
		}
		num := new(big.Rat).Sub(new(big.Rat).SetInt64(requests), new(big.Rat).Mul(new(big.Rat).SetFloat64(k), new(big.Rat).SetInt64(accepts)))
		p := new(big.Rat).Quo(num, new(big.Rat).SetInt64(requests+1))
		want, _ := p.Float64()
		want = math.Min(math.Max(want, 0), maxRate)
		if math.Abs(got-want) > 1e-9 {
			rt.Fatalf("RejectProbability(%d, %d) with K %v, max %v = %v, want %v", requests, accepts, k, maxRate, got, want)
		}
		// More accepts never raise it; more requests never lower it.
		if more := th.RejectProbability(requests, min(accepts+1, requests)); more > got+1e-12 {
			rt.Fatalf("one more accept raised it: %v -> %v", got, more)
		}
		if more := th.RejectProbability(requests+1, accepts); more < got-1e-12 {
			rt.Fatalf("one more request lowered it: %v -> %v", got, more)
		}
	})
	if p := (storage.Throttle{}).RejectProbability(100, 0); p != 0 {
		t.Fatalf("no throttle rejects with probability %v", p)
	}
}

// Nothing counted, nothing rejected; an accept count below zero (a store's
// merged counts never are) counts as none.
func TestThrottleRejectsNothingBeforeAnyRequest(t *testing.T) {
	th := storage.Throttle{K: 2, MaxRejectRate: 1}
	for _, requests := range []int64{0, -1} {
		if p := th.RejectProbability(requests, 0); p != 0 {
			t.Errorf("%d requests: probability %v", requests, p)
		}
	}
	if p, want := th.RejectProbability(9, -5), 0.9; math.Abs(p-want) > 1e-12 {
		t.Errorf("9 requests, -5 accepts: %v, want %v (as with none)", p, want)
	}
	if p := (storage.Throttle{K: 1}).RejectProbability(1000, 0); p != 0.9 {
		t.Errorf("every request refused: %v, want the default cap 0.9", p)
	}
}

// K is taken from 1 to a million, MaxRejectRate from 0 to 1, and a
// throttle needs a time window; the zero Throttle is none.
func TestThrottlesAreAcceptedExactlyWithinTheirLimits(t *testing.T) {
	window := storage.TimeWindow(10*time.Second, time.Second)
	th := func(t storage.Throttle, w storage.Window) func(*storage.Settings) {
		return func(s *storage.Settings) { s.Throttle, s.Window = t, w }
	}
	checkLimits(t, []limitCase{
		{"K 1", th(storage.Throttle{K: 1}, window), ""},
		{"K a million", th(storage.Throttle{K: 1e6}, window), ""},
		{"K just under 1", th(storage.Throttle{K: math.Nextafter(1, 0)}, window), "Throttle"},
		{"K just over a million", th(storage.Throttle{K: math.Nextafter(1e6, 2e6)}, window), "Throttle"},
		{"K NaN", th(storage.Throttle{K: math.NaN()}, window), "Throttle"},
		{"MaxRejectRate 1", th(storage.Throttle{K: 2, MaxRejectRate: 1}, window), ""},
		{"MaxRejectRate just over 1", th(storage.Throttle{K: 2, MaxRejectRate: math.Nextafter(1, 2)}, window), "Throttle"},
		{"MaxRejectRate just under 0", th(storage.Throttle{K: 2, MaxRejectRate: -math.SmallestNonzeroFloat64}, window), "Throttle"},
		{"MaxRejectRate NaN", th(storage.Throttle{K: 2, MaxRejectRate: math.NaN()}, window), "Throttle"},
		{"MaxRejectRate without K", th(storage.Throttle{MaxRejectRate: 0.5}, window), "Throttle"},
		{"no window", th(storage.Throttle{K: 2}, storage.Window{}), "Throttle"},
		{"a count window", th(storage.Throttle{K: 2}, storage.CountWindow(100)), "Throttle"},
	})
	if !(storage.Throttle{}).IsZero() || (storage.Throttle{K: 1}).IsZero() {
		t.Error("IsZero is not K == 0")
	}
	if d := (storage.Throttle{}).WithDefaults(); d != (storage.Throttle{}) {
		t.Errorf("no throttle took a default: %+v", d)
	}
	if d := (storage.Throttle{K: 2, MaxRejectRate: 0.3}).WithDefaults(); d.MaxRejectRate != 0.3 {
		t.Errorf("a MaxRejectRate set became %v", d.MaxRejectRate)
	}
}
