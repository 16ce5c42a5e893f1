package console

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

func TestActionsHoldFleetWide(t *testing.T) {
	_, url, store, bs := cmdtest.Fleet(t, "payments")
	for _, c := range []struct{ verb, want string }{
		{"open", "payments: open (mode normal"},
		{"half-open", "payments: half-open (mode normal"},
		{"close", "payments: closed (mode normal"},
		{"force-open", "payments: open (mode forced-open"},
		{"release", "payments: closed (mode normal"},
		{"disable", "payments: closed (mode disabled"},
	} {
		out, errOut, code := cmdtest.Run(t, c.verb, "-redis", url, "-namespace", "ops", "payments")
		if code != 0 || !strings.HasPrefix(out, c.want) {
			t.Fatalf("%s: %d %q %q", c.verb, code, out, errOut)
		}
	}
	_ = store.Sync(context.Background())
	if bs[0].Mode() != infuse.ModeDisabled {
		t.Fatalf("the member's mode: %v", bs[0].Mode())
	}
}

// An operator's command is no member: the count stays the fleet's.
func TestOperatorCommandsAreNoMembers(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	for _, verb := range []string{"open", "close", "force-open", "release"} {
		if _, errOut, code := cmdtest.Run(t, verb, "payments", "-redis", url, "-namespace", "ops"); code != 0 {
			t.Fatalf("%s: %d %s", verb, code, errOut)
		}
		out, _, _ := cmdtest.Run(t, "status", "-json", "-redis", url, "-namespace", "ops")
		var list []breaker.View
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Members != 1 {
			t.Fatalf("after %s: %v %+v", verb, err, list)
		}
	}
}
