package storage

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// Settings are what decides when a breaker opens and closes: every setting
// of infuse.Config but its name, its listeners, its storage, its clock and
// its excluded errors. They are declared here once: infuse.Config has the
// same fields (Config.Settings gives them), a shadow's candidate
// (infuse.Candidate) is a Settings value, a store reads them with every
// default applied (Policy), and the command's flags come from their JSON
// names (see Fields). Each field's zero value means its default.
type Settings struct {
	// FailMax is the run of consecutive failures that trips the breaker.
	// 0 means 5.
	FailMax int `json:"failMax,omitempty"`
	// ResetTimeout is how long the breaker stays open before it lets a
	// trial call through. 0 means 60s.
	ResetTimeout time.Duration `json:"resetTimeout,omitempty"`
	// SuccessThreshold is the number of successful trials that close a
	// half-open breaker. 0 means 1.
	SuccessThreshold int `json:"successThreshold,omitempty"`
	// HalfOpenMaxCalls is the number of trial calls that may be in flight
	// at once in the half-open state; other calls are rejected at once,
	// never queued. 0 means 1.
	HalfOpenMaxCalls int `json:"halfOpenMaxCalls,omitempty"`
	// Window is the sliding window over which FailureRate and
	// SlowCallRate are measured: CountWindow(n) or TimeWindow(d, bucket).
	// The zero Window is none: only FailMax trips the breaker.
	Window Window `json:"window,omitzero"`
	// FailureRate, between 0 and 1, trips the breaker when the share of
	// failures among the window's calls reaches it, once the window holds
	// MinCalls calls. It adds to FailMax: whichever is reached first
	// trips. Rates are checked when a call fails or is slow, so the call
	// that trips the breaker is always one of those. 0 means off; it needs
	// a Window.
	FailureRate float64 `json:"failureRate,omitempty"`
	// MinCalls is how many calls the window must hold before a rate can
	// trip the breaker. 0 means 100; a count window's size caps it.
	MinCalls int `json:"minCalls,omitempty"`
	// SlowCallDuration makes a call that takes longer than it slow. 0
	// means no call is slow. Timing a call costs two clock readings.
	SlowCallDuration time.Duration `json:"slowCallDuration,omitempty"`
	// SlowCallRate, between 0 and 1, trips the breaker when the share of
	// slow calls (failed or not) among the window's calls reaches it, with
	// MinCalls as for FailureRate. 0 means off; it needs a Window and a
	// SlowCallDuration.
	SlowCallRate float64 `json:"slowCallRate,omitempty"`
	// FleetMinMembers guards a fleet against one bad member: with a store
	// that merges the members' windows (redisstore, with a time Window),
	// the fleet's rate trips the breaker only once this many distinct
	// members have reported failures in the window. 0 means 1.
	FleetMinMembers int `json:"fleetMinMembers,omitempty"`
	// Backoff grows the open period each time in a row the breaker opens;
	// the zero Backoff keeps it at ResetTimeout.
	Backoff Backoff `json:"backoff,omitzero"`
	// HalfOpenMaxWait frees a trial's permit when the trial has not
	// returned after this long, and TrialExpiry says what else happens
	// (by default the breaker opens again). 0 means a trial may hold its
	// permit for ever (a shared store may still lease it; see redisstore).
	HalfOpenMaxWait time.Duration `json:"halfOpenMaxWait,omitempty"`
	TrialExpiry     TrialExpiry   `json:"trialExpiry,omitempty"`
	// MaxHoldOpen caps how long HoldOpen keeps the breaker open, however
	// long a dependency asks for. 0 means 5 minutes.
	MaxHoldOpen time.Duration `json:"maxHoldOpen,omitempty"`
	// RampDuration, when set, ramps calls up after the breaker closes
	// from open or half-open: it admits a rising share of them over this
	// long and rejects the rest (see RampShare and ReasonRamping);
	// RampSteps makes the rise n equal steps instead of linear. 0: no
	// ramp.
	RampDuration time.Duration `json:"rampDuration,omitempty"`
	RampSteps    int           `json:"rampSteps,omitempty"`
	// Throttle, when its K is set, rejects a share of calls while the
	// breaker is closed, as the backend's acceptance falls (see Throttle).
	// It needs a time Window. The zero Throttle is none.
	Throttle Throttle `json:"throttle,omitzero"`
}

// Policy is a breaker's Settings with every default applied: what the
// breaker decides by, and what a store reads when it decides on the
// breaker's behalf (a merged trip, a permit, a close). A breaker never
// changes a Policy it has handed out: a setter makes a new one.
type Policy = Settings

// The defaults, and the bounds of the counted settings: larger runs of
// failures or trials are not meaningful and would not fit a store's
// counters.
const (
	DefaultFailMax          = 5
	DefaultResetTimeout     = 60 * time.Second
	DefaultSuccessThreshold = 1
	DefaultHalfOpenMaxCalls = 1
	DefaultMinCalls         = 100
	DefaultMaxHoldOpen      = 5 * time.Minute
	MaxCount                = math.MaxInt32
)

// ConfigError is the error for settings a breaker cannot take. Field names
// the infuse.Config field.
type ConfigError struct {
	Field  string // the Config field, such as "FailMax"
	Reason string
}

func (e *ConfigError) Error() string {
	return "infuse: invalid Config." + e.Field + ": " + e.Reason
}

// ErrEmptyName is the error for a breaker without a name: a *ConfigError
// for the Name field.
var ErrEmptyName error = &ConfigError{"Name", "Name is required: it names the breaker in storage and metrics"}

// Validate tells whether s are settings a breaker can take: nil, or a
// *ConfigError naming the field.
func (s Settings) Validate() error {
	for _, c := range []struct {
		field string
		v     int
	}{
		{"FailMax", s.FailMax},
		{"SuccessThreshold", s.SuccessThreshold},
		{"HalfOpenMaxCalls", s.HalfOpenMaxCalls},
	} {
		if err := checkCount(c.field, c.v); err != nil {
			return err
		}
	}
	if s.ResetTimeout < 0 {
		return &ConfigError{"ResetTimeout", fmt.Sprintf("%v is negative", s.ResetTimeout)}
	}
	if err := s.Throttle.validate(s.Window); err != nil {
		return err
	}
	if err := s.validateRates(); err != nil {
		return err
	}
	if err := s.Backoff.validate(); err != nil {
		return err
	}
	if err := s.validateRamp(); err != nil {
		return err
	}
	if s.MaxHoldOpen < 0 || s.MaxHoldOpen > 24*time.Hour {
		return &ConfigError{"MaxHoldOpen", fmt.Sprintf("%v is not between 0 and a day", s.MaxHoldOpen)}
	}
	if s.HalfOpenMaxWait < 0 {
		return &ConfigError{"HalfOpenMaxWait", fmt.Sprintf("%v is negative", s.HalfOpenMaxWait)}
	}
	if s.TrialExpiry < ExpiryOpens || s.TrialExpiry > ExpiryFrees {
		return &ConfigError{"TrialExpiry", fmt.Sprintf("%d is not a TrialExpiry", int(s.TrialExpiry))}
	}
	return nil
}

// WithDefaults returns s with every zero setting that has a default made
// that default: the Policy a breaker of settings s decides by.
func (s Settings) WithDefaults() Policy {
	s.FailMax = orDefault(s.FailMax, DefaultFailMax)
	s.SuccessThreshold = orDefault(s.SuccessThreshold, DefaultSuccessThreshold)
	s.HalfOpenMaxCalls = orDefault(s.HalfOpenMaxCalls, DefaultHalfOpenMaxCalls)
	s.MinCalls = orDefault(s.MinCalls, DefaultMinCalls)
	s.FleetMinMembers = orDefault(s.FleetMinMembers, 1)
	s.Throttle = s.Throttle.WithDefaults()
	if s.MaxHoldOpen == 0 {
		s.MaxHoldOpen = DefaultMaxHoldOpen
	}
	if s.ResetTimeout == 0 {
		s.ResetTimeout = DefaultResetTimeout
	}
	if s.Window.size != 0 {
		s.MinCalls = min(s.MinCalls, s.Window.size)
	}
	return s
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func checkCount(field string, v int) error {
	if v < 0 {
		return &ConfigError{field, fmt.Sprintf("%d is negative", v)}
	}
	if v > MaxCount {
		return &ConfigError{field, fmt.Sprintf("%d is above the limit of %d", v, MaxCount)}
	}
	return nil
}

func checkRate(field string, v float64) error {
	if !(v >= 0 && v <= 1) { // NaN fails both
		return &ConfigError{field, fmt.Sprintf("%v is not between 0 and 1", v)}
	}
	return nil
}

func (s Settings) validateRates() error {
	if err := s.Window.validate(); err != nil {
		return err
	}
	if err := checkRate("FailureRate", s.FailureRate); err != nil {
		return err
	}
	if err := checkRate("SlowCallRate", s.SlowCallRate); err != nil {
		return err
	}
	if s.MinCalls < 0 {
		return &ConfigError{"MinCalls", fmt.Sprintf("%d is negative", s.MinCalls)}
	}
	if s.FleetMinMembers < 0 || s.FleetMinMembers > 1000 {
		return &ConfigError{"FleetMinMembers", fmt.Sprintf("%d is not between 0 and 1000", s.FleetMinMembers)}
	}
	if s.MinCalls > MaxCount {
		return &ConfigError{"MinCalls", fmt.Sprintf("%d is above the limit of %d", s.MinCalls, MaxCount)}
	}
	if s.SlowCallDuration < 0 {
		return &ConfigError{"SlowCallDuration", fmt.Sprintf("%v is negative", s.SlowCallDuration)}
	}
	if (s.FailureRate > 0 || s.SlowCallRate > 0) && s.Window.IsZero() {
		return &ConfigError{"Window", "a rate needs a window: set Window to CountWindow(n) or TimeWindow(d, bucket)"}
	}
	if !s.Window.IsZero() && s.FailureRate == 0 && s.SlowCallRate == 0 && s.Throttle.IsZero() {
		return &ConfigError{"Window", "a window without FailureRate, SlowCallRate or Throttle measures nothing"}
	}
	if s.SlowCallRate > 0 && s.SlowCallDuration == 0 {
		return &ConfigError{"SlowCallRate", "needs a SlowCallDuration to tell slow calls"}
	}
	return nil
}

func (s Settings) validateRamp() error {
	if s.RampDuration < 0 {
		return &ConfigError{"RampDuration", fmt.Sprintf("%v is negative", s.RampDuration)}
	}
	if s.RampSteps < 0 || s.RampSteps > 1000 {
		return &ConfigError{"RampSteps", fmt.Sprintf("%d is not between 0 and 1000", s.RampSteps)}
	}
	if s.RampSteps > 0 && s.RampDuration == 0 {
		return &ConfigError{"RampSteps", "steps without a RampDuration"}
	}
	return nil
}

// What a shadow's candidate may cost (see ValidateCandidate).
const (
	MaxCandidateWindowSize = 10000
	MaxCandidateBuckets    = 120
	MinCandidateBucket     = 100 * time.Millisecond
)

// ValidateCandidate is Validate for a shadow's candidate, within what a
// candidate may cost: a *ConfigError naming the field, or nil.
//
// A candidate may come from anyone who can write where a store keeps
// shadows (redisstore), and each breaker bound there runs one, so its
// cost is bounded below what a Config allows: a count window of at most
// MaxCandidateWindowSize calls, a time window of at most
// MaxCandidateBuckets buckets of at least MinCandidateBucket (a time
// window keeps a counter per bucket and shard, and a timer fires every
// bucket). A candidate's window then costs at most about 130 KB with 16
// cores, and its timer ticks at most ten times a second.
func (s Settings) ValidateCandidate() error {
	if err := s.Validate(); err != nil {
		return err
	}
	switch w := s.Window; {
	case w.size > MaxCandidateWindowSize:
		return &ConfigError{"Window", fmt.Sprintf("a candidate's count window of %d calls is above the limit of %d", w.size, MaxCandidateWindowSize)}
	case w.duration > 0 && w.bucket < MinCandidateBucket:
		return &ConfigError{"Window", fmt.Sprintf("a candidate's bucket of %v is below the limit of %v", w.bucket, MinCandidateBucket)}
	case w.duration > 0 && w.Buckets() > MaxCandidateBuckets:
		return &ConfigError{"Window", fmt.Sprintf("a candidate's %d buckets is above the limit of %d", w.Buckets(), MaxCandidateBuckets)}
	}
	return nil
}

// String describes the settings that are set, by their JSON names
// ("failMax=3 window=\"last 100 calls\""), or "defaults".
func (s Settings) String() string {
	var out []string
	for _, f := range Fields() {
		if v := f.value(&s); !v.IsZero() {
			x := v.Interface()
			if st, ok := x.(fmt.Stringer); ok && v.Kind() == reflect.Struct {
				x = fmt.Sprintf("%q", st.String())
			}
			out = append(out, fmt.Sprintf("%s=%v", f.JSON, x))
		}
	}
	if len(out) == 0 {
		return "defaults"
	}
	return strings.Join(out, " ")
}

// Field is one of the settings, as a command line names it.
type Field struct {
	// Name is the Go field's name (FailMax), JSON its JSON name (failMax),
	// and Flag its name on a command line (fail-max).
	Name, JSON, Flag string
	// Doc is the first sentence of the field's documentation.
	Doc   string
	index []int
}

func (f Field) value(s *Settings) reflect.Value {
	return reflect.ValueOf(s).Elem().FieldByIndex(f.index)
}

// Fields lists the settings, in order, with their names: a command takes
// the settings by these names (infuse shadow -fail-max 3, infuse simulate
// -candidate fail-max=3), and Set parses one.
func Fields() []Field {
	t := reflect.TypeFor[Settings]()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		js, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		out = append(out, Field{Name: sf.Name, JSON: js, Flag: flagName(js), Doc: fieldDocs[sf.Name], index: sf.Index})
	}
	return out
}

// flagName turns a JSON name into a flag's: failMax -> fail-max.
func flagName(js string) string {
	var b strings.Builder
	for i, r := range js {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Set parses value into the field of s that name (a flag's, JSON or Go
// name) names: an integer, a number, a duration ("10s"), a window
// ("100" calls, or "1m/1s": a minute in buckets of a second), a backoff
// ("2", "2/1m", "2/1m/0.1": multiplier, max, jitter), a throttle ("2" or
// "2/0.8": K and MaxRejectRate) or a trial expiry ("opens", "closes",
// "frees").
func (s *Settings) Set(name, value string) error {
	for _, f := range Fields() {
		if name != f.Flag && name != f.JSON && name != f.Name {
			continue
		}
		v := f.value(s)
		if err := setValue(v, value); err != nil {
			return fmt.Errorf("%s=%s: %w", f.Flag, value, err)
		}
		return nil
	}
	return fmt.Errorf("no setting %q (the settings: %s)", name, strings.Join(flagNames(), ", "))
}

func flagNames() []string {
	var out []string
	for _, f := range Fields() {
		out = append(out, f.Flag)
	}
	return out
}

var errSyntax = errors.New("cannot parse it")

func setValue(v reflect.Value, value string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(value)
		if err != nil {
			return errSyntax
		}
		v.SetInt(int64(d))
		return nil
	case Window:
		w, err := ParseWindow(value)
		v.Set(reflect.ValueOf(w))
		return err
	case Backoff:
		b, err := parseBackoff(value)
		v.Set(reflect.ValueOf(b))
		return err
	case Throttle:
		t, err := parseThrottle(value)
		v.Set(reflect.ValueOf(t))
		return err
	case TrialExpiry:
		for e := ExpiryOpens; e <= ExpiryFrees; e++ {
			if e.String() == value {
				v.SetInt(int64(e))
				return nil
			}
		}
		return fmt.Errorf("not one of opens, closes, frees")
	}
	switch v.Kind() {
	case reflect.Int:
		var n int
		if _, err := fmt.Sscan(value, &n); err != nil || fmt.Sprint(n) != value {
			return errSyntax
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		var x float64
		if _, err := fmt.Sscan(value, &x); err != nil {
			return errSyntax
		}
		v.SetFloat(x)
	}
	return nil
}

// fieldDocs are the first sentences of the fields' documentation, for a
// command's help.
var fieldDocs = map[string]string{
	"FailMax":          "consecutive failures that trip the breaker (0: 5)",
	"ResetTimeout":     "how long the breaker stays open before a trial (0: 60s)",
	"SuccessThreshold": "successful trials that close it (0: 1)",
	"HalfOpenMaxCalls": "trial calls in flight at once (0: 1)",
	"Window":           "the rates' window: N calls, or D/B (D in buckets of B)",
	"FailureRate":      "share of failures in the window that trips it (0: off)",
	"MinCalls":         "calls the window must hold before a rate trips (0: 100)",
	"SlowCallDuration": "a call longer than this is slow (0: none)",
	"SlowCallRate":     "share of slow calls in the window that trips it (0: off)",
	"FleetMinMembers":  "distinct members whose failures a fleet's rate needs (0: 1)",
	"Backoff":          "open periods growing: M, M/MAX or M/MAX/JITTER",
	"HalfOpenMaxWait":  "how long a trial may hold its permit (0: for ever)",
	"TrialExpiry":      "what a trial held too long does: opens, closes, frees",
	"MaxHoldOpen":      "the longest hold a dependency may ask (0: 5m)",
	"RampDuration":     "ramp calls up over this long after a recovery (0: none)",
	"RampSteps":        "the ramp's steps (0: a straight rise)",
	"Throttle":         "adaptive throttling: K or K/MAXREJECTRATE",
}
