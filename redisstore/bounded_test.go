package redisstore

import (
	"context"
	"testing"
	"time"
)

// bounded returns f's result whenever f returns in time, even though f's
// goroutine cancels the context as it finishes: a select that sees both
// the result and the cancellation must take the result.
func TestBoundedTakesAResultThatArrived(t *testing.T) {
	s := &Store{opts: Options{OpTimeout: time.Second}, ctx: context.Background()}
	for i := range 20000 {
		v, err := bounded(s, context.Background(), s.opts.OpTimeout, "test", func(context.Context) (int, error) { return i, nil }, nil)
		if err != nil || v != i {
			t.Fatalf("call %d: %v, %v", i, v, err)
		}
	}
	s.wg.Wait()
}
