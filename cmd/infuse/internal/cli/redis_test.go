package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// Neither -help nor an error prints a token or a Redis password.
func TestSecretsAreNeverPrinted(t *testing.T) {
	env := []string{"INFUSE_TOKEN=tok-3f9a1c", "INFUSE_REDIS=redis://ops:pw-77d2e1@127.0.0.1:1/0"}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cmdtest.Binary(t), args...)
		cmd.Env = append(cmd.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	for _, args := range [][]string{
		{"dashboard", "-help"}, {"status", "-help"}, {"demo", "-help"}, {"open", "-help"},
		{"dashboard", "-bogus"}, {"status", "-bogus"},
		{"status"}, // unreachable
		{"status", "-redis", "redis://ops:pw-77d2e1@127.0.0.1:x/0"},
		{"status", "-redis", "redis://ops:pw-77d2e1%zz@127.0.0.1:1/0"},
		{"status", "-redis", "http://ops:pw-77d2e1@127.0.0.1:1/0"},
	} {
		out := run(args...)
		if strings.Contains(out, "tok-3f9a1c") || strings.Contains(out, "pw-77d2e1") {
			t.Errorf("infuse %v printed a secret:\n%s", args, out)
		}
	}
}
