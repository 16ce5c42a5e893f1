package dashboard

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// The dashboard's limits per client address, so that no one client can
// lock operators out: of its event streams, and of its actions by
// guessing tokens.
const (
	// defaultMaxStreamsPerClient is how many event streams one address may
	// hold. A browser opens at most 6 connections to one origin over
	// HTTP/1.1 (the dashboard serves no HTTP/2), so one operator's browser
	// never meets it and a curl or two fit beside; filling the 64 streams
	// with pages that read takes 8 addresses.
	defaultMaxStreamsPerClient = 8
	// ackWait is how long a stream may leave a ping unanswered before it
	// counts as idle: as long as a write may block before the stream is
	// dropped (streamWriteTimeout).
	ackWait = 10 * time.Second

	// tokenBurst wrong tokens are answered at once from one address; past
	// them, one more every tokenEvery (6 a minute).
	tokenBurst = 10
	tokenEvery = 10 * time.Second
	// maxTrackedClients bounds the addresses whose wrong tokens are
	// remembered; past it, new addresses share one allowance.
	maxTrackedClients = 4096
)

// clientKey is the address a request's limits count against: an IPv4
// address, or the /64 of an IPv6 address (a host is commonly given a
// whole /64, so its addresses are one client). Loopback counts like any
// other address: operators who reach the dashboard through SSH tunnels
// share 127.0.0.1. Forwarded headers are not read (anyone can write
// them): behind a reverse proxy every client is the proxy.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// randomID is n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// A stream is idle when it owes an answer to a ping sent ackWait ago or
// more: the page answers each ping (a POST to /api/events/ack with the
// ping's stream id and nonce), and a stream owes one from the moment it
// opens. A ping follows everything sent before it on the stream (the
// first one, the snapshot), so its answer shows that all of it was read. A page that reads its events answers within a second; a client
// that reads nothing, whose writes are blocked, whose tab is frozen or
// whose laptop sleeps does not (so neither does a reader that is no page,
// curl -N: it is served, but is the first to go). A write that succeeds
// proves nothing: the kernels' buffers take years of keepalives from a
// client that never reads.
//
// A stream is dropped only to make room: when a new one finds its
// address's streams or all streams at their limit, the idle stream of
// that address, or of all, that has owed an answer longest is dropped
// and the new one takes its place; with none idle, the new one is
// refused (429 for the address, 503 for all), never a live page.

// idleLocked reports whether c is idle at now; d.mu held.
func (c *client) idleLocked(now time.Time) bool {
	return !c.owedSince.IsZero() && now.Sub(c.owedSince) >= ackWait
}

// admitLocked makes room for a stream from addr, dropping idle streams
// as needed; it returns 0, or the status and message that refuse the
// stream; d.mu held.
func (d *Server) admitLocked(addr string, now time.Time) (int, string) {
	maxAll, maxOne := d.maxStreams, d.maxStreamsPerClient
	if maxAll == 0 {
		maxAll = defaultMaxStreams
	}
	if maxOne == 0 {
		maxOne = defaultMaxStreamsPerClient
	}
	n := 0
	for c := range d.clients {
		if c.addr == addr {
			n++
		}
	}
	if n >= maxOne {
		v := d.oldestIdleLocked(now, func(c *client) bool { return c.addr == addr })
		if v == nil {
			return http.StatusTooManyRequests, "too many live pages from your address (" + strconv.Itoa(maxOne) + "): close one"
		}
		d.dropLocked(v)
	}
	if len(d.clients) >= maxAll {
		v := d.oldestIdleLocked(now, func(*client) bool { return true })
		if v == nil {
			return http.StatusServiceUnavailable, "too many live pages (" + strconv.Itoa(maxAll) + "): close one"
		}
		d.dropLocked(v)
	}
	return 0, ""
}

// oldestIdleLocked is the idle stream among those of which that has owed
// an answer longest, or nil; d.mu held.
func (d *Server) oldestIdleLocked(now time.Time, of func(*client) bool) *client {
	var oldest *client
	for c := range d.clients {
		if of(c) && c.idleLocked(now) && (oldest == nil || c.owedSince.Before(oldest.owedSince)) {
			oldest = c
		}
	}
	return oldest
}

// dropLocked ends c's stream: its place is free at once, and its writer
// stops at its next wake (or when a blocked write meets its deadline);
// d.mu held.
func (d *Server) dropLocked(c *client) {
	delete(d.clients, c)
	close(c.gone)
}

// pingLocked is a "ping" event for c, which owes an answer to it from
// now if it owed none; d.mu held.
func (d *Server) pingLocked(c *client, now time.Time) []byte {
	c.prevPing, c.ping, c.pingAt = c.ping, randomID(8), now
	if c.owedSince.IsZero() {
		c.owedSince = now
	}
	return event("ping", map[string]string{"stream": c.id, "ping": c.ping})
}

// ackLocked takes a page's answer to a ping: the last one clears what the
// stream owes, the one before leaves it owing the last since it was sent
// (the answer crossed it). It reports whether the stream and its ping
// are known; d.mu held.
func (d *Server) ackLocked(stream, ping string) bool {
	for c := range d.clients {
		if c.id != stream {
			continue
		}
		switch {
		case ping != "" && ping == c.ping:
			c.owedSince = time.Time{}
		case ping != "" && ping == c.prevPing:
			c.owedSince = c.pingAt
		default:
			return false
		}
		return true
	}
	return false
}

// failLimiter counts wrong tokens per client address. A burst of
// tokenBurst is answered at once (an operator who mistypes a few times
// is not held up), then one more every tokenEvery; a try past that gets
// 429 with Retry-After, without its token being compared.
//
// 429 rather than a growing delay: a delay holds a goroutine and a
// connection for each wrong try, so a client that sends its tries in
// parallel is not slowed at all, and the slower the answers, the more of
// them the server holds; a 429 costs nothing to send, bounds the rate of
// guesses whatever the concurrency, and tells the operator how long to
// wait. While an address waits even the right token gets 429: answering
// it would tell that a guess is right. Other addresses are not touched.
//
// It is a GCRA (a token bucket kept as one time per address): next is
// when the address's failures will all have been paid off, one every
// tokenEvery.
type failLimiter struct {
	mu   sync.Mutex
	next map[string]time.Time
}

// try runs ok for a request from addr at now unless addr must wait. It
// returns whether ok passed, and if not how long addr must wait before
// its next try (0: it may try again at once, the answer is 401).
func (l *failLimiter) try(addr string, now time.Time, ok func() bool) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := l.keyLocked(addr, now)
	next := l.next[key]
	if next.Before(now) {
		next = now
	}
	if wait := next.Sub(now) - (tokenBurst-1)*tokenEvery; wait > 0 {
		return false, wait
	}
	if ok() {
		return true, 0
	}
	if l.next == nil {
		l.next = map[string]time.Time{}
	}
	l.next[key] = next.Add(tokenEvery)
	return false, 0
}

// keyLocked is the key under which addr's failures are kept: its own,
// unless it has none and maxTrackedClients addresses have failures not
// yet paid off; then one shared by all such addresses.
func (l *failLimiter) keyLocked(addr string, now time.Time) string {
	if _, ok := l.next[addr]; ok || len(l.next) < maxTrackedClients {
		return addr
	}
	for a, n := range l.next {
		if !n.After(now) {
			delete(l.next, a)
		}
	}
	if len(l.next) < maxTrackedClients {
		return addr
	}
	return "(others)"
}

// retryAfter is d as a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
