package console

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

// statusUntil runs status -json on namespace ops until it lists one
// breaker that ok accepts, or the deadline passes; it returns the last
// listing.
func statusUntil(t *testing.T, url string, deadline time.Time, ok func(breaker.View) bool) []breaker.View {
	t.Helper()
	var views []breaker.View
	for time.Now().Before(deadline) {
		out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-json")
		if err := json.Unmarshal([]byte(out), &views); err != nil {
			t.Fatalf("status -json: %v\n%s", err, out)
		}
		if len(views) == 1 && ok(views[0]) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return views
}
