package main

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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cli"
	"github.com/infuse-go/infuse/redisstore"
)

//go:embed assets
var assets embed.FS

// source is what the dashboard shows: the breakers in Redis, or the demo's.
type source interface {
	list(ctx context.Context) ([]breaker.View, error)
	act(ctx context.Context, name, verb string) (breaker.View, error)
	// watch calls fn with each change until ctx is done.
	watch(ctx context.Context, fn func(change)) error
}

// change is one transition, as the dashboard's timeline shows it.
type change struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	State string `json:"state"`
	Mode  string `json:"mode"`
	Cause string `json:"cause"`
	At    string `json:"at"`
}

// redisSource is the fleet's breakers, read from Redis.
type redisSource struct {
	store *redisstore.Store
	seen  breaker.Transitions
}

func (r *redisSource) list(ctx context.Context) ([]breaker.View, error) {
	l, err := r.store.Breakers(ctx)
	return breaker.FromInfos(l), err
}

func (r *redisSource) act(ctx context.Context, name, verb string) (breaker.View, error) {
	info, err := breaker.Act(ctx, r.store, name, verb)
	return breaker.FromInfo(info), err
}

func (r *redisSource) watch(ctx context.Context, fn func(change)) error {
	return r.store.Watch(ctx, nil, func(c redisstore.Change) {
		if t, ok := r.seen.Next(c); ok {
			fn(change{Name: c.Name, Label: breaker.Printable(c.Name), State: c.State.String(), Mode: c.Mode.String(),
				Cause: breaker.Cause(t), At: c.At.Format("15:04:05.000")})
		}
	})
}

// dashboard is the web page's server. It lists the source every few
// seconds, and soon after a change, and sends each page only what changed
// since what it last sent that page: a page that stops reading costs at
// most the set of names changed meanwhile, and one whose writes block for
// streamWriteTimeout is dropped. Its streams are bounded per client
// address and in all, an idle one giving way to a new one (limits.go);
// wrong action tokens are answered 429 past a burst per address.
type dashboard struct {
	src                 source
	token               string
	listen              string           // the address it serves on: its host is allowed
	allowHosts          []string         // more Host names it answers to
	maxStreams          int              // live pages at once; 0: defaultMaxStreams
	maxStreamsPerClient int              // live pages of one client address; 0: defaultMaxStreamsPerClient
	now                 func() time.Time // nil: time.Now; what idleness and the token limit are measured on
	pingEvery           time.Duration    // between keepalive pings; 0: defaultPingEvery
	tokenFails          failLimiter

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

func newDashboard(src source, token string) *dashboard {
	return &dashboard{src: src, token: token, clients: make(map[*client]struct{}), state: map[string]breaker.View{}}
}

// handler is the dashboard's HTTP handler: its routes behind the host
// guard and the security headers.
func (d *dashboard) handler() http.Handler {
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

func (d *dashboard) serveList(w http.ResponseWriter, r *http.Request) {
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
func (d *dashboard) serveAction(w http.ResponseWriter, r *http.Request) {
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
func (d *dashboard) clock() time.Time {
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
func (d *dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
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
func (d *dashboard) serveAck(w http.ResponseWriter, r *http.Request) {
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

// snapshotLocked is the "snapshot" event of the current state; d.mu held.
func (d *dashboard) snapshotLocked() []byte {
	l := make([]breaker.View, 0, len(d.state))
	for _, v := range d.state {
		l = append(l, v)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return event("snapshot", map[string]any{"breakers": l, "actions": d.token != "", "outage": d.outageLocked()})
}

func (d *dashboard) outageLocked() any {
	if d.outage == "" {
		return nil
	}
	return map[string]string{"reason": d.outage, "since": d.since.Format(time.RFC3339)}
}

// owed takes what c is owed and returns it as events.
func (d *dashboard) owed(c *client) []byte {
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
func (d *dashboard) ensureListed(ctx context.Context) {
	d.mu.Lock()
	listed := d.listed
	d.mu.Unlock()
	if !listed {
		d.refresh(ctx)
	}
}

// refresh lists the source and tells each page what changed.
func (d *dashboard) refresh(ctx context.Context) {
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
func (d *dashboard) oweLocked(owe func(c *client)) {
	for c := range d.clients {
		c.mu.Lock()
		owe(c)
		c.mu.Unlock()
		c.notify()
	}
}

// transition tells each page of a transition, for its timeline.
func (d *dashboard) transition(ch change) {
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

// refreshSoon asks run for a listing now (after an action).
func (d *dashboard) refreshSoon() {
	if d.kick != nil {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// run lists the source until ctx is done: every refreshEvery, and shortly
// after a change or an action.
func (d *dashboard) run(ctx context.Context) {
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

// serve listens on addr and serves the dashboard until ctx is done; ready
// is told the address.
func (d *dashboard) serve(ctx context.Context, addr string, ready func(string)) error {
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
	ready("http://" + l.Addr().String())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runDashboard(ctx context.Context, args []string, out io.Writer) error {
	fs := cli.FlagSet("dashboard", "[flags]",
		"Serves a live web page of every breaker under a namespace: state, counts, a timeline of\ntransitions, and buttons for the operator's actions. It listens on loopback unless told\notherwise; the actions are off unless a token is set, and then need it.\n\nLimits: 8 live pages per client address (an IPv4 address or an IPv6 /64; loopback counts\ntoo, so operators behind one SSH tunnel share them), 64 in all. When full, the page that\nhas left a ping unanswered longest, 10 s at least (it is not reading), gives way to a new\none; with none such, the new one gets 429 or 503. Past 10 wrong tokens from an address,\nits actions get 429 with Retry-After: one more try every 10 s.",
		"  infuse dashboard\n  INFUSE_TOKEN=$(openssl rand -hex 16) infuse dashboard -listen 127.0.0.1:8080")
	rf := cli.AddRedisFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	token := cli.TokenFlag(fs)
	allow := fs.String("allow-host", "", "more host `names` the page answers to, comma-separated (it answers to loopback names and the -listen host)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return cli.Usage("dashboard takes no arguments")
	}
	store, closeStore, err := rf.Connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := cli.WithDuration(ctx, *duration)
	defer cancel()
	d := newDashboard(&redisSource{store: store}, token())
	if *allow != "" {
		d.allowHosts = strings.Split(*allow, ",")
	}
	return d.serve(ctx, *listen, func(url string) {
		fmt.Fprintf(out, "dashboard on %s (namespace %s, actions %s)\n", url, breaker.Printable(store.Namespace()), onOff(d.token != ""))
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
