package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
)

// Two members of a fleet share the breaker "payments": what one sees trips
// it for both.
func Example() {
	ctx := context.Background()
	// Each member has its own client and store; here both are in one
	// process. redisAddr is your Redis (for this example, one the tests
	// started).
	var members []*infuse.Breaker
	var stores []*redisstore.Store
	for range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		store := redisstore.New(rdb, redisstore.Options{Namespace: "example"})
		defer store.Close()
		b, err := infuse.New(infuse.Config{Name: "payments", Storage: store, FailMax: 2, ResetTimeout: time.Minute})
		if err != nil {
			fmt.Println(err)
			return
		}
		members = append(members, b)
		stores = append(stores, store)
	}

	unavailable := errors.New("payments: 503")
	for range 2 {
		_ = members[0].Call(ctx, func(context.Context) error { return unavailable })
	}
	// Sync waits for what a store has to send and reads what changed; a
	// member learns the same by itself within milliseconds.
	for _, s := range stores {
		_ = s.Sync(ctx)
	}

	err := members[1].Call(ctx, func(context.Context) error { return nil })
	fmt.Println(members[1].State(), errors.Is(err, infuse.ErrOpen))
	// Output: open true
}
