package dashboard

import (
	"net"
	"net/http"
	"strings"
)

// hostGuard answers only requests whose Host is one the dashboard is
// bound to: a page on another site that makes its name resolve to
// 127.0.0.1 (DNS rebinding) sends its own name as Host, and gets 421.
type hostGuard struct {
	allowed map[string]bool // lower-case host names and addresses, no port
	next    http.Handler
}

// newHostGuard allows the loopback names, the host of the listening
// address when it is not a wildcard, and extra (from -allow-host).
func newHostGuard(listen string, extra []string, next http.Handler) *hostGuard {
	g := &hostGuard{allowed: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, next: next}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			g.allowed[strings.ToLower(h)] = true
		}
	}
	for _, h := range extra {
		if h = strings.TrimSpace(h); h != "" {
			g.allowed[strings.ToLower(strings.Trim(h, "[]"))] = true
		}
	}
	return g
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	// No Host at all (HTTP/1.0) is no browser's request, and names no
	// other site.
	if host != "" && !g.allowed[strings.TrimSuffix(host, ".")] {
		http.Error(w, "this dashboard does not answer to that host name; start it with -allow-host NAME to allow it",
			http.StatusMisdirectedRequest)
		return
	}
	g.next.ServeHTTP(w, r)
}

// securityHeaders sets, on every answer, a content security policy that
// allows the page's own files only, framing denied, and no sniffing.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
