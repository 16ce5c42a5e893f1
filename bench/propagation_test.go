package bench

// Trip propagation: how long after one process trips a breaker the other
// processes of the fleet see it open. The processes are this test binary
// started again as workers; they share one redis-server, and on one host
// their wall clocks are one clock.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

const benchWorkerEnv = "INFUSE_BENCH_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(benchWorkerEnv) != "" {
		os.Exit(propagationWorker())
	}
	os.Exit(m.Run())
}

// propagationWorker prints "changed STATE UNIXNANO" for every state change
// its breaker sees, and obeys "trip" (answering "tripped UNIXNANO", taken
// just before the tripping call), "close" and "quit".
func propagationWorker() int {
	client := redis.NewClient(redistest.Options(os.Getenv("REDIS_ADDR")))
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{Namespace: os.Getenv("NAMESPACE")})
	defer store.Close()
	lines := make(chan string, 64)
	b, err := infuse.New(infuse.Config{
		Name: "propagation", Storage: store, FailMax: 1, ResetTimeout: time.Hour,
		Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventStateChange {
				lines <- fmt.Sprintf("changed %v %d", e.To, time.Now().UnixNano())
			}
		})},
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	// Other breakers bound beside it, for the fleet at scale.
	extra, _ := strconv.Atoi(os.Getenv("BREAKERS"))
	for i := range extra {
		if _, err := infuse.New(infuse.Config{Name: fmt.Sprint("other-", i), Storage: store}); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	go func() {
		for l := range lines {
			fmt.Println(l)
		}
	}()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "trip":
			t0 := time.Now().UnixNano()
			_ = b.Call(ctx, func(context.Context) error { return errBoom })
			lines <- fmt.Sprintf("tripped %d", t0)
		case "close":
			_ = b.Close(ctx)
		case "quit":
			return 0
		}
	}
	return 0
}

type propWorker struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startPropWorker(b *testing.B, srv *redistest.Server, ns string, breakers int) *propWorker {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchWorkerEnv+"=1", "REDIS_ADDR="+srv.Addr, "NAMESPACE="+ns, fmt.Sprint("BREAKERS=", breakers))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := &propWorker{cmd: cmd, in: in, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	b.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		_ = in.Close()
		_ = cmd.Wait()
	})
	if l := w.next(b); l != "ready" {
		b.Fatalf("worker: %q", l)
	}
	return w
}

func (w *propWorker) next(b *testing.B) string {
	select {
	case l, ok := <-w.lines:
		if !ok {
			b.Fatal("worker exited")
		}
		return l
	case <-time.After(10 * time.Second):
		b.Fatal("worker silent for 10s")
	}
	return ""
}

// until reads lines until one starts with prefix and returns the number
// after it.
func (w *propWorker) until(b *testing.B, prefix string) int64 {
	for {
		if v, ok := strings.CutPrefix(w.next(b), prefix); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
}

// BenchmarkTripPropagation trips the breaker in one of 8 processes and
// measures when each of the 7 others sees it open; each iteration is one
// trip (and a manual close after it). It reports the p50 and p99 latency.
// With breakers=5000 each process has 5000 other breakers bound beside it.
func BenchmarkTripPropagation(b *testing.B) {
	for _, extra := range []int{0, 5000} {
		name := "breakers=1"
		if extra > 0 {
			name = fmt.Sprint("breakers=", extra+1)
		}
		b.Run(name, func(b *testing.B) { tripPropagation(b, extra) })
	}
}

func tripPropagation(b *testing.B, extra int) {
	srv := redistest.Start(b)
	ns := fmt.Sprint("prop", time.Now().UnixNano())
	const n = 8
	ws := make([]*propWorker, n)
	for i := range ws {
		ws[i] = startPropWorker(b, srv, ns, extra)
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		_, _ = io.WriteString(ws[0].in, "trip\n")
		t0 := ws[0].until(b, "tripped ")
		for _, w := range ws[1:] {
			lat = append(lat, time.Duration(w.until(b, "changed open ")-t0))
		}
		_, _ = io.WriteString(ws[0].in, "close\n")
		for _, w := range ws[1:] {
			w.until(b, "changed closed ")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
