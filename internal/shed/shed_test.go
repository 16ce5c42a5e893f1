package shed

import (
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// After n calls asking for share p, an accumulator has shed exactly
// ⌊n·Scaled(p)/2³²⌋ of them, whatever n and p: the share asked for to
// within one call, at every call, with no randomness.
func TestAnAccumulatorShedsTheShareAskedForToWithinOneCall(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.Float64Range(0, 1).Draw(t, "p")
		n := rapid.IntRange(0, 3000).Draw(t, "n")
		inc := Scaled(p)
		var a Accumulator
		shed := uint64(0)
		for i := 1; i <= n; i++ {
			if a.Shed(inc) {
				shed++
			}
			if want := uint64(i) * inc >> 32; shed != want {
				t.Fatalf("p %v: %d of %d calls shed, want %d", p, shed, i, want)
			}
			if d := float64(shed) - p*float64(i); d > 1e-6 || d < -1-1e-6 {
				t.Fatalf("p %v: %d of %d calls shed, %v asked", p, shed, i, p*float64(i))
			}
		}
	})
}

// A share of 0 sheds nothing, a share of 1 every call, and a share is
// counted in 1/2³² units.
func TestTheEndsOfTheShare(t *testing.T) {
	if Scaled(0) != 0 || Scaled(1) != 1<<32 || Scaled(0.5) != 1<<31 || Scaled(0.25) != 1<<30 {
		t.Fatalf("Scaled: 0 → %d, 1 → %d, 0.5 → %d, 0.25 → %d", Scaled(0), Scaled(1), Scaled(0.5), Scaled(0.25))
	}
	var none, all Accumulator
	for i := range 1000 {
		if none.Shed(Scaled(0)) {
			t.Fatalf("a share of 0 shed call %d", i)
		}
		if !all.Shed(Scaled(1)) {
			t.Fatalf("a share of 1 let call %d through", i)
		}
	}
}

// Calls on many goroutines at once shed the share of all of them, none
// counted twice or lost.
func TestConcurrentCallsShedTheShareOfAllOfThem(t *testing.T) {
	const goroutines, calls = 8, 10000
	var a Accumulator
	var mu sync.Mutex
	var wg sync.WaitGroup
	shed := 0
	for range goroutines {
		wg.Go(func() {
			n := 0
			for range calls {
				if a.Shed(Scaled(0.3)) {
					n++
				}
			}
			mu.Lock()
			shed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if want := int(goroutines * calls * Scaled(0.3) >> 32); shed != want {
		t.Fatalf("%d of %d calls shed at 0.3, want %d", shed, goroutines*calls, want)
	}
}
