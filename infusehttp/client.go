// Package infusehttp protects HTTP calls with infuse breakers: a
// RoundTripper for clients, and middleware for servers.
package infusehttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/registry"
)

// ClientOptions configures a Transport. Set Breaker for one breaker over
// every request, or Registry for one breaker per host: the registry's key
// is the host as HostKey writes it, so that "LOCALHOST", "localhost" and
// "localhost:80" are one breaker.
type ClientOptions struct {
	Breaker  *infuse.Breaker
	Registry *registry.Registry
	// IsFailure tells whether a round trip counts against the breaker.
	// nil means: a transport error, a 5xx status or 429.
	IsFailure func(resp *http.Response, err error) bool
}

// StatusError is how a failing status is counted (listeners see it as
// Event.Err); the caller still gets the response.
type StatusError struct{ StatusCode int }

func (e *StatusError) Error() string { return "infusehttp: status " + strconv.Itoa(e.StatusCode) }

// DefaultIsFailure counts transport errors, 5xx and 429.
func DefaultIsFailure(resp *http.Response, err error) bool {
	return err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

// Transport returns base (http.DefaultTransport when nil) wrapped in a
// breaker. A request that an open breaker rejects is not sent: RoundTrip
// returns an error matching infuse.ErrOpen and closes the request body, as
// a RoundTripper must. Otherwise the response and error are base's,
// untouched: the breaker never reads, keeps or closes a response body.
func Transport(base http.RoundTripper, opts ClientOptions) (http.RoundTripper, error) {
	if (opts.Breaker == nil) == (opts.Registry == nil) {
		return nil, errors.New("infusehttp: set exactly one of ClientOptions.Breaker and ClientOptions.Registry")
	}
	if base == nil {
		base = http.DefaultTransport
	}
	if opts.IsFailure == nil {
		opts.IsFailure = DefaultIsFailure
	}
	return &transport{base: base, opts: opts}, nil
}

type transport struct {
	base http.RoundTripper
	opts ClientOptions
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := t.opts.Breaker
	if b == nil {
		var err error
		if b, err = t.opts.Registry.Get(HostKey(req.URL)); err != nil {
			closeBody(req)
			return nil, fmt.Errorf("infusehttp: %w", err)
		}
	}
	done, err := b.Allow(req.Context())
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("infusehttp: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil && req.Context().Err() != nil:
		done(req.Context().Err()) // the caller cancelled: nothing; its deadline passed: a failure
	case t.opts.IsFailure(resp, err):
		if err == nil {
			done(&StatusError{StatusCode: resp.StatusCode})
		} else {
			done(err)
		}
	default:
		done(nil)
	}
	return resp, err
}

// HostKey is the key of a request's host in a per-host registry: the host
// lower-cased, without a trailing dot, with the scheme's default port made
// explicit (http 80, https 443), as "host:port" ("[v6addr]:port" for IPv6).
func HostKey(u *url.URL) string {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			return host
		}
	}
	return net.JoinHostPort(host, port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
