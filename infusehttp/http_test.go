package infusehttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusehttp"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/registry"
)

// upstream is an httptest server that answers with the status it is told
// to, counting the requests that reach it.
type upstream struct {
	*httptest.Server
	status atomic.Int64
	hits   atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.status.Store(http.StatusOK)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(int(u.status.Load()))
		_, _ = io.WriteString(w, "body "+strconv.Itoa(int(u.status.Load())))
	}))
	t.Cleanup(u.Close)
	return u
}

func newBreaker(t *testing.T, cfg infuse.Config) *infuse.Breaker {
	if cfg.Name == "" {
		cfg.Name = "upstream"
	}
	if cfg.Clock == nil {
		cfg.Clock = infusetest.NewClock()
	}
	b, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func client(t *testing.T, opts infusehttp.ClientOptions) *http.Client {
	rt, err := infusehttp.Transport(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: rt}
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestTransportOpensOnServerErrorsAndStopsSending(t *testing.T) {
	u := newUpstream(t)
	b := newBreaker(t, infuse.Config{FailMax: 2, ResetTimeout: time.Minute})
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	u.status.Store(http.StatusInternalServerError)
	for range 2 {
		status, body, err := get(t, c, u.URL)
		if err != nil || status != 500 || body != "body 500" {
			t.Fatalf("a failing call still returns its response: %d %q %v", status, body, err)
		}
	}
	if b.State() != infuse.Open {
		t.Fatalf("state %v after two 500s", b.State())
	}
	_, _, err := get(t, c, u.URL)
	if !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("request while open: %v", err)
	}
	if u.hits.Load() != 2 {
		t.Fatalf("%d requests reached the server; the rejected one must not", u.hits.Load())
	}
}

func TestTransportCountsWhatTheOptionsSay(t *testing.T) {
	u := newUpstream(t)
	b := newBreaker(t, infuse.Config{FailMax: 3})
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	for _, s := range []int{404, 400, 200, 429} {
		u.status.Store(int64(s))
		_, _, _ = get(t, c, u.URL)
	}
	if got := b.Counts().ConsecutiveFailures; got != 1 { // only the 429
		t.Fatalf("count %d", got)
	}
	custom := newBreaker(t, infuse.Config{Name: "custom", FailMax: 1})
	c = client(t, infusehttp.ClientOptions{Breaker: custom, IsFailure: func(r *http.Response, err error) bool {
		return err != nil || r.StatusCode == http.StatusNotFound
	}})
	u.status.Store(404)
	_, _, _ = get(t, c, u.URL)
	if custom.State() != infuse.Open {
		t.Fatal("a custom IsFailure was ignored")
	}
}

func TestTransportOneBreakerPerHost(t *testing.T) {
	bad, good := newUpstream(t), newUpstream(t)
	bad.status.Store(503)
	reg, err := registry.New(registry.Options{Template: infuse.Config{Name: "http:", FailMax: 1, ResetTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, infusehttp.ClientOptions{Registry: reg})
	_, _, _ = get(t, c, bad.URL)
	if _, _, err := get(t, c, bad.URL); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("the failing host: %v", err)
	}
	if status, _, err := get(t, c, good.URL); err != nil || status != 200 {
		t.Fatalf("the healthy host: %d %v", status, err)
	}
}

func TestTransportErrorsCount(t *testing.T) {
	u := newUpstream(t)
	url := u.URL
	u.Close() // connection refused from now on
	b := newBreaker(t, infuse.Config{FailMax: 1})
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	if _, _, err := get(t, c, url); err == nil || errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("first call: %v", err)
	}
	if b.State() != infuse.Open {
		t.Fatal("a transport error did not count")
	}
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closes atomic.Int64
}

func (c *closeCounter) Close() error { c.closes.Add(1); return nil }

func TestRejectedRequestBodyIsClosedOnce(t *testing.T) {
	u := newUpstream(t)
	b := newBreaker(t, infuse.Config{})
	_ = b.Open(context.Background())
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	body := &closeCounter{Reader: bytes.NewReader([]byte("payload"))}
	req, _ := http.NewRequest(http.MethodPost, u.URL, body)
	if _, err := c.Do(req); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("err %v", err)
	}
	if body.closes.Load() != 1 {
		t.Fatalf("request body closed %d times, want once", body.closes.Load())
	}
}

func TestCallerCancellationIsNotAFailure(t *testing.T) {
	arrived := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer slow.Close()
	b := newBreaker(t, infuse.Config{FailMax: 1})
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, slow.URL, nil)
	go func() { <-arrived; cancel() }()
	if _, err := c.Do(req); err == nil {
		t.Fatal("no error")
	}
	if b.State() != infuse.Closed || b.Counts().ConsecutiveFailures != 0 {
		t.Fatalf("a cancelled request counted: %v %+v", b.State(), b.Counts())
	}
}

func TestTransportOptions(t *testing.T) {
	if _, err := infusehttp.Transport(nil, infusehttp.ClientOptions{}); err == nil {
		t.Fatal("no breaker accepted")
	}
	b := newBreaker(t, infuse.Config{})
	reg, _ := registry.New(registry.Options{})
	if _, err := infusehttp.Transport(nil, infusehttp.ClientOptions{Breaker: b, Registry: reg}); err == nil {
		t.Fatal("both a breaker and a registry accepted")
	}
	if _, err := infusehttp.Middleware(nil, infusehttp.ServerOptions{}); err == nil {
		t.Fatal("Middleware without a breaker accepted")
	}
}

func TestMiddlewareAnswers503WithRetryAfter(t *testing.T) {
	var status atomic.Int64
	status.Store(200)
	var calls atomic.Int64
	clock := infusetest.NewClock()
	b := newBreaker(t, infuse.Config{FailMax: 2, ResetTimeout: 90 * time.Second, Clock: clock})
	mw, err := infusehttp.Middleware(b, infusehttp.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(int(status.Load()))
	})))
	defer srv.Close()
	c := srv.Client()
	if s, _, _ := get(t, c, srv.URL); s != 200 {
		t.Fatal(s)
	}
	status.Store(500)
	get(t, c, srv.URL)
	get(t, c, srv.URL)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "90" {
		t.Fatalf("while open: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if calls.Load() != 3 {
		t.Fatalf("the handler ran %d times; not while open", calls.Load())
	}
	clock.Advance(90 * time.Second)
	status.Store(200)
	if s, _, _ := get(t, c, srv.URL); s != 200 || b.State() != infuse.Closed {
		t.Fatalf("trial: %d, state %v", s, b.State())
	}
}

func TestMiddlewareCountsAPanicAsAFailure(t *testing.T) {
	b := newBreaker(t, infuse.Config{FailMax: 1})
	mw, _ := infusehttp.Middleware(b, infusehttp.ServerOptions{})
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	if b.State() != infuse.Open {
		t.Fatal("a panicking handler did not count")
	}
}

// One host, however it is written, is one breaker: case, the default
// port and a trailing dot do not make another.
func TestOneBreakerPerHostHoweverWritten(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://LOCALHOST/", "localhost:80"},
		{"http://localhost:80/x", "localhost:80"},
		{"http://localhost./", "localhost:80"},
		{"https://Example.COM/", "example.com:443"},
		{"https://example.com:443", "example.com:443"},
		{"https://example.com:8443", "example.com:8443"},
		{"http://[::1]/", "[::1]:80"},
		{"http://[::1]:80/", "[::1]:80"},
	} {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := infusehttp.HostKey(u); got != c.want {
			t.Errorf("HostKey(%s) = %q, want %q", c.in, got, c.want)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	reg, _ := registry.New(registry.Options{Template: infuse.Config{Name: "http:"}})
	rt, _ := infusehttp.Transport(nil, infusehttp.ClientOptions{Registry: reg})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, host := range []string{"127.0.0.1", "LOCALHOST", "localhost", "LocalHost"} {
		req, _ := http.NewRequest("GET", "http://"+host+":"+port+"/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if reg.Len() != 2 {
		var keys []string
		reg.Each(func(k string, _ *infuse.Breaker) { keys = append(keys, k) })
		t.Fatalf("breakers %v, want one for 127.0.0.1 and one for localhost", keys)
	}
}

// A 503 or 429 with Retry-After holds the breaker open for that long, when
// asked to; other statuses' Retry-After and unparsable values are ignored.
func TestRetryAfterHoldsTheBreakerOpen(t *testing.T) {
	for _, c := range []struct {
		status int
		header string
		hold   bool
		want   time.Duration // RetryAfter after one response; 0: still closed
	}{
		{http.StatusServiceUnavailable, "30", true, 30 * time.Second},
		{http.StatusTooManyRequests, "7", true, 7 * time.Second},
		{http.StatusTooManyRequests, "7200", true, 10 * time.Minute}, // capped by MaxHoldOpen
		{http.StatusServiceUnavailable, "30", false, 0},
		{http.StatusServiceUnavailable, "soon", true, 0},
		{http.StatusServiceUnavailable, "-5", true, 0},
		{http.StatusMovedPermanently, "30", true, 0},
		{http.StatusServiceUnavailable, "", true, 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			w.WriteHeader(c.status)
		}))
		b := newBreaker(t, infuse.Config{FailMax: 5, MaxHoldOpen: 10 * time.Minute})
		cl := client(t, infusehttp.ClientOptions{Breaker: b, HoldOnRetryAfter: c.hold})
		resp, err := cl.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if got := b.RetryAfter(); got != c.want || (c.want == 0) != (b.State() == infuse.Closed) {
			t.Errorf("%d with Retry-After %q (hold %v): %v %v, want %v", c.status, c.header, c.hold, b.State(), got, c.want)
		}
	}
}

func TestRetryAfterDecodes(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Sun, 29 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 29 Nov 2026 11:00:00 GMT", 0, true}, // past
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0, true},
		{"86401", 0, false},
		{"1.5", 0, false},
		{"+3", 0, false},
		{"-3", 0, false},
		{"99999999999999999999", 0, false},
		{"Mon, 29 Nov 2027 12:00:00 GMT", 0, false}, // over a day ahead
		{"tomorrow", 0, false},
	} {
		d, ok := infusehttp.RetryAfter(c.v, now)
		if d != c.want || ok != c.ok {
			t.Errorf("RetryAfter(%q) = %v %v, want %v %v", c.v, d, ok, c.want, c.ok)
		}
	}
}

// FuzzRetryAfter: whatever a server sends, the hold asked for is between 0
// and a day.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Sun, 29 Nov 2026 12:00:30 GMT", "Sunday, 29-Nov-26 12:00:30 GMT", "Sun Nov 29 12:00:30 2026", "-1", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := infusehttp.RetryAfter(v, now); (ok && (d < 0 || d > 24*time.Hour)) || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v %v", v, d, ok)
		}
	})
}

// A rejection reads as one sentence: the request named once (by
// http.Client), then the breaker's reason, with the wait rounded up.
func TestARejectionNamesTheRequestOnce(t *testing.T) {
	u := newUpstream(t)
	clock := infusetest.NewClock()
	b := newBreaker(t, infuse.Config{Name: "upstream", FailMax: 1, ResetTimeout: 10 * time.Second, Clock: clock})
	c := client(t, infusehttp.ClientOptions{Breaker: b})
	u.status.Store(http.StatusInternalServerError)
	if _, _, err := get(t, c, u.URL); err != nil {
		t.Fatal(err)
	}
	clock.Advance(56 * time.Microsecond)
	_, _, err := get(t, c, u.URL+"/items?id=7")
	want := `Get "` + u.URL + `/items?id=7": infuse: circuit breaker "upstream" is open; retry after 10s`
	if err == nil || err.Error() != want {
		t.Fatalf("rejection reads\n%v\nwant\n%s", err, want)
	}
	if strings.Count(err.Error(), u.URL) != 1 {
		t.Fatalf("the URL appears more than once: %v", err)
	}
}
