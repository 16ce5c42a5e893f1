package infuse_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
)

// A breaker in front of a flaky dependency: three failures open it, and
// while it is open calls fail fast without reaching the dependency.
func Example() {
	clock := infusetest.NewClock() // virtual time, so the example is instant
	b, err := infuse.New(infuse.Config{
		Name:         "inventory",
		FailMax:      3,
		ResetTimeout: 10 * time.Second,
		Clock:        clock,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	down := errors.New("connection refused")
	fetch := func(context.Context) error { return down }

	for i := 1; i <= 4; i++ {
		err := b.Call(ctx, fetch)
		switch {
		case errors.Is(err, infuse.ErrOpen):
			fmt.Printf("call %d: rejected: %v\n", i, err)
		case errors.Is(err, infuse.ErrTripped):
			fmt.Printf("call %d: failed and opened the breaker: %v\n", i, err)
		default:
			fmt.Printf("call %d: failed: %v\n", i, err)
		}
	}

	clock.Advance(10 * time.Second)
	err = b.Call(ctx, func(context.Context) error { return nil })
	fmt.Printf("trial after 10s: %v, state %v\n", err, b.State())
	// Output:
	// call 1: failed: connection refused
	// call 2: failed: connection refused
	// call 3: failed and opened the breaker: infuse: circuit breaker "inventory" tripped: connection refused
	// call 4: rejected: infuse: circuit breaker "inventory" is open; retry after 10s
	// trial after 10s: <nil>, state closed
}

// Execute returns the protected function's value.
func ExampleExecute() {
	b, _ := infuse.New(infuse.Config{Name: "prices"})
	price, err := infuse.Execute(context.Background(), b, func(context.Context) (float64, error) {
		return 9.99, nil
	})
	fmt.Println(price, err)
	// Output: 9.99 <nil>
}

// Allow is for code that cannot be wrapped in a function, such as a stream
// whose outcome is known only later.
func ExampleBreaker_Allow() {
	b, _ := infuse.New(infuse.Config{Name: "stream"})
	done, err := b.Allow(context.Background())
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... do the work ...
	done(nil)
	fmt.Println(b.State(), b.Counts().ConsecutiveFailures)
	// Output: closed 0
}

// Errors a dependency returns for a bad request are not its failure:
// exclude them, and they count as successes.
func ExampleConfig_exclude() {
	errNotFound := errors.New("not found")
	b, _ := infuse.New(infuse.Config{Name: "users", FailMax: 1, Exclude: []error{errNotFound}})
	err := b.Call(context.Background(), func(context.Context) error {
		return fmt.Errorf("user 42: %w", errNotFound)
	})
	fmt.Println(err, "/", b.State())
	// Output: user 42: not found / closed
}

// A listener sees every call and transition.
func ExampleListenerFunc() {
	b, _ := infuse.New(infuse.Config{
		Name:    "db",
		FailMax: 1,
		Listeners: []infuse.Listener{infuse.ListenerFunc(func(e infuse.Event) {
			if e.Kind == infuse.EventStateChange {
				fmt.Printf("%s: %v -> %v\n", e.Name, e.From, e.To)
			}
		})},
	})
	_ = b.Call(context.Background(), func(context.Context) error { return errors.New("timeout") })
	_ = b.Close(context.Background())
	// Output:
	// db: closed -> open
	// db: open -> closed
}
