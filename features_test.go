package infuse_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
)

const callEvery = 5 * time.Millisecond // 200 calls a second

// The scenario: Throttle{K: 2}, a 5 s window and a 10 s ramp,
// after recovery, 200 calls a second to a backend that accepts all it
// gets. Each second the ramp's share goes through (to within a call) and
// throttling rejects nothing: the backend accepted everything it was
// sent. (Throttling used to count the calls the ramp shed as requests
// the backend did not accept: it admitted 0.010, 0.015, … 0.285 of the
// calls where the ramp admits 0.055, 0.150, … 1, its probability at the
// 0.9 cap through most of the ramp and 0.66 at the end.)
func TestThrottleAndRampAfterRecoveryAdmitTheRampsShare(t *testing.T) {
	b, clock := newBreaker(t, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, Window: infuse.TimeWindow(5*time.Second, 100*time.Millisecond),
		Throttle: infuse.Throttle{K: 2}, RampDuration: 10 * time.Second})
	tripAndRecover(t, b, clock)
	var shares []string
	sent, throttled, capped := 0, 0, 0
	for s := range 12 {
		admitted, want := 0, 0.0
		for i := range 200 {
			want += infuse.RampShareAfter(time.Duration(s)*time.Second+time.Duration(i)*callEvery, 10*time.Second, 0)
			err := b.Call(bg, succeed)
			var oe *infuse.OpenError
			switch {
			case err == nil:
				admitted++
			case errors.As(err, &oe) && oe.Reason == infuse.ReasonThrottled:
				throttled++
			case errors.As(err, &oe) && oe.Reason == infuse.ReasonRamping:
			default:
				t.Fatalf("second %d: %v", s, err)
			}
			clock.Advance(callEvery)
		}
		sent += admitted
		shares = append(shares, fmt.Sprintf("%.3f", float64(admitted)/200))
		if math.Abs(float64(admitted)-want) > 1 {
			t.Errorf("second %d: %d of 200 admitted, the ramp's share is %.1f", s, admitted, want)
		}
		if b.Metrics().RejectProbability == 0.9 {
			capped++
		}
	}
	p := b.Metrics().RejectProbability
	t.Logf("admitted share, seconds 0-11: %s; %d sent, %d throttled; p at the cap %d s, %.2f at the end",
		strings.Join(shares, " "), sent, throttled, capped, p)
	if throttled != 0 || p != 0 {
		t.Fatalf("%d calls throttled (p %.2f at the end) although the backend accepted all %d it was sent", throttled, p, sent)
	}
}
