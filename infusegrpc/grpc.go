// Package infusegrpc protects gRPC calls with infuse breakers: unary and
// streaming client interceptors, and a unary server interceptor.
package infusegrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/registry"
)

// Options configures the client interceptors, as infusehttp.ClientOptions
// configures Transport. Set Breaker for one breaker over every call, or
// Registry for one breaker per full method name ("/pkg.Service/Method").
type Options struct {
	Breaker  *infuse.Breaker
	Registry *registry.Registry
	// IsFailure tells whether a call's status code counts against the
	// breaker. nil means Unavailable, DeadlineExceeded, ResourceExhausted
	// and Internal; every other code, OK included, counts as a success.
	IsFailure func(codes.Code) bool
	// HoldOnPushback, when true, holds the breaker open for as long as a
	// failed unary call's server asks, through Breaker.HoldOpen (capped by
	// the breaker's Config.MaxHoldOpen, fleet-wide with a shared store):
	// its status's google.rpc.RetryInfo retry_delay, else its
	// grpc-retry-pushback-ms trailer (gRPC's retry design, A6).
	HoldOnPushback bool
}

// ClientOptions is Options, by the name infusehttp gives its client's.
type ClientOptions = Options

// DefaultIsFailure is the codes a failing dependency answers with.
func DefaultIsFailure(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
		return true
	}
	return false
}

func (o *Options) check() error {
	if (o.Breaker == nil) == (o.Registry == nil) {
		return errors.New("infusegrpc: set exactly one of Options.Breaker and Options.Registry")
	}
	if o.IsFailure == nil {
		o.IsFailure = DefaultIsFailure
	}
	return nil
}

func (o *Options) breaker(method string) (*infuse.Breaker, error) {
	if o.Breaker != nil {
		return o.Breaker, nil
	}
	return o.Registry.Get(method)
}

// OpenError is what a call an open breaker refused returns: its gRPC status
// is Unavailable, and it matches infuse.ErrOpen.
type OpenError struct{ err error }

func (e *OpenError) Error() string { return e.err.Error() }
func (e *OpenError) Unwrap() error { return e.err }

// GRPCStatus makes status.FromError and status.Code see Unavailable.
func (e *OpenError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.err.Error()) }

// allow asks the breaker for a call of method.
func (o *Options) allow(ctx context.Context, method string) (func(error), error) {
	b, err := o.breaker(method)
	if err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("infusegrpc: %v", err))
	}
	done, err := b.Allow(ctx)
	if err != nil {
		return nil, &OpenError{err: fmt.Errorf("infusegrpc: %s: %w", method, err)}
	}
	return done, nil
}

// outcome is what done is told of a call that ended with err.
func (o *Options) outcome(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case status.Code(err) == codes.Canceled && ctx.Err() != nil:
		return context.Canceled // the caller's own cancellation
	case o.IsFailure(status.Code(err)):
		return err
	}
	return nil
}

// UnaryClientInterceptor protects unary calls.
func UnaryClientInterceptor(opts Options) (grpc.UnaryClientInterceptor, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		done, err := opts.allow(ctx, method)
		if err != nil {
			return err
		}
		if !opts.HoldOnPushback {
			err = invoker(ctx, method, req, reply, cc, callOpts...)
			done(opts.outcome(ctx, err))
			return err
		}
		var trailer metadata.MD
		err = invoker(ctx, method, req, reply, cc, append(callOpts, grpc.Trailer(&trailer))...)
		failed := opts.outcome(ctx, err)
		done(failed)
		if failed != nil && !errors.Is(failed, context.Canceled) {
			if d, ok := Pushback(err, trailer); ok && d > 0 {
				if b, berr := opts.breaker(method); berr == nil {
					_, _ = b.HoldOpenBecause(context.WithoutCancel(ctx), d, infuse.CausePushback)
				}
			}
		}
		return err
	}, nil
}

// maxPushback bounds what Pushback accepts: a day, far above any breaker's
// MaxHoldOpen.
const maxPushback = 24 * time.Hour

// Pushback is how long a failed call's server asks the client to stay
// away: the retry_delay of a google.rpc.RetryInfo in the status's details,
// else the grpc-retry-pushback-ms trailer (a number of milliseconds). ok
// is false when neither says, or says something negative, malformed or
// over a day.
func Pushback(err error, trailer metadata.MD) (d time.Duration, ok bool) {
	if s, isStatus := status.FromError(err); isStatus && err != nil {
		for _, detail := range s.Details() {
			if ri, isRetry := detail.(*errdetails.RetryInfo); isRetry && ri.GetRetryDelay() != nil {
				rd := ri.GetRetryDelay()
				if rd.CheckValid() != nil || rd.AsDuration() < 0 || rd.AsDuration() > maxPushback {
					return 0, false
				}
				return rd.AsDuration(), true
			}
		}
	}
	v := trailer.Get("grpc-retry-pushback-ms")
	if len(v) != 1 {
		return 0, false
	}
	ms, perr := strconv.ParseUint(v[0], 10, 32)
	if perr != nil || time.Duration(ms)*time.Millisecond > maxPushback {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// StreamClientInterceptor protects streams. A stream's outcome is counted
// once: when receiving ends (io.EOF is a success, another error is
// classified like a unary call's), or, for a stream abandoned before that,
// when its context ends.
func StreamClientInterceptor(opts Options) (grpc.StreamClientInterceptor, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		done, err := opts.allow(ctx, method)
		if err != nil {
			return nil, err
		}
		cs, err := streamer(ctx, desc, cc, method, callOpts...)
		if err != nil {
			done(opts.outcome(ctx, err))
			return nil, err
		}
		s := &stream{ClientStream: cs, opts: &opts, ctx: ctx}
		s.finish = sync.OnceFunc(func() { done(s.result) })
		stop := context.AfterFunc(ctx, func() {
			s.result = opts.outcome(ctx, status.FromContextError(ctx.Err()).Err())
			s.finish()
		})
		s.stop = stop
		return s, nil
	}, nil
}

type stream struct {
	grpc.ClientStream
	opts   *Options
	ctx    context.Context
	result error
	finish func()
	stop   func() bool
}

func (s *stream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && s.stop() {
		if err != io.EOF {
			s.result = s.opts.outcome(s.ctx, err)
		}
		s.finish()
	}
	return err
}

// ServerOptions configures UnaryServerInterceptor.
type ServerOptions struct {
	// IsFailure tells whether a handler's status code counts against the
	// breaker; nil means DefaultIsFailure.
	IsFailure func(codes.Code) bool
}

// UnaryServerInterceptor protects a server's handlers with b, the way
// infusehttp.Middleware protects an HTTP handler: while the breaker is open
// calls get Unavailable without reaching the handler. A panicking handler
// counts as a failure.
func UnaryServerInterceptor(b *infuse.Breaker, opts ServerOptions) (grpc.UnaryServerInterceptor, error) {
	if b == nil {
		return nil, errors.New("infusegrpc: UnaryServerInterceptor needs a breaker")
	}
	o := Options{Breaker: b, IsFailure: opts.IsFailure}
	if err := o.check(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		done, err := o.allow(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		finished := false
		defer func() {
			if !finished {
				done(errors.New("infusegrpc: handler panicked"))
			}
		}()
		resp, err := handler(ctx, req)
		finished = true
		done(o.outcome(ctx, err))
		return resp, err
	}, nil
}
