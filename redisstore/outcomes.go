package redisstore

import (
	"strconv"
	"time"

	"github.com/infuse-go/infuse/storage"
)

// sentBatch is a batch of outcomes with its number, for the generation it
// was gathered in: sent again after a lost answer, the report script
// merges it once.
type sentBatch struct {
	batch
	id    uint64
	conf  remote
	tries int       // sends whose answer never came
	at    time.Time // when it was taken
}

// view is the merged run as this binding sees it: the run Redis last
// answered (or its own transition left), then the batches it has not seen
// answered, then the outcomes not sent. b.mu is held.
func (b *binding) view() int {
	b.mustHold()
	f := b.conf.failures
	if b.seq > 0 {
		return b.batch.view(b.base)
	}
	for _, r := range b.retries {
		f = r.view(f)
	}
	return b.batch.view(f)
}

// reportCall is the report script for batch sb. b.mu is held.
func (b *binding) reportCall(sb sentBatch, deadline int64, force bool) call {
	b.mustHold()
	return b.call(deadline, reportArgs{FromInc: sb.conf.inc, FromGen: strconv.FormatUint(sb.conf.gen, 10), Before: sb.before,
		Saw: sb.saw, After: sb.after, FailMax: b.cfg.Policy().FailMax, Force: force, Resets: b.conf.resets, Binding: b.id,
		Batch: sb.id, Again: sb.tries > 0})
}

// take takes the unsent outcomes as a numbered batch. b.mu is held.
func (b *binding) take() sentBatch {
	b.mustHold()
	b.nextBatch++
	sb := sentBatch{batch: b.batch, id: b.nextBatch, conf: b.conf, at: time.Now()}
	b.batch = batch{}
	return sb
}

// Report gathers a closed-state outcome for the sender. It takes a mutex
// and does no I/O.
func (b *binding) Report(gen uint64, o storage.Outcome) (storage.Snapshot, bool) {
	b.mu.Lock()
	if gen != b.local.Generation || b.local.State != storage.Closed || (o != storage.OutcomeSuccess && o != storage.OutcomeFailure) {
		b.mu.Unlock()
		return storage.Snapshot{}, false
	}
	b.batch.add(o)
	b.local.Failures = b.view()
	if b.local.Failures >= b.cfg.Policy().FailMax && b.local.Mode == storage.ModeNormal && b.seq == 0 {
		b.holdUntil = time.Now().Add(b.s.opts.OpTimeout)
	}
	s := b.local
	b.mu.Unlock()
	b.enqueue()
	return s, false
}

// retry keeps a batch whose answer never came, to send again. b.mu is
// held.
func (b *binding) retry(sb sentBatch) {
	b.mustHold()
	sb.tries++
	i := len(b.retries)
	for i > 0 && b.retries[i-1].id > sb.id {
		i--
	}
	b.retries = append(b.retries[:i], append([]sentBatch{sb}, b.retries[i:]...)...)
	// Outcomes older than IdleTTL are forgotten, as Redis forgets a run
	// of failures that long quiet.
	for len(b.retries) > 0 && (len(b.retries) > maxRetries || time.Since(b.retries[0].at) > b.s.opts.IdleTTL) {
		b.retries = b.retries[1:]
	}
}

// batch is a run of closed-state outcomes, folded to what merging needs.
type batch struct {
	n      int  // outcomes
	before int  // failures before the first success (all, if none)
	saw    bool // a success
	after  int  // failures after the last success
}

func (a *batch) add(o storage.Outcome) {
	a.n++
	switch {
	case o == storage.OutcomeSuccess:
		a.saw, a.after = true, 0
	case a.saw:
		a.after++
	default:
		a.before++
	}
}

// view is the merged run after this batch, from a run of f before it.
func (a batch) view(f int) int {
	if a.saw {
		return a.after
	}
	return f + a.before
}
