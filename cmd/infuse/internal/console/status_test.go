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

// status lists the most severe first (open, forced-open, half-open,
// throttled, ramping, disabled, closed), by name within each; -state
// keeps the classes and modes it names and refuses one it does not know;
// -json has the same order and no value standing for "none".
func TestStatusSortsBySeverityAndFilters(t *testing.T) {
	_, url, store := cmdtest.OpsStore(t, redisstore.Options{})
	ctx := context.Background()
	mk := func(name string, act func(*infuse.Breaker) error, ramp time.Duration) {
		t.Helper()
		b, err := infuse.New(infuse.Config{Name: name, Storage: store, ResetTimeout: time.Hour, RampDuration: ramp})
		if err != nil {
			t.Fatal(err)
		}
		if act != nil {
			if err := act(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("a-closed", nil, 0)
	mk("b-disabled", func(b *infuse.Breaker) error { return b.Disable(ctx) }, 0)
	mk("c-ramping", func(b *infuse.Breaker) error { _ = b.Open(ctx); return b.Close(ctx) }, time.Hour)
	mk("d-half-open", func(b *infuse.Breaker) error { return b.HalfOpen(ctx) }, 0)
	mk("e-forced", func(b *infuse.Breaker) error { return b.ForceOpen(ctx) }, 0)
	mk("f-open", func(b *infuse.Breaker) error { return b.Open(ctx) }, 0)
	mk("g-open", func(b *infuse.Breaker) error { return b.Open(ctx) }, 0)
	_ = store.Sync(ctx)
	want := []string{"f-open", "g-open", "e-forced", "d-half-open", "c-ramping", "b-disabled", "a-closed"}
	names := func(out string) []string {
		var ns []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			ns = append(ns, strings.Fields(line)[0])
		}
		return ns
	}
	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || strings.Join(names(out), " ") != strings.Join(want, " ") {
		t.Fatalf("status: %d %q\n%s\nwant the order %v", code, errOut, out, want)
	}
	for _, c := range []struct {
		states string
		want   []string
	}{
		{"open", []string{"f-open", "g-open"}},
		{"forced-open,half-open", []string{"e-forced", "d-half-open"}},
		{"ramping, closed", []string{"c-ramping", "a-closed"}},
		{"disabled", []string{"b-disabled"}},
		{"normal", []string{"f-open", "g-open", "d-half-open", "c-ramping", "a-closed"}},
	} {
		out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-state", c.states)
		if code != 0 || strings.Join(names(out), " ") != strings.Join(c.want, " ") {
			t.Errorf("status -state %q: %d %q\n%s\nwant %v", c.states, code, errOut, out, c.want)
		}
	}
	out, _, code = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-state", "throttled")
	if code != 0 || out != "none of the 7 breakers under namespace ops is throttled\n" {
		t.Errorf("status -state throttled: %d %q", code, out)
	}
	if _, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-state", "open,tripped"); code != 2 || !strings.Contains(errOut, `unknown state "tripped": want any of open, forced-open, half-open, throttled, ramping, disabled, closed, normal`) {
		t.Errorf("an unknown state: %d %q", code, errOut)
	}

	out, _, _ = cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops", "-json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != len(want) {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	for k, v := range list {
		name, state, class := v["name"], v["state"], v["class"]
		if name != want[k] {
			t.Errorf("-json lists %v at %d; want %s", name, k, want[k])
		}
		if r, ok := v["reason"]; ok && r == "" {
			t.Errorf("%v: reason %q", name, r)
		}
		_, retry := v["retryAfterSeconds"]
		_, since := v["openSinceSeconds"]
		if (state == "open") != since || retry != (class == "open") {
			t.Errorf("%v (%v, %v): openSinceSeconds %v, retryAfterSeconds %v", name, state, class, since, retry)
		}
		for _, f := range []string{"failureRate", "windowCalls", "rejectProbability", "throttleK"} {
			if _, ok := v[f]; ok {
				t.Errorf("%v: %s %v, with no window and no throttle", name, f, v[f])
			}
		}
		if g, ok := v["generation"]; v["idle"] == true && ok || v["idle"] != true && !ok {
			t.Errorf("%v: idle %v, generation %v", name, v["idle"], g)
		}
	}
}
