package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// failOnce fails the first command, alone or in a pipeline, that names a
// key ending in suffix once armed: one transient error, as a connection
// reset mid-send gives.
type failOnce struct {
	suffix string
	armed  atomic.Bool
	fired  atomic.Bool
}

func (f *failOnce) hit(cmds []redis.Cmder) bool {
	if !f.armed.Load() {
		return false
	}
	for _, c := range cmds {
		for _, a := range c.Args() {
			if s, ok := a.(string); ok && strings.HasSuffix(s, f.suffix) && f.armed.CompareAndSwap(true, false) {
				f.fired.Store(true)
				return true
			}
		}
	}
	return false
}

var errTransient = errors.New("test: connection reset by peer")

func (f *failOnce) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f *failOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.hit([]redis.Cmder{cmd}) {
			cmd.SetErr(errTransient)
			return errTransient
		}
		return next(ctx, cmd)
	}
}
func (f *failOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if f.hit(cmds) {
			for _, c := range cmds {
				c.SetErr(errTransient)
			}
			return errTransient
		}
		return next(ctx, cmds)
	}
}

// A batch of outcomes whose send fails once is sent again: the failure it
// carries still counts in the fleet's run.
func TestAReportBatchSurvivesATransientError(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(redistest.Options(srv.Addr))
	defer c.Close()
	f := &failOnce{suffix: ":b:db"}
	c.AddHook(f)
	opts := faultOptions("transient")
	sa := redisstore.New(c, opts)
	defer sa.Close()
	sb := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 2, ResetTimeout: time.Hour}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)
	converged(t, "the members", []*redisstore.Store{sa, sb}, a, b)

	f.armed.Store(true)
	_ = a.Call(bg, boom)
	eventually(t, "the report's send failed", f.fired.Load)
	eventually(t, "the failure reached Redis", func() bool {
		i, err := sb.Breaker(bg, "db")
		return err == nil && i.Failures == 1
	})
	_ = b.Call(bg, boom) // the fleet's second failure in a row
	converged(t, "the trip", []*redisstore.Store{sa, sb}, a, b)
	wantState(t, a, infuse.Open)
}
