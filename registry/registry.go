// Package registry keeps one breaker per key (per host, per method, per
// tenant), each made on first use from shared settings and bound to the
// same Storage, with a bound on how many it keeps.
package registry

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/infuse-go/infuse"
)

// Options configures a Registry.
type Options struct {
	// Template is every breaker's Config. Its Name is a prefix: the
	// breaker for key k is named Template.Name + k, which names it in the
	// Storage, metrics and logs. Listeners are shared by every breaker.
	Template infuse.Config
	// Max is how many breakers the registry keeps; past it the least
	// recently used one is dropped (and detached from its Storage). Zero
	// means 1000.
	Max int
	// MaxKeyLen rejects longer keys: a key often comes from a request, and
	// metrics and storage keys should not. Zero means 200 bytes.
	MaxKeyLen int
	// OnCreate and OnEvict, when set, are told of each breaker the
	// registry makes and drops (a metrics collector watches and forgets
	// them). They run outside the registry's lock.
	OnCreate, OnEvict func(key string, b *infuse.Breaker)
}

// Registry is a bounded set of breakers by key. It is safe for concurrent
// use.
type Registry struct {
	opts Options

	mu     sync.Mutex
	byID   map[string]*list.Element // of *entry
	lru    *list.List               // most recently used first
	making map[string]*making       // keys whose breaker is being made
}

// making is a breaker being made, outside the registry's lock (binding it
// may wait on its Storage): callers asking for the same key wait for it;
// others do not.
type making struct {
	done chan struct{}
	b    *infuse.Breaker
	err  error
}

type entry struct {
	key string
	b   *infuse.Breaker
}

// ErrBadKey is returned for a key the registry refuses: empty, too long,
// or not UTF-8.
var ErrBadKey = errors.New("registry: bad key")

// New returns an empty Registry, or an error for invalid options (including
// a Template that infuse.New would refuse).
func New(opts Options) (*Registry, error) {
	switch {
	case opts.Max < 0:
		return nil, fmt.Errorf("registry: Max %d is negative", opts.Max)
	case opts.MaxKeyLen < 0:
		return nil, fmt.Errorf("registry: MaxKeyLen %d is negative", opts.MaxKeyLen)
	}
	if opts.Max == 0 {
		opts.Max = 1000
	}
	if opts.MaxKeyLen == 0 {
		opts.MaxKeyLen = 200
	}
	probe := opts.Template
	probe.Name += "probe"
	probe.Storage = nil // check the settings without binding to the real store
	if _, err := infuse.New(probe); err != nil {
		return nil, fmt.Errorf("registry: Template: %w", err)
	}
	return &Registry{opts: opts, byID: make(map[string]*list.Element), lru: list.New(), making: make(map[string]*making)}, nil
}

// Get returns the breaker for key, making it on first use. Making one
// binds it to its Storage, which may wait on the network (a Redis store
// waits at most its OpTimeout); that happens outside the registry's lock,
// so a Get of another key never waits for it.
func (r *Registry) Get(key string) (*infuse.Breaker, error) {
	if key == "" || len(key) > r.opts.MaxKeyLen || !utf8.ValidString(key) {
		return nil, fmt.Errorf("%w: %q", ErrBadKey, truncate(key, 40))
	}
	r.mu.Lock()
	if el, ok := r.byID[key]; ok {
		r.lru.MoveToFront(el)
		b := el.Value.(*entry).b
		r.mu.Unlock()
		return b, nil
	}
	if m, ok := r.making[key]; ok {
		r.mu.Unlock()
		<-m.done
		return m.b, m.err
	}
	m := &making{done: make(chan struct{})}
	r.making[key] = m
	r.mu.Unlock()

	cfg := r.opts.Template
	cfg.Name += key
	b, err := infuse.New(cfg)

	r.mu.Lock()
	delete(r.making, key)
	if err != nil {
		r.mu.Unlock()
		m.err = fmt.Errorf("registry: breaker for %q: %w", key, err)
		close(m.done)
		return nil, m.err
	}
	r.byID[key] = r.lru.PushFront(&entry{key: key, b: b})
	var evicted *entry
	if r.lru.Len() > r.opts.Max {
		last := r.lru.Back()
		r.lru.Remove(last)
		evicted = last.Value.(*entry)
		delete(r.byID, evicted.key)
	}
	r.mu.Unlock()
	m.b = b
	close(m.done)
	if evicted != nil { // first, so that a bounded watcher has room for the new one
		_ = evicted.b.Detach()
		if r.opts.OnEvict != nil {
			r.opts.OnEvict(evicted.key, evicted.b)
		}
	}
	if r.opts.OnCreate != nil {
		r.opts.OnCreate(key, b)
	}
	return b, nil
}

// Len returns how many breakers the registry holds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

// Each calls f for every breaker the registry holds, most recently used
// first. f must not call the registry.
func (r *Registry) Each(f func(key string, b *infuse.Breaker)) {
	r.mu.Lock()
	entries := make([]*entry, 0, r.lru.Len())
	for el := r.lru.Front(); el != nil; el = el.Next() {
		entries = append(entries, el.Value.(*entry))
	}
	r.mu.Unlock()
	for _, e := range entries {
		f(e.key, e.b)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
