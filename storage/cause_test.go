package storage_test

import (
	"encoding/json"
	"testing"

	"github.com/infuse-go/infuse/storage"
)

// Every cause has a name that reads back as it (JSON too); a number past
// the last cause is none, reads as "unknown", and a name no cause has is
// CauseUnknown, not an error (a newer version's cause). Exactly the
// holds' causes are holds.
func TestACauseReadsBackAsItIsWritten(t *testing.T) {
	names := map[string]bool{}
	last := storage.CausePushback
	for c := storage.CauseUnknown; c <= last; c++ {
		if !c.Valid() {
			t.Errorf("cause %d is not valid", c)
		}
		name := c.String()
		if names[name] {
			t.Errorf("two causes are named %q", name)
		}
		names[name] = true
		if back, ok := storage.ParseCause(name); !ok || back != c {
			t.Errorf("ParseCause(%q) = %v, %v; want %d", name, back, ok, c)
		}
		b, err := json.Marshal(c)
		var decoded storage.Cause
		if err != nil || json.Unmarshal(b, &decoded) != nil || decoded != c || string(b) != `"`+name+`"` {
			t.Errorf("cause %d to JSON and back: %s %v -> %v", c, b, err, decoded)
		}
		if want := c == storage.CauseHold || c == storage.CauseRetryAfter || c == storage.CausePushback; c.IsHold() != want {
			t.Errorf("%v: IsHold %v", c, c.IsHold())
		}
	}
	if storage.CauseFailures.String() != "failures" || storage.CauseTrialFailed.String() != "trial-failed" {
		t.Errorf("names: %q, %q", storage.CauseFailures, storage.CauseTrialFailed)
	}
	if past := last + 1; past.Valid() || past.String() != "unknown" || past.IsHold() {
		t.Errorf("the cause past the last: valid %v, %q", past.Valid(), past.String())
	}
	var c storage.Cause = storage.CauseHold
	if err := json.Unmarshal([]byte(`"a-cause-from-the-future"`), &c); err != nil || c != storage.CauseUnknown {
		t.Errorf("an unknown name: %v, %v", c, err)
	}
	if c, ok := storage.ParseCause("Failures"); ok || c != storage.CauseUnknown {
		t.Errorf("ParseCause(\"Failures\") = %v, %v", c, ok)
	}
}
