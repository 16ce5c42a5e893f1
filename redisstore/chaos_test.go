package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
	"github.com/infuse-go/infuse/registry"
)

// Chaos: each test here pins a defect found in the first fleet store, and
// fails on it.

// With Redis unreachable, a breaker that made a transition alone counts
// every failure once: it trips on the FailMax-th, not earlier (the first
// store added each batch to a count that already held it: 1, 3, 6, ...).
func TestOutageCountsEachFailureOnce(t *testing.T) {
	for _, failMax := range []int{5, 20} {
		t.Run(strconv.Itoa(failMax), func(t *testing.T) {
			srv := redistest.Start(t)
			store := newStore(t, srv, faultOptions("double"))
			b, _ := newBreaker(t, store, infuse.Config{FailMax: failMax, ResetTimeout: time.Minute})
			srv.Kill()
			_ = b.Close(bg) // made alone: Redis is gone
			for i := 1; i < failMax; i++ {
				if err := b.Call(bg, boom); errors.Is(err, infuse.ErrTripped) || b.State() != infuse.Closed {
					t.Fatalf("FailMax %d: tripped on failure %d (count %d)", failMax, i, b.Counts().ConsecutiveFailures)
				}
			}
			if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
				t.Fatalf("FailMax %d: failure %d did not trip: %v", failMax, failMax, err)
			}
		})
	}
}

// converged waits until the breakers agree with each other, state and
// generation, syncing their stores.
func converged(t *testing.T, what string, stores []*redisstore.Store, bs ...*infuse.Breaker) {
	t.Helper()
	eventually(t, what, func() bool {
		for _, s := range stores {
			ctx, cancel := context.WithTimeout(bg, time.Second)
			_ = s.Sync(ctx)
			cancel()
		}
		for _, b := range bs[1:] {
			if b.State() != bs[0].State() || b.Generation() != bs[0].Generation() {
				return false
			}
		}
		return true
	})
}

// Redis loses its data (FLUSHALL, a restart without persistence) while a
// breaker is open, and a new member binds first. Every member converges
// on what Redis then holds, above every generation any of them had seen,
// and a manual transition on an old member reaches all (in the first
// store the old members ignored every lower generation for ever).
func TestDataLossConvergesOnRedis(t *testing.T) {
	losses := map[string]func(*redistest.Server){
		"flushall": func(srv *redistest.Server) { srv.Client(t).FlushAll(bg) },
		"restart":  func(srv *redistest.Server) { srv.Restart() },
	}
	for name, lose := range losses {
		for _, initial := range []infuse.State{infuse.Closed, infuse.Open} {
			t.Run(name+"/"+initial.String(), func(t *testing.T) {
				srv := redistest.Start(t)
				opts := faultOptions("loss")
				cfg := infuse.Config{FailMax: 1, ResetTimeout: time.Minute}
				sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
				a, _ := newBreaker(t, sa, cfg)
				b, _ := newBreaker(t, sb, cfg)
				for range 3 {
					_ = a.Open(bg)
					_ = a.Close(bg)
				}
				_ = a.Call(bg, boom)
				converged(t, "the old members", []*redisstore.Store{sa, sb}, a, b)
				wantState(t, b, infuse.Open)
				high := a.Generation()
				before, err := sa.Breaker(bg, a.Name())
				if err != nil {
					t.Fatal(err)
				}

				lose(srv)
				sc := newStore(t, srv, opts)
				c, _ := newBreaker(t, sc, infuse.Config{FailMax: 1, ResetTimeout: time.Minute, InitialState: initial})
				stores := []*redisstore.Store{sa, sb, sc}
				converged(t, "every member, after the loss", stores, a, b, c)
				if a.Generation() <= high {
					t.Fatalf("generation %d after the loss, not above the %d members had seen", a.Generation(), high)
				}
				// Redis's own number too: the members put the state back
				// above what it held, never from 1 again.
				if after, err := sa.Breaker(bg, a.Name()); err != nil || after.Generation <= before.Generation {
					t.Fatalf("Redis holds generation %d after the loss (%v), not above its %d before", after.Generation, err, before.Generation)
				}
				if err := a.Close(bg); err != nil {
					t.Fatal(err)
				}
				converged(t, "every member, after a manual close on an old one", stores, a, b, c)
				for i, m := range []*infuse.Breaker{a, b, c} {
					if err := m.Call(bg, succeed); err != nil {
						t.Fatalf("member %d after the close: %v", i, err)
					}
				}
			})
		}
	}
}

// A field of any value is valid or replaced, whichever script meets it
// first, and the replacement is reported; fields infuse does not know are
// kept (in the first store, g=inf and the like were taken by the scripts
// and refused by the decoder: the breaker never shared state again).
func TestWedgingValuesAreReplaced(t *testing.T) {
	for _, kv := range [][2]string{
		{"g", "inf"}, {"g", "1e300"}, {"g", "1152921504606846976"}, {"g", "-1"}, {"g", "nan"},
		{"tr", "-3"}, {"st", "9"}, {"oa", "-1"}, {"f", "1e20"}, {"md", "x"}, {"i", "NOT VALID"}, {"ps", "2.5"},
	} {
		t.Run(kv[0]+"="+kv[1], func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := infuse.Config{FailMax: 3, ResetTimeout: time.Minute}
			sa, sb := newStore(t, srv, redisstore.Options{Namespace: "wedge"}), newStore(t, srv, redisstore.Options{Namespace: "wedge"})
			a, _ := newBreaker(t, sa, cfg)
			b, _ := newBreaker(t, sb, cfg)
			_ = a.Call(bg, boom) // the state is stored now
			syncStore(t, sa)
			c := srv.Client(t)
			key := sa.Key("db")
			if err := c.HSet(bg, key, kv[0], kv[1], "zz-later-version", "kept").Err(); err != nil {
				t.Fatal(err)
			}
			// No new bind: the scripts of calls meet it. (The replacement
			// is a new generation, which may start the run again.)
			for i := 0; i < 10 && a.State() != infuse.Open; i++ {
				_ = a.Call(bg, boom)
			}
			wantState(t, a, infuse.Open)
			syncStore(t, sa)
			syncStore(t, sb)
			wantState(t, b, infuse.Open)
			if sa.Errors() == 0 {
				t.Fatal("the replacement was not reported")
			}
			if got := c.HGet(bg, key, "zz-later-version").Val(); got != "kept" {
				t.Fatalf("a field infuse does not know was dropped: %q", got)
			}
			if _, err := strconv.ParseUint(c.HGet(bg, key, "g").Val(), 10, 64); err != nil {
				t.Fatalf("stored generation %q", c.HGet(bg, key, "g").Val())
			}
			// And it goes on being shared: a close on b reaches a.
			_ = b.Close(bg)
			converged(t, "the members after a close", []*redisstore.Store{sa, sb}, a, b)
			wantState(t, a, infuse.Closed)
		})
	}
}

// channels lists the pub/sub channels members listen on.
func channels(t *testing.T, c *redis.Client) []string {
	t.Helper()
	chs, err := c.PubSubChannels(bg, "*").Result()
	if err != nil || len(chs) == 0 {
		t.Fatalf("channels %v: %v", chs, err)
	}
	return chs
}

// flood publishes payloads on every channel until stopped, and counts
// them.
func flood(t *testing.T, srv *redistest.Server, payloads func(i int) []string) (stop func() int) {
	c := srv.Client(t)
	chs := channels(t, c)
	done := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			pipe := c.Pipeline()
			for _, ch := range chs {
				for _, p := range payloads(i) {
					pipe.Publish(bg, ch, p)
					n.Add(1)
				}
			}
			_, _ = pipe.Exec(bg)
			time.Sleep(time.Millisecond)
		}
	})
	return func() int { close(done); wg.Wait(); return int(n.Load()) }
}

// Nothing published on the channel moves a member's state or clock: a
// flood of stale or forged messages neither keeps an open breaker from
// going half-open nor desyncs members, and costs Redis a bounded number of
// reads.
func TestForgedMessagesNeverDesync(t *testing.T) {
	t.Run("StaleFlood", func(t *testing.T) {
		srv := redistest.Start(t)
		opts := redisstore.Options{Namespace: "forged"}
		a, b, _, _, sa, sb := forgedPair(t, srv, opts, "db", infuse.Config{FailMax: 1, ResetTimeout: 200 * time.Millisecond})
		_ = a.Call(bg, boom)
		syncStore(t, sa)
		syncStore(t, sb)
		wantState(t, b, infuse.Open)
		stop := flood(t, srv, func(int) []string {
			return []string{"db\nx\n0 1 0 0 0 0 1 0 0", "h 3 1", "\x00sync 1"}
		})
		defer stop()
		time.Sleep(250 * time.Millisecond)
		if err := b.Call(bg, succeed); err != nil {
			t.Fatalf("the trial after the open period, under a flood: %v", err)
		}
		wantState(t, b, infuse.Closed)
	})
	t.Run("HugeGeneration", func(t *testing.T) {
		srv := redistest.Start(t)
		opts := redisstore.Options{Namespace: "forged"}
		a, b, _, _, sa, sb := forgedPair(t, srv, opts, "db", infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
		c := srv.Client(t)
		for _, ch := range channels(t, c) {
			c.Publish(bg, ch, fmt.Sprintf("db\nx\n1 %d 0 0 0 0 0 0 0", uint64(1)<<44-1))
			c.Publish(bg, ch, fmt.Sprintf("h 0 %d", uint64(1)<<53))
		}
		syncStore(t, sb)
		wantState(t, b, infuse.Closed)
		_ = a.Call(bg, boom)
		converged(t, "the members after a trip", []*redisstore.Store{sa, sb}, a, b)
		wantState(t, b, infuse.Open)
	})
	t.Run("NameLikeASyncMessage", func(t *testing.T) {
		srv := redistest.Start(t)
		opts := redisstore.Options{Namespace: "forged", RefreshInterval: time.Hour}
		a, b, _, rb, _, _ := forgedPair(t, srv, opts, "\x00sync 1", infuse.Config{FailMax: 1, ResetTimeout: time.Minute})
		_ = a.Call(bg, boom)
		eventually(t, "the trip reaches the other member through its hint", func() bool { return b.State() == infuse.Open })
		if got := rb.Transitions(); got != "closed->open(remote)" {
			t.Fatalf("transitions %q", got)
		}
	})
	t.Run("JunkIsCountedNotReported", func(t *testing.T) {
		// One 100 KB message of junk, with a hundred breakers bound:
		// before, every breaker logged it whole (10 MB of logs).
		srv := redistest.Start(t)
		s := newStore(t, srv, redisstore.Options{Namespace: "forged"})
		var reported atomic.Int64
		var bs []*infuse.Breaker
		for i := range 100 {
			b, _ := newBreaker(t, s, infuse.Config{Name: fmt.Sprintf("b%d", i), FailMax: 1,
				Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
					if e.Kind == infuse.EventStoreError {
						reported.Add(1)
					}
				})}})
			bs = append(bs, b)
		}
		syncStore(t, s)
		c := srv.Client(t)
		junk := strings.Repeat("\x1b[2J\xff junk ", 100<<10/11)
		for _, ch := range channels(t, c) {
			if err := c.Publish(bg, ch, junk).Err(); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the junk is counted", func() bool { return s.Ignored() >= 1 })
		_ = bs[7].Call(bg, boom)
		syncStore(t, s)
		if n := reported.Load(); n != 0 {
			t.Fatalf("junk on the channel reached the breakers as %d store errors", n)
		}
		if n := s.Ignored(); n != 1 {
			t.Fatalf("Ignored() = %d after one junk message, want 1", n)
		}
		wantState(t, bs[7], infuse.Open)
		wantState(t, bs[8], infuse.Closed)
	})
	t.Run("FloodCostIsBounded", func(t *testing.T) {
		srv := redistest.Start(t)
		opts := redisstore.Options{Namespace: "forged", RefreshInterval: time.Hour}
		forgedPair(t, srv, opts, "db", infuse.Config{})
		before := stats(t, srv)
		stop := flood(t, srv, func(i int) []string {
			var out []string
			for k := range 16 {
				out = append(out, fmt.Sprintf("h %d %d", k, 1000+i))
			}
			return out
		})
		time.Sleep(time.Second)
		sent := stop()
		d := stats(t, srv).Sub(before)
		reads := d.ByCommand["evalsha"]
		t.Logf("%d forged hints in a second cost %d reads (%v)", sent, reads, d.ByCommand)
		// Two members, at most 100 hint reads a second each, plus a burst
		// of 16 (and, the first time, 16 that find the script not loaded).
		if reads > 2*(100+16+16)+10 {
			t.Fatalf("%d forged hints cost %d reads", sent, reads)
		}
	})
}

// forgedPair is two members of one breaker on two stores.
func forgedPair(t *testing.T, srv *redistest.Server, opts redisstore.Options, name string, cfg infuse.Config) (
	a, b *infuse.Breaker, ra, rb interface{ Transitions() string }, sa, sb *redisstore.Store) {
	t.Helper()
	sa, sb = newStore(t, srv, opts), newStore(t, srv, opts)
	cfg.Name = name
	a, rra := newBreaker(t, sa, cfg)
	b, rrb := newBreaker(t, sb, cfg)
	return a, b, rra, rrb, sa, sb
}

// Any bytes in a namespace or a name map to keys of their own, in one
// slot: namespace "t" with name "x}:{y" and namespace "t:{x}" with name
// "y" shared a key in the first store.
func TestKeysNeverCollide(t *testing.T) {
	srv := redistest.Start(t)
	s1 := newStore(t, srv, redisstore.Options{Namespace: "t"})
	s2 := newStore(t, srv, redisstore.Options{Namespace: "t:{x}"})
	a, _ := newBreaker(t, s1, infuse.Config{Name: "x}:{y", FailMax: 1})
	b, _ := newBreaker(t, s2, infuse.Config{Name: "y", FailMax: 1})
	_ = a.Call(bg, boom)
	syncStore(t, s1)
	syncStore(t, s2)
	wantState(t, b, infuse.Closed)
	for _, c := range []struct {
		s    *redisstore.Store
		want string
	}{{s1, "x}:{y"}, {s2, "y"}} {
		list, err := c.s.Breakers(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != c.want {
			t.Fatalf("namespace %q lists %+v, want only %q", c.s.Namespace(), list, c.want)
		}
	}
}

// Keys name their layout, and a breaker open or forced in the first
// layout stays so when the fleet moves to this one.
func TestLegacyStateCarriesOver(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	now := c.Time(bg).Val().UnixMilli()
	c.HSet(bg, "up:{payments}", "st", 1, "g", 8, "oa", now-1000, "f", 5, "s", 0, "md", 0, "tr", 1)
	c.HSet(bg, "up:{orders}", "st", 1, "g", 3, "oa", now, "f", 0, "s", 0, "md", 1, "tr", 1)
	c.HSet(bg, "up:{search}", "st", 0, "g", 3, "oa", 0, "f", 2, "s", 0, "md", 0, "tr", 0)
	store := newStore(t, srv, redisstore.Options{Namespace: "up"})
	cfg := infuse.Config{ResetTimeout: time.Minute}
	cfg.Name = "payments"
	p, _ := newBreaker(t, store, cfg)
	cfg.Name = "orders"
	o, _ := newBreaker(t, store, cfg)
	cfg.Name = "search"
	s, _ := newBreaker(t, store, cfg)
	if left := p.RetryAfter(); p.State() != infuse.Open || left > 59*time.Second || left < 50*time.Second {
		t.Fatalf("payments: %v, %v left; want open, the rest of its minute", p.State(), left)
	}
	if o.Mode() != infuse.ModeForcedOpen {
		t.Fatalf("orders: mode %v, want forced open", o.Mode())
	}
	wantState(t, s, infuse.Closed)
	syncStore(t, store)
	if !strings.Contains(store.Key("payments"), ":v2:") {
		t.Fatalf("key %q names no layout", store.Key("payments"))
	}
	// The fleet shares it in this layout.
	other := newStore(t, srv, redisstore.Options{Namespace: "up"})
	cfg.Name = "payments"
	p2, _ := newBreaker(t, other, cfg)
	wantState(t, p2, infuse.Open)
}

// A breaker with nothing to share costs Redis nothing: no key while it is
// idle, and the key of one that failed and recovered expires IdleTTL after
// its last write. The console lists it from its members' registrations
// while it is bound, and forgets it once it is not.
func TestIdleBreakersExpire(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{Namespace: "idle", IdleTTL: 300 * time.Millisecond, RefreshInterval: 50 * time.Millisecond})
	b, _ := newBreaker(t, store, infuse.Config{Name: "host-1", FailMax: 3})
	c := srv.Client(t)
	if n := c.Exists(bg, store.Key("host-1")).Val(); n != 0 {
		t.Fatal("an idle breaker has a key")
	}
	_ = b.Call(bg, boom)
	_ = b.Call(bg, succeed)
	syncStore(t, store)
	if ttl := c.PTTL(bg, store.Key("host-1")).Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("an idle breaker's key has a TTL of %v, want at most IdleTTL", ttl)
	}
	eventually(t, "the idle key expires", func() bool { return c.Exists(bg, store.Key("host-1")).Val() == 0 })
	list, err := store.Breakers(bg)
	if err != nil || len(list) != 1 || list[0].Name != "host-1" || !list[0].Idle || list[0].Members != 1 {
		t.Fatalf("listing %+v, %v; want host-1, idle, one member", list, err)
	}
	info, err := store.Breaker(bg, "host-1")
	if err != nil || !info.Idle || info.State != infuse.Closed {
		t.Fatalf("Breaker: %+v, %v", info, err)
	}
	// Still shared: a trip now reaches another member.
	other := newStore(t, srv, redisstore.Options{Namespace: "idle"})
	b2, _ := newBreaker(t, other, infuse.Config{Name: "host-1", FailMax: 3})
	for range 3 {
		_ = b.Call(bg, boom)
	}
	syncStore(t, store)
	syncStore(t, other)
	wantState(t, b2, infuse.Open)
	_ = b.Close(bg)
	syncStore(t, other)
	_ = b.Detach()
	_ = b2.Detach()
	eventually(t, "a breaker no member has bound is no longer listed", func() bool {
		syncStore(t, store)
		syncStore(t, other)
		list, err := store.Breakers(bg)
		for _, i := range list {
			if i.Idle {
				return false
			}
		}
		return err == nil
	})
}

// Breakers made per remote host (infusehttp's registry) and evicted leave
// nothing behind for long: the keys of those that failed expire IdleTTL
// after their last write, and their registrations go with the eviction.
func TestEvictedBreakersLeaveNothing(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t, srv, redisstore.Options{Namespace: "hosts", IdleTTL: 500 * time.Millisecond})
	reg, err := registry.New(registry.Options{Template: infuse.Config{Name: "h:", Storage: store, FailMax: 5}, Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		b, err := reg.Get(fmt.Sprint("host-", i))
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Call(bg, boom)
	}
	syncStore(t, store)
	c := srv.Client(t)
	keys := c.Keys(bg, "hosts:v2:*:b:*").Val()
	for _, k := range keys {
		if ttl := c.PTTL(bg, k).Val(); ttl <= 0 || ttl > 500*time.Millisecond {
			t.Fatalf("key %s has a TTL of %v, want at most IdleTTL", k, ttl)
		}
	}
	list, err := store.Breakers(bg)
	if err != nil {
		t.Fatal(err)
	}
	bound := 0
	for _, i := range list {
		bound += i.Members
	}
	if bound != 10 {
		t.Fatalf("%d registrations, want the 10 breakers the registry keeps", bound)
	}
	eventually(t, "the keys of the failed hosts expire", func() bool { return len(c.Keys(bg, "hosts:v2:*:b:*").Val()) == 0 })
}

// Operators' member counts come from heartbeats and registrations: a
// store that closes leaves at once, one that dies is dropped once its
// heartbeat is missed.
func TestMembersComeAndGo(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "members"}
	sa := newStore(t, srv, opts)
	sb := redisstore.New(srv.Client(t), opts)
	newBreaker(t, sa, infuse.Config{Name: "x"})
	newBreaker(t, sb, infuse.Config{Name: "x"})
	if info, err := sa.Breaker(bg, "x"); err != nil || info.Members != 2 || !info.Idle {
		t.Fatalf("two members bound: %+v, %v", info, err)
	}
	_ = sb.Close()
	if info, err := sa.Breaker(bg, "x"); err != nil || info.Members != 1 {
		t.Fatalf("after one store closed: %+v, %v", info, err)
	}
}

// An operator's store (Options.Operator) reads and changes a breaker but
// is never counted as one of its members, nor registers it.
func TestAnOperatorIsNoMember(t *testing.T) {
	srv := redistest.Start(t)
	sa := newStore(t, srv, redisstore.Options{Namespace: "members"})
	op := newStore(t, srv, redisstore.Options{Namespace: "members", Operator: true})
	newBreaker(t, sa, infuse.Config{Name: "x"})
	b, _ := newBreaker(t, op, infuse.Config{Name: "x"})
	if err := b.ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	if info, err := sa.Breaker(bg, "x"); err != nil || info.Members != 1 || info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("one member and an operator: %+v, %v", info, err)
	}
	newBreaker(t, op, infuse.Config{Name: "only-the-operator"})
	if _, err := sa.Breaker(bg, "only-the-operator"); !errors.Is(err, redisstore.ErrUnknownBreaker) {
		t.Fatalf("a breaker only an operator has bound is listed: %v", err)
	}
}
