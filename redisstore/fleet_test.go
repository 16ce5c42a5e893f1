package redisstore_test

// The fleet test starts this test binary again as worker processes that
// share one redis-server, and drives them over a line protocol on their
// standard input and output.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

const workerEnv = "INFUSE_FLEET_WORKER"

// fleetWorker is a member of the fleet. It reads commands, one a line, and
// answers each with one line:
//
//	fail, ok        a call that fails or succeeds: its class
//	trial MS        a call whose function takes MS ms: "ran" or "rejected"
//	probe MS        a call whose function takes MS ms and fails, counting
//	                the fleet's calls running at once in Redis: "ran N"
//	                (N: how many ran at once, itself included) or
//	                "rejected CLASS"
//	made            the transitions it made: "made GEN:STATE ..."
//	state           "STATE FAILURES"
//	sync            "synced" once Store.Sync returns
//	quit            exits
func fleetWorker() int {
	addr, ns := os.Getenv("REDIS_ADDR"), os.Getenv("NAMESPACE")
	failMax, _ := strconv.Atoi(os.Getenv("FAIL_MAX"))
	resetMs, _ := strconv.Atoi(os.Getenv("RESET_MS"))
	maxCalls, _ := strconv.Atoi(os.Getenv("MAX_CALLS"))
	client := redis.NewClient(redistest.Options(addr))
	defer client.Close()
	if ms, _ := strconv.Atoi(os.Getenv("DELAY_MS")); ms > 0 {
		// A slow network: each request waits ms on its way out.
		d := &gate{}
		f := func(cmds []redis.Cmder, next func() error) error {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return next()
		}
		d.around.Store(&f)
		client.AddHook(d)
	}
	store := redisstore.New(client, redisstore.Options{Namespace: ns})
	defer store.Close()
	var mu sync.Mutex
	var made []string
	b, err := infuse.New(infuse.Config{
		Name: "fleet", Storage: store, FailMax: failMax,
		ResetTimeout: time.Duration(resetMs) * time.Millisecond, HalfOpenMaxCalls: maxCalls,
		Listeners: []infuse.Listener{infuse.ListenFor(infuse.ListenerFunc(func(e infuse.Event) {
			if !e.Remote {
				mu.Lock()
				made = append(made, fmt.Sprintf("%d:%v", e.Generation, e.To))
				mu.Unlock()
			}
		}), infuse.EventStateChange)},
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(s string) { fmt.Fprintln(out, s); out.Flush() }
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "fail":
			say(class(b.Call(context.Background(), func(context.Context) error { return errBoom })))
		case "ok":
			say(class(b.Call(context.Background(), func(context.Context) error { return nil })))
		case "trial":
			ms, _ := strconv.Atoi(arg)
			ran := false
			err := b.Call(context.Background(), func(context.Context) error {
				ran = true
				time.Sleep(time.Duration(ms) * time.Millisecond)
				return nil
			})
			if ran {
				say("ran")
			} else {
				say("rejected " + class(err))
			}
		case "probe":
			ms, _ := strconv.Atoi(arg)
			running := ns + ":running"
			var n int64
			err := b.Call(context.Background(), func(ctx context.Context) error {
				n = client.Incr(ctx, running).Val()
				time.Sleep(time.Duration(ms) * time.Millisecond)
				client.Decr(ctx, running)
				return errBoom
			})
			if n > 0 {
				say(fmt.Sprint("ran ", n))
			} else {
				say("rejected " + class(err))
			}
		case "made":
			mu.Lock()
			say(strings.TrimSpace("made " + strings.Join(made, " ")))
			mu.Unlock()
		case "state":
			say(fmt.Sprintf("%v %d", b.State(), b.Counts().ConsecutiveFailures))
		case "sync":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := store.Sync(ctx)
			cancel()
			if err != nil {
				say("error " + err.Error())
			} else {
				say("synced")
			}
		case "quit":
			return 0
		}
	}
	return 0
}

func class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, infuse.ErrOpen):
		return "rejected"
	case errors.Is(err, infuse.ErrTripped):
		return "tripped"
	}
	return "cause"
}

// worker is the test's handle on one worker process.
type worker struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startWorker(t *testing.T, srv *redistest.Server, ns string, failMax, resetMs, maxCalls int, env ...string) *worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"=1", "REDIS_ADDR="+srv.Addr, "NAMESPACE="+ns,
		fmt.Sprint("FAIL_MAX=", failMax), fmt.Sprint("RESET_MS=", resetMs), fmt.Sprint("MAX_CALLS=", maxCalls))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return w
}

// do sends a command and returns its answer.
func (w *worker) do(cmd string) string {
	w.t.Helper()
	w.send(cmd)
	return w.read()
}

func (w *worker) send(cmd string) {
	w.t.Helper()
	if _, err := io.WriteString(w.in, cmd+"\n"); err != nil {
		w.t.Fatalf("worker: %v", err)
	}
}

func (w *worker) read() string {
	w.t.Helper()
	if !w.out.Scan() {
		w.t.Fatalf("worker exited: %v", w.out.Err())
	}
	return w.out.Text()
}

func syncAll(t *testing.T, ws []*worker) {
	t.Helper()
	for _, w := range ws {
		if got := w.do("sync"); got != "synced" {
			t.Fatalf("sync: %s", got)
		}
	}
}

func TestFleetOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := redistest.Start(t)
	const n, failMax, resetMs, maxCalls = 4, 3, 300, 2
	var ws []*worker
	for range n {
		ws = append(ws, startWorker(t, srv, "fleet", failMax, resetMs, maxCalls))
	}

	// Failures of different members add up: two here, one there.
	for i, w := range ws[:2] {
		if got := w.do("fail"); got != "cause" {
			t.Fatalf("worker %d's failure: %s", i, got)
		}
		syncAll(t, ws)
	}
	if got := ws[2].do("state"); got != "closed 2" {
		t.Fatalf("a third member sees %q, want the merged run of 2", got)
	}
	if got := ws[2].do("fail"); got != "tripped" {
		t.Fatalf("the third merged failure: %s, want tripped", got)
	}

	// The trip reaches every member.
	syncAll(t, ws)
	for i, w := range ws {
		if got := w.do("state"); !strings.HasPrefix(got, "open") {
			t.Fatalf("worker %d after the trip: %s", i, got)
		}
	}

	// A member that joins now keeps the open state.
	joiner := startWorker(t, srv, "fleet", failMax, resetMs, maxCalls)
	if got := joiner.do("state"); !strings.HasPrefix(got, "open") {
		t.Fatalf("joining member: %s", got)
	}
	ws = append(ws, joiner)

	// Another namespace is another breaker.
	other := startWorker(t, srv, "elsewhere", failMax, resetMs, maxCalls)
	if got := other.do("state"); got != "closed 0" {
		t.Fatalf("other namespace: %s", got)
	}

	// After the open period, the whole fleet sends HalfOpenMaxCalls trials.
	time.Sleep(resetMs * time.Millisecond)
	for _, w := range ws {
		w.send("trial 300")
	}
	ran := 0
	var answers []string
	for _, w := range ws {
		a := w.read()
		answers = append(answers, a)
		if a == "ran" {
			ran++
		}
	}
	if ran != maxCalls {
		t.Fatalf("%d trials ran across %d members (%v), want HalfOpenMaxCalls = %d", ran, len(ws), answers, maxCalls)
	}
	syncAll(t, ws)
	for i, w := range ws {
		if got := w.do("state"); got != "closed 0" {
			t.Fatalf("worker %d after the trials: %s", i, got)
		}
	}

	// Every key the fleet wrote expires if left alone.
	c := srv.Client(t)
	keys := c.Keys(context.Background(), "fleet:*").Val()
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	var mu sync.Mutex
	for _, k := range keys {
		mu.Lock()
		ttl := c.PTTL(context.Background(), k).Val()
		mu.Unlock()
		if ttl <= 0 {
			t.Fatalf("key %s has no TTL", k)
		}
	}
}
