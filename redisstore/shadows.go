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

	"github.com/infuse-go/infuse/storage"
)

// Shadows. An operator starts a fleet's shadow of a breaker (see
// infuse.Breaker.StartShadow) with SetShadow: one field of the namespace's
// shadows hash (ns:v2:shadows), the breaker's name, holding the candidate
// as JSON, and a version (the field "", which no breaker's name is) that
// every change bumps. A member whose store has Options.Shadows reads the
// version every RefreshInterval (one HGET), and the shadows when it moved,
// then starts or stops the shadows of the breakers it has bound to match;
// each shadow's candidate is a breaker of its own, named with
// storage.ShadowSuffix, whose state the fleet shares.
//
// Anyone who can write to Redis can write there, so what a member reads is
// bounded before it leaves Redis: at most maxShadows shadows (a hash with
// more is read not at all), each of at most maxCandidate bytes and a name
// of at most maxShadowName (a bigger one is left in Redis unread); and
// what a candidate may cost is bounded by Candidate.ValidateCandidate. The
// shadows have a goroutine of their own: reading them never holds up the
// reads that carry real breakers' state.

// maxCandidate bounds a stored candidate's JSON; maxShadows how many
// shadows a member reads; maxShadowName the name of one.
const (
	maxCandidate  = 4096
	maxShadows    = 256
	maxShadowName = 4096
)

// shadowState is what a store knows of the shadows operators started.
type shadowState struct {
	mu      sync.Mutex
	by      map[string]storage.Settings // as last read
	version string                      // of the hash, as last read
	applied map[*binding]*storage.Settings
}

// SetShadow starts (c not nil) or stops (nil) the shadow of breaker name
// on every member of the fleet whose store has Options.Shadows, within
// their RefreshInterval. It fails for a candidate a breaker cannot take.
func (s *Store) SetShadow(ctx context.Context, name string, c *storage.Settings) error {
	if strings.HasSuffix(name, storage.ShadowSuffix) {
		return fmt.Errorf("redisstore: %q is a shadow's candidate, which has no shadow of its own", name)
	}
	if name == "" || len(name) > maxShadowName {
		return fmt.Errorf("redisstore: a shadow needs a breaker's name of 1 to %d bytes", maxShadowName)
	}
	data := ""
	if c != nil {
		if err := c.ValidateCandidate(); err != nil {
			return fmt.Errorf("redisstore: the shadow of %q: %w", name, err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("redisstore: the shadow of %q: %w", name, err)
		}
		data = string(b)
	}
	if err := setShadowScript.Run(ctx, s.client, []string{s.l.shadows}, scriptArgs(shadowsSetArgs{Name: name, Data: data})...).Err(); err != nil {
		what := "starting"
		if c == nil {
			what = "stopping"
		}
		return fmt.Errorf("redisstore: %s the shadow of %q: %w", what, name, err)
	}
	return nil
}

// Shadows returns the shadows operators have started, by breaker name.
// A field that does not hold a valid candidate (written by something
// else), one too big to read, or every one when there are more than 256,
// is left out; bad counts them.
func (s *Store) Shadows(ctx context.Context) (shadows map[string]storage.Settings, bad int, err error) {
	v, err := readShadowsScript.Run(ctx, s.client, []string{s.l.shadows},
		scriptArgs(shadowsReadArgs{MaxShadows: maxShadows, MaxSize: maxCandidate, MaxName: maxShadowName})...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: reading the shadows: %w", err)
	}
	vals, _ := v.([]any)
	if len(vals) == 0 || len(vals)%2 != 1 {
		return map[string]storage.Settings{}, 0, nil // no hash, or of another type
	}
	n, _ := vals[0].(int64)
	shadows = make(map[string]storage.Settings, len(vals)/2)
	for j := 1; j+1 < len(vals); j += 2 {
		name, _ := vals[j].(string)
		data, _ := vals[j+1].(string)
		c, ok := decodeCandidate(data)
		if !ok || name == "" {
			continue
		}
		shadows[name] = c
	}
	return shadows, max(int(n)-len(shadows), 0), nil
}

// shadowsVersion reads the shadows hash's version: "" for none.
func (s *Store) shadowsVersion(ctx context.Context) (string, error) {
	v, err := s.client.HGet(ctx, s.l.shadows, "").Result()
	if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "WRONGTYPE") {
		return "", nil
	}
	return v, err
}

// decodeCandidate decodes a stored candidate: one JSON object of an
// storage.Settings with no other fields, that a breaker can take.
func decodeCandidate(v string) (storage.Settings, bool) {
	v = strings.TrimSpace(v)
	if len(v) > maxCandidate || !strings.HasPrefix(v, "{") {
		return storage.Settings{}, false
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var c storage.Settings
	if err := dec.Decode(&c); err != nil || c.ValidateCandidate() != nil {
		return storage.Settings{}, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return storage.Settings{}, false // anything after the object
	}
	return c, true
}

// shadowsLoop reads the shadows every RefreshInterval (a store with
// Options.Shadows), on a goroutine of its own: a slow or hostile shadows
// hash never holds up the reads that carry real breakers' state.
func (s *Store) shadowsLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.readShadows(s.ctx)
		}
	}
}

// readShadows reads the shadows, if their version moved, and starts or
// stops them on the bound breakers to match.
func (s *Store) readShadows(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DownAfter)
	defer cancel()
	sent := time.Now()
	v, err := s.shadowsVersion(ctx)
	if err != nil {
		s.fail(err, sent)
		return
	}
	s.sh.mu.Lock()
	same := v != "" && v == s.sh.version
	s.sh.mu.Unlock()
	if same {
		return
	}
	by, _, err := s.Shadows(ctx)
	if err != nil {
		s.fail(err, sent)
		return
	}
	s.sh.mu.Lock()
	s.sh.by, s.sh.version = by, v
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
	var want *storage.Settings
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
		s.sh.applied = make(map[*binding]*storage.Settings)
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
		var now *storage.Settings
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
