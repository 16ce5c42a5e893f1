package dashboard

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// The dashboard answers only to its own host names, sets its security
// headers, and answers 405 to a GET on an action.
func TestDashboardRefusesForeignHostsAndSetsItsHeaders(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	base := cmdtest.StartDashboard(t, url, "s3cret")
	get := func(path, host string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.attacker.example"} {
		if resp := get("/api/breakers", host); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
	for _, host := range []string{"", "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		resp := get("/", host)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %q: %d", host, resp.StatusCode)
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("headers: %v", h)
		}
	}
	if resp := get("/api/breakers/payments/open", ""); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET on an action: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
