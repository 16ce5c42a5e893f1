package infuse_test

import (
	"errors"
	"testing"

	"github.com/infuse-go/infuse"
)

// An ExcludeFunc that panics excludes nothing: the error counts as a
// failure.
func TestAPanickingExcludeFuncExcludesNothing(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{FailMax: 1, ExcludeFunc: func(error) bool { panic("bad predicate") }})
	if err := b.Call(bg, boom); !errors.Is(err, infuse.ErrTripped) {
		t.Fatalf("the failure was excluded: %v", err)
	}
}

// Removing an excluded error of a type == cannot compare removes nothing
// and does not panic; a nil one matches nothing.
func TestRemoveExcludedOfAnUncomparableError(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	b.AddExcluded(uncomparable{[]string{"y"}}, errBoom)
	b.RemoveExcluded(uncomparable{[]string{"y"}}, nil)
	if got := b.Excluded(); len(got) != 2 {
		t.Fatalf("Excluded() = %v, want both still", got)
	}
	b.RemoveExcluded(errBoom)
	if got := b.Excluded(); len(got) != 1 {
		t.Fatalf("Excluded() = %v after removing errBoom", got)
	}
}
