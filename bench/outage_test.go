package bench

// How long a member keeps asking Redis once Redis is truly gone, and what
// that costs its callers, with the store's and go-redis's defaults
// (OpTimeout 100ms, DownAfter 1s, go-redis's dial retries): Redis killed
// (its port refuses connections) and Redis paused (it accepts them and
// never answers, as a partition or a hung server does). A breaker with
// FailMax 5 meets a failing call every 10ms from the start of the outage;
// the figures are when it first protected itself alone (its trip), the
// slowest call before that, and how many calls waited on Redis.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

func BenchmarkOutageToLocalProtection(b *testing.B) {
	for _, kind := range []string{"killed", "paused"} {
		b.Run(kind, func(b *testing.B) {
			var toLocal, slowest, waited time.Duration
			var waits int
			for range b.N {
				srv := redistest.Start(b)
				client := redis.NewClient(&redis.Options{Addr: srv.Addr}) // go-redis's defaults
				store := redisstore.New(client, redisstore.Options{Namespace: "outage"})
				br, err := infuse.New(infuse.Config{Name: "dep", Storage: store, FailMax: 5, ResetTimeout: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				if err := store.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				if kind == "killed" {
					srv.Kill()
				} else {
					srv.Pause()
				}
				start := time.Now()
				for {
					t0 := time.Now()
					err := br.Call(context.Background(), func(context.Context) error { return errors.New("down") })
					d := time.Since(t0)
					slowest = max(slowest, d)
					if d > 20*time.Millisecond {
						waits++
						waited += d
					}
					if errors.Is(err, infuse.ErrTripped) || errors.Is(err, infuse.ErrOpen) {
						break
					}
					if time.Since(start) > 30*time.Second {
						b.Fatal("no local protection 30s into the outage")
					}
					time.Sleep(10 * time.Millisecond)
				}
				toLocal += time.Since(start)
				if kind == "paused" {
					srv.Resume()
				}
				_ = store.Close()
				_ = client.Close()
			}
			b.ReportMetric(float64(toLocal.Milliseconds())/float64(b.N), "ms-to-local")
			b.ReportMetric(float64(slowest.Milliseconds()), "slowest-call-ms")
			b.ReportMetric(float64(waits)/float64(b.N), "calls-waited")
			b.ReportMetric(float64(waited.Milliseconds())/float64(b.N), "ms-waited")
		})
	}
}
