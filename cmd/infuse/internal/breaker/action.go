package breaker

import (
	"context"
	"fmt"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Actions are the operator's verbs and what each does to a breaker.
var Actions = map[string]func(*infuse.Breaker, context.Context) error{
	"open":       (*infuse.Breaker).Open,
	"half-open":  (*infuse.Breaker).HalfOpen,
	"close":      (*infuse.Breaker).Close,
	"force-open": (*infuse.Breaker).ForceOpen,
	"disable":    (*infuse.Breaker).Disable,
	"release":    (*infuse.Breaker).Release,
}

// Act applies the action verb to the breaker name through store, for the
// whole fleet, and returns what Redis holds afterwards: a usage error for
// an unknown verb, redisstore.ErrUnknownBreaker for a name Redis does not
// know.
func Act(ctx context.Context, store *redisstore.Store, name, verb string) (redisstore.Info, error) {
	do, ok := Actions[verb]
	if !ok {
		return redisstore.Info{}, cli.Usage(fmt.Sprintf("unknown action %q", verb))
	}
	if IsShadow(name) {
		return redisstore.Info{}, fmt.Errorf("%s is a shadow's candidate, which takes no action: infuse shadow start restarts it, stop stops it", Printable(name))
	}
	if _, err := store.Breaker(ctx, name); err != nil {
		return redisstore.Info{}, err
	}
	b, err := infuse.New(infuse.Config{Name: name, Storage: store})
	if err != nil {
		return redisstore.Info{}, err
	}
	defer b.Detach()
	if err := do(b, ctx); err != nil {
		return redisstore.Info{}, err
	}
	return store.Breaker(ctx, name)
}
