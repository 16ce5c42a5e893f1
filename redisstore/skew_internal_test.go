package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A host whose clock is an hour apart from Redis's, either way, still gets
// its transitions made: the deadline a script checks is translated to
// Redis's clock with the offset the member measured, with its sign.
func TestHostClockSkewEitherWay(t *testing.T) {
	srv := redistest.Start(t)
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			hostSkew.Store(skew.Milliseconds())
			defer hostSkew.Store(0)
			s := New(srv.Client(t), Options{Namespace: "skew" + skew.String(), OpTimeout: 2 * time.Second})
			defer s.Close()
			b, err := infuse.New(infuse.Config{Name: "dep", Storage: s, ResetTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := s.Sync(ctx); err != nil { // the first reply sets the offset
				t.Fatal(err)
			}
			if err := b.Open(ctx); err != nil {
				t.Fatalf("Open with the host's clock %v from Redis's: %v", skew, err)
			}
			info, err := s.Breaker(ctx, "dep")
			if err != nil || info.State != infuse.Open {
				t.Fatalf("Redis holds %+v, %v; want the open state", info, err)
			}
		})
	}
}
