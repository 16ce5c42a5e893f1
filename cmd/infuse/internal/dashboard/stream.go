package dashboard

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
)

// client is one page's stream: what it is owed since its last write.
type client struct {
	mu       sync.Mutex
	names    map[string]bool // changed or gone since the last write
	status   bool            // the outage began or ended
	timeline []change        // transitions owed, the oldest dropped past timelineMax
	dropped  int             // transitions dropped so
	wake     chan struct{}   // cap 1

	// Fixed when it opens.
	id   string        // names the stream in the page's answers to pings
	addr string        // clientKey of its request
	gone chan struct{} // closed when it is dropped to make room

	// Under the dashboard's mu: its pings and what it owes (limits.go).
	ping, prevPing string    // the last ping's nonce, and the one before
	pingAt         time.Time // when the last ping was sent
	owedSince      time.Time // since when it owes an answer; zero: it owes none
}

// newClient is a stream from addr, opened at now: it owes an answer from
// the start.
func newClient(addr string, now time.Time) *client {
	return &client{names: map[string]bool{}, wake: make(chan struct{}, 1), id: randomID(16), addr: addr,
		gone: make(chan struct{}), owedSince: now}
}

func (c *client) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// snapshotLocked is the "snapshot" event of the current state; d.mu held.
func (d *Server) snapshotLocked() []byte {
	l := make([]breaker.View, 0, len(d.state))
	for _, v := range d.state {
		l = append(l, v)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return event("snapshot", map[string]any{"breakers": l, "actions": d.token != "", "outage": d.outageLocked()})
}

func (d *Server) outageLocked() any {
	if d.outage == "" {
		return nil
	}
	return map[string]string{"reason": d.outage, "since": d.since.Format(time.RFC3339)}
}

// owed takes what c is owed and returns it as events.
func (d *Server) owed(c *client) []byte {
	c.mu.Lock()
	names, status, timeline, dropped := c.names, c.status, c.timeline, c.dropped
	c.names, c.status, c.timeline, c.dropped = map[string]bool{}, false, nil, 0
	c.mu.Unlock()
	var out []byte
	if dropped > 0 {
		out = append(out, event("missed", map[string]int{"changes": dropped})...)
	}
	for _, ch := range timeline {
		out = append(out, event("change", ch)...)
	}
	if len(names) == 0 && !status {
		return out
	}
	up := struct {
		Breakers []breaker.View `json:"breakers"`
		Removed  []string       `json:"removed"`
		Outage   any            `json:"outage"`
	}{Breakers: []breaker.View{}, Removed: []string{}}
	d.mu.Lock()
	for n := range names {
		if v, ok := d.state[n]; ok {
			up.Breakers = append(up.Breakers, v)
		} else {
			up.Removed = append(up.Removed, breaker.PathID(n))
		}
	}
	up.Outage = d.outageLocked()
	d.mu.Unlock()
	return append(out, event("update", up)...)
}

func event(kind string, v any) []byte {
	data, _ := json.Marshal(v)
	return []byte("event: " + kind + "\ndata: " + string(data) + "\n\n")
}

// ensureListed lists the source once, if it never has been.
func (d *Server) ensureListed(ctx context.Context) {
	d.mu.Lock()
	listed := d.listed
	d.mu.Unlock()
	if !listed {
		d.refresh(ctx)
	}
}

// refresh lists the source and tells each page what changed.
func (d *Server) refresh(ctx context.Context) {
	l, err := d.src.list(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if d.outage == "" {
			d.since = time.Now()
		}
		if reason := err.Error(); reason != d.outage {
			d.outage = reason
			d.oweLocked(func(c *client) { c.status = true })
		}
		return
	}
	changed := map[string]bool{}
	next := make(map[string]breaker.View, len(l))
	for _, v := range l {
		next[v.Name] = v
		if old, ok := d.state[v.Name]; !ok || old != v {
			changed[v.Name] = true
		}
	}
	for n := range d.state {
		if _, ok := next[n]; !ok {
			changed[n] = true
		}
	}
	d.state, d.listed = next, true
	ended := d.outage != ""
	d.outage = ""
	if len(changed) == 0 && !ended {
		return
	}
	d.oweLocked(func(c *client) {
		for n := range changed {
			c.names[n] = true
		}
		c.status = c.status || ended
	})
}

// oweLocked adds to what each page is owed (owe runs under the page's
// lock) and wakes its writer; d.mu held.
func (d *Server) oweLocked(owe func(c *client)) {
	for c := range d.clients {
		c.mu.Lock()
		owe(c)
		c.mu.Unlock()
		c.notify()
	}
}

// transition tells each page of a transition, for its timeline.
func (d *Server) transition(ch change) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.oweLocked(func(c *client) {
		if len(c.timeline) == timelineMax {
			c.timeline = c.timeline[1:]
			c.dropped++
		}
		c.timeline = append(c.timeline, ch)
	})
}
