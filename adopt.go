package infuse

import (
	"sync/atomic"

	"github.com/infuse-go/infuse/internal/meter"
	"github.com/infuse-go/infuse/storage"
)

// origin is where a snapshot reaches adopt from: it says what the change
// is to listeners (Event.Remote) and how its counters are taken.
type origin uint8

const (
	// observed: the store tells of a change this breaker did not make
	// (Observe); counters are taken as they are.
	observed origin = iota
	// made: the store tells of a change it made for this breaker outside
	// its calls (Made); counters are taken as they are.
	made
	// answerMade: the answer to this breaker's own call, which made the
	// change.
	answerMade
	// answer: the answer to this breaker's own call, which did not make
	// the change (another breaker did, or a concurrent call of this one).
	answer
)

// remote tells what Event.Remote says of a change of this origin.
func (o origin) remote() bool { return o == observed || o == answer }

// own tells an answer to one of the breaker's calls: it may be older than
// a concurrent call's answer, so its counters only ever raise the
// breaker's.
func (o origin) own() bool { return o >= answerMade }

// adopt installs s if it is newer than the current generation, refreshes
// the counters if it is the current one, and returns the current epoch.
//
// A change that an answer brings without its call having made it, while
// other calls of this breaker to its store are in flight, is installed at
// once but its event waits to learn who made it: a concurrent call whose
// answer says it made it, or the store's Made, claims it (Event.Remote
// false); the store's Observe of it, or a newer change, sends it as
// another breaker's; else it goes out as another's when the last of those
// calls ends (see ownDone).
func (b *Breaker) adopt(s storage.Snapshot, o origin) *epoch {
	cur := b.cur.Load()
	if cur == nil {
		// New has not read the binding's first snapshot yet; that read
		// will include s, since a binding updates its Snapshot before it
		// calls Observe.
		return nil
	}
	if s.Generation < cur.gen {
		if o == made && s.Maker == storage.MakerHere {
			b.madeLate(s)
		}
		return cur
	}
	if s.Generation == cur.gen {
		cur.refresh(s, !o.own())
		if o != answer && b.waiting.Load() {
			b.resolve(s.Generation, o)
		}
		return cur
	}
	b.mu.Lock()
	cur = b.cur.Load()
	if s.Generation <= cur.gen {
		b.mu.Unlock()
		if s.Generation == cur.gen {
			cur.refresh(s, !o.own())
			if o != answer && b.waiting.Load() {
				b.resolve(s.Generation, o)
			}
		}
		return cur
	}
	ne := b.newEpoch(s)
	b.startRamp(ne, cur, s)
	b.cur.Store(ne)
	atomic.StorePointer(&b.rejecting, nil) // the old epoch's (see publish)
	if m, ok := cur.meter.(*meter.Time); ok {
		m.Stop()
	}
	b.flushWaiting() // an older change's event goes first
	if cur.state != s.State {
		b.transitions.Add(1)
	}
	// Who made it: the store's record, or else the way it came.
	remote := o.remote()
	switch s.Maker {
	case storage.MakerHere:
		remote = false
	case storage.MakerElsewhere:
		remote = true
	}
	// An answer to one of several calls in flight, from a store that
	// records no maker, may be another of those calls' doing: its event
	// waits for them (see resolve, ownDone).
	waits := s.Maker == storage.MakerUnknown && o == answer && b.calling.Load() > 1
	// A change of state is reported; so is a change this breaker made (or
	// may have made) to the state it had, after missing the ones between,
	// which other members of a fleet made: each transition of a fleet is
	// reported as made by one member (see flushWaiting for the rest).
	if (cur.state != s.State || !remote || waits) && b.hooks.Load() != nil {
		ev := Event{
			Kind: EventStateChange, Name: b.name, Time: b.clock.Now(),
			From: cur.state, To: s.State, Generation: s.Generation, Remote: remote, Cause: s.Cause,
		}
		if x := b.extra(); waits {
			x.unclaimed = &ev
			b.waiting.Store(true)
		} else {
			x.pending = append(x.pending, ev)
		}
		if !remote && s.Maker != storage.MakerUnknown {
			b.noteMade(s.Generation)
		}
	}
	b.mu.Unlock()
	b.drain()
	return ne
}

// madeGens are the generations a breaker last reported as made, so that
// a change it made and learns of late (see madeLate) is reported once.
type madeGens struct {
	gens [4]uint64
	next int
}

// noteMade records generation g as reported made. b.mu is held.
func (b *Breaker) noteMade(g uint64) {
	x := b.extra()
	if x.made == nil {
		x.made = &madeGens{}
	}
	x.made.gens[x.made.next] = g
	x.made.next = (x.made.next + 1) % len(x.made.gens)
}

// madeLate reports a transition this breaker made that its store told of
// only after newer ones (the answer to its call came late: a stalled
// host), once, marked Late: each transition of a fleet has one maker.
func (b *Breaker) madeLate(s storage.Snapshot) {
	b.mu.Lock()
	x := b.extra()
	if x.made != nil {
		for _, g := range x.made.gens {
			if g == s.Generation {
				b.mu.Unlock()
				return
			}
		}
	}
	b.noteMade(s.Generation)
	if b.hooks.Load() != nil {
		x.pending = append(x.pending, Event{Kind: EventStateChange, Name: b.name, Time: b.clock.Now(),
			From: s.From, To: s.State, Generation: s.Generation, Late: true, Cause: s.Cause})
	}
	b.mu.Unlock()
	b.drain()
}

// madeIf is the origin of an answer to the breaker's own call, which made
// the change it brings or not.
func madeIf(changed bool) origin {
	if changed {
		return answerMade
	}
	return answer
}

// ownCall counts one of the breaker's calls to its store in flight; the
// caller calls ownDone once it has adopted the answer.
func (b *Breaker) ownCall() { b.calling.Add(1) }

// ownDone ends a call counted by ownCall. When the last one ends, a
// change whose event waited for its maker and found none goes out as
// another breaker's, on this goroutine (listeners run on the goroutine that
// caused the event).
func (b *Breaker) ownDone() {
	if b.calling.Add(-1) == 0 && b.waiting.Load() {
		b.mu.Lock()
		if b.calling.Load() == 0 {
			b.flushWaiting()
		}
		b.mu.Unlock()
		b.drain()
	}
}

// resolve sends the waiting event of generation gen, which the store has
// now told of: as this breaker's own (made, answerMade) or another's
// (observed).
func (b *Breaker) resolve(gen uint64, o origin) {
	b.mu.Lock()
	if x := b.more.Load(); b.waiting.Load() && x.unclaimed.Generation == gen {
		x.unclaimed.Remote = o.remote()
		b.flushWaiting()
	}
	b.mu.Unlock()
	b.drain()
}

// flushWaiting queues the waiting event, if any; one that no call of
// this breaker claimed and that changes no state is dropped (the breaker
// merely missed transitions other members made). b.mu is held.
func (b *Breaker) flushWaiting() {
	if b.waiting.Load() {
		x := b.more.Load()
		if !x.unclaimed.Remote || x.unclaimed.From != x.unclaimed.To {
			x.pending = append(x.pending, *x.unclaimed)
		}
		x.unclaimed = nil
		b.waiting.Store(false)
	}
}

// refresh takes the counters of a snapshot of e's own generation: as they
// are (asIs) when the store tells of them on its own; only ever raising
// the breaker's when they come in an answer to one of its calls, which may
// be older than a concurrent call's answer.
func (e *epoch) refresh(s storage.Snapshot, asIs bool) {
	var c *atomic.Int64
	var v int64
	if s.State != e.state || s.State == Open {
		return
	}
	if s.State == Closed {
		c, v = &e.failures, int64(s.Failures)
	} else {
		c, v = &e.successes, int64(s.Successes)
	}
	if asIs {
		c.Store(v)
		return
	}
	for cur := c.Load(); v > cur && !c.CompareAndSwap(cur, v); cur = c.Load() {
	}
}

// drain delivers queued state changes in order, one deliverer at a time,
// with no lock held while listeners run.
func (b *Breaker) drain() {
	x := b.more.Load()
	if x == nil {
		return // nothing was ever queued: events are queued in extra
	}
	b.mu.Lock()
	if b.draining {
		b.mu.Unlock()
		return
	}
	b.draining = true
	for len(x.pending) > 0 {
		evs := x.pending
		x.pending = nil
		b.mu.Unlock()
		if hs := b.hooks.Load(); hs != nil {
			for _, ev := range evs {
				hs.emit(ev)
			}
		}
		b.mu.Lock()
	}
	b.draining = false
	b.mu.Unlock()
}
