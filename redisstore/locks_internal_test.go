package redisstore

import (
	"strings"
	"testing"
)

// A method that needs b.mu held refuses to run without it, in tests: the
// lock discipline is checked by the code that relies on it, not by a
// comment.
func TestAMethodThatNeedsTheLockRefusesToRunWithoutIt(t *testing.T) {
	if !checkLocks {
		t.Fatal("the lock checks are off in tests")
	}
	b := &binding{}
	defer func() {
		v := recover()
		if s, _ := v.(string); !strings.Contains(s, "binding.take called without b.mu held") {
			t.Fatalf("recovered %v", v)
		}
	}()
	b.take()
}

func TestAMethodThatNeedsTheLockRunsWithIt(t *testing.T) {
	b := &binding{}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mustHold() // no panic
}
