package infuse

import (
	"github.com/infuse-go/infuse/storage"

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
// for the Name field.
var errEmptyName = storage.ErrEmptyName

// Settings returns cfg's settings: its fields that decide when the
// breaker opens and closes. Package storage declares them (Settings, with
// their validation and defaults); a shadow's Candidate is such a value.
func (cfg Config) Settings() Candidate {
	return Candidate{
		FailMax: cfg.FailMax, ResetTimeout: cfg.ResetTimeout, SuccessThreshold: cfg.SuccessThreshold,
		HalfOpenMaxCalls: cfg.HalfOpenMaxCalls, Window: cfg.Window, FailureRate: cfg.FailureRate, MinCalls: cfg.MinCalls,
		SlowCallDuration: cfg.SlowCallDuration, SlowCallRate: cfg.SlowCallRate, FleetMinMembers: cfg.FleetMinMembers,
		Backoff: cfg.Backoff, HalfOpenMaxWait: cfg.HalfOpenMaxWait, TrialExpiry: cfg.TrialExpiry,
		MaxHoldOpen: cfg.MaxHoldOpen, RampDuration: cfg.RampDuration, RampSteps: cfg.RampSteps, Throttle: cfg.Throttle,
	}
}

// WithSettings returns cfg with its settings (see Settings) made s.
func (cfg Config) WithSettings(s Candidate) Config {
	return Config{
		Name: cfg.Name, Exclude: cfg.Exclude, ExcludeFunc: cfg.ExcludeFunc, Listeners: cfg.Listeners,
		Storage: cfg.Storage, Clock: cfg.Clock, InitialState: cfg.InitialState,
		FailMax: s.FailMax, ResetTimeout: s.ResetTimeout, SuccessThreshold: s.SuccessThreshold,
		HalfOpenMaxCalls: s.HalfOpenMaxCalls, Window: s.Window, FailureRate: s.FailureRate, MinCalls: s.MinCalls,
		SlowCallDuration: s.SlowCallDuration, SlowCallRate: s.SlowCallRate, FleetMinMembers: s.FleetMinMembers,
		Backoff: s.Backoff, HalfOpenMaxWait: s.HalfOpenMaxWait, TrialExpiry: s.TrialExpiry,
		MaxHoldOpen: s.MaxHoldOpen, RampDuration: s.RampDuration, RampSteps: s.RampSteps, Throttle: s.Throttle,
	}
}

// validate checks cfg and returns the policy it sets, defaults applied.
func (cfg *Config) validate() (storage.Policy, error) {
	if cfg.Name == "" {
		return storage.Policy{}, errEmptyName
	}
	if !cfg.InitialState.Valid() {
		return storage.Policy{}, &ConfigError{Field: "InitialState", Reason: fmt.Sprintf("%d is not a State", int(cfg.InitialState))}
	}
	for i, l := range cfg.Listeners {
		if l == nil {
			return storage.Policy{}, &ConfigError{Field: "Listeners", Reason: fmt.Sprintf("listener %d is nil", i)}
		}
	}
	for i, e := range cfg.Exclude {
		if e == nil {
			return storage.Policy{}, &ConfigError{Field: "Exclude", Reason: fmt.Sprintf("error %d is nil", i)}
		}
	}
	s := cfg.Settings()
	if err := s.Validate(); err != nil {
		return storage.Policy{}, err
	}
	return s.WithDefaults(), nil
}
