// Package cmdtest runs the infuse command as a user would, for the tests
// of its packages: the binary built once per test binary, run to its exit
// or left running until the test ends, against a redis-server of the
// test's own (redistest).
package cmdtest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

var (
	buildOnce sync.Once
	dir       string // where the binary is built
	binary    string
	buildErr  error
)

// Main runs the tests of m and removes the binary they built: call it from
// TestMain, os.Exit(cmdtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	return code
}

// Binary is the infuse command, built on the first call.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if dir, buildErr = os.MkdirTemp("", "infuse-cmd"); buildErr != nil {
			return
		}
		binary = filepath.Join(dir, "infuse")
		if out, err := exec.Command("go", "build", "-o", binary, "github.com/infuse-go/infuse/cmd/infuse").CombinedOutput(); err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatalf("building infuse: %v", buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// Run runs the command and returns its output and exit status.
func Run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := Binary(t) // the first call builds it: not within the run's time
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// StartWatch runs "infuse watch" on namespace ops for at most 10 s (more
// flags may set another -duration), until the test ends, and returns its
// output's lines.
func StartWatch(t testing.TB, url string, flags ...string) *bufio.Scanner {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"watch", "-redis", url, "-namespace", "ops", "-duration", "10s"}, flags...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return bufio.NewScanner(out)
}

// StartDashboard runs "infuse dashboard" on namespace ops, on a free
// loopback port, until the test ends, and returns its address.
func StartDashboard(t testing.TB, url, token string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), "dashboard", "-redis", url, "-namespace", "ops", "-listen", "127.0.0.1:0", "-token", token)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	first := bufio.NewScanner(out)
	if !first.Scan() {
		t.Fatal("the dashboard printed nothing")
	}
	return strings.Fields(first.Text())[2]
}

// OpsStore starts a redis-server and a member's store on it with opts
// under namespace "ops"; it returns the server's URL too.
func OpsStore(t testing.TB, opts redisstore.Options) (*redistest.Server, string, *redisstore.Store) {
	t.Helper()
	srv := redistest.Start(t)
	opts.Namespace = "ops"
	if opts.OpTimeout == 0 {
		// Generous, so that a busy host never takes an operator's
		// transition made here for one Redis did not confirm.
		opts.OpTimeout = 2 * time.Second
	}
	store := redisstore.New(srv.Client(t), opts)
	t.Cleanup(func() { _ = store.Close() })
	return srv, "redis://" + srv.Addr + "/0", store
}

// Fleet starts a redis-server and a member holding breakers named names
// under namespace "ops".
func Fleet(t testing.TB, names ...string) (*redistest.Server, string, *redisstore.Store, []*infuse.Breaker) {
	t.Helper()
	srv, url, store := OpsStore(t, redisstore.Options{})
	var bs []*infuse.Breaker
	for _, n := range names {
		b, err := infuse.New(infuse.Config{Name: n, Storage: store, FailMax: 2, ResetTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return srv, url, store, bs
}
