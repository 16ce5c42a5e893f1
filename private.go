package infuse

import (
	"context"

	"github.com/infuse-go/infuse/storage"
)

// privateBinding is the binding of a breaker made without a Storage
// (Config.Storage nil): a record no other breaker binds to, without a
// MemoryStorage, a map of names or a copy of the BindConfig around it (a
// fifth of what a breaker weighs, with 10⁵ breakers in a process). It
// answers as a MemoryStorage of its own would.
type privateBinding struct {
	memRecord
	b *Breaker
}

func newPrivateBinding(b *Breaker, initial State) *privateBinding {
	p := &privateBinding{b: b}
	p.snap = storage.Snapshot{State: initial, Generation: 1}
	if initial == Open {
		p.snap.OpenedAt = b.clock.Now()
	}
	return p
}

func (p *privateBinding) policy() storage.Policy  { return *p.b.pol.Load() }
func (p *privateBinding) clock() Clock            { return p.b.clock }
func (p *privateBinding) made(s storage.Snapshot) { p.b.adopt(s, made) }

func (p *privateBinding) Snapshot() storage.Snapshot { return p.snapshot() }
func (p *privateBinding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	return p.report(p, nil, gen, o)
}
func (p *privateBinding) Transition(ctx context.Context, t storage.Transition) (storage.Snapshot, bool, error) {
	return p.transition(p, nil, ctx, t)
}
func (p *privateBinding) Acquire(ctx context.Context) (storage.Permit, storage.Snapshot, bool) {
	return p.acquire(p, nil, ctx)
}
func (p *privateBinding) Settle(ctx context.Context, permit storage.Permit, o storage.Outcome) (storage.Snapshot, bool) {
	return p.settle(p, nil, permit, o)
}
func (p *privateBinding) SetMode(ctx context.Context, m Mode) (storage.Snapshot, error) {
	return p.setMode(p, nil, ctx, m)
}
func (p *privateBinding) Release(permit storage.Permit) { p.release(permit) }
func (p *privateBinding) Close() error                  { return nil }
