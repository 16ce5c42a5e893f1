package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/infuse-go/infuse"
)

// Shadows. An operator starts a fleet's shadow of a breaker (see
// infuse.Breaker.StartShadow) with SetShadow: one field of the namespace's
// shadows hash (ns:v2:shadows), the breaker's name, holding the candidate
// as JSON. A member whose store has Options.Shadows reads the hash every
// RefreshInterval (one HGETALL) and starts or stops the shadows of the
// breakers it has bound to match; each shadow's candidate is a breaker of
// its own, named with infuse.ShadowSuffix, whose state the fleet shares.

// maxCandidate bounds a stored candidate's JSON.
const maxCandidate = 4096

// shadowState is what a store knows of the shadows operators started.
type shadowState struct {
	mu      sync.Mutex
	by      map[string]infuse.Candidate // as last read
	applied map[*binding]*infuse.Candidate
}

// SetShadow starts (c not nil) or stops (nil) the shadow of breaker name
// on every member of the fleet whose store has Options.Shadows, within
// their RefreshInterval. It fails for a candidate a breaker cannot take.
func (s *Store) SetShadow(ctx context.Context, name string, c *infuse.Candidate) error {
	if strings.HasSuffix(name, infuse.ShadowSuffix) {
		return fmt.Errorf("redisstore: %q is a shadow's candidate, which has no shadow of its own", name)
	}
	if c == nil {
		if err := s.client.HDel(ctx, s.l.shadows, name).Err(); err != nil {
			return fmt.Errorf("redisstore: stopping the shadow of %q: %w", name, err)
		}
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("redisstore: the shadow of %q: %w", name, err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redisstore: the shadow of %q: %w", name, err)
	}
	if err := s.client.HSet(ctx, s.l.shadows, name, data).Err(); err != nil {
		return fmt.Errorf("redisstore: starting the shadow of %q: %w", name, err)
	}
	return nil
}

// Shadows returns the shadows operators have started, by breaker name.
// A field that does not hold a valid candidate (written by something
// else) is left out; bad counts them.
func (s *Store) Shadows(ctx context.Context) (shadows map[string]infuse.Candidate, bad int, err error) {
	m, err := s.client.HGetAll(ctx, s.l.shadows).Result()
	if err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "WRONGTYPE") {
		return nil, 0, fmt.Errorf("redisstore: reading the shadows: %w", err)
	}
	shadows = make(map[string]infuse.Candidate, len(m))
	for name, v := range m {
		c, ok := decodeCandidate(v)
		if !ok {
			bad++
			continue
		}
		shadows[name] = c
	}
	return shadows, bad, nil
}

// decodeCandidate decodes a stored candidate: one JSON object of an
// infuse.Candidate with no other fields, that a breaker can take.
func decodeCandidate(v string) (infuse.Candidate, bool) {
	v = strings.TrimSpace(v)
	if len(v) > maxCandidate || !strings.HasPrefix(v, "{") {
		return infuse.Candidate{}, false
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var c infuse.Candidate
	if err := dec.Decode(&c); err != nil || c.Validate() != nil {
		return infuse.Candidate{}, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return infuse.Candidate{}, false // anything after the object
	}
	return c, true
}

// readShadows reads the shadows and starts or stops them on the bound
// breakers to match (a store with Options.Shadows, every
// RefreshInterval).
func (s *Store) readShadows(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	sent := time.Now()
	by, _, err := s.Shadows(ctx)
	if err != nil {
		s.fail(err, sent)
		return
	}
	s.sh.mu.Lock()
	s.sh.by = by
	s.sh.mu.Unlock()
	for _, b := range s.all() {
		s.applyShadow(b)
	}
}

// applyShadow starts, changes or stops b's breaker's shadow to match what
// the store last read, calling the breaker on a goroutine of its own (it
// binds the candidate to this store).
func (s *Store) applyShadow(b *binding) {
	if b.cfg.Shadow == nil || !s.opts.Shadows {
		return
	}
	s.sh.mu.Lock()
	var want *infuse.Candidate
	if c, ok := s.sh.by[b.name]; ok {
		want = &c
	}
	have, known := s.sh.applied[b]
	if known && (have == nil) == (want == nil) && (want == nil || *have == *want) {
		s.sh.mu.Unlock()
		return
	}
	if !known && want == nil {
		s.sh.mu.Unlock()
		return
	}
	if s.sh.applied == nil {
		s.sh.applied = make(map[*binding]*infuse.Candidate)
	}
	s.sh.applied[b] = want
	s.sh.mu.Unlock()
	if !s.enter() {
		return
	}
	go func() {
		defer s.wg.Done()
		// One change at a time per binding, each applying what the store
		// wants when it runs: a stop is never overtaken by an earlier
		// start still binding its candidate.
		b.shadowMu.Lock()
		defer b.shadowMu.Unlock()
		if s.closing.Load() {
			return
		}
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return
		}
		s.sh.mu.Lock()
		var now *infuse.Candidate
		if c, ok := s.sh.by[b.name]; ok {
			now = &c
		}
		s.sh.mu.Unlock()
		b.cfg.Shadow(now)
	}()
}

// forgetShadow drops what the store applied to b, which is unbound.
func (s *Store) forgetShadow(b *binding) {
	s.sh.mu.Lock()
	delete(s.sh.applied, b)
	s.sh.mu.Unlock()
}
