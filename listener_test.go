package infuse_test

import (
	"testing"

	"github.com/infuse-go/infuse"
)

// A filter is asked about each kind of event once, and about nothing else.
func TestAnEventFilterIsAskedAboutEachKind(t *testing.T) {
	b, _ := newBreaker(t, infuse.Config{})
	f := &kindsAsked{}
	b.AddListener(f)
	for i, k := range f.asked {
		if k != infuse.EventKind(i+1) || k.String() == "EventKind(?)" {
			t.Fatalf("asked about %v", f.asked)
		}
	}
	if len(f.asked) < int(infuse.EventStoreCall) {
		t.Fatalf("asked about %v only", f.asked)
	}
}

// kindsAsked is an EventFilter that records the kinds it is asked about.
type kindsAsked struct{ asked []infuse.EventKind }

func (k *kindsAsked) Wants(kind infuse.EventKind) bool {
	k.asked = append(k.asked, kind)
	return true
}

func (*kindsAsked) OnEvent(infuse.Event) {}
