package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of redis-server processes on loopback, with
// masters only, stopped when the test ends.
type Cluster struct {
	Addrs []string
	tb    testing.TB
	cmds  []*exec.Cmd
}

// StartCluster starts n (3 or more) cluster-enabled servers on free ports
// and joins them with redis-cli --cluster create.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	Quiet()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		tb.Fatal("redis-cli is not installed; it comes with redis-server (make test installs it)")
	}
	c := &Cluster{tb: tb}
	tb.Cleanup(c.stop)
	for range n {
		port := freePort(tb)
		dir := tb.TempDir()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no", "--loglevel", "warning",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		c.cmds = append(c.cmds, cmd)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for _, a := range c.Addrs {
		waitPing(tb, &redis.Options{Addr: a, DialTimeout: 50 * time.Millisecond}, 100*time.Millisecond)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range c.Addrs {
		for {
			cl := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			info, err := cl.ClusterInfo(context.Background()).Result()
			_ = cl.Close()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s not ready: %v %s", a, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// waitPing waits startDeadline for the server that o reaches to answer a
// PING, each try bounded by try.
func waitPing(tb testing.TB, o *redis.Options, try time.Duration) {
	tb.Helper()
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	deadline := time.Now().Add(startDeadline)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), try)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s did not answer: %v", o.Addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Cluster) stop() {
	for _, cmd := range c.cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
}

// Client returns a cluster client with the tests' short timeouts, closed
// when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	o := Options("")
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: c.Addrs, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolTimeout: o.PoolTimeout, ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// String lists the nodes.
func (c *Cluster) String() string { return fmt.Sprintf("redis cluster %v", c.Addrs) }

// Sentinel is a redis-sentinel process watching one master, named
// "mymaster".
type Sentinel struct {
	Addr string
	cmd  *exec.Cmd
}

// StartSentinel starts a Sentinel monitoring master, stopped when the test
// ends.
func StartSentinel(tb testing.TB, master *Server) *Sentinel {
	tb.Helper()
	port := freePort(tb)
	host, mport, _ := net.SplitHostPort(master.Addr)
	dir := tb.TempDir()
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nsentinel monitor mymaster %s %s 1\n", port, dir, host, mport)
	path := dir + "/sentinel.conf"
	if err := writeFile(path, conf); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("redis-server", path, "--sentinel", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &Sentinel{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPing(tb, &redis.Options{Addr: s.Addr, DialTimeout: 50 * time.Millisecond}, 100*time.Millisecond)
	return s
}

// Failover has the Sentinel promote a replica of the master (start one
// with StartReplica before the Sentinel, so that it knows of it) and waits
// until it names the new master.
func (s *Sentinel) Failover(tb testing.TB) (newMaster string) {
	tb.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	old, err := c.GetMasterAddrByName(ctx, "mymaster").Result()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Failover(ctx, "mymaster").Err(); err != nil {
		tb.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, err := c.GetMasterAddrByName(ctx, "mymaster").Result()
		if err == nil && now[1] != old[1] {
			return net.JoinHostPort(now[0], now[1])
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the Sentinel never failed over: %v %v", now, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a client that finds the master through the Sentinel.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	o := Options("")
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: "mymaster", SentinelAddrs: []string{s.Addr},
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolTimeout: o.PoolTimeout, ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
