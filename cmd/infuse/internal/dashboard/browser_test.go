package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/cmdtest"
)

// chromium finds Debian's Chromium, which make test installs.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium is not installed; run make test, which installs it, or apt-get install chromium")
	return ""
}

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

func cell(id string) chromedp.CSS { return chromedp.CSS(`tr[data-id="` + id + `"] td.state`) }

// poll waits until the expression is true in the page.
func poll(t *testing.T, ctx context.Context, expr string, within time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(within))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message")))
		t.Fatalf("waiting for %s: %v (message %q)", expr, err, msg)
	}
}

// The dashboard in a real browser: it lists the breakers, shows a
// transition made elsewhere within a second, and the selected breaker's
// buttons act with the token, confirm it, and are refused without it.
// Names that differ only in bytes that are not UTF-8 show, and are acted
// on, apart.
func TestDashboardInABrowser(t *testing.T) {
	srv, url, store, bs := cmdtest.Fleet(t, "payments", "search", "bad\xff", "bad\xfe")
	base := cmdtest.StartDashboard(t, url, "s3cret")
	ctx := browser(t)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible(cell("payments")),
		chromedp.WaitVisible(cell("search")),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(cell("payments")))
	if err != nil {
		t.Fatal(err)
	}
	if state != "closed" {
		t.Fatalf("payments shows %q", state)
	}
	labels, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("td.name")].map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(labels, `"bad\xff"`) || !slices.Contains(labels, `"bad\xfe"`) {
		t.Fatalf("names not UTF-8 do not show apart: %q", labels)
	}

	// A transition made elsewhere appears within a second, with its cause.
	if err := bs[0].Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`tr.open[data-id="payments"]`)))
	wcancel()
	if err != nil {
		t.Fatalf("the page did not show the transition within a second: %v", err)
	}
	t.Logf("transition shown after %v", time.Since(start))
	poll(t, ctx, `document.getElementById("timeline").textContent.includes("payments → open")`, 5*time.Second)

	// Without the token, the button is refused and the refusal shown.
	button := chromedp.CSS(`#selactions button[data-verb="force-open"]`)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-id="search"] td.name`)),
		chromedp.SetValue(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(button),
	); err != nil {
		t.Fatalf("clicking without the token: %v", err)
	}
	poll(t, ctx, `document.getElementById("message").textContent.includes("401")`, 5*time.Second)
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeNormal {
		t.Fatalf("a refused action changed Redis: %+v", info)
	}

	// With the token, it forces the breaker open in Redis, and says so.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), "s3cret"),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS(`tr.open[data-id="search"]`)),
	); err != nil {
		t.Fatalf("clicking with the token: %v", err)
	}
	poll(t, ctx, `document.getElementById("message").textContent.includes("done")`, 5*time.Second)
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("Redis holds %+v after the button", info)
	}
	if reason, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-id="search"] td:nth-child(3)`))); reason != "forced open" {
		t.Fatalf("search rejects for %q", reason)
	}

	// The name that is not UTF-8, acted on from the page: that one only.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-id="bad%FF"] td.name`)),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS(`tr.open[data-id="bad%FF"]`)),
	); err != nil {
		t.Fatalf("acting on bad\\xff: %v", err)
	}
	for name, want := range map[string]infuse.Mode{"bad\xff": infuse.ModeForcedOpen, "bad\xfe": infuse.ModeNormal} {
		if info, _ := store.Breaker(context.Background(), name); info.Mode != want {
			t.Fatalf("%q: %+v, want mode %v", name, info, want)
		}
	}
	screenshot(t, ctx, "dashboard.png")

	// Redis gone: the page says so, and why, over the last state known.
	srv.Kill()
	poll(t, ctx, `!document.getElementById("outage").hidden && document.getElementById("outage").textContent.includes("Cannot list")`, 10*time.Second)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#breakers tbody tr").length`)); n != 4 {
		t.Fatalf("the table during the outage has %d rows, want the 4 last known", n)
	}
	screenshot(t, ctx, "dashboard-outage.png")
}

// A screenshot for a person to look at, outside the repository.
func screenshot(t *testing.T, ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("INFUSE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
}

// Ten thousand breakers: the page shows every one, the unhealthy first,
// the counts per state, filters by name, and updates a row in place. The
// times are measured and logged, not asserted.
func TestDashboardWithTenThousandBreakers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 breakers: not in -short")
	}
	const n = 10000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%05d", i)
	}
	_, url, _, bs := cmdtest.Fleet(t, names...)
	for i := 0; i < n; i += n / 50 { // 50 open, spread over the names
		if err := bs[i].Open(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	base := cmdtest.StartDashboard(t, url, "s3cret")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, fmt.Sprintf(`document.body.dataset.ready === "1" && window.timing.allInAt > 0 && document.querySelectorAll("#breakers tbody tr").length === %d`, n), 60*time.Second)
	t.Logf("%d breakers shown %v after navigation began (seen from the test, polling)", n, time.Since(start))
	// The page's own clock, from the start of navigation: when the
	// snapshot came, when its rows were built, and when the frame with
	// them was drawn.
	timing, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`window.timing`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first render of %d breakers: snapshot at %.0f ms, rows built at %.0f ms, first screen drawn at %.0f ms, all rows in at %.0f ms",
		n, timing["snapshotAt"], timing["builtAt"], timing["paintedAt"], timing["allInAt"])

	first, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#breakers tbody tr")].slice(0, 50).map(tr => tr.className)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range first {
		if c != "open" {
			t.Fatalf("the first 50 rows are not the 50 open breakers: %q", first)
		}
	}
	poll(t, ctx, `document.getElementById("counts").textContent.startsWith("10000 breakers: 50 open (0 forced), 0 half-open, 9950 closed")`, 5*time.Second)

	// In place: the row element stays, and shows the change.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.kept = document.querySelector('tr[data-id="svc-09999"]')) !== null`)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := bs[n-1].Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, `document.querySelector('tr.open[data-id="svc-09999"]') === window.kept`, 10*time.Second)
	t.Logf("a transition among %d breakers shown after %v", n, time.Since(start))

	// The filter.
	start = time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById("filter"); f.value = "svc-0424"; f.dispatchEvent(new Event("input")); return true })()`)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, `[...document.querySelectorAll("#breakers tbody tr")].filter(tr => !tr.hidden).length === 10`, 5*time.Second)
	t.Logf("filtered %d breakers to 10 in %v", n, time.Since(start))
	screenshot(t, ctx, "dashboard-10k.png")
}

// The page answers its stream's pings, so that the dashboard, full, drops
// a stream that does not for a newcomer, never the page.
func TestThePageAnswersItsPings(t *testing.T) {
	d, clk, base := limitedDashboard(t, "")
	d.mu.Lock()
	d.maxStreams = 2
	d.pingEvery = time.Hour // the first ping only: it is the one answered
	d.mu.Unlock()
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	poll(t, ctx, `document.body.dataset.ready === "1"`, 60*time.Second)
	var page string
	for deadline := time.Now().Add(60 * time.Second); page == ""; time.Sleep(20 * time.Millisecond) {
		d.mu.Lock()
		for c := range d.clients {
			if c.owedSince.IsZero() {
				page = c.id
			}
		}
		d.mu.Unlock()
		if page == "" && time.Now().After(deadline) {
			t.Fatal("the page did not answer its stream's ping")
		}
	}
	neverReads(t, base, "127.0.0.2")
	waitStreams(t, d, 2)
	clk.Advance(time.Hour)
	openStream(t, base, "127.0.0.3")
	if !live(d, page) {
		t.Fatal("the page was dropped for a newcomer")
	}
	if code, _ := tryStream(t, base, "127.0.0.4"); code != http.StatusServiceUnavailable {
		t.Fatalf("a newcomer when no stream is idle: %d", code)
	}
}
