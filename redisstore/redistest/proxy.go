package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server, and can cut them: a client
// that reaches Redis through it loses Redis while the server goes on
// serving the others, as across a network partition.
type Proxy struct {
	Addr   string
	target string
	tb     testing.TB

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
}

// StartProxy starts a proxy to target on a free loopback port, stopped
// when the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p := &Proxy{target: target, tb: tb, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.Addr = l.Addr().String()
	p.serve(l)
	tb.Cleanup(p.Cut)
	return p
}

// Cut closes every connection and refuses new ones until Mend.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		_ = p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Mend accepts connections again, on the same address.
func (p *Proxy) Mend() {
	p.tb.Helper()
	l, err := net.Listen("tcp", p.Addr)
	if err != nil {
		p.tb.Fatalf("the proxy cannot listen on %s again: %v", p.Addr, err)
	}
	p.serve(l)
}

func (p *Proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.forward(l, c)
		}
	}()
}

// forward joins client c to a new connection to the target, unless the
// proxy was cut since it accepted c.
func (p *Proxy) forward(l net.Listener, c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.l != l {
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := func() {
		_ = c.Close()
		_ = s.Close()
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
	}
	go func() { _, _ = io.Copy(s, c); done() }()
	go func() { _, _ = io.Copy(c, s); done() }()
}
