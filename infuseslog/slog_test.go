package infuseslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infuseslog"
)

func TestLogsTransitions(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	b, _ := infuse.New(infuse.Config{Name: "db", FailMax: 1, Listeners: []infuse.Listener{infuseslog.Listener(logger)}})
	_ = b.Call(context.Background(), func(context.Context) error { return errors.New("down") })
	_ = b.Close(context.Background())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d records: %s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "WARN" || rec["breaker"] != "db" || rec["from"] != "closed" || rec["to"] != "open" || rec["remote"] != false ||
		rec["cause"] != "failures" {
		t.Fatalf("record %v", rec)
	}
	if !strings.Contains(lines[1], `"level":"INFO"`) || !strings.Contains(lines[1], `"to":"closed"`) {
		t.Fatalf("second record %s", lines[1])
	}
}

func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	b, _ := infuse.New(infuse.Config{Name: "payments", FailMax: 1, Listeners: []infuse.Listener{infuseslog.Listener(logger)}})
	_ = b.Call(context.Background(), func(context.Context) error { return errors.New("timeout") })
	// Output:
	// level=WARN msg="circuit breaker state change" breaker=payments from=closed to=open cause=failures generation=2 remote=false
}
