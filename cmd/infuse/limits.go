package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// The dashboard's limits per client address, so that no one client can
// lock operators out of its event streams.
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
func (d *dashboard) admitLocked(addr string, now time.Time) (int, string) {
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
func (d *dashboard) oldestIdleLocked(now time.Time, of func(*client) bool) *client {
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
func (d *dashboard) dropLocked(c *client) {
	delete(d.clients, c)
	close(c.gone)
}

// pingLocked is a "ping" event for c, which owes an answer to it from
// now if it owed none; d.mu held.
func (d *dashboard) pingLocked(c *client, now time.Time) []byte {
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
func (d *dashboard) ackLocked(stream, ping string) bool {
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
