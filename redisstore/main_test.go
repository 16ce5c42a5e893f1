package redisstore_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/infuse-go/infuse/redisstore"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// redisAddr is the redis-server the examples use, started by TestMain
// (tests start their own, each with a server of its own).
var redisAddr string

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(fleetWorker())
	}
	// INFUSE_TEST_RUN narrows the run to the tests it matches, for a tool
	// that runs a package's tests without a -run flag: make mutate, whose
	// mutants of the decoders need only their own fast tests.
	if run := os.Getenv("INFUSE_TEST_RUN"); run != "" {
		flag.Parse()
		if err := flag.Set("test.run", run); err != nil {
			panic(err)
		}
	}
	// INFUSE_LUA_MUTANT runs the tests against a mutant of a script: the
	// scripts' mutation run (lua_mutants_test.go), which runs no example.
	if spec := os.Getenv("INFUSE_LUA_MUTANT"); spec != "" {
		if err := redisstore.PlantLuaMutant(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(m.Run())
	}
	stop, err := startExampleRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting a redis-server for the examples:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startExampleRedis starts a redis-server on a free loopback port for the
// examples, which have no testing.T to give redistest.
func startExampleRedis() (stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "redisstore-example")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (make test installs redis-server)", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	redisAddr = "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("redis-server on %s did not answer: %w", redisAddr, err)
		}
	}
}
