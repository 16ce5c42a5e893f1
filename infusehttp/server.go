package infusehttp

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/infuse-go/infuse"
)

// ServerOptions configures Middleware.
type ServerOptions struct {
	// IsFailure tells whether a handler's status counts against the
	// breaker. nil means 5xx.
	IsFailure func(status int) bool
}

// Middleware protects a handler: while the breaker is open it answers 503
// Service Unavailable with a Retry-After header (whole seconds, at least
// 1) and does not call the handler; otherwise it calls the handler and
// counts the status it writes. A panicking handler counts as a failure.
func Middleware(b *infuse.Breaker, opts ServerOptions) (func(http.Handler) http.Handler, error) {
	if b == nil {
		return nil, errors.New("infusehttp: Middleware needs a breaker")
	}
	if opts.IsFailure == nil {
		opts.IsFailure = func(status int) bool { return status >= 500 }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			done, err := b.Allow(r.Context())
			if err != nil {
				reject(w, err)
				return
			}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			finished := false
			defer func() {
				if !finished {
					done(errors.New("infusehttp: handler panicked"))
				}
			}()
			next.ServeHTTP(rec, r)
			finished = true
			switch {
			case r.Context().Err() != nil && !rec.wrote:
				done(r.Context().Err()) // the client went away: counts as nothing
			case opts.IsFailure(rec.status):
				done(&StatusError{StatusCode: rec.status})
			default:
				done(nil)
			}
		})
	}, nil
}

func reject(w http.ResponseWriter, err error) {
	var oe *infuse.OpenError
	retry := 1
	if errors.As(err, &oe) {
		retry = max(1, int(math.Ceil(oe.RetryAfter.Seconds())))
	}
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	http.Error(w, fmt.Sprintf("service unavailable: %v", err), http.StatusServiceUnavailable)
}

// statusRecorder remembers the status a handler writes.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer
// (Flush, Hijack, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
