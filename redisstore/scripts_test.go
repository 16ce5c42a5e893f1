package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/infuse-go/infuse/redisstore/redistest"
)

// The store loads its scripts when it starts, and keeps their hashes.
func TestScriptsLoadedAtStart(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	s := New(c, Options{Namespace: "load"})
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for _, sc := range scripts {
		if sc.Hash() == "" {
			t.Fatal("a script lost its hash")
		}
		for {
			ok, err := c.ScriptExists(context.Background(), sc.Hash()).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ok[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("script %s not loaded", sc.Hash())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
