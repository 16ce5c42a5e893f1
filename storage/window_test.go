package storage_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
	"pgregory.net/rapid"
)

// The windows a breaker may take, at the edges of the documented limits:
// a count window of 1 to MaxWindowCalls calls; a time window whose bucket
// is at least a millisecond and at most the window, in at most
// MaxWindowBuckets buckets; never both kinds at once.
func TestWindowsAreAcceptedExactlyWithinTheirLimits(t *testing.T) {
	rate := func(w storage.Window) func(*storage.Settings) {
		return func(s *storage.Settings) { s.Window, s.FailureRate = w, 0.5 }
	}
	checkLimits(t, []limitCase{
		{"a count window of 1 call", rate(storage.CountWindow(1)), ""},
		{"a count window of MaxWindowCalls", rate(storage.CountWindow(storage.MaxWindowCalls)), ""},
		{"a count window of MaxWindowCalls+1", rate(storage.CountWindow(storage.MaxWindowCalls + 1)), "Window"},
		{"a count window of -1 calls", rate(storage.CountWindow(-1)), "Window"},
		{"a time window of one millisecond bucket", rate(storage.TimeWindow(time.Millisecond, time.Millisecond)), ""},
		{"a bucket under a millisecond", rate(storage.TimeWindow(time.Millisecond, time.Millisecond-1)), "Window"},
		{"a bucket as long as the window", rate(storage.TimeWindow(time.Second, time.Second)), ""},
		{"a bucket longer than the window", rate(storage.TimeWindow(time.Second, time.Second+1)), "Window"},
		{"a zero bucket", rate(storage.TimeWindow(time.Second, 0)), "Window"},
		{"a negative bucket", rate(storage.TimeWindow(time.Second, -time.Second)), "Window"},
		{"a negative time window", rate(storage.TimeWindow(-time.Second, time.Second)), "Window"},
		{"MaxWindowBuckets buckets", rate(storage.TimeWindow(storage.MaxWindowBuckets*time.Second, time.Second)), ""},
		{"a bucket more", rate(storage.TimeWindow(storage.MaxWindowBuckets*time.Second+1, time.Second)), "Window"},
		{"a count and a time window", rate(mustParse(t, `{"size":10,"duration":1000000000,"bucket":1000000000}`)), "Window"},
		{"a count window and a bucket", rate(mustParse(t, `{"size":10,"bucket":1000000000}`)), "Window"},
		{"a count window and a duration", rate(mustParse(t, `{"size":10,"duration":1000000000}`)), "Window"},
	})
}

func mustParse(t *testing.T, js string) storage.Window {
	t.Helper()
	var w storage.Window
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// A time window holds ⌈d/bucket⌉ buckets: a part bucket counts as one.
func TestATimeWindowsBucketsAreItsLengthRoundedUp(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bucket := time.Duration(rapid.Int64Range(1, int64(time.Hour)).Draw(t, "bucket"))
		d := time.Duration(rapid.Int64Range(1, 1<<62).Draw(t, "d"))
		n := storage.TimeWindow(d, bucket).Buckets()
		if time.Duration(n-1)*bucket >= d || time.Duration(n)*bucket < d {
			t.Fatalf("%v in buckets of %v: %d buckets", d, bucket, n)
		}
	})
}

// What a window says it is, and its sizes.
func TestAWindowDescribesItself(t *testing.T) {
	for _, c := range []struct {
		w                storage.Window
		s                string
		size             int
		duration, bucket time.Duration
		zero             bool
	}{
		{storage.Window{}, "none", 0, 0, 0, true},
		{storage.CountWindow(100), "last 100 calls", 100, 0, 0, false},
		{storage.TimeWindow(time.Minute, time.Second), "last 1m0s in 1s buckets", 0, time.Minute, time.Second, false},
	} {
		if c.w.String() != c.s || c.w.Size() != c.size || c.w.Duration() != c.duration || c.w.Bucket() != c.bucket || c.w.IsZero() != c.zero {
			t.Errorf("%q: size %d, duration %v, bucket %v, zero %v", c.w, c.w.Size(), c.w.Duration(), c.w.Bucket(), c.w.IsZero())
		}
	}
}

// A window goes to JSON and back as it was (a store carries a shadow's
// candidate so), in the documented form; unknown fields are refused.
func TestAWindowRoundTripsThroughJSON(t *testing.T) {
	for _, c := range []struct {
		w  storage.Window
		js string
	}{
		{storage.CountWindow(100), `{"size":100}`},
		{storage.TimeWindow(time.Minute, time.Second), `{"duration":60000000000,"bucket":1000000000}`},
		{storage.Window{}, `{"duration":0,"bucket":0}`},
	} {
		b, err := json.Marshal(c.w)
		if err != nil || string(b) != c.js {
			t.Errorf("%v: %s %v, want %s", c.w, b, err, c.js)
		}
		var back storage.Window
		if err := json.Unmarshal(b, &back); err != nil || back != c.w {
			t.Errorf("%s: %v %v, want %v", b, back, err, c.w)
		}
	}
	var w storage.Window
	if err := json.Unmarshal([]byte(`{"size":10,"buckets":3}`), &w); err == nil {
		t.Errorf("an unknown field accepted: %v", w)
	}
	if err := json.Unmarshal([]byte(`{"size":"ten"}`), &w); err == nil {
		t.Errorf("a size that is no number accepted: %v", w)
	}
}

// ParseWindow reads what a command line writes.
func TestParseWindowReadsACommandLinesWindow(t *testing.T) {
	for _, c := range []struct {
		s    string
		want storage.Window
		ok   bool
	}{
		{"", storage.Window{}, true},
		{"none", storage.Window{}, true},
		{"100", storage.CountWindow(100), true},
		{"1m/1s", storage.TimeWindow(time.Minute, time.Second), true},
		{"1m", storage.Window{}, false},
		{"1m/", storage.Window{}, false},
		{"/1s", storage.Window{}, false},
	} {
		w, err := storage.ParseWindow(c.s)
		if (err == nil) != c.ok || (c.ok && w != c.want) {
			t.Errorf("ParseWindow(%q) = %v, %v", c.s, w, err)
		}
	}
}
