// Package redistest runs throwaway redis-server processes for tests: each on a
// free loopback port of its own, stopped when the test ends, and able to be
// killed, paused and restarted to test outages.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Quiet silences go-redis's logger, which writes a line for each dial
// that fails: in a test that kills or pauses its server, those lines
// would bury the test's own output. It sets a global of go-redis's, for
// the whole test binary; Start and StartCluster call it.
func Quiet() { quiet.Do(func() { redis.SetLogger(silent{}) }) }

var quiet sync.Once

// startDeadline is how long a server started for a test has to answer:
// generous, since a busy host (a CPU hog per core, other tests starting
// their own servers) can make an exec and a first reply take seconds.
const startDeadline = time.Minute

type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// Server is one redis-server process.
type Server struct {
	Addr string
	port int
	dir  string
	tb   testing.TB
	cmd  *exec.Cmd
	args []string // extra arguments to redis-server
}

// Start starts a redis-server on a free loopback port and stops it when the
// test ends. It fails the test when redis-server is not installed (make
// test installs it). It silences go-redis's logger for the test binary
// (see Quiet).
func Start(tb testing.TB) *Server {
	tb.Helper()
	Quiet()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatal("redis-server is not installed; run make test, which installs it, or apt-get install redis-server")
	}
	port := freePort(tb)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: tb.TempDir(), tb: tb}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	s.cmd = exec.Command("redis-server", append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--protected-mode", "no", "--loglevel", "warning"}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("starting redis-server: %v", err)
	}
	waitPing(s.tb, &redis.Options{Addr: s.Addr, DialTimeout: 50 * time.Millisecond}, 100*time.Millisecond)
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// freePort is a loopback port free when asked (the server that takes it
// starts right after).
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartReplica starts a server replicating master, and waits until it has
// the master's data.
func StartReplica(tb testing.TB, master *Server) *Server {
	tb.Helper()
	port := freePort(tb)
	host, mport, _ := net.SplitHostPort(master.Addr)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: tb.TempDir(), tb: tb,
		args: []string{"--replicaof", host, mport}}
	s.start()
	tb.Cleanup(s.stop)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(startDeadline)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("replica %s never synced: %v %s", s.Addr, err, info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills the server at once, as a crash would: everything in it is
// lost.
func (s *Server) Kill() { s.stop() }

// Restart starts a killed server again, empty, on the same port.
func (s *Server) Restart() {
	s.tb.Helper()
	s.stop()
	s.start()
}

// Pause stops the server process (SIGSTOP): connections stay open and
// nothing answers, as with a hung server.
func (s *Server) Pause() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// Client returns a client of the server with short timeouts that honour
// contexts, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	c := redis.NewClient(Options(s.Addr))
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Options are the client options the tests use: no retries, a short dial
// timeout (a refused connection is told at once), and read and write
// timeouts long enough that a busy host (a CPU hog per core beside a
// test with the race detector) does not look like an outage; the store's
// own bounds (OpTimeout, DownAfter) cut its requests short through their
// contexts (ContextTimeoutEnabled).
func Options(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		DialTimeout:           100 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
	}
}

// String is the server's address.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr) }

// Stats are a server's counters: the commands it ran (INFO commandstats,
// commands run inside scripts included) and the bytes it sent to clients.
type Stats struct {
	Commands  int64
	ByCommand map[string]int64
	NetOutput int64
}

// ReadStats reads the server's counters through c. The INFO commands it
// sends count too: subtract StatsCost for each reading between two.
func ReadStats(ctx context.Context, c redis.Cmdable) (Stats, error) {
	st := Stats{ByCommand: map[string]int64{}}
	info, err := c.Info(ctx, "commandstats", "stats").Result()
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					st.ByCommand[name] = n
					st.Commands += n
				}
			}
		}
		if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
			st.NetOutput, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st, nil
}

// StatsCost is how many commands one ReadStats adds to the count.
const StatsCost = 1

// Sub is what the server did between o and s.
func (s Stats) Sub(o Stats) Stats {
	d := Stats{Commands: s.Commands - o.Commands, NetOutput: s.NetOutput - o.NetOutput, ByCommand: map[string]int64{}}
	for k, v := range s.ByCommand {
		if n := v - o.ByCommand[k]; n != 0 {
			d.ByCommand[k] = n
		}
	}
	return d
}
