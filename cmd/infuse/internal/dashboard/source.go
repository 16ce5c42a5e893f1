package dashboard

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

// Source is what a dashboard shows: the fleet's breakers in Redis (Run's),
// or breakers in this process (Local, the demo's).
type Source interface {
	list(ctx context.Context) ([]breaker.View, error)
	act(ctx context.Context, name, verb string) (breaker.View, error)
	// watch calls fn with each change until ctx is done.
	watch(ctx context.Context, fn func(change)) error
}

// change is one transition, as the dashboard's timeline shows it.
type change struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	State string `json:"state"`
	Mode  string `json:"mode"`
	Cause string `json:"cause"`
	At    string `json:"at"`
}

// changeOf is transition t, learned of at at, for the timeline.
func changeOf(t breaker.Transition, at time.Time) change {
	return change{Name: t.Name, Label: breaker.Printable(t.Name), State: t.To.String(), Mode: t.Mode.String(),
		Cause: breaker.Cause(t), At: at.Format("15:04:05.000")}
}

// redisSource is the fleet's breakers, read from Redis.
type redisSource struct {
	store *redisstore.Store
	seen  breaker.Transitions
}

func (r *redisSource) list(ctx context.Context) ([]breaker.View, error) {
	l, err := r.store.Breakers(ctx)
	return breaker.FromInfos(l), err
}

func (r *redisSource) act(ctx context.Context, name, verb string) (breaker.View, error) {
	info, err := breaker.Act(ctx, r.store, name, verb)
	return breaker.FromInfo(info), err
}

func (r *redisSource) watch(ctx context.Context, fn func(change)) error {
	return r.store.Watch(ctx, nil, func(c redisstore.Change) {
		if t, ok := r.seen.Next(c); ok {
			fn(changeOf(t, c.At))
		}
	})
}

// Local is a Source of breakers in this process, each shown under a name
// of its own (Add), their transitions told by Listener. Make it with
// NewLocal.
type Local struct {
	mu       sync.Mutex
	breakers map[string]*infuse.Breaker
	changes  chan change
}

// NewLocal is a Local of no breakers yet.
func NewLocal() *Local {
	return &Local{breakers: map[string]*infuse.Breaker{}, changes: make(chan change, 256)}
}

// Add shows b under name.
func (l *Local) Add(name string, b *infuse.Breaker) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.breakers[name] = b
}

// Listener is the listener that tells the dashboard's timeline of the
// state changes of the breakers it is given to; one the timeline is too
// far behind to take is dropped.
func (l *Local) Listener() infuse.Listener {
	return infuse.ListenerFunc(func(e infuse.Event) {
		if e.Kind != infuse.EventStateChange {
			return
		}
		// An event carries no mode and no run of failures; its cause, when
		// the store recorded one.
		t := breaker.Transition{Name: e.Name, To: e.To, From: e.From, Seen: true, Recorded: e.Cause}
		select {
		case l.changes <- changeOf(t, time.Now()):
		default:
		}
	})
}

func (l *Local) list(context.Context) ([]breaker.View, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []breaker.View
	for name, b := range l.breakers {
		out = append(out, breaker.FromMetrics(name, b.Metrics()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (l *Local) act(ctx context.Context, name, verb string) (breaker.View, error) {
	l.mu.Lock()
	b, ok := l.breakers[name]
	l.mu.Unlock()
	do, known := breaker.Actions[verb]
	switch {
	case !known:
		return breaker.View{}, cli.Usage(fmt.Sprintf("unknown action %q", verb))
	case !ok:
		return breaker.View{}, fmt.Errorf("%w: %q", redisstore.ErrUnknownBreaker, name)
	}
	if err := do(b, ctx); err != nil {
		return breaker.View{}, err
	}
	return breaker.FromMetrics(name, b.Metrics()), nil
}

func (l *Local) watch(ctx context.Context, fn func(change)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-l.changes:
			fn(c)
		}
	}
}
