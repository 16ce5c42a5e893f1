// Command quickstart shows a circuit breaker at work in about two seconds:
// a dependency that fails, a breaker that opens and fails fast, a trial
// after the open period, and the breaker closing once the dependency is
// back.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/infuse-go/infuse"
)

func main() {
	var healthy atomic.Bool // the simulated dependency starts broken
	errDown := errors.New("connection refused")
	dependency := func(context.Context) error {
		if healthy.Load() {
			return nil
		}
		return errDown
	}

	start := time.Now()
	b, err := infuse.New(infuse.Config{
		Name:         "inventory",
		FailMax:      3,
		ResetTimeout: 500 * time.Millisecond,
		Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventStateChange {
				fmt.Printf("%6s  breaker %s: %v -> %v\n", since(start), e.Name, e.From, e.To)
			}
		})},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	ctx := context.Background()
	for i := 1; i <= 12; i++ {
		if i == 9 {
			fmt.Printf("%6s  (the dependency recovers)\n", since(start))
			healthy.Store(true)
		}
		err := b.Call(ctx, dependency)
		var outcome string
		switch {
		case err == nil:
			outcome = "ok"
		case errors.Is(err, infuse.ErrOpen):
			var oe *infuse.OpenError
			errors.As(err, &oe)
			outcome = fmt.Sprintf("rejected without calling (retry in %v)", oe.RetryAfter.Round(time.Millisecond))
		case errors.Is(err, infuse.ErrTripped):
			outcome = "failed, and that failure opened the breaker: " + err.Error()
		default:
			outcome = "failed: " + err.Error()
		}
		fmt.Printf("%6s  call %2d: %s\n", since(start), i, outcome)
		time.Sleep(150 * time.Millisecond)
	}
	c := b.Counts()
	fmt.Printf("final state %v, consecutive failures %d\n", b.State(), c.ConsecutiveFailures)
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }
