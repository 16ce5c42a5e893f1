// Package infusehttp protects HTTP calls with infuse breakers: a
// RoundTripper for clients, and middleware for servers.
package infusehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	// HoldOnRetryAfter, when true, holds the breaker open for as long as
	// a 429 or 503 response's Retry-After header asks (seconds, or an
	// HTTP date), through Breaker.HoldOpen: capped by the breaker's
	// Config.MaxHoldOpen, and fleet-wide with a shared store. A header
	// that does not parse is ignored.
	HoldOnRetryAfter bool
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
		// As a transport's errors go: http.Client names the request
		// (*url.Error: Get "URL": ...), and errors.Is(err, infuse.ErrOpen)
		// holds through it.
		return nil, err
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
	if t.opts.HoldOnRetryAfter && err == nil &&
		(resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && d > 0 {
			_, _ = b.HoldOpenBecause(context.WithoutCancel(req.Context()), d, infuse.CauseRetryAfter)
		}
	}
	return resp, err
}

// maxRetryAfter bounds what RetryAfter accepts: a day, far above any
// breaker's MaxHoldOpen, and no overflow.
const maxRetryAfter = 24 * time.Hour

// RetryAfter decodes a Retry-After header's value (RFC 9110, 10.2.3):
// a number of seconds, or an HTTP date, taken relative to now (a date
// in the past is 0). ok is false for anything else, a negative number or
// one over a day.
func RetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || time.Duration(n) > maxRetryAfter/time.Second {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = at.Sub(now)
	if d > maxRetryAfter {
		return 0, false
	}
	return max(d, 0), true
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
