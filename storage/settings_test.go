package storage_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// valid are settings every check passes: the base the limits' cases
// change one field of.
func valid() storage.Settings { return storage.Settings{} }

// fieldOf is the field a *ConfigError names, "" for nil, and the error
// itself for any other error.
func fieldOf(err error) string {
	if err == nil {
		return ""
	}
	var ce *storage.ConfigError
	if !errors.As(err, &ce) {
		return "not a ConfigError: " + err.Error()
	}
	return ce.Field
}

// limitCase is one value of one setting at the edge of what Validate
// takes: want is the field the error names, "" for accepted.
type limitCase struct {
	name string
	set  func(*storage.Settings)
	want string
}

// The limits as the fields' documentation states them: each setting is
// accepted at both ends of its range and refused just past them, with an
// error that names it.
func TestSettingsAreAcceptedExactlyWithinTheirDocumentedRanges(t *testing.T) {
	window := storage.TimeWindow(10*time.Second, time.Second)
	cases := []limitCase{
		{"nothing set", func(*storage.Settings) {}, ""},
		{"ResetTimeout 0", func(s *storage.Settings) { s.ResetTimeout = 0 }, ""},
		{"ResetTimeout -1ns", func(s *storage.Settings) { s.ResetTimeout = -1 }, "ResetTimeout"},
		{"FailureRate 1", func(s *storage.Settings) { s.Window, s.FailureRate = window, 1 }, ""},
		{"FailureRate just above 1", func(s *storage.Settings) { s.Window, s.FailureRate = window, math.Nextafter(1, 2) }, "FailureRate"},
		{"FailureRate just below 0", func(s *storage.Settings) { s.Window, s.FailureRate = window, -math.SmallestNonzeroFloat64 }, "FailureRate"},
		{"FailureRate NaN", func(s *storage.Settings) { s.Window, s.FailureRate = window, math.NaN() }, "FailureRate"},
		{"SlowCallRate 1", func(s *storage.Settings) { s.Window, s.SlowCallRate, s.SlowCallDuration = window, 1, time.Second }, ""},
		{"SlowCallRate just above 1", func(s *storage.Settings) {
			s.Window, s.SlowCallRate, s.SlowCallDuration = window, math.Nextafter(1, 2), time.Second
		}, "SlowCallRate"},
		{"SlowCallRate without SlowCallDuration", func(s *storage.Settings) { s.Window, s.SlowCallRate = window, 0.5 }, "SlowCallRate"},
		{"SlowCallDuration -1ns", func(s *storage.Settings) { s.SlowCallDuration = -1 }, "SlowCallDuration"},
		{"SlowCallDuration alone", func(s *storage.Settings) { s.SlowCallDuration = time.Second }, ""},
		{"MinCalls -1", func(s *storage.Settings) { s.MinCalls = -1 }, "MinCalls"},
		{"MinCalls MaxCount", func(s *storage.Settings) { s.MinCalls = storage.MaxCount }, ""},
		{"MinCalls MaxCount+1", func(s *storage.Settings) { s.MinCalls = storage.MaxCount + 1 }, "MinCalls"},
		{"FleetMinMembers -1", func(s *storage.Settings) { s.FleetMinMembers = -1 }, "FleetMinMembers"},
		{"FleetMinMembers 1000", func(s *storage.Settings) { s.FleetMinMembers = 1000 }, ""},
		{"FleetMinMembers 1001", func(s *storage.Settings) { s.FleetMinMembers = 1001 }, "FleetMinMembers"},
		{"a rate without a window", func(s *storage.Settings) { s.FailureRate = 0.5 }, "Window"},
		{"a slow-call rate without a window", func(s *storage.Settings) { s.SlowCallRate, s.SlowCallDuration = 0.5, time.Second }, "Window"},
		{"a window that measures nothing", func(s *storage.Settings) { s.Window = window }, "Window"},
		{"a window for throttling only", func(s *storage.Settings) { s.Window, s.Throttle = window, storage.Throttle{K: 2} }, ""},
		{"a window for the slow-call rate only", func(s *storage.Settings) {
			s.Window, s.SlowCallRate, s.SlowCallDuration = window, 0.5, time.Second
		}, ""},
		{"MaxHoldOpen -1ns", func(s *storage.Settings) { s.MaxHoldOpen = -1 }, "MaxHoldOpen"},
		{"MaxHoldOpen a day", func(s *storage.Settings) { s.MaxHoldOpen = 24 * time.Hour }, ""},
		{"MaxHoldOpen a day and 1ns", func(s *storage.Settings) { s.MaxHoldOpen = 24*time.Hour + 1 }, "MaxHoldOpen"},
		{"HalfOpenMaxWait -1ns", func(s *storage.Settings) { s.HalfOpenMaxWait = -1 }, "HalfOpenMaxWait"},
		{"HalfOpenMaxWait 1ns", func(s *storage.Settings) { s.HalfOpenMaxWait = 1 }, ""},
		{"TrialExpiry frees", func(s *storage.Settings) { s.TrialExpiry = storage.ExpiryFrees }, ""},
		{"TrialExpiry opens", func(s *storage.Settings) { s.TrialExpiry = storage.ExpiryOpens }, ""},
		{"TrialExpiry past frees", func(s *storage.Settings) { s.TrialExpiry = storage.ExpiryFrees + 1 }, "TrialExpiry"},
		{"TrialExpiry -1", func(s *storage.Settings) { s.TrialExpiry = -1 }, "TrialExpiry"},
		{"RampDuration -1ns", func(s *storage.Settings) { s.RampDuration = -1 }, "RampDuration"},
		{"RampDuration 1ns", func(s *storage.Settings) { s.RampDuration = 1 }, ""},
		{"RampSteps 1000", func(s *storage.Settings) { s.RampDuration, s.RampSteps = time.Second, 1000 }, ""},
		{"RampSteps 1001", func(s *storage.Settings) { s.RampDuration, s.RampSteps = time.Second, 1001 }, "RampSteps"},
		{"RampSteps -1", func(s *storage.Settings) { s.RampDuration, s.RampSteps = time.Second, -1 }, "RampSteps"},
		{"RampSteps without RampDuration", func(s *storage.Settings) { s.RampSteps = 1 }, "RampSteps"},
	}
	for _, field := range []string{"FailMax", "SuccessThreshold", "HalfOpenMaxCalls"} {
		set := func(v int) func(*storage.Settings) {
			return func(s *storage.Settings) {
				switch field {
				case "FailMax":
					s.FailMax = v
				case "SuccessThreshold":
					s.SuccessThreshold = v
				default:
					s.HalfOpenMaxCalls = v
				}
			}
		}
		cases = append(cases,
			limitCase{field + " -1", set(-1), field},
			limitCase{field + " 1", set(1), ""},
			limitCase{field + " MaxCount", set(storage.MaxCount), ""},
			limitCase{field + " MaxCount+1", set(storage.MaxCount + 1), field})
	}
	checkLimits(t, cases)
}

func checkLimits(t *testing.T, cases []limitCase) {
	t.Helper()
	for _, c := range cases {
		s := valid()
		c.set(&s)
		err := s.Validate()
		if got := fieldOf(err); got != c.want {
			t.Errorf("%s: Validate() = %v; want an error naming %q (\"\" for none)", c.name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "infuse: invalid Config."+c.want+": ") {
			t.Errorf("%s: the error reads %q", c.name, err)
		}
	}
}

// Each zero setting that has a default becomes it; what is set stays; a
// count window caps MinCalls at its size.
func TestWithDefaultsFillsEveryDocumentedDefault(t *testing.T) {
	got := storage.Settings{}.WithDefaults()
	want := storage.Settings{FailMax: 5, ResetTimeout: 60 * time.Second, SuccessThreshold: 1, HalfOpenMaxCalls: 1,
		MinCalls: 100, FleetMinMembers: 1, MaxHoldOpen: 5 * time.Minute}
	if got != want {
		t.Errorf("the defaults:\n got %+v\nwant %+v", got, want)
	}
	set := storage.Settings{FailMax: 3, ResetTimeout: time.Second, SuccessThreshold: 2, HalfOpenMaxCalls: 4, MinCalls: 7,
		FleetMinMembers: 2, MaxHoldOpen: time.Minute, Window: storage.TimeWindow(time.Minute, time.Second), FailureRate: 0.5,
		Throttle: storage.Throttle{K: 2, MaxRejectRate: 0.5}}
	if got := set.WithDefaults(); got != set {
		t.Errorf("settings that are set changed:\n got %+v\nwant %+v", got, set)
	}
	for _, c := range []struct{ size, minCalls, want int }{{10, 0, 10}, {10, 5, 5}, {10, 10, 10}, {10, 11, 10}, {1000, 0, 100}} {
		s := storage.Settings{Window: storage.CountWindow(c.size), FailureRate: 0.5, MinCalls: c.minCalls}.WithDefaults()
		if s.MinCalls != c.want {
			t.Errorf("a count window of %d calls, MinCalls %d: MinCalls %d, want %d", c.size, c.minCalls, s.MinCalls, c.want)
		}
	}
	if s := (storage.Settings{Window: storage.TimeWindow(time.Second, time.Second), FailureRate: 0.5, MinCalls: 1 << 20}).WithDefaults(); s.MinCalls != 1<<20 {
		t.Errorf("a time window capped MinCalls at %d", s.MinCalls)
	}
	if th := (storage.Settings{Throttle: storage.Throttle{K: 2}}).WithDefaults().Throttle; th.MaxRejectRate != 0.9 {
		t.Errorf("a throttle's default MaxRejectRate: %v, want 0.9", th.MaxRejectRate)
	}
}

// A candidate is held to a cheaper window than a Config: at most
// MaxCandidateWindowSize calls, MaxCandidateBuckets buckets, buckets of
// at least MinCandidateBucket; anything Validate refuses it refuses too.
func TestACandidateIsRefusedACostlierWindowThanAConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		s    storage.Settings
		ok   bool
	}{
		{"no window", storage.Settings{}, true},
		{"the largest count window", storage.Settings{Window: storage.CountWindow(storage.MaxCandidateWindowSize), FailureRate: 0.5}, true},
		{"a count window a call larger", storage.Settings{Window: storage.CountWindow(storage.MaxCandidateWindowSize + 1), FailureRate: 0.5}, false},
		{"the shortest bucket", storage.Settings{Window: storage.TimeWindow(time.Second, storage.MinCandidateBucket), FailureRate: 0.5}, true},
		{"a bucket a nanosecond shorter", storage.Settings{Window: storage.TimeWindow(time.Second, storage.MinCandidateBucket-1), FailureRate: 0.5}, false},
		{"the most buckets", storage.Settings{Window: storage.TimeWindow(storage.MaxCandidateBuckets*time.Second, time.Second), FailureRate: 0.5}, true},
		{"a bucket more", storage.Settings{Window: storage.TimeWindow(storage.MaxCandidateBuckets*time.Second+1, time.Second), FailureRate: 0.5}, false},
		{"what Validate refuses", storage.Settings{FailMax: -1}, false},
	} {
		err := c.s.ValidateCandidate()
		if (err == nil) != c.ok {
			t.Errorf("%s: ValidateCandidate() = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && fieldOf(err) == "" {
			t.Errorf("%s: %v is not a ConfigError naming a field", c.name, err)
		}
		if c.ok && c.s.Validate() != nil {
			t.Errorf("%s: a Config may not take it either", c.name)
		}
	}
}

// String names the settings that are set, by their JSON names, in the
// fields' order; nothing set is "defaults".
func TestSettingsStringNamesWhatIsSet(t *testing.T) {
	for _, c := range []struct {
		s    storage.Settings
		want string
	}{
		{storage.Settings{}, "defaults"},
		{storage.Settings{FailMax: 3}, "failMax=3"},
		{storage.Settings{FailMax: 3, Window: storage.CountWindow(100), FailureRate: 0.5},
			`failMax=3 window="last 100 calls" failureRate=0.5`},
		{storage.Settings{TrialExpiry: storage.ExpiryCloses, RampDuration: time.Second},
			`trialExpiry=closes rampDuration=1s`},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}

// The settings as a command line names them: every field, in order, by
// its Go name, its JSON name and its flag.
func TestFieldsNameEverySettingForACommandLine(t *testing.T) {
	want := []string{"FailMax failMax fail-max", "ResetTimeout resetTimeout reset-timeout",
		"SuccessThreshold successThreshold success-threshold", "HalfOpenMaxCalls halfOpenMaxCalls half-open-max-calls",
		"Window window window", "FailureRate failureRate failure-rate", "MinCalls minCalls min-calls",
		"SlowCallDuration slowCallDuration slow-call-duration", "SlowCallRate slowCallRate slow-call-rate",
		"FleetMinMembers fleetMinMembers fleet-min-members", "Backoff backoff backoff",
		"HalfOpenMaxWait halfOpenMaxWait half-open-max-wait", "TrialExpiry trialExpiry trial-expiry",
		"MaxHoldOpen maxHoldOpen max-hold-open", "RampDuration rampDuration ramp-duration", "RampSteps rampSteps ramp-steps",
		"Throttle throttle throttle"}
	fields := storage.Fields()
	if len(fields) != len(want) {
		t.Fatalf("%d fields, want %d", len(fields), len(want))
	}
	for i, f := range fields {
		if got := f.Name + " " + f.JSON + " " + f.Flag; got != want[i] {
			t.Errorf("field %d: %q, want %q", i, got, want[i])
		}
		if f.Doc == "" {
			t.Errorf("%s has no documentation", f.Name)
		}
	}
}

// Set takes a setting by any of its names, and parses each kind of value
// as a command line writes it.
func TestSetParsesEachKindOfSetting(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        storage.Settings
	}{
		{"fail-max", "3", storage.Settings{FailMax: 3}},
		{"failMax", "3", storage.Settings{FailMax: 3}},
		{"FailMax", "3", storage.Settings{FailMax: 3}},
		{"fail-max", "-2", storage.Settings{FailMax: -2}},
		{"reset-timeout", "1m30s", storage.Settings{ResetTimeout: 90 * time.Second}},
		{"failure-rate", "0.25", storage.Settings{FailureRate: 0.25}},
		{"window", "100", storage.Settings{Window: storage.CountWindow(100)}},
		{"window", "1m/1s", storage.Settings{Window: storage.TimeWindow(time.Minute, time.Second)}},
		{"window", "none", storage.Settings{}},
		{"window", "", storage.Settings{}},
		{"backoff", "2", storage.Settings{Backoff: storage.Backoff{Multiplier: 2}}},
		{"backoff", "2/1m", storage.Settings{Backoff: storage.Backoff{Multiplier: 2, Max: time.Minute}}},
		{"backoff", "2/1m/0.1", storage.Settings{Backoff: storage.Backoff{Multiplier: 2, Max: time.Minute, Jitter: 0.1}}},
		{"throttle", "2", storage.Settings{Throttle: storage.Throttle{K: 2}}},
		{"throttle", "2/0.8", storage.Settings{Throttle: storage.Throttle{K: 2, MaxRejectRate: 0.8}}},
		{"trial-expiry", "opens", storage.Settings{TrialExpiry: storage.ExpiryOpens}},
		{"trial-expiry", "closes", storage.Settings{TrialExpiry: storage.ExpiryCloses}},
		{"trial-expiry", "frees", storage.Settings{TrialExpiry: storage.ExpiryFrees}},
		{"ramp-steps", "4", storage.Settings{RampSteps: 4}},
	} {
		s := storage.Settings{TrialExpiry: storage.ExpiryFrees}
		if c.name == "trial-expiry" {
			s = storage.Settings{}
		} else {
			c.want.TrialExpiry = storage.ExpiryFrees // what Set leaves alone
		}
		if err := s.Set(c.name, c.value); err != nil || s != c.want {
			t.Errorf("Set(%q, %q): %+v, %v; want %+v", c.name, c.value, s, err, c.want)
		}
	}
}

// What Set cannot parse is an error that names the flag and the value,
// and a name that is no setting's lists the settings.
func TestSetRefusesWhatItCannotParse(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"fail-max", "three"}, {"fail-max", "3x"}, {"fail-max", "03"}, {"fail-max", "+3"}, {"fail-max", "3.0"},
		{"reset-timeout", "10"}, {"failure-rate", "half"},
		{"window", "ten"}, {"window", "1m"}, {"window", "1m/x"}, {"window", "x/1s"},
		{"backoff", "x"}, {"backoff", "2/x"}, {"backoff", "2/1m/x"}, {"backoff", "2/1m/0.1/3"},
		{"throttle", "x"}, {"throttle", "2/x"},
		{"trial-expiry", "never"},
	} {
		var s storage.Settings
		err := s.Set(c.name, c.value)
		if err == nil {
			t.Errorf("Set(%q, %q) accepted it: %+v", c.name, c.value, s)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.name+"="+c.value+": ") {
			t.Errorf("Set(%q, %q): %q does not name the flag and value", c.name, c.value, err)
		}
	}
	var s storage.Settings
	err := s.Set("fail-most", "3")
	if err == nil || !strings.Contains(err.Error(), `no setting "fail-most"`) ||
		!strings.Contains(err.Error(), "fail-max, reset-timeout, success-threshold, ") ||
		!strings.HasSuffix(err.Error(), "ramp-steps, throttle)") {
		t.Errorf("an unknown setting: %v", err)
	}
}
