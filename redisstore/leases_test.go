package redisstore_test

// Faults found by a fifth review, each failing on the version before:
// leases given back, lost and expired keys, hostile logs, client retries.

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// An acquire whose answer came too late was granted in Redis (open to
// half-open, with a lease). The member goes half-open alone, its push is
// refused, and it adopts Redis's state: the lease, which belongs to that
// state, is given back all the same (with HalfOpenMaxCalls 1 the fleet's
// trials were blocked for TrialLease).
func TestATimedOutAcquireGivesItsLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5a", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: time.Second, TrialLease: 20 * time.Second}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 200 * time.Millisecond, HalfOpenMaxCalls: 1, SuccessThreshold: 1}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("trip: %v", err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(300 * time.Millisecond)

	// The acquire runs in Redis, its answer is late; the reader's reads
	// are slow for a while (a hint not read yet).
	f := func(cmds []redis.Cmder, next func() error) error {
		if hasScript(cmds, "acquire") {
			err := next()
			time.Sleep(200 * time.Millisecond)
			return err
		}
		if hasScript(cmds, "changes") || hasScript(cmds, "read") {
			time.Sleep(400 * time.Millisecond)
		}
		return next()
	}
	g.around.Store(&f)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- x.Call(bg, func(context.Context) error { <-release; return nil })
	}()
	time.Sleep(700 * time.Millisecond)
	g.around.Store(nil)
	close(release)
	t.Logf("x's trial: %v", <-done)
	syncStore(t, sx)
	syncStore(t, sy)
	t.Logf("redis: %v leases %v", c.HGetAll(bg, sx.Key("db")).Val(), c.ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val())
	// Nobody holds a trial now: y should get one within a second or two.
	deadline := time.Now().Add(3 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		last = y.Call(bg, succeed)
		if last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no member could run a trial for 3s (a lease nobody holds blocks it): last %v; leases %v", last,
		c.ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val())
}

// A member cut off while an operator releases a forced open comes back
// after the closed state's key has expired (IdleTTL): it takes the
// breaker as closed, and does not put its forced open back.
func TestAReleaseSurvivesAMemberBackFromAPartition(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5b", OpTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		RefreshInterval: 100 * time.Millisecond, IdleTTL: time.Second}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	if x.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("x: %v", x.Mode())
	}
	g.blocked.Store(true)
	if err := y.Release(bg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past IdleTTL: the closed state's key expires
	t.Logf("key exists: %d", c.Exists(bg, sy.Key("db")).Val())
	g.blocked.Store(false)
	time.Sleep(1500 * time.Millisecond)
	t.Logf("redis %v; x %v/%v y %v/%v", c.HGetAll(bg, sy.Key("db")).Val(), x.State(), x.Mode(), y.State(), y.Mode())
	if y.Mode() == infuse.ModeForcedOpen || c.HGet(bg, sy.Key("db"), "md").Val() == "1" {
		t.Fatalf("the operator's Release was undone: Redis md=%s, y %v", c.HGet(bg, sy.Key("db"), "md").Val(), y.Mode())
	}
}

// Hostile entries in a bucket's change log, with huge scores: reads of
// the bucket go on, and a member learns of another's transition.
func TestHostileLogScores(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5c", RefreshInterval: 100 * time.Millisecond}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Hour}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.Open(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	base := strings.TrimSuffix(sx.Key("db"), "b:db")
	for i := 0; i < 300; i++ {
		c.ZAdd(bg, base+"log", redis.Z{Score: 1e300, Member: "zz" + string(rune('a'+i%26)) + strings.Repeat("q", i)})
	}
	e0 := sx.Errors()
	if err := y.Close(bg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	t.Logf("x %v y %v; x errors %d -> %d", x.State(), y.State(), e0, sx.Errors())
	if x.State() != infuse.Closed {
		t.Fatalf("x never learned y's Close: %v (errors %d)", x.State(), sx.Errors()-e0)
	}
}

var _ atomic.Bool

// The caller's context ends while its acquire is answered, and the reader
// adopts the acquire's own half-open generation before the sender gives
// the lease back: it is given back all the same.
func TestACancelledAcquireGivesItsLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5d", OpTimeout: 500 * time.Millisecond, RetryInterval: time.Second,
		RefreshInterval: time.Second, TrialLease: 20 * time.Second}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 200 * time.Millisecond, HalfOpenMaxCalls: 1, SuccessThreshold: 1}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	ocfg := infuse.Config{Name: "other", FailMax: 100, ResetTimeout: time.Hour}
	xo, _ := newBreaker(t, sx, ocfg)
	syncStore(t, sx)
	syncStore(t, sy)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("trip: %v", err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(300 * time.Millisecond)

	t0 := time.Now()
	f := func(cmds []redis.Cmder, next func() error) error {
		var names []string
		for _, n := range []string{"acquire", "changes", "read", "report", "bind", "release", "raise", "transition"} {
			if hasScript(cmds, n) {
				names = append(names, n)
			}
		}
		for _, c := range cmds {
			if a := c.Args(); len(a) > 1 && a[1] == redisstore.ReleaseHash() {
				names = append(names, "RELEASE")
			}
		}
		if len(names) == 0 {
			for _, c := range cmds {
				names = append(names, c.Name())
			}
		}
		t.Logf("%v: pipeline %v (%d cmds)", time.Since(t0), names, len(cmds))
		switch {
		case hasScript(cmds, "acquire"):
			err := next()
			time.Sleep(100 * time.Millisecond)
			return err
		case hasScript(cmds, "changes") || hasScript(cmds, "read"):
			time.Sleep(150 * time.Millisecond)
		case hasScript(cmds, "report"):
			time.Sleep(400 * time.Millisecond)
		}
		return next()
	}
	g.around.Store(&f)
	go func() {
		time.Sleep(30 * time.Millisecond)
		_ = xo.Call(bg, boom) // the sender is busy with this batch for a while
	}()
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	err := x.Call(ctx, succeed)
	cancel()
	t.Logf("x's call: %v", err)
	time.Sleep(700 * time.Millisecond)
	g.around.Store(nil)
	syncStore(t, sx)
	syncStore(t, sy)
	t.Logf("redis: %v leases %v", c.HGetAll(bg, sx.Key("db")).Val(), c.ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val())
	deadline := time.Now().Add(3 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = y.Call(bg, succeed); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no member could run a trial for 3s: last %v; leases %v", last,
		c.ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val())
}

// A breaker detached (a registry's eviction) while one of its trials is
// in flight: the trial's caller cancels, and the lease is given back.
func TestADetachedBreakerGivesItsLeaseBack(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5e", TrialLease: 20 * time.Second}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 1, ResetTimeout: 100 * time.Millisecond, HalfOpenMaxCalls: 1}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := x.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	time.Sleep(150 * time.Millisecond)
	done, err := x.Allow(bg)
	if err != nil {
		t.Fatalf("trial: %v", err)
	}
	_ = x.Detach() // evicted while the trial runs
	done(context.Canceled)
	time.Sleep(200 * time.Millisecond)
	syncStore(t, sy)
	deadline := time.Now().Add(2 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = y.Call(bg, succeed); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no member could run a trial for 2s: %v; leases %v", last, c.ZRangeWithScores(bg, sx.Key("db")+":t", 0, -1).Val())
}

// A ForceOpen whose script reaches Redis after its caller's deadline
// makes nothing: the caller's own deadline bounds what Redis may do for it.
func TestNothingIsMadeAfterTheCallerGaveUp(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "r5f", OpTimeout: 500 * time.Millisecond}
	g := &gate{}
	sx := gatedStore(t, srv, opts, g)
	sy := newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	syncStore(t, sx)
	syncStore(t, sy)
	f := func(cmds []redis.Cmder, next func() error) error {
		if hasScript(cmds, "setMode") {
			time.Sleep(60 * time.Millisecond) // on its way: it reaches Redis after the caller's deadline
			return next()
		}
		return next()
	}
	g.around.Store(&f)
	ctx, cancel := context.WithTimeout(bg, 40*time.Millisecond)
	err := x.ForceOpen(ctx)
	cancel()
	g.around.Store(nil)
	time.Sleep(300 * time.Millisecond)
	t.Logf("ForceOpen: %v; x %v, y %v", err, x.Mode(), y.Mode())
	if err == nil || y.Mode() == infuse.ModeForcedOpen || x.Mode() == infuse.ModeForcedOpen {
		t.Fatalf("ForceOpen gave up (%v), yet it was made (x %v, y %v)", err, x.Mode(), y.Mode())
	}
}

// dropProxy forwards to Redis; armed, it lets the next report script
// through to Redis and closes the connection instead of passing its reply
// back (a connection lost after the write).
type dropProxy struct {
	ln    net.Listener
	armed atomic.Bool
	hits  atomic.Int64
}

func startDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			var kill atomic.Bool
			go func() {
				buf := make([]byte, 1<<16)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						chunk := string(buf[:n])
						if (strings.Contains(chunk, redisstore.ScriptHash("report")) || strings.Contains(chunk, "merged already")) &&
							p.armed.CompareAndSwap(true, false) {
							kill.Store(true)
							p.hits.Add(1)
						}
						if _, err := s.Write(buf[:n]); err != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = s.Close()
				_ = c.Close()
			}()
			go func() {
				buf := make([]byte, 1<<16)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if kill.Load() {
							break // the reply is lost with the connection
						}
						if _, err := c.Write(buf[:n]); err != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = s.Close()
				_ = c.Close()
			}()
		}
	}()
	return p
}

// With a client as docs/fleets.md builds it (go-redis's default MaxRetries),
// a connection lost after a report was written makes the client send it
// again: the failure counts once.
func TestAClientRetryCountsAReportOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	p := startDropProxy(t, srv.Addr)
	client := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: maxRetriesR5})
	t.Cleanup(func() { _ = client.Close() })
	sx := redisstore.New(client, redisstore.Options{Namespace: "r5g"})
	t.Cleanup(func() { _ = sx.Close() })
	x, _ := newBreaker(t, sx, infuse.Config{FailMax: 3, ResetTimeout: time.Hour})
	syncStore(t, sx)
	p.armed.Store(true)
	_ = x.Call(bg, boom)
	time.Sleep(500 * time.Millisecond)
	syncStore(t, sx)
	f := c.HGet(bg, sx.Key("db"), "f").Val()
	t.Logf("proxy hits %d; Redis f=%s; x counts %+v", p.hits.Load(), f, x.Counts())
	if f != "1" {
		t.Fatalf("one failure, merged run %s in Redis", f)
	}
}

var maxRetriesR5 = 0 // go-redis's default (3)

// The state key alone is lost (evicted under maxmemory, or deleted) while
// the breaker is forced open: its summary line puts it back, and a member
// that joins then sees it forced open.
func TestALostStateKeyIsPutBack(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	opts := redisstore.Options{Namespace: "r5h", RefreshInterval: 100 * time.Millisecond}
	sx, sy := newStore(t, srv, opts), newStore(t, srv, opts)
	cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
	x, _ := newBreaker(t, sx, cfg)
	y, _ := newBreaker(t, sy, cfg)
	if err := y.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	syncStore(t, sx)
	syncStore(t, sy)
	c.Del(bg, sx.Key("db")) // evicted
	sz := newStore(t, srv, opts)
	z, _ := newBreaker(t, sz, cfg)
	for i := 0; i < 5; i++ {
		_ = z.Call(bg, boom)
		_ = z.Call(bg, succeed)
	}
	time.Sleep(2 * time.Second)
	t.Logf("x %v/%v y %v/%v z %v/%v; redis %v", x.State(), x.Mode(), y.State(), y.Mode(), z.State(), z.Mode(), c.HGetAll(bg, sx.Key("db")).Val())
	if z.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("a member that joined runs calls while the fleet is forced open: z %v/%v", z.State(), z.Mode())
	}
}
