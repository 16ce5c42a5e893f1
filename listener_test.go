package infuse_test

import (
	"testing"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/infusetest"
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

// A listener sees the outcome of a call made with Allow as of one made
// with Call: its success or its failure, when done is called.
func TestAListenerSeesTheOutcomeOfAnAllowedCall(t *testing.T) {
	var rec infusetest.Recorder
	b, _ := newBreaker(t, infuse.Config{Listeners: []infuse.Listener{&rec}})
	for _, c := range []struct {
		err  error
		want infuse.EventKind
	}{{nil, infuse.EventSuccess}, {errBoom, infuse.EventFailure}, {nil, infuse.EventSuccess}} {
		done, err := b.Allow(bg)
		if err != nil {
			t.Fatal(err)
		}
		before := len(rec.Events())
		done(c.err)
		evs := rec.Events()
		if len(evs) != before+1 || evs[before].Kind != c.want || evs[before].Err != c.err {
			t.Fatalf("done(%v): events %+v, want one %v", c.err, evs[before:], c.want)
		}
	}
}
