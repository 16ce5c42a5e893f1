package infusegrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusegrpc"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/registry"
)

// health is a real gRPC service whose answers the test sets: Check
// returns code; Watch sends one message, then ends with code.
type health struct {
	grpc_health_v1.UnimplementedHealthServer
	code  atomic.Int64
	calls atomic.Int64
}

func (h *health) answer() error {
	h.calls.Add(1)
	if c := codes.Code(h.code.Load()); c != codes.OK {
		return status.Error(c, "told to fail")
	}
	return nil
}

func (h *health) Check(context.Context, *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	if err := h.answer(); err != nil {
		return nil, err
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func (h *health) Watch(_ *grpc_health_v1.HealthCheckRequest, s grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
	if err := s.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	return h.answer()
}

// serve starts a gRPC server on a loopback TCP port.
func serve(t *testing.T, opts ...grpc.ServerOption) (*health, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &health{}
	s := grpc.NewServer(opts...)
	grpc_health_v1.RegisterHealthServer(s, h)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return h, l.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) grpc_health_v1.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return grpc_health_v1.NewHealthClient(cc)
}

func newBreaker(t *testing.T, failMax int) *infuse.Breaker {
	b, err := infuse.New(infuse.Config{Name: "health", FailMax: failMax, ResetTimeout: time.Minute, Clock: infusetest.NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var bg = context.Background()

func TestUnaryClientInterceptor(t *testing.T) {
	h, addr := serve(t)
	b := newBreaker(t, 2)
	ic, err := infusegrpc.UnaryClientInterceptor(infusegrpc.Options{Breaker: b})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, grpc.WithUnaryInterceptor(ic))
	check := func() error { _, err := c.Check(bg, &grpc_health_v1.HealthCheckRequest{}); return err }

	h.code.Store(int64(codes.NotFound)) // not the dependency's failure
	for range 3 {
		_ = check()
	}
	if b.Counts().ConsecutiveFailures != 0 {
		t.Fatalf("NotFound counted: %+v", b.Counts())
	}
	h.code.Store(int64(codes.Unavailable))
	_ = check()
	_ = check()
	if b.State() != infuse.Open {
		t.Fatalf("state %v after two Unavailable", b.State())
	}
	calls := h.calls.Load()
	err = check()
	if status.Code(err) != codes.Unavailable || !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("call while open: %v (code %v)", err, status.Code(err))
	}
	if h.calls.Load() != calls {
		t.Fatal("a rejected call reached the server")
	}
}

func TestDefaultFailureCodes(t *testing.T) {
	for c, failure := range map[codes.Code]bool{
		codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true, codes.Internal: true,
		codes.OK: false, codes.NotFound: false, codes.InvalidArgument: false, codes.PermissionDenied: false,
	} {
		if infusegrpc.DefaultIsFailure(c) != failure {
			t.Errorf("%v: %v", c, !failure)
		}
	}
}

func TestOneBreakerPerMethod(t *testing.T) {
	h, addr := serve(t)
	reg, _ := registry.New(registry.Options{Template: infuse.Config{Name: "grpc:", FailMax: 1, ResetTimeout: time.Minute}})
	ic, _ := infusegrpc.UnaryClientInterceptor(infusegrpc.Options{Registry: reg, IsFailure: func(c codes.Code) bool { return c != codes.OK }})
	c := dial(t, addr, grpc.WithUnaryInterceptor(ic))
	h.code.Store(int64(codes.Internal))
	_, _ = c.Check(bg, &grpc_health_v1.HealthCheckRequest{})
	b, _ := reg.Get("/grpc.health.v1.Health/Check")
	if b.State() != infuse.Open {
		t.Fatalf("the method's breaker: %v", b.State())
	}
}

func TestStreamClientInterceptor(t *testing.T) {
	h, addr := serve(t)
	b := newBreaker(t, 1)
	ic, _ := infusegrpc.StreamClientInterceptor(infusegrpc.Options{Breaker: b})
	c := dial(t, addr, grpc.WithStreamInterceptor(ic))
	drain := func() error {
		s, err := c.Watch(bg, &grpc_health_v1.HealthCheckRequest{})
		if err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	if err := drain(); err != nil {
		t.Fatalf("a healthy stream: %v", err)
	}
	if b.Counts().ConsecutiveFailures != 0 || b.State() != infuse.Closed {
		t.Fatal("a stream ending in EOF counted as a failure")
	}
	h.code.Store(int64(codes.Unavailable))
	if err := drain(); status.Code(err) != codes.Unavailable {
		t.Fatalf("a failing stream: %v", err)
	}
	if b.State() != infuse.Open {
		t.Fatalf("state %v after a failed stream", b.State())
	}
	if _, err := c.Watch(bg, &grpc_health_v1.HealthCheckRequest{}); !errors.Is(err, infuse.ErrOpen) {
		t.Fatalf("a stream while open: %v", err)
	}
}

func TestAbandonedStreamCountsWhenItsContextEnds(t *testing.T) {
	_, addr := serve(t)
	b := newBreaker(t, 1)
	_ = b.HalfOpen(bg)
	ic, _ := infusegrpc.StreamClientInterceptor(infusegrpc.Options{Breaker: b})
	c := dial(t, addr, grpc.WithStreamInterceptor(ic))
	ctx, cancel := context.WithCancel(bg)
	if _, err := c.Watch(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel() // abandoned: the caller's own cancellation gives the trial permit back
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Watch(bg, &grpc_health_v1.HealthCheckRequest{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned stream kept its trial permit")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUnaryServerInterceptor(t *testing.T) {
	b := newBreaker(t, 1)
	ic, _ := infusegrpc.UnaryServerInterceptor(b, infusegrpc.ServerOptions{})
	h, addr := serve(t, grpc.UnaryInterceptor(ic))
	c := dial(t, addr)
	h.code.Store(int64(codes.Internal))
	_, _ = c.Check(bg, &grpc_health_v1.HealthCheckRequest{})
	calls := h.calls.Load()
	_, err := c.Check(bg, &grpc_health_v1.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || h.calls.Load() != calls {
		t.Fatalf("while open: %v, handler calls %d -> %d", err, calls, h.calls.Load())
	}
}

func TestOptionsAreChecked(t *testing.T) {
	if _, err := infusegrpc.UnaryClientInterceptor(infusegrpc.Options{}); err == nil {
		t.Fatal("no breaker accepted")
	}
	b := newBreaker(t, 1)
	reg, _ := registry.New(registry.Options{})
	if _, err := infusegrpc.StreamClientInterceptor(infusegrpc.Options{Breaker: b, Registry: reg}); err == nil {
		t.Fatal("both accepted")
	}
	if _, err := infusegrpc.UnaryServerInterceptor(nil, infusegrpc.ServerOptions{}); err == nil {
		t.Fatal("no breaker accepted by the server interceptor")
	}
}

// A server's pushback holds the breaker open for as long as it asks, when
// the client is told to listen: RetryInfo first, else the trailer.
func TestPushbackHoldsTheBreakerOpen(t *testing.T) {
	retryInfo := func(d time.Duration) error {
		st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, c := range []struct {
		name    string
		trailer string
		err     error
		hold    bool
		want    time.Duration
	}{
		{"Trailer", "4000", status.Error(codes.Unavailable, "busy"), true, 4 * time.Second},
		{"RetryInfo", "", retryInfo(20 * time.Second), true, 20 * time.Second},
		{"RetryInfoBeforeTrailer", "4000", retryInfo(20 * time.Second), true, 20 * time.Second},
		{"Capped", "", retryInfo(time.Hour), true, 10 * time.Minute},
		{"NotAsked", "4000", status.Error(codes.Unavailable, "busy"), false, 0},
		{"NegativeTrailer", "-1", status.Error(codes.Unavailable, "busy"), true, 0},
		{"GarbageTrailer", "soon", status.Error(codes.Unavailable, "busy"), true, 0},
		{"NotAFailure", "4000", status.Error(codes.NotFound, "no"), true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, addr := serve(t, grpc.UnaryInterceptor(func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
				if c.trailer != "" {
					_ = grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", c.trailer))
				}
				return nil, c.err
			}))
			b, err := infuse.New(infuse.Config{Name: "health", FailMax: 5, Clock: infusetest.NewClock(), MaxHoldOpen: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ic, err := infusegrpc.UnaryClientInterceptor(infusegrpc.Options{Breaker: b, HoldOnPushback: c.hold})
			if err != nil {
				t.Fatal(err)
			}
			client := dial(t, addr, grpc.WithUnaryInterceptor(ic))
			_, _ = client.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{})
			if got := b.RetryAfter(); got != c.want || (c.want == 0) != (b.State() == infuse.Closed) {
				t.Fatalf("%v %v, want a hold of %v", b.State(), got, c.want)
			}
		})
	}
}

// FuzzPushback: whatever a server sends in its trailer, the hold asked for
// is between 0 and a day.
func FuzzPushback(f *testing.F) {
	for _, s := range []string{"4000", "-1", "", "1e3", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := infusegrpc.Pushback(status.Error(codes.Unavailable, "x"), metadata.Pairs("grpc-retry-pushback-ms", v))
		if (ok && (d < 0 || d > 24*time.Hour)) || (!ok && d != 0) {
			t.Fatalf("Pushback(%q) = %v %v", v, d, ok)
		}
	})
}
