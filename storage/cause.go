package storage

// Cause says why a transition was made. A store that records it
// (MemoryStorage and redisstore do) gives every member of a fleet the
// same cause in Snapshot.Cause; the breaker reports it in its
// EventStateChange.
type Cause uint8

const (
	// CauseUnknown: the store does not say (an older store, or a state
	// written by an older version).
	CauseUnknown Cause = iota
	// CauseFailures: FailMax consecutive failures (Snapshot.Failures is
	// the run).
	CauseFailures
	// CauseFailureRate: the window's failure rate reached FailureRate.
	CauseFailureRate
	// CauseSlowCallRate: the window's slow-call rate reached SlowCallRate.
	CauseSlowCallRate
	// CauseRampFailures: the calls a recovery ramp let through failed at
	// the failure rate.
	CauseRampFailures
	// CauseOpenPeriodOver: the open period passed and a call became the
	// first trial (open to half-open).
	CauseOpenPeriodOver
	// CauseTrialFailed: a trial call failed (half-open to open).
	CauseTrialFailed
	// CauseTrialsSucceeded: SuccessThreshold trial calls succeeded
	// (half-open to closed).
	CauseTrialsSucceeded
	// CauseTrialExpired: a trial held past HalfOpenMaxWait, as
	// TrialExpiry says.
	CauseTrialExpired
	// CauseOperator: a manual transition (Open, HalfOpen, Close; infuse
	// open, half-open, close).
	CauseOperator
	// CauseHold: a call of HoldOpen.
	CauseHold
	// CauseRetryAfter: a hold asked by a server's Retry-After
	// (infusehttp).
	CauseRetryAfter
	// CausePushback: a hold asked by gRPC's retry pushback (infusegrpc).
	CausePushback

	causes // the number of causes; Valid is below it
)

// Valid tells whether c is one of the causes.
func (c Cause) Valid() bool { return c < causes }

// IsHold tells whether c is a hold's: HoldOpen, Retry-After or pushback.
func (c Cause) IsHold() bool { return c == CauseHold || c == CauseRetryAfter || c == CausePushback }

var causeNames = [...]string{
	CauseUnknown:         "unknown",
	CauseFailures:        "failures",
	CauseFailureRate:     "failure-rate",
	CauseSlowCallRate:    "slow-call-rate",
	CauseRampFailures:    "ramp-failures",
	CauseOpenPeriodOver:  "open-period-over",
	CauseTrialFailed:     "trial-failed",
	CauseTrialsSucceeded: "trials-succeeded",
	CauseTrialExpired:    "trial-expired",
	CauseOperator:        "operator",
	CauseHold:            "hold",
	CauseRetryAfter:      "retry-after",
	CausePushback:        "pushback",
}

// String is the cause's name, as JSON and logs write it ("failures",
// "trial-failed", ...).
func (c Cause) String() string {
	if c.Valid() {
		return causeNames[c]
	}
	return "unknown"
}

// ParseCause is the cause named s (String), CauseUnknown and false for any
// other s.
func ParseCause(s string) (Cause, bool) {
	for i, n := range causeNames {
		if n == s {
			return Cause(i), true
		}
	}
	return CauseUnknown, false
}

// MarshalText writes String.
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a name String writes; an unknown one is
// CauseUnknown (a newer version's cause), not an error.
func (c *Cause) UnmarshalText(b []byte) error {
	*c, _ = ParseCause(string(b))
	return nil
}
