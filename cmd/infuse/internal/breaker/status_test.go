package breaker

import (
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

func TestClassesAndSeverity(t *testing.T) {
	throttle := infuse.Throttle{K: 1.5, MaxRejectRate: 0.5}
	list := []redisstore.Info{
		{Name: "closed", FailureRate: -1},
		{Name: "both", RejectProbability: 0.2, Throttle: throttle, ClosedSince: time.Second, Ramp: time.Hour, RampSteps: 4, FailureRate: 0.1, WindowCalls: 10},
		{Name: "throttled", RejectProbability: 0.2, Throttle: throttle, FailureRate: 0.5, WindowCalls: 10},
		{Name: "disabled-open", State: infuse.Open, Mode: infuse.ModeDisabled, FailureRate: -1},
		{Name: "forced", State: infuse.Open, Mode: infuse.ModeForcedOpen, OpenSince: time.Second, FailureRate: -1},
		{Name: "open", State: infuse.Open, OpenSince: time.Second, RetryAfter: time.Second, FailureRate: -1},
		{Name: "half", State: infuse.HalfOpen, FailureRate: -1},
		{Name: "ramping", ClosedSince: time.Second, Ramp: time.Hour, RampSteps: 4, FailureRate: -1},
	}
	SortBySeverity(list)
	var got []string
	for _, i := range list {
		got = append(got, i.Name+":"+strings.Join(ClassesOf(i), "+"))
	}
	want := "open:open forced:forced-open half:half-open both:throttled+ramping throttled:throttled ramping:ramping disabled-open:disabled closed:closed"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	f, err := ParseFilter("ramping")
	if err != nil || !f.Keeps(list[3]) || f.Keeps(list[4]) || !f.Keeps(list[5]) {
		t.Errorf("-state ramping: %v %v %v %v", err, f.Keeps(list[3]), f.Keeps(list[4]), f.Keeps(list[5]))
	}
	if _, err := ParseFilter("open,"); err == nil {
		t.Error("an empty state was taken")
	}

	// The JSON: a throttled breaker's window and throttle; an open one's
	// times; nothing for "none".
	s := StatusOf(list[4])
	if s.FailureRate == nil || *s.FailureRate != 0.5 || *s.Calls != 10 || *s.RejectProbability != 0.2 || *s.ThrottleK != 1.5 || s.OpenSinceS != nil || s.RetryAfterS != nil {
		t.Errorf("throttled: %+v", s)
	}
	s = StatusOf(list[0])
	if s.OpenSinceS == nil || *s.RetryAfterS != 1 || s.FailureRate != nil || s.ThrottleK != nil || s.Reason != "open" {
		t.Errorf("open: %+v", s)
	}
	if s := StatusOf(list[1]); s.OpenSinceS == nil || s.RetryAfterS != nil {
		t.Errorf("forced open: %+v", s)
	}
}
