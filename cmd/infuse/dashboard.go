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
	"strings"
	"sync"
	"time"

	"github.com/infuse-go/infuse/redisstore"
)

//go:embed assets
var assets embed.FS

// source is what the dashboard shows: the breakers in Redis, or the demo's.
type source interface {
	list(ctx context.Context) ([]view, error)
	act(ctx context.Context, name, verb string) (view, error)
	// watch calls fn with each change until ctx is done.
	watch(ctx context.Context, fn func(change)) error
}

// change is one transition, as the dashboard's timeline shows it.
type change struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Mode  string `json:"mode"`
	At    string `json:"at"`
}

// redisSource is the fleet's breakers, read from Redis.
type redisSource struct{ store *redisstore.Store }

func (r redisSource) list(ctx context.Context) ([]view, error) {
	l, err := r.store.Breakers(ctx)
	return toViews(l), err
}

func (r redisSource) act(ctx context.Context, name, verb string) (view, error) {
	info, err := act(ctx, r.store, name, verb)
	return toView(info), err
}

func (r redisSource) watch(ctx context.Context, fn func(change)) error {
	return r.store.Watch(ctx, nil, func(c redisstore.Change) {
		fn(change{Name: c.Name, State: c.State.String(), Mode: c.Mode.String(), At: c.At.Format("15:04:05.000")})
	})
}

// dashboard is the web page's server.
type dashboard struct {
	src   source
	token string

	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

func newDashboard(src source, token string) *dashboard {
	return &dashboard{src: src, token: token, clients: make(map[chan []byte]struct{})}
}

func (d *dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/breakers", d.serveList)
	mux.HandleFunc("GET /api/events", d.serveEvents)
	mux.HandleFunc("POST /api/breakers/{name}/{verb}", d.serveAction)
	return mux
}

func (d *dashboard) serveList(w http.ResponseWriter, r *http.Request) {
	l, err := d.src.list(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = writeJSON(w, map[string]any{"breakers": l, "actions": d.token != ""})
}

// serveAction runs an operator's action: only with the dashboard's token,
// and not at all when it has none.
func (d *dashboard) serveAction(w http.ResponseWriter, r *http.Request) {
	if d.token == "" {
		http.Error(w, "actions are off: start the dashboard with -token", http.StatusForbidden)
		return
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(d.token)) != 1 {
		http.Error(w, "a valid token is needed for actions", http.StatusUnauthorized)
		return
	}
	v, err := d.src.act(r.Context(), r.PathValue("name"), r.PathValue("verb"))
	var ue *usageError
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
	w.Header().Set("Content-Type", "application/json")
	_ = writeJSON(w, v)
}

// serveEvents streams server-sent events: the whole list on connecting and
// after each change (at most ten a second), and each change for the
// timeline.
func (d *dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	ch := make(chan []byte, 64)
	d.mu.Lock()
	d.clients[ch] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.clients, ch)
		d.mu.Unlock()
	}()
	if msg, err := d.snapshot(r.Context()); err == nil {
		_, _ = w.Write(msg)
		flusher.Flush()
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg := <-ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			flusher.Flush()
		case <-keepalive.C:
			_, _ = io.WriteString(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}

func (d *dashboard) snapshot(ctx context.Context) ([]byte, error) {
	l, err := d.src.list(ctx)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(map[string]any{"breakers": l, "actions": d.token != ""})
	return []byte("event: snapshot\ndata: " + string(data) + "\n\n"), nil
}

func (d *dashboard) broadcast(msg []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.clients {
		select {
		case ch <- msg:
		default: // a slow client misses one; the next snapshot catches it up
		}
	}
}

// run feeds the clients until ctx is done: changes as they come, and a
// snapshot after them, and one every few seconds as a safety net.
func (d *dashboard) run(ctx context.Context) {
	changed := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			_ = d.src.watch(ctx, func(c change) {
				data, _ := json.Marshal(c)
				d.broadcast([]byte("event: change\ndata: " + string(data) + "\n\n"))
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // the subscription broke: again
			}
		}
	}()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			time.Sleep(100 * time.Millisecond) // let a burst settle
		case <-tick.C:
		}
		if msg, err := d.snapshot(ctx); err == nil {
			d.broadcast(msg)
		}
	}
}

// serve listens on addr and serves the dashboard until ctx is done; ready
// is told the address.
func (d *dashboard) serve(ctx context.Context, addr string, ready func(string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second}
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
	fs := flags("dashboard", "[flags]",
		"Serves a live web page of every breaker under a namespace: state, counts, a timeline of\ntransitions, and buttons for the operator's actions. It listens on loopback unless told\notherwise; the actions are off unless a token is set, and then need it.",
		"  infuse dashboard\n  INFUSE_TOKEN=$(openssl rand -hex 16) infuse dashboard -listen 127.0.0.1:8080")
	rf := addRedisFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	token := fs.String("token", envOr("INFUSE_TOKEN", ""), "the `token` actions need (env INFUSE_TOKEN); empty: actions off")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	store, closeStore, err := rf.connect(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := withDuration(ctx, *duration)
	defer cancel()
	d := newDashboard(redisSource{store}, *token)
	return d.serve(ctx, *listen, func(url string) {
		fmt.Fprintf(out, "dashboard on %s (namespace %q, actions %s)\n", url, store.Namespace(), onOff(*token != ""))
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
