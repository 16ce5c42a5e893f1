// Package demo is "infuse demo": an upstream simulated in this process
// that goes healthy, failing, slow and recovering (upstream.go), called by
// a few clients through circuit breakers, shown live in the terminal and
// on the dashboard.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/cmd/infuse/internal/dashboard"
)

// demoBreaker is one simulated client's breaker with its tallies.
type demoBreaker struct {
	b                                 *infuse.Breaker
	calls, failures, rejected, trials atomic.Int64
}

// Run is "infuse demo": an upstream simulated in this process, called by
// clients through breakers (or members sharing one through Redis), shown
// live in the terminal and on the dashboard, until ctx is done or
// -duration has passed. It writes what goes wrong beside the demo (the
// dashboard failing to serve) to errOut.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := cli.FlagSet("demo", "[flags]",
		"Runs an upstream, simulated in this process, that goes healthy, failing, slow and recovering,\ncalled by a few clients through circuit breakers, and shows what the breakers do: live in a\nterminal, as log lines otherwise. It also serves the dashboard on loopback. With -redis,\nthe clients are members of one fleet sharing their breaker through Redis: watch a trip\nin one reach all.",
		"  infuse demo\n  infuse demo -duration 30s\n  infuse demo -redis redis://127.0.0.1:6379/0 -members 4")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	clients := fs.Int("clients", 3, "simulated clients, each with its own breaker")
	members := fs.Int("members", 3, "with -redis: simulated members sharing one breaker")
	redisURL := fs.String("redis", "", "Redis `URL`: share one breaker among simulated members through Redis")
	namespace := fs.String("namespace", "infuse-demo", "with -redis: the `namespace`")
	listen := fs.String("listen", "127.0.0.1:0", "dashboard `address` (port 0: any free port)")
	token := cli.TokenFlag(fs)
	if _, err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *clients < 1 || *clients > 50 || *members < 1 || *members > 50 {
		return cli.Usage("-clients and -members must be between 1 and 50")
	}
	ctx, cancel := cli.WithDuration(ctx, *duration)
	defer cancel()

	src := dashboard.NewLocal()
	listener := src.Listener()
	breakers := map[string]*demoBreaker{}
	cfg := func(name string, storage infuse.Storage) infuse.Config {
		return infuse.Config{Name: name, Storage: storage, FailMax: 5, ResetTimeout: 2 * time.Second,
			SuccessThreshold: 2, SlowCallDuration: 40 * time.Millisecond, RampDuration: 3 * time.Second,
			Window: infuse.TimeWindow(5*time.Second, 500*time.Millisecond), FailureRate: 0.5, SlowCallRate: 0.8, MinCalls: 20,
			Listeners: []infuse.Listener{listener}}
	}
	if *redisURL != "" {
		for i := range *members {
			store, closeStore, err := cli.Connect(ctx, *redisURL, *namespace, true)
			if err != nil {
				return err
			}
			defer closeStore()
			b, err := infuse.New(cfg("upstream", store))
			if err != nil {
				return err
			}
			name := fmt.Sprintf("member-%d", i+1)
			breakers[name] = &demoBreaker{b: b}
			src.Add(name, b)
		}
	} else {
		for i := range *clients {
			b, err := infuse.New(cfg(fmt.Sprintf("client-%d", i+1), nil))
			if err != nil {
				return err
			}
			breakers[b.Name()] = &demoBreaker{b: b}
			src.Add(b.Name(), b)
		}
	}

	up := &upstream{start: time.Now()}
	var wg sync.WaitGroup
	for _, db := range breakers {
		wg.Go(func() { drive(ctx, up, db) })
	}
	d := dashboard.New(src, token())
	ready := make(chan string, 1)
	wg.Go(func() {
		if err := d.Serve(ctx, *listen, func(url string) { ready <- url }); err != nil {
			fmt.Fprintln(errOut, "infuse demo: dashboard:", err)
			close(ready)
		}
	})
	var header strings.Builder
	if url, ok := <-ready; ok {
		fmt.Fprintf(&header, "dashboard on %s\n", url)
		header.WriteString(d.Warning()) // on stderr too, but the terminal view redraws over it
	}
	if *redisURL != "" {
		u, _ := cli.RedactedURL(*redisURL) // it parsed: the members connected
		ns := shellQuote(*namespace)
		fmt.Fprintf(&header, "namespace %s in Redis; in another terminal:\n", breaker.Printable(*namespace))
		for _, c := range []string{"status", "watch", "dashboard"} {
			fmt.Fprintf(&header, "  infuse %s -redis %s -namespace %s\n", c, shellQuote(u), ns)
		}
	}
	header.WriteString("calls: made through the breaker; failed: of those, failed; rejected: refused unrun;\n" +
		"trials: half-open trial calls (the four are running totals); failure rate: over the last 5s\n")
	_, _ = io.WriteString(out, header.String())
	show(ctx, out, header.String(), up, breakers)
	cancel()
	wg.Wait()
	return nil
}

// drive makes calls through db until ctx is done.
func drive(ctx context.Context, up *upstream, db *demoBreaker) {
	for ctx.Err() == nil {
		err := db.b.Call(ctx, func(ctx context.Context) error {
			if db.b.State() == infuse.HalfOpen {
				db.trials.Add(1)
			}
			return up.call(ctx)
		})
		switch {
		case errors.Is(err, infuse.ErrOpen):
			db.rejected.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		case err != nil && ctx.Err() == nil:
			db.failures.Add(1)
		}
		db.calls.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// show prints the breakers each second: redrawn in place on a terminal,
// as log lines otherwise.
func show(ctx context.Context, out io.Writer, header string, up *upstream, breakers map[string]*demoBreaker) {
	tty := cli.IsTerminal(out)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastErrors uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var sb strings.Builder
		if tty {
			sb.WriteString("\x1b[H\x1b[2J")
			sb.WriteString(header) // the URL and commands stay on screen
		}
		fmt.Fprintf(&sb, "%s upstream %s\n", time.Now().Format("15:04:05"), up.phase().name)
		var storeErrors uint64
		for _, db := range breakers {
			storeErrors += db.b.Totals().StoreErrors
		}
		if storeErrors > lastErrors {
			fmt.Fprintf(&sb, "REDIS FAILING: %d errors in the last second; the members go on with their local state\n", storeErrors-lastErrors)
		}
		lastErrors = storeErrors
		names := make([]string, 0, len(breakers))
		for n := range breakers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			db := breakers[n]
			m := db.b.Metrics()
			fmt.Fprintf(&sb, "  %-10s %-9v calls=%-6d failed=%-5d rejected=%-6d trials=%-4d failure-rate=%s\n",
				n, m.State, db.calls.Load(), db.failures.Load(), db.rejected.Load(), db.trials.Load(), rate(m.FailureRate))
		}
		_, _ = io.WriteString(out, sb.String())
	}
}

func rate(r float64) string {
	if r < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", r*100)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
