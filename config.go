package infuse

import (
	"errors"
	"fmt"
	"math"
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
	// InitialState seeds the Storage only where it holds no state yet
	// (a breaker joining a fleet adopts the fleet's state). The zero value
	// is Closed. An Open seed starts a full open period.
	InitialState State
}

const (
	defaultFailMax          = 5
	defaultResetTimeout     = 60 * time.Second
	defaultSuccessThreshold = 1
	defaultHalfOpenMaxCalls = 1
	// maxCount bounds the counted settings; larger runs of failures or
	// trials are not meaningful and would not fit a store's counters.
	maxCount = math.MaxInt32
)

var defaultPolicy = Policy{
	FailMax:          defaultFailMax,
	ResetTimeout:     defaultResetTimeout,
	SuccessThreshold: defaultSuccessThreshold,
	HalfOpenMaxCalls: defaultHalfOpenMaxCalls,
}

var errEmptyName = errors.New("infuse: Config.Name is required")

// ConfigError is the error New returns for a setting it cannot use.
type ConfigError struct {
	Field  string // the Config field, such as "FailMax"
	Reason string
}

func (e *ConfigError) Error() string {
	return "infuse: invalid Config." + e.Field + ": " + e.Reason
}

func checkCount(field string, v int) error {
	switch {
	case v < 0:
		return &ConfigError{field, fmt.Sprintf("%d is negative", v)}
	case v > maxCount:
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
	p := Policy{
		FailMax:          orDefault(cfg.FailMax, defaultFailMax),
		ResetTimeout:     cfg.ResetTimeout,
		SuccessThreshold: orDefault(cfg.SuccessThreshold, defaultSuccessThreshold),
		HalfOpenMaxCalls: orDefault(cfg.HalfOpenMaxCalls, defaultHalfOpenMaxCalls),
	}
	if p.ResetTimeout == 0 {
		p.ResetTimeout = defaultResetTimeout
	}
	return p, nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
