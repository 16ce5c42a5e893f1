package console

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore"
)

// An operator starts a shadow from the command line; a member that follows
// shadows runs it; status and shadow show the candidate; -stop stops it.
func TestShadowFromTheCommandLine(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{Shadows: true, RefreshInterval: 50 * time.Millisecond})
	b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-fail-max", "-2", "payments"); code != 2 || !strings.Contains(errOut, "FailMax") {
		t.Fatalf("a bad candidate: %d %q", code, errOut)
	}
	if _, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-slow-call-rate", "0.5", "payments"); code != 2 || !strings.Contains(errOut, "a rate needs a window") {
		t.Fatalf("a slow-call rate without a duration and a window: %d %q", code, errOut)
	}
	out, errOut, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "payments", "-fail-max", "2", "-reset-timeout", "1m")
	if code != 0 || !strings.Contains(out, "payments: shadow started (failMax=2 resetTimeout=1m0s)") {
		t.Fatalf("start: %d %q %q", code, out, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Shadow() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Shadow() == nil {
		t.Fatal("the member never started the shadow")
	}
	for range 3 {
		if err := b.Call(context.Background(), func(context.Context) error { return io.EOF }); errors.Is(err, infuse.ErrOpen) {
			t.Fatal("the live breaker rejected a call")
		}
	}
	_ = store.Sync(context.Background())
	out, _, _ = cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments  failMax=2 resetTimeout=1m0s  open             open                    1") {
		t.Fatalf("shadow list:\n%s", out)
	}
	out, _, _ = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "payments#shadow") || !strings.Contains(out, "shadow, would reject: open") || !strings.Contains(out, "payments         closed") {
		t.Fatalf("status:\n%s", out)
	}
	for _, args := range [][]string{{"-stop", "-fail-max", "3", "payments"}, {"-fail-max", "3"}, {"payments"}, {"payments#shadow", "-fail-max", "3"}} {
		if _, errOut, code := cmdtest.Run(t, append([]string{"shadow", "-redis", url, "-namespace", "ops"}, args...)...); code == 0 {
			t.Fatalf("shadow %v accepted: %q", args, errOut)
		}
	}
	if out, _, code := cmdtest.Run(t, "shadow", "-redis", url, "-namespace", "ops", "-stop", "payments"); code != 0 || !strings.Contains(out, "payments: shadow stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	for b.Shadow() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Shadow() != nil {
		t.Fatal("the member never stopped the shadow")
	}
}
