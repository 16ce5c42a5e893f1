package meter

import (
	"runtime"
	"testing"
)

// A set of counters has twice GOMAXPROCS shards, rounded up to a power of
// two, at least 2 and at most MaxShards: room for every core's goroutines
// to part, and no more.
func TestShardsFollowTheCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs, want := range map[int]int{1: 2, 2: 4, 3: 8, 4: 8, 5: 16, 16: 32, 17: 64, 32: 64, 33: 64, 100: 64} {
		runtime.GOMAXPROCS(procs)
		if got := ShardCount(); got != want {
			t.Errorf("GOMAXPROCS %d: %d shards, want %d", procs, got, want)
		}
	}
}
