package redisstore

import "time"

// Options configures a Store. Every zero value means the documented
// default.
//
// The client is the caller's, as configured. Its own retries (go-redis's
// MaxRetries) are safe: a batch of outcomes or a trial permit a retry runs
// twice is counted once. Its timeouts bound what Close waits for; a
// client with ContextTimeoutEnabled lets the store cut a call short at
// OpTimeout.
type Options struct {
	// Namespace prefixes every key and the pub/sub channel, so that
	// applications (or environments) sharing one Redis do not share
	// breakers. Any bytes will do. Empty means "infuse".
	Namespace string
	// OpTimeout bounds how long a call waits on Redis: the call whose
	// failure trips the breaker, a trial's permit and outcome, a manual
	// transition, Bind. Past it the call goes on with local state. Zero
	// means 100ms. A closed-state call never waits on Redis at all.
	OpTimeout time.Duration
	// FlushInterval paces the outcomes each breaker sends: the first
	// failure after a quiet FlushInterval is sent at once, later ones
	// gather and go at most once per FlushInterval. Zero means 5ms.
	FlushInterval time.Duration
	// RefreshInterval is how often the store sends its heartbeat and
	// checks each bucket's change counter: the safety net for a lost
	// pub/sub message, at a cost that does not grow with the number of
	// breakers. Zero means 1s.
	RefreshInterval time.Duration
	// DownAfter is how long Redis must leave requests unanswered before
	// the store takes it for unreachable and its breakers protect
	// themselves alone (they trip on their own failures and grant their
	// own trial permits): a request unanswered, then one sent after it
	// unanswered too, DownAfter later, with no answer between. A refused
	// connection is evidence at once. A late answer is no failure, so a
	// host stalled for less than DownAfter (CPU throttling, a GC pause)
	// never breaks the fleet's promises; see the package documentation.
	// Zero means 1s.
	DownAfter time.Duration
	// RetryInterval is how long the store answers from local state alone
	// once Redis is taken for unreachable (DownAfter), before it tries
	// Redis on a caller's path again. The background keeps trying
	// meanwhile, and the first answer ends it. Zero means 1s.
	RetryInterval time.Duration
	// TTL is how long the keys of a breaker with something to share (open,
	// half-open, forced or disabled) live without a write; the members
	// that have it bound renew them every TTL/3. Zero means 24h. It must
	// exceed the longest open period in use.
	TTL time.Duration
	// IdleTTL is how long the key of a closed breaker (no forced mode)
	// outlives its last write. Nothing renews it: a closed breaker costs
	// Redis nothing, and its run of failures is forgotten once it has
	// seen no outcome for IdleTTL. Zero means 2 minutes.
	IdleTTL time.Duration
	// TrialLease is how long a half-open trial permit is held for a member
	// that dies before giving it back. Zero means 30s.
	TrialLease time.Duration
	// WindowInterval is how often each member sends its time windows'
	// growth to the fleet's windows (breakers with a time Window and a
	// rate), all of them in one round trip. Zero means 100ms.
	WindowInterval time.Duration
	// Operator makes the store an operator's tool rather than a member
	// of the fleet: its breakers read and change the shared state, but
	// never register, so that Info.Members counts the fleet's members
	// only (infuse's command and dashboard set it).
	Operator bool
	// Shadows makes the store follow the shadows operators start for the
	// breakers bound to it (Store.SetShadow, `infuse shadow`): every
	// RefreshInterval it reads their version (one command more), and the
	// shadows, bounded (see shadows.go), when it moved; it starts or stops
	// each breaker's shadow to match (see infuse.Breaker.StartShadow), on
	// a goroutine of its own.
	Shadows bool
}

func (o *Options) fill() {
	if o.Namespace == "" {
		o.Namespace = "infuse"
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 100 * time.Millisecond
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Second
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = 2 * time.Minute
	}
	if o.TrialLease <= 0 {
		o.TrialLease = 30 * time.Second
	}
	if o.WindowInterval <= 0 {
		o.WindowInterval = 100 * time.Millisecond
	}
}

// staleAfter is how long a member may go without a heartbeat before the
// others drop its registrations.
func (o *Options) staleAfter() time.Duration {
	return max(10*o.RefreshInterval, 5*time.Second)
}
