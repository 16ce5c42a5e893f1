package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/storagetest"
	"github.com/redis/go-redis/v9"
)

// The store on a three-node Redis Cluster: every breaker's keys share a
// hash tag, so each script runs on the node that owns them, and pub/sub
// reaches every member whatever node it listens on.
func TestOnRedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	newClusterStore := func(t testing.TB, ns string) *redisstore.Store {
		s := redisstore.New(cluster.Client(t), redisstore.Options{Namespace: ns, OpTimeout: 2 * time.Second})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("Contract", func(t *testing.T) {
		storagetest.Run(t, storagetest.Harness{
			New: func(t *testing.T) infuse.Storage {
				return newClusterStore(t, fmt.Sprintf("cluster%d", namespaces.Add(1)))
			},
			Advance:      time.Sleep,
			Sync:         func(t *testing.T, s infuse.Storage) { syncStore(t, s.(*redisstore.Store)) },
			ResetTimeout: 100 * time.Millisecond,
			Slack:        20 * time.Millisecond,
		})
	})

	t.Run("FleetAcrossNodes", func(t *testing.T) {
		// Breakers whose names hash to different nodes, shared by two members.
		sa, sb := newClusterStore(t, "fleet"), newClusterStore(t, "fleet")
		cfg := infuse.Config{FailMax: 2, ResetTimeout: time.Minute,
			Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.9, MinCalls: 100}
		for _, name := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
			cfg.Name = name
			a, _ := newBreaker(t, sa, cfg)
			b, _ := newBreaker(t, sb, cfg)
			_ = a.Call(bg, boom)
			syncStore(t, sa)
			syncStore(t, sb)
			if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
				t.Fatalf("%s: the second member's failure after the first's: %v", name, err)
			}
			syncStore(t, sa)
			wantState(t, a, infuse.Open)
		}
		list, err := sa.Breakers(context.Background())
		if err != nil || len(list) != 5 {
			t.Fatalf("Breakers across the masters: %d, %v", len(list), err)
		}
		if sa.Errors()+sb.Errors() != 0 {
			t.Fatalf("%d store errors on the cluster (a script touching a key of another slot?)", sa.Errors()+sb.Errors())
		}
	})

	// Names and namespaces with any bytes: every key of a breaker in one
	// slot (in the first layout, "}x" or a namespace "cl{}" split a
	// breaker's keys across slots: CROSSSLOT on every script).
	t.Run("HostileNames", func(t *testing.T) {
		names := []string{"}x", "{", "a}b{c", "{tag}", "x}:{y", "\x00\xff\n", "%7D", ""}
		names[len(names)-1] = string([]byte{0, 0xff, '}', '{'})
		for _, ns := range []string{"cl{}", "{", "a:b}", "\x00"} {
			sa, sb := newClusterStore(t, ns), newClusterStore(t, ns)
			for _, name := range names {
				cfg := infuse.Config{Name: name, FailMax: 1, ResetTimeout: time.Minute}
				a, _ := newBreaker(t, sa, cfg)
				b, _ := newBreaker(t, sb, cfg)
				if err := a.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
					t.Fatalf("namespace %q, name %q: %v", ns, name, err)
				}
				syncStore(t, sb)
				if b.State() != infuse.Open {
					t.Fatalf("namespace %q, name %q: the trip did not reach the other member", ns, name)
				}
			}
			list, err := sa.Breakers(context.Background())
			if err != nil || len(list) != len(names) {
				t.Fatalf("namespace %q lists %d breakers, %v; want %d", ns, len(list), err, len(names))
			}
			if sa.Errors()+sb.Errors() != 0 {
				t.Fatalf("namespace %q: %d store errors", ns, sa.Errors()+sb.Errors())
			}
		}
	})
}

// A Sentinel-managed master failed over to its replica during traffic:
// no call waits more than OpTimeout, and the members share state on the
// new master.
//
// As in the outage tests (patientStore), the bound has a margin a busy
// host's late timers fit in, against waits far longer without it: the
// clients wait a minute for a read, a write or a connection, and the
// store's requests last OpTimeout+DownAfter, seconds.
func TestSentinelFailoverDuringTraffic(t *testing.T) {
	master := redistest.Start(t)
	redistest.StartReplica(t, master)
	sentinel := redistest.StartSentinel(t, master)
	newSentinelStore := func() *redisstore.Store {
		opts := faultOptions("failover")
		opts.DownAfter = slowDownAfter
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: "mymaster", SentinelAddrs: []string{sentinel.Addr}, DialTimeout: 100 * time.Millisecond,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolTimeout: time.Minute, ContextTimeoutEnabled: true,
		})
		t.Cleanup(func() { _ = c.Close() })
		s := redisstore.New(c, opts)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sa, sb := newSentinelStore(), newSentinelStore()
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)

	stop := traffic(a, b, 4)
	time.Sleep(100 * time.Millisecond)
	sentinel.Failover(t)
	time.Sleep(300 * time.Millisecond)
	if d := stop(); d > callBound {
		t.Fatalf("a call waited %v during the failover; the bound is %v (OpTimeout %v)", d, callBound, opTimeout)
	}
	_ = a.Close(bg)
	converged(t, "the members on the new master", []*redisstore.Store{sa, sb}, a, b)
	for range 3 {
		_ = a.Call(bg, boom)
	}
	converged(t, "a trip on the new master", []*redisstore.Store{sa, sb}, a, b)
	wantState(t, b, infuse.Open)
}

// The store through Sentinel: a FailoverClient finds the master, and the
// fleet shares its breaker as on a plain server.
func TestThroughSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	newSentinelStore := func() *redisstore.Store {
		s := redisstore.New(sentinel.Client(t), redisstore.Options{Namespace: "sentinel", OpTimeout: 2 * time.Second})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sa, sb := newSentinelStore(), newSentinelStore()
	a, _ := newBreaker(t, sa, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	b, rb := newBreaker(t, sb, infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
	if err := a.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("trip: %v", err)
	}
	syncStore(t, sa)
	syncStore(t, sb)
	wantState(t, b, infuse.Open)
	if got := rb.Transitions(); got != "closed->open(remote)" {
		t.Fatalf("b's transitions %q", got)
	}
	if sa.Errors()+sb.Errors() != 0 {
		t.Fatalf("%d store errors", sa.Errors()+sb.Errors())
	}
}
