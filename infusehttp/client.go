// Package infusehttp protects HTTP calls with infuse breakers: a
// RoundTripper for clients, and middleware for servers.
package infusehttp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/registry"
)

// ClientOptions configures a Transport. Set Breaker for one breaker over
// every request, or Registry for one breaker per host.
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
		if b, err = t.opts.Registry.Get(req.URL.Host); err != nil {
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

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
