package infuse

import (
	"fmt"
	"time"
)

// Config holds a breaker's settings. Every zero value means a documented
// default, so Config{Name: "db"} is a complete configuration.
type Config struct {
	// Name is required: it names the breaker in storage, metrics and
	// errors. Breakers with one Name on one shared Storage share one state.
	Name string
	// FailMax is the run of consecutive failures that trips the breaker.
	// 0 means 5.
	FailMax int
	// ResetTimeout is how long the breaker stays open before it lets a
	// trial call through. 0 means 60s.
	ResetTimeout time.Duration
	// SuccessThreshold is the number of successful trials that close a
	// half-open breaker. 0 means 1.
	SuccessThreshold int
	// HalfOpenMaxCalls is the number of trial calls that may be in flight
	// at once in the half-open state; other calls are rejected at once,
	// never queued. 0 means 1.
	HalfOpenMaxCalls int
	// Exclude lists errors (matched with errors.Is) that are not failures:
	// they count as successes, as in pybreaker, and are returned untouched.
	Exclude []error
	// ExcludeFunc, when not nil, is the predicate form of Exclude.
	ExcludeFunc func(error) bool
	// Listeners observe the breaker from the start; see AddListener.
	Listeners []Listener
	// Storage is where the state lives. nil means a private
	// MemoryStorage.
	Storage Storage
	// Clock tells the time. nil means the real clock.
	Clock Clock
	// Window is the sliding window over which FailureRate and
	// SlowCallRate are measured: CountWindow(n) or TimeWindow(d, bucket).
	// The zero Window is none: only FailMax trips the breaker.
	Window Window
	// FailureRate, between 0 and 1, trips the breaker when the share of
	// failures among the window's calls reaches it, once the window holds
	// MinCalls calls. It adds to FailMax: whichever is reached first
	// trips. Rates are checked when a call fails or is slow, so the call
	// that trips the breaker is always one of those. 0 means off; it needs
	// a Window.
	FailureRate float64
	// MinCalls is how many calls the window must hold before a rate can
	// trip the breaker. 0 means 100; a count window's size caps it.
	MinCalls int
	// SlowCallDuration makes a call that takes longer than it slow. 0
	// means no call is slow. Timing a call costs two clock readings.
	SlowCallDuration time.Duration
	// SlowCallRate, between 0 and 1, trips the breaker when the share of
	// slow calls (failed or not) among the window's calls reaches it, with
	// MinCalls as for FailureRate. 0 means off; it needs a Window and a
	// SlowCallDuration.
	SlowCallRate float64
	// FleetMinMembers guards a fleet against one bad member: with a store
	// that merges the members' windows (redisstore, with a time Window),
	// the fleet's rate trips the breaker only once this many distinct
	// members have reported failures in the window. 0 means 1.
	FleetMinMembers int
	// Backoff grows the open period each time in a row the breaker opens;
	// the zero Backoff keeps it at ResetTimeout.
	Backoff Backoff
	// HalfOpenMaxWait frees a trial's permit when the trial has not
	// returned after this long, and TrialExpiry says what else happens
	// (by default the breaker opens again). 0 means a trial may hold its
	// permit for ever (a shared store may still lease it; see redisstore).
	HalfOpenMaxWait time.Duration
	TrialExpiry     TrialExpiry
	// MaxHoldOpen caps how long HoldOpen keeps the breaker open, however
	// long a dependency asks for. 0 means 5 minutes.
	MaxHoldOpen time.Duration
	// RampDuration, when set, ramps calls up after the breaker closes
	// from open or half-open: it admits a rising share of them over this
	// long and rejects the rest (see RampShare and ReasonRamping);
	// RampSteps makes the rise n equal steps instead of linear. 0: no
	// ramp.
	RampDuration time.Duration
	RampSteps    int
	// Throttle, when its K is set, rejects a share of calls while the
	// breaker is closed, as the backend's acceptance falls (see Throttle).
	// It needs a time Window. The zero Throttle is none.
	Throttle Throttle
	// InitialState seeds the Storage only where it holds no state yet
	// (a breaker joining a fleet adopts the fleet's state). The zero value
	// is Closed. An Open seed starts a full open period.
	InitialState State
}

// errEmptyName is the error for a breaker without a name: a *ConfigError
// like every unusable setting.
var errEmptyName error = &ConfigError{"Name", "Name is required: it names the breaker in storage and metrics"}

// ConfigError is the error New returns for a setting it cannot use.
type ConfigError struct {
	Field  string // the Config field, such as "FailMax"
	Reason string
}

func (e *ConfigError) Error() string {
	return "infuse: invalid Config." + e.Field + ": " + e.Reason
}

func checkCount(field string, v int) error {
	if v < 0 {
		return &ConfigError{field, fmt.Sprintf("%d is negative", v)}
	}
	if v > maxCount {
		return &ConfigError{field, fmt.Sprintf("%d is above the limit of %d", v, maxCount)}
	}
	return nil
}

// validate checks cfg and returns the policy it sets, defaults applied.
func (cfg *Config) validate() (Policy, error) {
	if cfg.Name == "" {
		return Policy{}, errEmptyName
	}
	for _, c := range []struct {
		field string
		v     int
	}{
		{"FailMax", cfg.FailMax},
		{"SuccessThreshold", cfg.SuccessThreshold},
		{"HalfOpenMaxCalls", cfg.HalfOpenMaxCalls},
	} {
		if err := checkCount(c.field, c.v); err != nil {
			return Policy{}, err
		}
	}
	if cfg.ResetTimeout < 0 {
		return Policy{}, &ConfigError{"ResetTimeout", fmt.Sprintf("%v is negative", cfg.ResetTimeout)}
	}
	if !cfg.InitialState.valid() {
		return Policy{}, &ConfigError{"InitialState", fmt.Sprintf("%d is not a State", int(cfg.InitialState))}
	}
	for i, l := range cfg.Listeners {
		if l == nil {
			return Policy{}, &ConfigError{"Listeners", fmt.Sprintf("listener %d is nil", i)}
		}
	}
	for i, e := range cfg.Exclude {
		if e == nil {
			return Policy{}, &ConfigError{"Exclude", fmt.Sprintf("error %d is nil", i)}
		}
	}
	if err := cfg.Throttle.validate(cfg.Window); err != nil {
		return Policy{}, err
	}
	if err := cfg.validateRates(); err != nil {
		return Policy{}, err
	}
	if err := cfg.Backoff.validate(); err != nil {
		return Policy{}, err
	}
	if err := cfg.validateRamp(); err != nil {
		return Policy{}, err
	}
	if cfg.MaxHoldOpen < 0 || cfg.MaxHoldOpen > 24*time.Hour {
		return Policy{}, &ConfigError{"MaxHoldOpen", fmt.Sprintf("%v is not between 0 and a day", cfg.MaxHoldOpen)}
	}
	if cfg.HalfOpenMaxWait < 0 {
		return Policy{}, &ConfigError{"HalfOpenMaxWait", fmt.Sprintf("%v is negative", cfg.HalfOpenMaxWait)}
	}
	if cfg.TrialExpiry < ExpiryOpens || cfg.TrialExpiry > ExpiryFrees {
		return Policy{}, &ConfigError{"TrialExpiry", fmt.Sprintf("%d is not a TrialExpiry", int(cfg.TrialExpiry))}
	}
	p := Policy{
		FailMax:          orDefault(cfg.FailMax, defaultFailMax),
		ResetTimeout:     cfg.ResetTimeout,
		SuccessThreshold: orDefault(cfg.SuccessThreshold, defaultSuccessThreshold),
		HalfOpenMaxCalls: orDefault(cfg.HalfOpenMaxCalls, defaultHalfOpenMaxCalls),
		Backoff:          cfg.Backoff,
		HalfOpenMaxWait:  cfg.HalfOpenMaxWait,
		TrialExpiry:      cfg.TrialExpiry,
		Window:           cfg.Window,
		FailureRate:      cfg.FailureRate,
		SlowCallRate:     cfg.SlowCallRate,
		MinCalls:         orDefault(cfg.MinCalls, defaultMinCalls),
		SlowCallDuration: cfg.SlowCallDuration,
		FleetMinMembers:  orDefault(cfg.FleetMinMembers, 1),
		Throttle:         cfg.Throttle.withDefaults(),
		MaxHoldOpen:      cfg.MaxHoldOpen,
		RampDuration:     cfg.RampDuration,
		RampSteps:        cfg.RampSteps,
	}
	if p.MaxHoldOpen == 0 {
		p.MaxHoldOpen = defaultMaxHoldOpen
	}
	if p.ResetTimeout == 0 {
		p.ResetTimeout = defaultResetTimeout
	}
	if cfg.Window.size != 0 {
		p.MinCalls = min(p.MinCalls, cfg.Window.size)
	}
	return p, nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func checkRate(field string, v float64) error {
	if !(v >= 0 && v <= 1) { // NaN fails both
		return &ConfigError{field, fmt.Sprintf("%v is not between 0 and 1", v)}
	}
	return nil
}

func (cfg *Config) validateRates() error {
	if err := cfg.Window.validate(); err != nil {
		return err
	}
	if err := checkRate("FailureRate", cfg.FailureRate); err != nil {
		return err
	}
	if err := checkRate("SlowCallRate", cfg.SlowCallRate); err != nil {
		return err
	}
	if cfg.MinCalls < 0 {
		return &ConfigError{"MinCalls", fmt.Sprintf("%d is negative", cfg.MinCalls)}
	}
	if cfg.FleetMinMembers < 0 || cfg.FleetMinMembers > 1000 {
		return &ConfigError{"FleetMinMembers", fmt.Sprintf("%d is not between 0 and 1000", cfg.FleetMinMembers)}
	}
	if cfg.MinCalls > maxCount {
		return &ConfigError{"MinCalls", fmt.Sprintf("%d is above the limit of %d", cfg.MinCalls, maxCount)}
	}
	if cfg.SlowCallDuration < 0 {
		return &ConfigError{"SlowCallDuration", fmt.Sprintf("%v is negative", cfg.SlowCallDuration)}
	}
	if (cfg.FailureRate > 0 || cfg.SlowCallRate > 0) && cfg.Window.IsZero() {
		return &ConfigError{"Window", "a rate needs a window: set Window to CountWindow(n) or TimeWindow(d, bucket)"}
	}
	if !cfg.Window.IsZero() && cfg.FailureRate == 0 && cfg.SlowCallRate == 0 && cfg.Throttle.IsZero() {
		return &ConfigError{"Window", "a window without FailureRate, SlowCallRate or Throttle measures nothing"}
	}
	if cfg.SlowCallRate > 0 && cfg.SlowCallDuration == 0 {
		return &ConfigError{"SlowCallRate", "needs a SlowCallDuration to tell slow calls"}
	}
	return nil
}
