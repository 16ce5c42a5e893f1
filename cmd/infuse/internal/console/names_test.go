package console

import (
	"context"
	"strings"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// A hostile name is printed escaped by status, watch and the actions: it
// cannot overwrite or forge a row.
func TestHostileNamesPrintEscaped(t *testing.T) {
	hostile := "zz\r\x1b[2K\x1b[1Apayments closed"
	forged := "x\npayments  closed"
	_, url, _, bs := cmdtest.Fleet(t, "payments", hostile, forged)
	_ = bs[0].Open(context.Background())
	lines := cmdtest.StartWatch(t, url)
	lines.Scan() // watching …
	_ = bs[1].Open(context.Background())
	if !lines.Scan() || strings.ContainsAny(lines.Text(), "\r\x1b") || !strings.Contains(lines.Text(), `"zz\r\x1b[2K`) {
		t.Fatalf("watch printed %q", lines.Text())
	}

	out, errOut, code := cmdtest.Run(t, "status", "-redis", url, "-namespace", "ops")
	if code != 0 || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 4 { // a header and three breakers, one line each
		t.Fatalf("status printed %d lines for 3 breakers:\n%s", len(rows), out)
	}
	for _, r := range rows[1:] {
		if strings.HasPrefix(r, "payments ") && !strings.Contains(r, "open") {
			t.Fatalf("the real payments row says %q", r)
		}
	}
	out, _, code = cmdtest.Run(t, "close", "-redis", url, "-namespace", "ops", hostile)
	if code != 0 || strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("close: %d %q", code, out)
	}
}
