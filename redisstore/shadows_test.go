package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/redisstore"
	"github.com/infuse-go/infuse/redisstore/redistest"
)

// An operator starts a shadow for the fleet: every member runs the
// candidate, whose state is the fleet's; the live breakers keep
// protecting; stopping it stops it everywhere.
func TestShadowIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	opts := redisstore.Options{Namespace: "shadow", Shadows: true, RefreshInterval: 50 * time.Millisecond}
	sa, sb := newStore(t, srv, opts), newStore(t, srv, opts)
	op := newStore(t, srv, redisstore.Options{Namespace: "shadow", Operator: true})
	cfg := infuse.Config{Name: "api", FailMax: 100, ResetTimeout: time.Minute}
	a, _ := newBreaker(t, sa, cfg)
	b, _ := newBreaker(t, sb, cfg)

	if err := op.SetShadow(bg, "api", &infuse.Candidate{FailMax: -1}); err == nil {
		t.Fatal("an invalid candidate accepted")
	}
	cand := infuse.Candidate{FailMax: 4, ResetTimeout: time.Minute}
	if err := op.SetShadow(bg, "api", &cand); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both members run the shadow", func() bool { return a.Shadow() != nil && b.Shadow() != nil })
	if got, bad, err := op.Shadows(bg); err != nil || bad != 0 || got["api"] != cand {
		t.Fatalf("Shadows: %v %d %v", got, bad, err)
	}
	// Two failures on each member: four in the fleet, the candidate's
	// FailMax, merged in Redis.
	for _, br := range []*infuse.Breaker{a, b, a, b} {
		if err := br.Call(bg, boom); errors.Is(err, infuse.ErrOpen) {
			t.Fatal("a live breaker rejected a call")
		}
	}
	syncStore(t, sa)
	syncStore(t, sb)
	eventually(t, "the candidate opens fleet-wide", func() bool {
		return a.Shadow().Breaker().State() == infuse.Open && b.Shadow().Breaker().State() == infuse.Open
	})
	wantState(t, a, infuse.Closed)
	wantState(t, b, infuse.Closed)
	_ = b.Call(bg, succeed)
	if n := b.Shadow().WouldHaveRejected(); n != 1 {
		t.Fatalf("would have rejected %d, want 1", n)
	}
	list, err := op.Breakers(bg)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, i := range list {
		if i.Name == "api"+infuse.ShadowSuffix {
			found = i.State == infuse.Open && i.Members == 2
		}
	}
	if !found {
		t.Fatalf("the listing has no open candidate with 2 members: %+v", list)
	}
	if err := op.SetShadow(bg, "api", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the shadow stops on both members", func() bool { return a.Shadow() == nil && b.Shadow() == nil })
}

// A store without Options.Shadows never starts one, and a shadow the
// program started itself is not stopped by the store.
func TestShadowsAreOptIn(t *testing.T) {
	srv := redistest.Start(t)
	plain := newStore(t, srv, redisstore.Options{Namespace: "optin", RefreshInterval: 50 * time.Millisecond})
	following := newStore(t, srv, redisstore.Options{Namespace: "optin", Shadows: true, RefreshInterval: 50 * time.Millisecond})
	a, _ := newBreaker(t, plain, infuse.Config{Name: "api"})
	own, _ := newBreaker(t, following, infuse.Config{Name: "own"})
	mine, err := own.StartShadow(infuse.Candidate{FailMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.SetShadow(bg, "api", &infuse.Candidate{FailMax: 2}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if a.Shadow() != nil || own.Shadow() != mine {
		t.Fatalf("shadows %v, %v", a.Shadow(), own.Shadow())
	}
	// Garbage in the hash is left out and counted.
	c := srv.Client(t)
	c.HSet(bg, "optin:v2:shadows", "x", "{not json", "y", `{"failMax":-3}`, "z", `{"failMax":2,"extra":1}`)
	got, bad, err := plain.Shadows(bg)
	if err != nil || bad != 3 || len(got) != 1 {
		t.Fatalf("Shadows with garbage: %v %d %v", got, bad, err)
	}
}
