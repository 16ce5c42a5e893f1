package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// The dashboard over HTTP, without a browser: the list, the actions and
// their token, and the event stream.
func TestDashboardAPI(t *testing.T) {
	_, url, store, _ := cmdtest.Fleet(t, "payments")
	base := cmdtest.StartDashboard(t, url, "s3cret")
	resp, err := http.Get(base + "/api/breakers")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Breakers []breaker.View
		Actions  bool
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Breakers) != 1 || list.Breakers[0].Name != "payments" || !list.Actions {
		t.Fatalf("list %+v", list)
	}
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/breakers/payments/force-open", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", code)
	}
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	// The event stream: a snapshot, then a change made elsewhere.
	resp, err = http.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	for events.Scan() && events.Text() != "event: snapshot" {
	}
	if code := post("s3cret"); code != http.StatusOK {
		t.Fatalf("with the token: %d", code)
	}
	if info, _ := store.Breaker(context.Background(), "payments"); info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("Redis holds %+v", info)
	}
	deadline := time.Now().Add(30 * time.Second)
	for events.Scan() {
		if events.Text() == "event: change" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no change event")
		}
	}
}

func TestDashboardActionsOffWithoutAToken(t *testing.T) {
	d := New(NewLocal(), "")
	req, _ := http.NewRequest(http.MethodPost, "/api/breakers/x/open", nil)
	rec := &recorder{header: http.Header{}}
	d.handler().ServeHTTP(rec, req)
	if rec.code != http.StatusForbidden {
		t.Fatalf("actions without a configured token: %d", rec.code)
	}
}

// A page that stops reading costs at most the names changed meanwhile,
// however many changes come; streams are capped.
func TestAStalledPageCostsOnePendingUpdate(t *testing.T) {
	src, breakers := NewLocal(), map[string]*infuse.Breaker{}
	for _, n := range []string{"a", "b"} {
		b, err := infuse.New(infuse.Config{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		src.Add(n, b)
		breakers[n] = b
	}
	d := New(src, "")
	d.maxStreams = 1
	c := newClient("192.0.2.1", time.Now())
	c.owedSince = time.Time{} // a page that answers its pings: never dropped for another
	d.clients[c] = struct{}{}
	ctx := context.Background()
	for i := range 1000 {
		b := breakers[[]string{"a", "b"}[i%2]]
		if i%4 < 2 {
			_ = b.Open(ctx)
		} else {
			_ = b.Close(ctx)
		}
		d.refresh(ctx)
		d.transition(change{Name: b.Name()})
	}
	c.mu.Lock()
	pending, timeline, dropped := len(c.names), len(c.timeline), c.dropped
	c.mu.Unlock()
	if pending > 2 || timeline > timelineMax || dropped != 1000-timelineMax {
		t.Fatalf("a stalled page holds %d names, %d transitions (%d dropped)", pending, timeline, dropped)
	}
	msg := string(d.owed(c))
	if !strings.Contains(msg, "event: missed") || strings.Count(msg, "event: update") != 1 {
		t.Fatalf("what the page is owed:\n%.300s", msg)
	}

	srv := httpServe(t, d.handler())
	resp, err := http.Get(srv + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a stream past the cap: %d", resp.StatusCode)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
