package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/registry"
	"github.com/infuse-go/infuse/storage"
)

func TestOneBreakerPerKey(t *testing.T) {
	store := infuse.NewMemoryStorage()
	r, err := registry.New(registry.Options{Template: infuse.Config{Name: "http:", FailMax: 1, Storage: store}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Get("a.example")
	a2, _ := r.Get("a.example")
	b, _ := r.Get("b.example")
	if a != a2 || a == b || a.Name() != "http:a.example" {
		t.Fatalf("a %p a2 %p b %p name %q", a, a2, b, a.Name())
	}
	_ = a.Call(context.Background(), func(context.Context) error { return errors.New("down") })
	if a.State() != infuse.Open || b.State() != infuse.Closed {
		t.Fatalf("states %v %v", a.State(), b.State())
	}
}

func TestTheRegistryIsBounded(t *testing.T) {
	r, _ := registry.New(registry.Options{Template: infuse.Config{Name: "k:"}, Max: 3})
	for i := range 10 {
		if _, err := r.Get(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if r.Len() != 3 {
		t.Fatalf("%d breakers kept, want 3", r.Len())
	}
	var keys []string
	r.Each(func(k string, _ *infuse.Breaker) { keys = append(keys, k) })
	if strings.Join(keys, ",") != "9,8,7" {
		t.Fatalf("kept %v, want the three most recent", keys)
	}
}

func TestBadKeysAndOptions(t *testing.T) {
	r, _ := registry.New(registry.Options{Template: infuse.Config{Name: "k:"}, MaxKeyLen: 8})
	for _, k := range []string{"", "much-too-long-key", "\xff"} {
		if _, err := r.Get(k); !errors.Is(err, registry.ErrBadKey) {
			t.Errorf("Get(%q) = %v", k, err)
		}
	}
	for _, o := range []registry.Options{
		{Max: -1}, {MaxKeyLen: -1}, {Template: infuse.Config{FailMax: -1}},
	} {
		if _, err := registry.New(o); err == nil {
			t.Errorf("New(%+v) accepted it", o)
		}
	}
}

func TestConcurrentGets(t *testing.T) {
	r, _ := registry.New(registry.Options{Template: infuse.Config{Name: "k:"}, Max: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := r.Get(fmt.Sprint((g*7 + i) % 80)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if r.Len() > 50 {
		t.Fatalf("%d breakers", r.Len())
	}
}

// slowStorage blocks the Bind of names with "slow" in them until released.
type slowStorage struct {
	infuse.Storage
	entered chan struct{}
	release chan struct{}
}

func (s *slowStorage) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	if strings.Contains(cfg.Name, "slow") {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Storage.Bind(cfg)
}

// Making a breaker binds it to its Storage, which may wait on the network:
// meanwhile, lookups of other keys go on, and callers of the same key get
// the one breaker.
func TestGetNeverWaitsOnAnotherKeysBind(t *testing.T) {
	store := &slowStorage{Storage: infuse.NewMemoryStorage(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	r, err := registry.New(registry.Options{Template: infuse.Config{Name: "k:", Storage: store}})
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := r.Get("fast")
	got := make(chan *infuse.Breaker, 2)
	for range 2 {
		go func() {
			b, err := r.Get("slow")
			if err != nil {
				t.Error(err)
			}
			got <- b
		}()
	}
	<-store.entered
	done := make(chan struct{})
	go func() {
		if b, _ := r.Get("fast"); b != fast {
			t.Error("another breaker for an existing key")
		}
		if _, err := r.Get("other"); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Get of other keys waited on the bind of a slow one")
	}
	close(store.release)
	a, b := <-got, <-got
	if a == nil || a != b {
		t.Fatalf("two callers of one new key got %p and %p", a, b)
	}
	if r.Len() != 3 {
		t.Fatalf("%d breakers, want 3", r.Len())
	}
}
