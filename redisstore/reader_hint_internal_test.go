package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// A hint that arrives while the member's sender is in a round waits for
// that round, and is read when it ends, even if the round had nothing to
// send (it used to wait for the next poll, RefreshInterval later).
func TestAHintWaitingForAnEmptyRoundIsRead(t *testing.T) {
	srv := redistest.Start(t)
	opts := Options{Namespace: "hintwait", RefreshInterval: 10 * time.Second, OpTimeout: 2 * time.Second}
	a, b := New(srv.Client(t), opts), New(srv.Client(t), opts)
	defer a.Close()
	defer b.Close()
	cfg := infuse.Config{Name: "dep", FailMax: 1, ResetTimeout: time.Hour}
	cfg.Storage = a
	ba, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage = b
	bb, err := infuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []*Store{a, b} {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// a's sender starts a round and stops in it, with nothing to send.
	a.qmu.Lock()
	a.kickSender()
	for !a.sending() {
		time.Sleep(time.Millisecond)
	}
	if err := bb.Open(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the hint reaches a, and waits
	a.qmu.Unlock()
	deadline := time.Now().Add(time.Second)
	for ba.State() != infuse.Open {
		if time.Now().After(deadline) {
			t.Fatal("a has not read the hint a second after the round ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
