package cli

import (
	"strings"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// Flags may follow NAME.
func TestFlagsAfterTheName(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	out, errOut, code := cmdtest.Run(t, "open", "payments", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.HasPrefix(out, "payments: open") {
		t.Fatalf("open NAME -redis URL: %d %q %q", code, out, errOut)
	}
	out, errOut, code = cmdtest.Run(t, "close", "-redis", url, "-namespace", "ops", "--", "-redis")
	if code != 1 || !strings.Contains(errOut, "no breaker named -redis") {
		t.Fatalf("a NAME after --: %d %q %q", code, out, errOut)
	}
}
