package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/storagetest"
)

var namespaces atomic.Int64

// newStore returns a Store on srv in a namespace no other test uses.
func newStore(t testing.TB, srv *redistest.Server, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = fmt.Sprintf("test%d", namespaces.Add(1))
	}
	if opts.OpTimeout == 0 {
		// Generous, so that a loaded test machine never looks like a Redis
		// outage; the outage tests set their own.
		opts.OpTimeout = 2 * time.Second
	}
	s := redisstore.New(srv.Client(t), opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func syncStore(t testing.TB, s *redisstore.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func TestStorageContract(t *testing.T) {
	srv := redistest.Start(t)
	storagetest.Run(t, storagetest.Harness{
		New: func(t *testing.T) infuse.Storage {
			return newStore(t, srv, redisstore.Options{})
		},
		Advance:      time.Sleep, // Redis keeps its own time
		Sync:         func(t *testing.T, s infuse.Storage) { syncStore(t, s.(*redisstore.Store)) },
		ResetTimeout: 100 * time.Millisecond,
		Slack:        20 * time.Millisecond,
	})
}
