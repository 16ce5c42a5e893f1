package infuse_test

import (
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
	"github.com/infuse-go/infuse/storage"
)

// mergingStore is a memory store whose bindings say they merge windows,
// and hand the test the breaker's ObserveWindow to push the fleet's window.
type mergingStore struct {
	infuse.MemoryStorage
	push func(storage.WindowCounts)
}

type mergingBinding struct{ storage.Binding }

func (mergingBinding) MergesWindows() bool { return true }

func (m *mergingStore) Bind(cfg storage.BindConfig) (storage.Binding, error) {
	m.push = cfg.ObserveWindow
	b, err := m.MemoryStorage.Bind(cfg)
	return mergingBinding{b}, err
}

// A store that merges windows pushes the fleet's window, and Metrics shows
// it for the generation it belongs to, and the breaker's own otherwise.
func TestMetricsShowTheFleetWindowTheStorePushes(t *testing.T) {
	store := &mergingStore{}
	b, err := infuse.New(infuse.Config{Name: "fw", Storage: store, Clock: infusetest.NewClock(),
		Window: infuse.TimeWindow(time.Minute, time.Second), FailureRate: 0.5, MinCalls: 10})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Call(bg, succeed)
	if m := b.Metrics(); m.Fleet || m.Calls != 1 {
		t.Fatalf("before any push: %+v", m)
	}
	store.push(storage.WindowCounts{Generation: b.Generation(), Calls: 40, Failures: 10, SlowCalls: 2})
	m := b.Metrics()
	if !m.Fleet || m.Calls != 40 || m.Failures != 10 || m.SlowCalls != 2 || m.FailureRate != 0.25 {
		t.Fatalf("after the push: %+v", m)
	}
	store.push(storage.WindowCounts{Generation: b.Generation() + 1, Calls: 99})
	if m := b.Metrics(); m.Fleet || m.Calls != 1 {
		t.Fatalf("a window of another generation: %+v", m)
	}
}
