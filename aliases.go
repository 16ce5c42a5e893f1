package infuse

import (
	"time"

	"github.com/infuse-go/infuse/storage"
)

// The vocabulary a breaker and its store share is declared in package
// storage (the store contract), and named here for users: a breaker's
// states and modes, its clock, where its state lives, and its settings.
type (
	// State is where a breaker is in its cycle: Closed, Open, HalfOpen.
	State = storage.State
	// Mode is a forced state, set by an operator and held until
	// released: ModeNormal, ModeForcedOpen, ModeDisabled.
	Mode = storage.Mode
	// Clock tells the time (Config.Clock).
	Clock = storage.Clock
	// Storage is where breakers keep their state (Config.Storage):
	// NewMemoryStorage, redisstore, or a store of your own.
	Storage = storage.Storage
	// Window is the window of a breaker's rates (Config.Window).
	Window = storage.Window
	// Backoff grows the open period while trials keep failing
	// (Config.Backoff).
	Backoff = storage.Backoff
	// Throttle is adaptive client-side throttling (Config.Throttle).
	Throttle = storage.Throttle
	// TrialExpiry is what a trial held past HalfOpenMaxWait does.
	TrialExpiry = storage.TrialExpiry
	// ConfigError is the error for settings a breaker cannot take.
	ConfigError = storage.ConfigError
	// Candidate is a configuration to try in a shadow (see StartShadow):
	// the settings that decide when a breaker opens and closes, as in
	// Config. Its zero values mean Config's defaults; it encodes to JSON,
	// so that a store can carry it.
	Candidate = storage.Settings
)

// The states, modes and trial expiries.
const (
	Closed   = storage.Closed
	Open     = storage.Open
	HalfOpen = storage.HalfOpen

	ModeNormal     = storage.ModeNormal
	ModeForcedOpen = storage.ModeForcedOpen
	ModeDisabled   = storage.ModeDisabled

	ExpiryOpens  = storage.ExpiryOpens
	ExpiryCloses = storage.ExpiryCloses
	ExpiryFrees  = storage.ExpiryFrees
)

// What a shadow's candidate may cost (see Candidate.ValidateCandidate).
const (
	MaxCandidateWindowSize = storage.MaxCandidateWindowSize
	MaxCandidateBuckets    = storage.MaxCandidateBuckets
	MinCandidateBucket     = storage.MinCandidateBucket
)

// CountWindow measures over the last n calls (see storage.CountWindow).
func CountWindow(n int) Window { return storage.CountWindow(n) }

// TimeWindow measures over the last d, in buckets of length bucket (see
// storage.TimeWindow).
func TimeWindow(d, bucket time.Duration) Window { return storage.TimeWindow(d, bucket) }

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) { return storage.ParseState(s) }

// Cause says why a transition was made (Event.Cause).
type Cause = storage.Cause

// The causes of a transition.
const (
	CauseUnknown         = storage.CauseUnknown
	CauseFailures        = storage.CauseFailures
	CauseFailureRate     = storage.CauseFailureRate
	CauseSlowCallRate    = storage.CauseSlowCallRate
	CauseRampFailures    = storage.CauseRampFailures
	CauseOpenPeriodOver  = storage.CauseOpenPeriodOver
	CauseTrialFailed     = storage.CauseTrialFailed
	CauseTrialsSucceeded = storage.CauseTrialsSucceeded
	CauseTrialExpired    = storage.CauseTrialExpired
	CauseOperator        = storage.CauseOperator
	CauseHold            = storage.CauseHold
	CauseRetryAfter      = storage.CauseRetryAfter
	CausePushback        = storage.CausePushback
)
