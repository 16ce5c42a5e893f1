package console

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/redisstore"
)

func TestStatus(t *testing.T) {
	_, url, store, bs := cmdtest.Fleet(t, "payments", "search")
	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "empty")
	if code != 0 || !strings.Contains(out, `no breakers under namespace empty`) {
		t.Fatalf("empty namespace: %d %q %q", code, out, errOut)
	}
	for range 2 {
		_ = bs[0].Call(context.Background(), func(context.Context) error { return io.EOF })
	}
	_ = store.Sync(context.Background())
	out, _, code = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments  open") || !strings.Contains(out, "search    closed") {
		t.Fatalf("status:\n%s", out)
	}
	out, _, _ = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-json")
	var views []breaker.View
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	if len(views) != 2 || views[0].Name != "payments" || views[0].State != "open" || views[0].Failures != 2 || views[0].RetryAfterS <= 0 {
		t.Fatalf("views %+v", views)
	}
}

// status and the dashboard's API show how much a fleet's throttle rejects.
func TestStatusShowsThrottling(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{WindowInterval: 10 * time.Millisecond})
	b, err := infuse.New(infuse.Config{Name: "api", Storage: store, FailMax: 1 << 20,
		Window: infuse.TimeWindow(time.Minute, time.Second), Throttle: infuse.Throttle{K: 1, MaxRejectRate: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Metrics().RejectProbability < 0.5 {
		if time.Now().After(deadline) {
			t.Fatalf("never throttled: %+v", b.Metrics())
		}
		_ = b.Call(context.Background(), func(context.Context) error { return io.EOF })
		time.Sleep(time.Millisecond)
	}
	views := statusUntil(t, url, deadline, func(v breaker.View) bool { return v.RejectProbability == 0.5 })
	if len(views) != 1 || views[0].Reason != "throttled: 50%" || views[0].ThrottleK != 1 || views[0].State != "closed" {
		t.Fatalf("views %+v", views)
	}
	out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  throttled: 50%") {
		t.Fatalf("status:\n%s", out)
	}
}

// status and the dashboard's API show how far a fleet's recovery ramp
// has come, from the close Redis recorded and the ramp the closing member
// noted.
func TestStatusShowsTheRamp(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{})
	b, err := infuse.New(infuse.Config{Name: "api", Storage: store, RampDuration: time.Hour, RampSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.RampShare(); got != 0.25 {
		t.Fatalf("the member's ramp share %v", got)
	}
	views := statusUntil(t, url, time.Now().Add(10*time.Second), func(v breaker.View) bool { return v.RampShare < 1 })
	if len(views) != 1 || views[0].Reason != "ramping: admits 25%" || views[0].RampShare != 0.25 || views[0].State != "closed" {
		t.Fatalf("views %+v", views)
	}
	out, _, _ := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if !strings.Contains(out, "api   closed  ramping: admits 25%") {
		t.Fatalf("status:\n%s", out)
	}
}

// A key of the wrong type in the namespace, or in the store's own
// layout, hides nothing else; a namespace that is a prefix of another
// lists none of the other's breakers, and acts on none of them.
func TestBadKeysAndNeighbourNamespaces(t *testing.T) {
	srv, url, _, _ := cmdtest.Fleet(t, "payments")
	c := srv.Client(t)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "ops:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatal(keys, err)
	}
	for _, k := range append(keys, "ops:{zzz}", "ops") {
		if k == "ops:{zzz}" || k == "ops" {
			_ = c.Set(ctx, k, "1", 0).Err()
		}
	}
	for _, k := range keys {
		if typ, _ := c.Type(ctx, k).Result(); typ == "hash" && !strings.Contains(k, "nmem") {
			_ = c.Del(ctx, k).Err()
			_ = c.Set(ctx, k, "junk", 0).Err()
			break
		}
	}
	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || !strings.Contains(out, "payments") {
		t.Fatalf("status with bad keys: %d %q %q", code, out, errOut)
	}

	other := redisstore.New(c, redisstore.Options{Namespace: "ops:{x}"})
	t.Cleanup(func() { _ = other.Close() })
	b, err := infuse.New(infuse.Config{Name: "x}:{b", Storage: other})
	if err != nil {
		t.Fatal(err)
	}
	_ = b
	out, _, _ = cmdtest.Run(t, "status", "-json", "-redis", url, "-namespace", "ops")
	if strings.Contains(out, "x}:{b") {
		t.Fatalf("namespace ops lists a breaker of ops:{x}: %s", out)
	}
	if _, errOut, code := cmdtest.Run(t, "force-open", "-redis", url, "-namespace", "ops", "x}:{b"); code != 1 || !strings.Contains(errOut, "no breaker named") {
		t.Fatalf("force-open across namespaces: %d %q", code, errOut)
	}
	if info, err := other.Breaker(ctx, "x}:{b"); err != nil || info.Mode != infuse.ModeNormal {
		t.Fatalf("the other namespace's breaker: %+v %v", info, err)
	}
}
