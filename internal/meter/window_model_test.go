package meter

import (
	"testing"

	"pgregory.net/rapid"
)

// A count window holds exactly the last n outcomes, whatever their order:
// checked against a model over random sequences, including the shortcut
// that writes nothing for a success into a full window of successes.
func TestCountWindowMatchesTheLastNOutcomes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "n")
		m := newCountMeter(n)
		m.setMinCalls(1)
		var model []uint32
		steps := rapid.IntRange(0, 200).Draw(t, "steps")
		for i := range steps {
			// Mostly successes, so that full windows of them happen.
			kind := rapid.IntRange(0, 9).Draw(t, "kind")
			failed, slow := kind == 0, kind == 1
			m.Record(failed, slow)
			model = append(model, outcomeBits(failed, slow))
			if len(model) > n {
				model = model[1:]
			}
			var want Tally
			for _, v := range model {
				want.Calls++
				want.Failures += int64(v&failBit) >> 1
				want.Slow += int64(v&slowBit) >> 2
			}
			if got := m.Tally(); got != want {
				t.Fatalf("step %d: window %+v, the last %d outcomes %+v", i, got, n, want)
			}
		}
	})
}
