package simulate

import (
	"time"

	"github.com/infuse-go/infuse/infusesim"
)

// The JSON simulate -json writes: the table's figures, by the names below
// (docs/simulate.md lists them), a time in seconds, and null for a time
// the table says "never".

// scenarioJSON is a scenario's runs.
type scenarioJSON struct {
	Scenario scenarioSpec `json:"scenario"`
	// Fleet is -fleet: shared, local or both; DelaySeconds the shared
	// fleet's -delay (absent with -fleet local).
	Fleet        string   `json:"fleet"`
	DelaySeconds *float64 `json:"delaySeconds,omitempty"`
	Seed         uint64   `json:"seed"`
	Jitter       float64  `json:"jitter"`
	Sequential   bool     `json:"sequential"`
	// Columns are the table's columns, in its order.
	Columns []scenarioColumn `json:"columns"`
	// Picture is the -svg file written, if any.
	Picture string `json:"picture,omitempty"`
}

type scenarioSpec struct {
	Members int `json:"members"`
	// Rate is the calls a second each member makes.
	Rate        float64     `json:"rate"`
	Phases      []phaseJSON `json:"phases"`
	Description string      `json:"description"`
}

type phaseJSON struct {
	DurationSeconds float64 `json:"durationSeconds"`
	ErrorRate       float64 `json:"errorRate"`
	LatencySeconds  float64 `json:"latencySeconds"`
}

// scenarioColumn is one candidate on one fleet: a column of the table.
type scenarioColumn struct {
	// Name is the column's heading; Fleet shared or local.
	Name  string `json:"name"`
	Fleet string `json:"fleet"`
	// Calls is every call the members attempted.
	Calls int `json:"calls"`
	// LeakedCalls: calls that reached the backend while it failed;
	// Probes: of them, those after the member's own first rejection.
	LeakedCalls int `json:"leakedCalls"`
	Probes      int `json:"probes"`
	// AllRejectingSeconds: from the first failing call until every member
	// rejects (null: never).
	AllRejectingSeconds *float64 `json:"allRejectingSeconds"`
	// RejectedBeforeOutage and RejectedAfterOutage: healthy calls
	// rejected before the outage, and after it.
	RejectedBeforeOutage int `json:"rejectedBeforeOutage"`
	RejectedAfterOutage  int `json:"rejectedAfterOutage"`
	// RecoveredSeconds: from the backend's recovery until every member is
	// admitted (null: never).
	RecoveredSeconds *float64 `json:"recoveredSeconds"`
	// CallsPerSecondPerMember: while healthy.
	CallsPerSecondPerMember float64 `json:"callsPerSecondPerMember"`
	// BreakerErrors: calls the breaker failed itself, neither run nor
	// rejected.
	BreakerErrors int `json:"breakerErrors"`
}

// replayJSON is a recording replayed through each candidate.
type replayJSON struct {
	Recording recordingJSON `json:"recording"`
	// Columns are the table's columns: the recording's own ("as
	// recorded") first, then each candidate's.
	Columns []replayColumn `json:"columns"`
	Picture string         `json:"picture,omitempty"`
}

type recordingJSON struct {
	Path        string  `json:"path"`
	Records     int     `json:"records"`
	Breakers    int     `json:"breakers"`
	SpanSeconds float64 `json:"spanSeconds"`
	// Complete tells a recording its recorder closed; Dropped counts the
	// records dropped past its cap.
	Complete bool  `json:"complete"`
	Dropped  int64 `json:"dropped"`
}

// replayColumn is the table's rows for one column; FailedTrials and
// Opened are null for the recording's own column, which does not know
// them.
type replayColumn struct {
	Name              string `json:"name"`
	Calls             int    `json:"calls"`
	FailuresAdmitted  int    `json:"failuresAdmitted"`
	FailedTrials      *int   `json:"failedTrials"`
	FailuresRejected  int    `json:"failuresRejected"`
	SuccessesRejected int    `json:"successesRejected"`
	Admitted          int    `json:"admitted"`
	Opened            *int   `json:"opened"`
	Inferred          int    `json:"inferred"`
}

// seconds is d in seconds, nil for infusesim.Never.
func seconds(d time.Duration) *float64 {
	if d == infusesim.Never {
		return nil
	}
	s := d.Seconds()
	return &s
}

// known is n, nil for -1 (a figure a replay cannot know).
func known(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

func columnOf(name string, f infusesim.Fleet, r infusesim.Result) scenarioColumn {
	return scenarioColumn{
		Name: name, Fleet: f.String(), Calls: r.Calls, LeakedCalls: r.Leaked, Probes: r.Probes,
		AllRejectingSeconds: seconds(r.AllRejecting), RejectedBeforeOutage: r.RejectedBefore,
		RejectedAfterOutage: r.RejectedRecovering, RecoveredSeconds: seconds(r.Recovered),
		CallsPerSecondPerMember: r.Throughput, BreakerErrors: r.Errors,
	}
}

func replayColumnOf(name string, r infusesim.ReplayResult) replayColumn {
	return replayColumn{
		Name: name, Calls: r.Calls, FailuresAdmitted: r.FailuresAdmitted, FailedTrials: known(r.FailedTrials),
		FailuresRejected: r.FailuresRejected, SuccessesRejected: r.SuccessesRejected, Admitted: r.Admitted,
		Opened: known(r.Opened), Inferred: r.Inferred,
	}
}

func phasesJSON(ps []infusesim.Phase) []phaseJSON {
	out := make([]phaseJSON, len(ps))
	for i, p := range ps {
		out[i] = phaseJSON{DurationSeconds: p.Duration.Seconds(), ErrorRate: p.ErrorRate, LatencySeconds: p.Latency.Seconds()}
	}
	return out
}
