package bench

// The Redis store beside the memory store, and beside gobreaker v2's
// distributed breaker on the same redis-server.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
	gobreakerv2 "github.com/sony/gobreaker/v2"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// gobreakerRedis is gobreaker v2's SharedDataStore on Redis as its
// documentation describes it: a redsync mutex around the call, the shared
// state as one JSON value read and written with GET and SET.
type gobreakerRedis struct {
	client *redis.Client
	rs     *redsync.Redsync
	mu     map[string]*redsync.Mutex
}

func newGobreakerRedis(c *redis.Client) *gobreakerRedis {
	return &gobreakerRedis{client: c, rs: redsync.New(goredis.NewPool(c)), mu: map[string]*redsync.Mutex{}}
}

func (s *gobreakerRedis) Lock(name string) error {
	m, ok := s.mu[name]
	if !ok {
		m = s.rs.NewMutex(name, redsync.WithExpiry(5*time.Second), redsync.WithTries(100), redsync.WithRetryDelay(time.Millisecond))
		s.mu[name] = m
	}
	return m.Lock()
}

func (s *gobreakerRedis) Unlock(name string) error {
	if m, ok := s.mu[name]; ok {
		_, err := m.Unlock()
		return err
	}
	return nil
}

func (s *gobreakerRedis) GetData(name string) ([]byte, error) {
	b, err := s.client.Get(context.Background(), name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

func (s *gobreakerRedis) SetData(name string, data []byte) error {
	return s.client.Set(context.Background(), name, data, 0).Err()
}

// redisPeer is one way of protecting a call with shared state.
type redisPeer struct {
	name string
	// new returns a function making one closed-state call that succeeds.
	new func(b *testing.B, srv *redistest.Server) func() error
}

func newInfuseOn(tb testing.TB, store infuse.Storage) *infuse.Breaker {
	br, err := infuse.New(infuse.Config{Name: "bench", Storage: store, ResetTimeout: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return br
}

func newRedisStore(tb testing.TB, srv *redistest.Server) *redisstore.Store {
	s := redisstore.New(srv.Client(tb), redisstore.Options{Namespace: fmt.Sprintf("bench%d", time.Now().UnixNano())})
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

var storePeers = []redisPeer{
	{"infuse-memory", func(b *testing.B, _ *redistest.Server) func() error {
		br := newInfuseOn(b, nil)
		return func() error { return br.Call(ctx, noop) }
	}},
	{"infuse-redis", func(b *testing.B, srv *redistest.Server) func() error {
		br := newInfuseOn(b, newRedisStore(b, srv))
		return func() error { return br.Call(ctx, noop) }
	}},
	{"infuse-memory-time-window", func(b *testing.B, _ *redistest.Server) func() error {
		br := newWindowInfuseOn(b, nil)
		return func() error { return br.Call(ctx, noop) }
	}},
	{"infuse-redis-fleet-window", func(b *testing.B, srv *redistest.Server) func() error {
		br := newWindowInfuseOn(b, newRedisStore(b, srv))
		return func() error { return br.Call(ctx, noop) }
	}},
}

// newWindowInfuseOn is a breaker with a time window and a failure rate: on
// the Redis store, its window is merged with the fleet's.
func newWindowInfuseOn(tb testing.TB, store infuse.Storage) *infuse.Breaker {
	br, err := infuse.New(infuse.Config{Name: "bench", Storage: store, ResetTimeout: time.Hour,
		Window: infuse.TimeWindow(10*time.Second, time.Second), FailureRate: 0.5, MinCalls: 20})
	if err != nil {
		tb.Fatal(err)
	}
	return br
}

// BenchmarkStoreClosed is a closed breaker's successful call on the memory
// store and on the Redis store: the Redis store keeps Redis off this path.
func BenchmarkStoreClosed(b *testing.B) {
	srv := redistest.Start(b)
	for _, p := range storePeers {
		b.Run("store="+p.name, func(b *testing.B) {
			call := p.new(b, srv)
			b.ReportAllocs()
			for b.Loop() {
				_ = call()
			}
		})
	}
}

func BenchmarkStoreClosedParallel(b *testing.B) {
	srv := redistest.Start(b)
	for _, p := range storePeers {
		b.Run("store="+p.name, func(b *testing.B) {
			call := p.new(b, srv)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = call()
				}
			})
		})
	}
}

// BenchmarkDistributedClosed compares shared-state breakers on one Redis:
// infuse's Redis store and gobreaker v2's DistributedCircuitBreaker. It
// also reports the Redis commands each sends per 1000 calls.
func BenchmarkDistributedClosed(b *testing.B) {
	srv := redistest.Start(b)
	peers := []redisPeer{
		storePeers[1],
		{"gobreaker-v2-distributed", func(b *testing.B, srv *redistest.Server) func() error {
			cb, err := gobreakerv2.NewDistributedCircuitBreaker[struct{}](newGobreakerRedis(srv.Client(b)),
				gobreakerv2.Settings{Name: fmt.Sprint("bench", time.Now().UnixNano()), Timeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { _, err := cb.Execute(gobreaker2OK); return err }
		}},
	}
	for _, p := range peers {
		b.Run("lib="+p.name, func(b *testing.B) {
			call := p.new(b, srv)
			if err := call(); err != nil {
				b.Fatal(err)
			}
			stats := srv.Client(b)
			before := commands(b, stats)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			used := commands(b, stats) - before - 1 // the INFO itself
			b.ReportMetric(float64(used)*1000/float64(b.N), "cmds/1000calls")
		})
	}
}

// BenchmarkRedisCommands reports the Redis commands infuse sends per 1000
// closed-state calls when some of them fail: each failure is queued and
// sent in one script per FlushInterval, so bursts share a command.
func BenchmarkRedisCommands(b *testing.B) {
	srv := redistest.Start(b)
	for _, every := range []int{0, 100, 10} {
		name := "failures=none"
		if every > 0 {
			name = fmt.Sprintf("failures=1in%d", every)
		}
		b.Run(name, func(b *testing.B) {
			store := newRedisStore(b, srv)
			br, err := infuse.New(infuse.Config{Name: "mix", Storage: store, FailMax: 1 << 30, ResetTimeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			stats := srv.Client(b)
			before := commands(b, stats)
			for i := 0; b.Loop(); i++ {
				fn := noop
				if every > 0 && i%every == 0 {
					fn = func(context.Context) error { return errBoom }
				}
				if err := br.Call(ctx, fn); errors.Is(err, infuse.ErrOpen) {
					b.Fatal("rejected: the loop would time rejections") // FailMax is far away
				}
			}
			_ = store.Sync(ctx)
			used := commands(b, stats) - before - 3 // INFO, and Sync's PUBLISH and its own flush check
			b.ReportMetric(float64(max(used, 0))*1000/float64(b.N), "cmds/1000calls")
		})
	}
}

// commands is the server's total of commands processed.
func commands(tb testing.TB, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no total_commands_processed in INFO")
	return 0
}
