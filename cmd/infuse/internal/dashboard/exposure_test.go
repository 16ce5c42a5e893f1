package dashboard

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// Bound to an address other hosts reach, the dashboard says so, and
// whether its actions are refused (no token) or need the token, in clear;
// on loopback it says nothing.
func TestExposureWarning(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 8089} }
	for _, tc := range []struct {
		asked      string // "": the address bound
		addr       net.Addr
		actions    bool
		allowHosts bool
		want       []string // "" alone: no warning
	}{
		{addr: tcp("127.0.0.1"), want: []string{""}},
		{addr: tcp("127.0.0.2"), want: []string{""}},
		{addr: tcp("::1"), actions: true, want: []string{""}},
		{addr: tcp("0.0.0.0"), want: []string{"listens on 0.0.0.0:8089: the page is exposed beyond this host", "actions are refused: no token", "421 unless -allow-host"}},
		{asked: "0.0.0.0:0", addr: tcp("::"), want: []string{"listens on 0.0.0.0:8089: the page is exposed beyond this host"}},
		{asked: ":0", addr: tcp("::"), want: []string{"listens on [::]:8089: the page is exposed beyond this host"}},
		{asked: "localhost:0", addr: tcp("127.0.0.1"), want: []string{""}},
		{addr: tcp("::"), actions: true, want: []string{"listens on [::]:8089: the page is exposed beyond this host", "need the token, which crosses the network in clear", "421 unless -allow-host"}},
		{addr: tcp("::"), allowHosts: true, want: []string{"exposed beyond this host", "actions are refused"}},
		{addr: tcp("192.0.2.7"), actions: true, want: []string{"listens on 192.0.2.7:8089: the page is exposed", "in clear"}},
		{addr: tcp("2001:db8::7"), want: []string{"listens on [2001:db8::7]:8089: the page is exposed", "actions are refused"}},
	} {
		asked := tc.asked
		if asked == "" {
			asked = tc.addr.String()
		}
		got := exposure(asked, tc.addr, tc.actions, tc.allowHosts)
		if tc.want[0] == "" {
			if got != "" {
				t.Errorf("%v: warns %q", tc.addr, got)
			}
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%v (actions %v, -allow-host %v): %q lacks %q", tc.addr, tc.actions, tc.allowHosts, got, w)
			}
		}
		if tc.allowHosts && strings.Contains(got, "421") {
			t.Errorf("%v with -allow-host: %q", tc.addr, got)
		}
		for _, line := range strings.SplitAfter(strings.TrimSuffix(got, "\n"), "\n") {
			if !strings.HasPrefix(line, "warning: ") {
				t.Errorf("%v: a line that is no warning: %q", tc.addr, line)
			}
		}
	}
}

// infuse dashboard -listen 0.0.0.0:PORT (or [::]:PORT) without a token:
// it warns on stderr that the page is exposed beyond this host and that
// the actions are refused, and refuses them; with a token, that the
// token crosses the network in clear. On loopback it warns of nothing.
func TestDashboardWarnsWhenListeningBeyondThisHost(t *testing.T) {
	_, url, _, _ := cmdtest.Fleet(t, "payments")
	type run struct {
		listen, token string
		warning       []string // none: no warning
		action        int      // the answer to an action with the token
	}
	runs := []run{
		{listen: "0.0.0.0:0", warning: []string{"the page is exposed beyond this host", "actions are refused: no token"}, action: http.StatusForbidden},
		{listen: "0.0.0.0:0", token: "s3cret", warning: []string{"the page is exposed beyond this host", "crosses the network in clear"}, action: http.StatusOK},
		{listen: "127.0.0.1:0", action: http.StatusForbidden},
	}
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		runs = append(runs, run{listen: "[::]:0", warning: []string{"the page is exposed beyond this host", "actions are refused: no token"}, action: http.StatusForbidden})
	} else {
		t.Logf("no IPv6 here: -listen [::]:0 not tried (%v)", err)
	}
	for _, tc := range runs {
		port, stderr := runDashboard(t, url, tc.listen, tc.token, func(port string) {
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/api/breakers/payments/force-open", nil)
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.action {
				t.Errorf("-listen %s, token %q: an action answered %d, want %d", tc.listen, tc.token, resp.StatusCode, tc.action)
			}
		})
		if len(tc.warning) == 0 && stderr != "" {
			t.Errorf("-listen %s: stderr %q", tc.listen, stderr)
		}
		for _, w := range tc.warning {
			host, _, _ := net.SplitHostPort(tc.listen)
			if !strings.Contains(stderr, w) || !strings.Contains(stderr, "listens on "+net.JoinHostPort(host, port)+":") {
				t.Errorf("-listen %s, token %q: stderr %q lacks %q", tc.listen, tc.token, stderr, w)
			}
		}
	}
}

// runDashboard runs infuse dashboard on listen, with token if any, calls
// during with its port once it serves, then stops it and returns what it
// wrote on stderr.
func runDashboard(t *testing.T, url, listen, token string, during func(port string)) (port, stderr string) {
	t.Helper()
	cmd := exec.Command(cmdtest.Binary(t), "dashboard", "-redis", url, "-namespace", "ops", "-listen", listen, "-token", token)
	var errs bytes.Buffer
	cmd.Stderr = &errs
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	defer stop()
	first := bufio.NewScanner(out)
	if !first.Scan() {
		stop()
		t.Fatalf("the dashboard printed nothing; stderr %q", errs.String())
	}
	fields := strings.Fields(first.Text())
	if len(fields) < 3 {
		t.Fatalf("the dashboard printed %q", first.Text())
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(fields[2], "http://"))
	if err != nil {
		t.Fatalf("the dashboard printed %q", first.Text())
	}
	during(port)
	stop() // the warning comes before the address: all of it is in errs
	return port, errs.String()
}
