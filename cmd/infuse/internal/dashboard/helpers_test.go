package dashboard

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
	"github.com/infuse-go/infuse/infusetest"
)

func TestMain(m *testing.M) { os.Exit(cmdtest.Main(m)) }

// httpServe serves h on a free loopback port until the test ends.
func httpServe(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// limitedDashboard is a dashboard of one demo breaker, "payments", on a
// manual clock, served on loopback until the test ends.
func limitedDashboard(t *testing.T, token string) (*Server, *infusetest.Clock, string) {
	t.Helper()
	b, err := infuse.New(infuse.Config{Name: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	src := NewLocal()
	src.Add("payments", b)
	d := New(src, token)
	clk := infusetest.NewClock()
	d.now = clk.Now
	return d, clk, httpServe(t, d.handler())
}

// from is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all loopback), so that a test can be
// several clients.
func from(t *testing.T, ip string) *http.Client {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// stream is an event stream the test opened: it read the stream's
// first ping, and reads nothing more unless told.
type stream struct {
	id, ping string
	body     io.ReadCloser
}

// tryStream opens /api/events from ip; it returns the status and, on
// 200, the stream, its first ping read.
func tryStream(t *testing.T, base, ip string) (int, *stream) {
	t.Helper()
	resp, err := from(t, ip).Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := bufio.NewReader(resp.Body)
	found := make(chan error, 1)
	go func() {
		for {
			line, err := events.ReadString('\n')
			if err != nil || line == "event: ping\n" {
				found <- err
				return
			}
		}
	}()
	select {
	case err := <-found:
		if err != nil {
			t.Fatalf("the stream from %s ended before its first ping: %v", ip, err)
		}
	case <-time.After(30 * time.Second):
		resp.Body.Close()
		t.Fatalf("no ping on the stream from %s within 30 s", ip)
	}
	data, _ := events.ReadString('\n')
	var p struct{ Stream, Ping string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &p); err != nil || p.Stream == "" || p.Ping == "" {
		t.Fatalf("a ping's data: %q %v", data, err)
	}
	return http.StatusOK, &stream{id: p.Stream, ping: p.Ping, body: io.NopCloser(events)}
}

// openStream is tryStream that must succeed.
func openStream(t *testing.T, base, ip string) *stream {
	t.Helper()
	code, s := tryStream(t, base, ip)
	if code != http.StatusOK {
		t.Fatalf("a stream from %s: %d", ip, code)
	}
	return s
}

// answer answers the stream's ping as the page does, and returns the status.
func answer(t *testing.T, base, stream, ping string) int {
	t.Helper()
	resp, err := http.Post(base+"/api/events/ack", "text/plain", strings.NewReader(fmt.Sprintf(`{"stream":%q,"ping":%q}`, stream, ping)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// live reports whether the dashboard serves the stream named id.
func live(d *Server, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.clients {
		if c.id == id {
			return true
		}
	}
	return false
}

// waitStreams waits until the dashboard serves n streams.
func waitStreams(t *testing.T, d *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		d.mu.Lock()
		got := len(d.clients)
		d.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ends reports whether the stream's body ends (the server dropped it)
// within a generous deadline.
func ends(s *stream) bool {
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, s.body); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(30 * time.Second):
		return false
	}
}

// neverReads opens /api/events from ip and reads nothing, ever.
func neverReads(t *testing.T, base, ip string) {
	t.Helper()
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}
