// Package dashboard is infuse's web page of breakers: an HTTP server
// (Server) of one embedded page (assets/) and its API, which streams a
// Source's breakers to each page as server-sent events and runs the
// operator's actions; guarded against other sites' pages (guard.go) and
// bounded per client (limits.go). Run is the "infuse dashboard" command;
// the demo serves its own breakers through Local.
package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

//go:embed assets
var assets embed.FS

// Server is the web page's server. It lists the source every few
// seconds, and soon after a change, and sends each page only what changed
// since what it last sent that page: a page that stops reading costs at
// most the set of names changed meanwhile, and one whose writes block for
// streamWriteTimeout is dropped. Its streams are bounded per client
// address and in all, an idle one giving way to a new one (limits.go);
// wrong action tokens are answered 429 past a burst per address.
type Server struct {
	src                 Source
	token               string
	listen              string           // the address it serves on: its host is allowed
	allowHosts          []string         // more Host names it answers to
	maxStreams          int              // live pages at once; 0: defaultMaxStreams
	maxStreamsPerClient int              // live pages of one client address; 0: defaultMaxStreamsPerClient
	now                 func() time.Time // nil: time.Now; what idleness and the token limit are measured on
	pingEvery           time.Duration    // between keepalive pings; 0: defaultPingEvery
	tokenFails          failLimiter
	warnings            io.Writer // where Serve warns of a page exposed beyond this host; nil: os.Stderr
	warning             string    // that warning, "" when it serves loopback only; set by Serve before ready

	mu      sync.Mutex
	clients map[*client]struct{}
	state   map[string]breaker.View // the last listing, by name
	listed  bool                    // state holds a listing
	outage  string                  // why the last listing failed; "" when it did not
	since   time.Time               // when outage began
	kick    chan struct{}           // asks run for a listing soon
}

const (
	defaultMaxStreams  = 64
	streamWriteTimeout = 10 * time.Second
	defaultPingEvery   = 15 * time.Second // a ping, the stream's keepalive, this often
	timelineMax        = 200              // changes a page keeps, and a slow page is owed
	refreshEvery       = 3 * time.Second
)

// New is a server of src's breakers, whose actions need token (none
// without one). Serve serves it.
func New(src Source, token string) *Server {
	return &Server{src: src, token: token, clients: make(map[*client]struct{}), state: map[string]breaker.View{}}
}

// handler is the dashboard's HTTP handler: its routes behind the host
// guard and the security headers.
func (d *Server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/breakers", d.serveList)
	mux.HandleFunc("GET /api/events", d.serveEvents)
	mux.HandleFunc("POST /api/events/ack", d.serveAck)
	mux.HandleFunc("POST /api/breakers/{name}/{verb}", d.serveAction)
	// Other methods than GET get 405 from the mux itself; a GET would
	// fall to the files' 404.
	mux.HandleFunc("GET /api/breakers/{name}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "an action is a POST", http.StatusMethodNotAllowed)
	})
	return securityHeaders(newHostGuard(d.listen, d.allowHosts, mux))
}

func (d *Server) serveList(w http.ResponseWriter, r *http.Request) {
	l, err := d.src.list(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = breaker.WriteJSON(w, map[string]any{"breakers": l, "actions": d.token != ""})
}

// serveAction runs an operator's action: only with the dashboard's token,
// and not at all when it has none. The name in the path is the raw name,
// percent-encoded byte by byte (a view's id), so that names that are not
// valid UTF-8 can be acted on too.
func (d *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	if d.token == "" {
		http.Error(w, "actions are off: start the dashboard with -token", http.StatusForbidden)
		return
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	ok, wait := d.tokenFails.try(clientKey(r), d.clock(), func() bool {
		return subtle.ConstantTimeCompare([]byte(got), []byte(d.token)) == 1
	})
	if wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		http.Error(w, fmt.Sprintf("too many wrong tokens from your address: try again in %s s", retryAfter(wait)),
			http.StatusTooManyRequests)
		return
	}
	if !ok {
		http.Error(w, "a valid token is needed for actions", http.StatusUnauthorized)
		return
	}
	v, err := d.src.act(r.Context(), r.PathValue("name"), r.PathValue("verb"))
	var ue *cli.UsageError
	switch {
	case errors.As(err, &ue):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, redisstore.ErrUnknownBreaker):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	d.refreshSoon()
	w.Header().Set("Content-Type", "application/json")
	_ = breaker.WriteJSON(w, v)
}

// clock is the dashboard's time.
func (d *Server) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// serveEvents streams server-sent events: "snapshot" (every breaker) on
// connecting, then "update" with the breakers changed and the names gone
// since the last event, and the outage if any; "change" for each
// transition, for the timeline; "ping" on connecting and every
// keepalive, which the page answers (serveAck) to show it reads.
func (d *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	now := d.clock()
	c := newClient(clientKey(r), now)
	d.mu.Lock()
	if code, msg := d.admitLocked(c.addr, now); code != 0 {
		d.mu.Unlock()
		http.Error(w, msg, code)
		return
	}
	d.clients[c] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.clients, c)
		d.mu.Unlock()
	}()
	d.ensureListed(r.Context())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	// A stream's connection serves nothing after it: its end (a drop
	// included) frees the socket rather than leave it waiting for a
	// next request.
	w.Header().Set("Connection", "close")
	write := func(msg []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	d.mu.Lock()
	first := append(d.snapshotLocked(), d.pingLocked(c, d.clock())...)
	every := d.pingEvery
	d.mu.Unlock()
	if every == 0 {
		every = defaultPingEvery
	}
	if !write(first) {
		return
	}
	keepalive := time.NewTicker(every)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return // idle, and its place taken by a new stream
		case <-c.wake:
			if !write(d.owed(c)) {
				return // behind by streamWriteTimeout, or gone: dropped
			}
		case <-keepalive.C:
			d.mu.Lock()
			ping := d.pingLocked(c, d.clock())
			d.mu.Unlock()
			if !write(ping) {
				return
			}
		}
	}
}

// serveAck takes a page's answer to a ping: {"stream": ID, "ping":
// NONCE}, as the ping event carried them. 204, or 404 when the stream or
// the ping is not (or no longer) known.
func (d *Server) serveAck(w http.ResponseWriter, r *http.Request) {
	var ack struct{ Stream, Ping string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&ack); err != nil {
		http.Error(w, "an answer to a ping is {\"stream\": ID, \"ping\": NONCE}", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	known := d.ackLocked(ack.Stream, ack.Ping)
	d.mu.Unlock()
	if !known {
		http.Error(w, "no such stream or ping", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// refreshSoon asks run for a listing now (after an action).
func (d *Server) refreshSoon() {
	if d.kick != nil {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// run lists the source until ctx is done: every refreshEvery, and shortly
// after a change or an action.
func (d *Server) run(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			_ = d.src.watch(ctx, func(c change) {
				d.transition(c)
				d.refreshSoon()
			})
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // the subscription broke: again
			}
		}
	}()
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
			select { // let a burst settle
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		case <-tick.C:
		}
		d.refresh(ctx)
	}
}

// Serve listens on addr and serves the dashboard until ctx is done; ready
// is told the address. Bound to an address other hosts can reach (not
// loopback), it first warns so on stderr (see Warning).
func (d *Server) Serve(ctx context.Context, addr string, ready func(string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	d.listen = addr // the name asked for (localhost, a host name): the guard allows its host
	d.kick = make(chan struct{}, 1)
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute}
	go d.run(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	if d.warning = exposure(addr, l.Addr(), d.token != "", len(d.allowHosts) > 0); d.warning != "" {
		w := d.warnings
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprint(w, d.warning)
	}
	ready("http://" + l.Addr().String())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Warning is what Serve warned of when the address it listens on is
// reachable from other hosts, "" when it is loopback; it is set when
// Serve calls ready.
func (d *Server) Warning() string { return d.warning }

// exposure is the warning for a dashboard asked to listen on asked and
// bound to bound, whose actions need a token (actions) or are off, ""
// when bound is loopback: another host's page or program can read every
// breaker, and with a token send actions with it, in clear (plain HTTP).
// Unless allowHosts, a wildcard address answers to loopback names only,
// and browsers elsewhere get 421.
func exposure(asked string, bound net.Addr, actions, allowHosts bool) string {
	ta, ok := bound.(*net.TCPAddr)
	if ok && ta.IP.IsLoopback() {
		return ""
	}
	// The address as asked, with the port bound: 0.0.0.0:8089 is bound
	// as [::]:8089 where IPv6 is on.
	where := bound.String()
	if h, _, err := net.SplitHostPort(asked); err == nil && h != "" && ok {
		where = net.JoinHostPort(h, strconv.Itoa(ta.Port))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "warning: the dashboard listens on %s: the page is exposed beyond this host, "+
		"whoever reaches that port reads every breaker's name and state\n", where)
	if actions {
		b.WriteString("warning: its actions need the token, which crosses the network in clear (plain HTTP): " +
			"prefer -listen 127.0.0.1:PORT through an SSH tunnel, or a TLS proxy in front\n")
	} else {
		b.WriteString("warning: its actions are refused: no token is set (-token, or INFUSE_TOKEN)\n")
	}
	if ok && ta.IP.IsUnspecified() && !allowHosts {
		b.WriteString("warning: it answers to loopback names only: browsers elsewhere get 421 unless -allow-host names the host they ask for\n")
	}
	return b.String()
}
