package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Issue 23: 64 streams that never read locked every operator out. Once
// they have owed an answer to their first ping for ackWait, a new
// operator's stream takes the place of one of them.
func TestStreamsThatNeverReadDoNotLockOperatorsOut(t *testing.T) {
	d, clk, base := limitedDashboard(t, "")
	for a := 2; a < 2+defaultMaxStreams/defaultMaxStreamsPerClient; a++ {
		for range defaultMaxStreamsPerClient {
			neverReads(t, base, fmt.Sprintf("127.0.0.%d", a))
		}
	}
	waitStreams(t, d, defaultMaxStreams)
	// New, they may yet answer: nothing is dropped for a newcomer.
	if code, _ := tryStream(t, base, "127.0.0.100"); code != http.StatusServiceUnavailable {
		t.Fatalf("a stream past the limit, none idle: %d", code)
	}
	clk.Advance(ackWait)
	openStream(t, base, "127.0.0.100")
	waitStreams(t, d, defaultMaxStreams)
}

// One address holds defaultMaxStreamsPerClient streams at most: past
// them its oldest idle stream gives way, or, none idle, the new one gets
// 429. Other addresses are not held up, and their streams are not
// dropped for it.
func TestStreamsAreBoundedPerClientAddress(t *testing.T) {
	d, clk, base := limitedDashboard(t, "")
	other := openStream(t, base, "127.0.0.3") // older than all of 127.0.0.2's
	var mine []*stream
	for range defaultMaxStreamsPerClient {
		clk.Advance(time.Second)
		mine = append(mine, openStream(t, base, "127.0.0.2"))
	}
	if code, _ := tryStream(t, base, "127.0.0.2"); code != http.StatusTooManyRequests {
		t.Fatalf("a stream past the address's limit, none idle: %d", code)
	}
	openStream(t, base, "127.0.0.4")
	clk.Advance(ackWait) // every stream is idle now
	openStream(t, base, "127.0.0.2")
	if live(d, mine[0].id) || !ends(mine[0]) {
		t.Fatal("the address's oldest idle stream was not dropped")
	}
	for _, s := range append(mine[1:], other) {
		if !live(d, s.id) {
			t.Fatal("a stream other than the address's oldest idle one was dropped")
		}
	}
}

// A stream that answers its pings is never dropped, however long it has
// been open; of the idle ones, the one that has owed an answer longest
// goes first.
func TestAStreamThatAnswersItsPingsIsNeverDropped(t *testing.T) {
	d, clk, base := limitedDashboard(t, "")
	d.mu.Lock()
	d.maxStreams = 3
	d.mu.Unlock()
	page := openStream(t, base, "127.0.0.2")
	if code := answer(t, base, page.id, page.ping); code != http.StatusNoContent {
		t.Fatalf("an answer to a ping: %d", code)
	}
	older := openStream(t, base, "127.0.0.3") // reads, never answers
	clk.Advance(time.Minute)
	newer := openStream(t, base, "127.0.0.4") // reads, never answers
	clk.Advance(time.Hour)
	next := openStream(t, base, "127.0.0.5")
	if live(d, older.id) || !ends(older) || !live(d, newer.id) || !live(d, page.id) {
		t.Fatalf("after a newcomer: older %v, newer %v, page %v; want only older dropped",
			live(d, older.id), live(d, newer.id), live(d, page.id))
	}
	openStream(t, base, "127.0.0.6") // takes newer's place
	if live(d, newer.id) || !live(d, page.id) || !live(d, next.id) {
		t.Fatal("the second newcomer did not take the idle stream's place")
	}
	if code, _ := tryStream(t, base, "127.0.0.7"); code != http.StatusServiceUnavailable {
		t.Fatalf("a newcomer when no stream is idle: %d", code)
	}
	for _, a := range [][2]string{{"nope", page.ping}, {page.id, "nope"}, {page.id, ""}} {
		if code := answer(t, base, a[0], a[1]); code != http.StatusNotFound {
			t.Errorf("an answer %q: %d", a, code)
		}
	}
}

// An answer to the ping before last (it crossed the last ping) leaves
// the stream owing since the last was sent; one to the last owes nothing.
func TestAnAnswerToAnEarlierPingLeavesTheLastOwed(t *testing.T) {
	d := New(NewLocal(), "")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newClient("192.0.2.1", t0)
	d.clients[c] = struct{}{}
	d.pingLocked(c, t0)
	first := c.ping
	d.pingLocked(c, t0.Add(15*time.Second))
	if !d.ackLocked(c.id, first) || c.owedSince != t0.Add(15*time.Second) {
		t.Fatalf("after an answer to the ping before last, owed since %v", c.owedSince)
	}
	if !d.ackLocked(c.id, c.ping) || !c.owedSince.IsZero() || c.idleLocked(t0.Add(time.Hour)) {
		t.Fatalf("after an answer to the last ping, owed since %v", c.owedSince)
	}
	d.pingLocked(c, t0.Add(2*time.Hour))
	if c.idleLocked(t0.Add(2*time.Hour+ackWait-time.Nanosecond)) || !c.idleLocked(t0.Add(2*time.Hour+ackWait)) {
		t.Fatal("a ping unanswered for ackWait does not make the stream idle")
	}
}

// Issue 23: 23,670 wrong tokens in 5 s were answered. Past a burst of
// tokenBurst from one address, it gets 429 with Retry-After, right token
// or not, one more try every tokenEvery; other addresses, IPv6 ones by
// their /64, are not held up.
func TestWrongTokensGet429AfterABurst(t *testing.T) {
	d, clk, _ := limitedDashboard(t, "s3cret")
	h := d.handler()
	post := func(addr, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/breakers/payments/open", nil)
		req.RemoteAddr, req.Host = addr, "127.0.0.1"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// Many at once from one address: exactly the burst is answered.
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				code := post("192.0.2.1:4000", "wrong").Code
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != tokenBurst || codes[http.StatusTooManyRequests] != 1000-tokenBurst {
		t.Fatalf("1000 wrong tokens at once from one address were answered %v", codes)
	}
	rec := post("192.0.2.1:4001", "s3cret")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "10" {
		t.Fatalf("the right token from an address that must wait: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if code := post("192.0.2.2:4000", "s3cret").Code; code != http.StatusOK {
		t.Fatalf("the right token from another address: %d", code)
	}
	if code := post("198.51.100.7:4000", "wrong").Code; code != http.StatusUnauthorized {
		t.Fatalf("a wrong token from another address: %d", code)
	}
	for i := range tokenBurst {
		if code := post(fmt.Sprintf("[2001:db8::%d]:4000", i+1), "wrong").Code; code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d from 2001:db8::/64: %d", i+1, code)
		}
	}
	if code := post("[2001:db8::ffff]:4000", "wrong").Code; code != http.StatusTooManyRequests {
		t.Fatalf("past the burst from another address of one /64: %d", code)
	}
	clk.Advance(tokenEvery - time.Second)
	if rec := post("192.0.2.1:4000", "wrong"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("a second before the next try: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	clk.Advance(time.Second)
	if code := post("192.0.2.1:4000", "wrong").Code; code != http.StatusUnauthorized {
		t.Fatalf("after tokenEvery: %d", code)
	}
	if code := post("192.0.2.1:4000", "wrong").Code; code != http.StatusTooManyRequests {
		t.Fatalf("the try after that: %d", code)
	}
	clk.Advance(tokenBurst * tokenEvery)
	if code := post("192.0.2.1:4000", "s3cret").Code; code != http.StatusOK {
		t.Fatalf("the right token once the address has waited: %d", code)
	}
}

// Past maxTrackedClients addresses with failures not yet paid off, new
// addresses share one allowance: memory stays bounded.
func TestWrongTokensFromManyAddressesKeepMemoryBounded(t *testing.T) {
	var l failLimiter
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	wrong := func() bool { return false }
	for i := range maxTrackedClients + 100 {
		l.try(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), now, wrong)
	}
	if len(l.next) > maxTrackedClients+1 {
		t.Fatalf("%d addresses kept", len(l.next))
	}
	now = now.Add(tokenEvery)
	if ok, _ := l.try("192.0.2.1", now, func() bool { return true }); !ok {
		t.Fatal("a new address once the others have paid off: refused")
	}
	if len(l.next) != 1 { // "(others)", which has not paid off
		t.Fatalf("paid-off addresses kept: %d", len(l.next))
	}
}

// The key of a request's limits: an IPv4 address, an IPv6 /64.
func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000":          "127.0.0.1",
		"127.0.0.2:5000":          "127.0.0.2",
		"[::ffff:10.0.0.1]:5000":  "10.0.0.1",
		"[2001:db8::1]:5000":      "2001:db8::/64",
		"[2001:db8::2:1]:5000":    "2001:db8::/64",
		"[2001:db8:0:1::1]:5000":  "2001:db8:0:1::/64",
		"[fe80::1%eth0]:5000":     "fe80::/64",
		"[::1]:5000":              "::/64",
		"pipe":                    "pipe",
		"[2001:db8::1%zz]:notint": "2001:db8::/64",
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = addr
		if got := clientKey(req); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", addr, got, want)
		}
	}
}
