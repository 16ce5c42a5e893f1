package storage

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is the sliding window over which a breaker measures its failure
// and slow-call rates (Config.FailureRate, Config.SlowCallRate). Make one
// with CountWindow or TimeWindow; the zero Window is none, and then only
// consecutive failures (FailMax) trip the breaker.
//
// The window belongs to the closed state: it starts empty each time the
// breaker closes, and outcomes of calls admitted before a transition never
// reach it.
type Window struct {
	size     int           // count window: the last size calls
	duration time.Duration // time window: the last duration ...
	bucket   time.Duration // ... in buckets of this length
}

// CountWindow measures over the last n calls, at most 1,048,576. Its ring
// of outcomes (4 bytes a call) is allocated as calls reach it: 4 KiB at
// first (less for a window under 1,024 calls), then in segments that
// double, so it holds at most 8 bytes a call it has seen and never more
// than 4n; a large window that sees few calls costs little.
func CountWindow(n int) Window { return Window{size: n} }

// TimeWindow measures over the last d, counted in buckets of length bucket:
// the window moves a bucket at a time, so it covers between d-bucket and d.
// TimeWindow(time.Minute, time.Second) is resilience4j's 60-second window.
func TimeWindow(d, bucket time.Duration) Window { return Window{duration: d, bucket: bucket} }

// Size is a count window's number of calls; 0 for a time window.
func (w Window) Size() int { return w.size }

// Duration and Bucket are a time window's span and bucket; 0 for a count
// window.
func (w Window) Duration() time.Duration { return w.duration }

// Bucket: see Duration.
func (w Window) Bucket() time.Duration { return w.bucket }

// IsZero reports whether w is no window.
func (w Window) IsZero() bool { return w == Window{} }

// String describes the window, as "last 100 calls" or "last 1m0s in 1s buckets".
func (w Window) String() string {
	if w.IsZero() {
		return "none"
	}
	if w.size != 0 {
		return fmt.Sprintf("last %d calls", w.size)
	}
	return fmt.Sprintf("last %v in %v buckets", w.duration, w.bucket)
}

func (w Window) validate() error {
	if w.IsZero() {
		return nil
	}
	if w.size != 0 && (w.duration != 0 || w.bucket != 0) {
		return &ConfigError{"Window", "both a count and a time window"}
	}
	if w.size < 0 {
		return &ConfigError{"Window", fmt.Sprintf("a count window of %d calls", w.size)}
	}
	if w.size > MaxWindowCalls {
		return &ConfigError{"Window", fmt.Sprintf("a count window of %d calls is above the limit of %d", w.size, MaxWindowCalls)}
	}
	if w.size != 0 {
		return nil
	}
	if w.duration <= 0 {
		return &ConfigError{"Window", fmt.Sprintf("a time window of %v", w.duration)}
	}
	if w.bucket <= 0 {
		return &ConfigError{"Window", fmt.Sprintf("a bucket of %v", w.bucket)}
	}
	if w.bucket > w.duration {
		return &ConfigError{"Window", fmt.Sprintf("a bucket of %v is longer than the window of %v", w.bucket, w.duration)}
	}
	if w.bucket < time.Millisecond {
		return &ConfigError{"Window", fmt.Sprintf("a bucket of %v is shorter than a millisecond", w.bucket)}
	}
	if w.Buckets() > MaxWindowBuckets {
		return &ConfigError{"Window", fmt.Sprintf("%d buckets is above the limit of %d", w.Buckets(), MaxWindowBuckets)}
	}
	return nil
}

// Buckets is the number of buckets of a time window (without overflow,
// whatever its durations).
func (w Window) Buckets() int64 {
	n := int64(w.duration / w.bucket)
	if w.duration%w.bucket != 0 {
		n++
	}
	return n
}

// The largest windows: a count window's calls, a time window's buckets.
const (
	MaxWindowCalls   = 1 << 20
	MaxWindowBuckets = 3600
)

// MarshalJSON writes a count window as {"size":N}, a time window as
// {"duration":D,"bucket":B} (nanoseconds, as time.Duration writes them).
func (w Window) MarshalJSON() ([]byte, error) {
	if w.size != 0 {
		return json.Marshal(struct {
			Size int `json:"size"`
		}{w.size})
	}
	return json.Marshal(struct {
		Duration time.Duration `json:"duration"`
		Bucket   time.Duration `json:"bucket"`
	}{w.duration, w.bucket})
}

// UnmarshalJSON reads what MarshalJSON writes; unknown fields are an
// error.
func (w *Window) UnmarshalJSON(b []byte) error {
	var v struct {
		Size     int           `json:"size"`
		Duration time.Duration `json:"duration"`
		Bucket   time.Duration `json:"bucket"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*w = Window{size: v.Size, duration: v.Duration, bucket: v.Bucket}
	return nil
}

// ParseWindow reads a window as a command line writes it: "100" (the last
// 100 calls) or "1m/1s" (the last minute, in buckets of a second); "" or
// "none" is no window.
func ParseWindow(s string) (Window, error) {
	if s == "" || s == "none" {
		return Window{}, nil
	}
	if d, b, ok := strings.Cut(s, "/"); ok {
		dd, err1 := time.ParseDuration(d)
		bb, err2 := time.ParseDuration(b)
		if err1 != nil || err2 != nil {
			return Window{}, fmt.Errorf("a time window is DURATION/BUCKET, such as 1m/1s")
		}
		return TimeWindow(dd, bb), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return Window{}, fmt.Errorf("a window is a number of calls, or DURATION/BUCKET")
	}
	return CountWindow(n), nil
}
