package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/infuse-go/infuse"
	"github.com/infuse-go/infuse/cmd/infuse/internal/breaker"
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

// browser starts headless Chromium for the test, its page 1280 × 800
// pixels, a laptop's screen.
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
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
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
// transition made elsewhere as it is pushed, and the selected breaker's
// buttons, only those of the actions that apply, act with the token,
// confirm it, and are refused without it; force-open and disable ask
// first. A forced or disabled breaker shows so, is counted so, and the
// timeline says why.
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

	// A transition made elsewhere appears, pushed to the page, with its
	// cause (a generous deadline: a busy host is no defect of the page;
	// the time it took is logged).
	if err := bs[0].Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`tr.open[data-id="payments"]`)))
	wcancel()
	if err != nil {
		t.Fatalf("the page did not show the transition: %v", err)
	}
	t.Logf("transition shown after %v", time.Since(start))
	poll(t, ctx, `document.getElementById("timeline").textContent.includes("payments → open")`, 30*time.Second)

	// The buttons are the actions that apply: search is closed.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="search"] td.name`))); err != nil {
		t.Fatal(err)
	}
	wantButtons(t, ctx, "open", "half-open", "force-open", "disable")

	// Without the token, the button, once confirmed, is refused and the
	// refusal shown.
	button := chromedp.CSS(`#selactions button[data-verb="force-open"]`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirmyes")),
	); err != nil {
		t.Fatalf("clicking without the token: %v", err)
	}
	poll(t, ctx, `document.getElementById("message").textContent.includes("401")`, 30*time.Second)
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeNormal {
		t.Fatalf("a refused action changed Redis: %+v", info)
	}

	// Force-open asks first: cancelled, nothing is sent.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), "s3cret"),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	); err != nil {
		t.Fatalf("asking to force open: %v", err)
	}
	question, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#confirmtext")))
	if err != nil || !strings.Contains(question, "Force search open on every member?") {
		t.Fatalf("the question: %q %v", question, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#confirmno"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, `document.getElementById("confirm").hidden && document.getElementById("message").textContent === "cancelled"`, 30*time.Second)
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeNormal {
		t.Fatalf("a cancelled action changed Redis: %+v", info)
	}

	// With the token, confirmed, it forces the breaker open in Redis, and
	// says so; the row shows it forced, and the timeline why.
	if err := chromedp.Do(ctx,
		chromedp.Click(button),
		chromedp.Click(chromedp.CSS("#confirmyes")),
		chromedp.WaitVisible(chromedp.CSS(`tr.open.forced-open[data-id="search"]`)),
	); err != nil {
		t.Fatalf("clicking with the token: %v", err)
	}
	poll(t, ctx, `document.getElementById("message").textContent.includes("done")`, 30*time.Second)
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("Redis holds %+v after the button", info)
	}
	if state, _ := chromedp.Run(ctx, chromedp.Text(cell("search"))); state != "forced open" {
		t.Fatalf("search shows %q", state)
	}
	if reason, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-id="search"] td:nth-child(3)`))); reason != "forced open" {
		t.Fatalf("search rejects for %q", reason)
	}
	wantButtons(t, ctx, "release", "disable")
	forced := breaker.Cause(breaker.Transition{Name: "search", To: infuse.Open, Mode: infuse.ModeForcedOpen})
	poll(t, ctx, fmt.Sprintf(`[...document.querySelectorAll("#timeline li")].some(li => li.textContent.includes("search → forced open") && li.querySelector(".cause").textContent === %q)`, forced), 30*time.Second)

	// The name that is not UTF-8, acted on from the page: that one only.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-id="bad%FF"] td.name`)),
		chromedp.Click(button),
		chromedp.Click(chromedp.CSS("#confirmyes")),
		chromedp.WaitVisible(chromedp.CSS(`tr.open[data-id="bad%FF"]`)),
	); err != nil {
		t.Fatalf("acting on bad\\xff: %v", err)
	}
	for name, want := range map[string]infuse.Mode{"bad\xff": infuse.ModeForcedOpen, "bad\xfe": infuse.ModeNormal} {
		if info, _ := store.Breaker(context.Background(), name); info.Mode != want {
			t.Fatalf("%q: %+v, want mode %v", name, info, want)
		}
	}

	// Disabled, confirmed: shown as such, counted, and released.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="payments"] td.name`))); err != nil {
		t.Fatal(err)
	}
	wantButtons(t, ctx, "half-open", "close", "force-open", "disable")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#selactions button[data-verb="disable"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirmyes")),
		chromedp.WaitVisible(chromedp.CSS(`tr.closed.disabled[data-id="payments"]`)),
	); err != nil {
		t.Fatalf("disabling payments: %v", err)
	}
	if info, _ := store.Breaker(context.Background(), "payments"); info.Mode != infuse.ModeDisabled {
		t.Fatalf("Redis holds %+v after disable", info)
	}
	if state, _ := chromedp.Run(ctx, chromedp.Text(cell("payments"))); state != "disabled" {
		t.Fatalf("a disabled payments shows %q", state)
	}
	poll(t, ctx, `document.getElementById("counts").textContent === "4 breakers: 0 open, 2 forced open, 0 half-open, 1 disabled, 1 closed"`, 30*time.Second)
	wantButtons(t, ctx, "release", "force-open")
	disabled := breaker.Cause(breaker.Transition{Name: "payments", To: infuse.Closed, Mode: infuse.ModeDisabled})
	poll(t, ctx, fmt.Sprintf(`[...document.querySelectorAll("#timeline li")].some(li => li.textContent.includes("payments → disabled") && li.querySelector(".cause").textContent === %q)`, disabled), 30*time.Second)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#selactions button[data-verb="release"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.closed[data-id="payments"]:not(.disabled)`)),
	); err != nil {
		t.Fatalf("releasing payments: %v", err)
	}
	if info, _ := store.Breaker(context.Background(), "payments"); info.Mode != infuse.ModeNormal {
		t.Fatalf("Redis holds %+v after release", info)
	}
	wantButtons(t, ctx, "open", "half-open", "force-open", "disable")
	screenshot(t, ctx, "dashboard.png")

	// Redis gone: the page says so, and why, over the last state known.
	srv.Kill()
	poll(t, ctx, `!document.getElementById("outage").hidden && document.getElementById("outage").textContent.includes("Cannot list")`, 10*time.Second)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#breakers tbody tr").length`)); n != 4 {
		t.Fatalf("the table during the outage has %d rows, want the 4 last known", n)
	}
	screenshot(t, ctx, "dashboard-outage.png")
}

// wantButtons waits until the selected breaker's buttons are verbs.
func wantButtons(t *testing.T, ctx context.Context, verbs ...string) {
	t.Helper()
	want, _ := json.Marshal(verbs)
	const got = `JSON.stringify([...document.querySelectorAll("#selactions button")].map(b => b.dataset.verb))`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, got, want), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		buttons, _ := chromedp.Run(ctx, chromedp.Evaluate[string](got))
		t.Fatalf("the buttons: %s, want %s (%v)", buttons, want, err)
	}
}

// A screenshot for a person to look at, outside the repository.
func screenshot(t *testing.T, ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	keep(t, name, png)
}

// keep writes a screenshot to INFUSE_SCREENSHOTS, a folder, or else to
// the test's temporary folder.
func keep(t *testing.T, name string, png []byte) {
	dir := os.Getenv("INFUSE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	_ = os.WriteFile(filepath.Join(dir, name), png, 0o644)
}

// Ten thousand breakers: the page shows every one, the unhealthy first,
// the counts per state, filters by name, updates a row in place, and
// keeps the timeline in view beside the table. The times are measured
// and logged, not asserted.
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
	poll(t, ctx, `document.getElementById("counts").textContent === "10000 breakers: 50 open, 0 forced open, 0 half-open, 0 disabled, 9950 closed"`, 30*time.Second)

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

	// The timeline is beside the table, not below its rows, and stays in
	// view down the table: the transition above is on it.
	poll(t, ctx, `document.getElementById("timeline").textContent.includes("svc-09999 → open")`, 10*time.Second)
	scrollHalfway(t, ctx)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.scrollTo(0, 0), true)`)); err != nil {
		t.Fatal(err)
	}

	// The filter.
	start = time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.getElementById("filter"); f.value = "svc-0424"; f.dispatchEvent(new Event("input")); return true })()`)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, `[...document.querySelectorAll("#breakers tbody tr")].filter(tr => !tr.hidden).length === 10`, 30*time.Second)
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

// A fleet of 300 breakers on a laptop's screen (1280 × 800): the column
// headers are whole, the timeline stands beside the table, what each
// breaker does shows in words that fit, forced and disabled breakers
// among those first and counted apart, and the timeline says each
// transition's cause. With INFUSE_DOCS_SCREENSHOT=1 it writes what it
// shows to docs/dashboard.png, the docs' picture of the dashboard:
//
//	cd cmd/infuse && INFUSE_DOCS_SCREENSHOT=1 go test -run AtLaptopWidth ./internal/dashboard
func TestDashboardAtLaptopWidth(t *testing.T) {
	services := []string{"accounts", "auth", "billing", "cart", "catalog", "checkout", "fraud", "geo", "inventory", "loyalty",
		"media", "notifications", "orders", "payments", "pricing", "recommendations", "reviews", "search", "shipping", "tax"}
	deps := []string{"cdn", "elastic", "geoip", "kafka", "ldap", "ledger", "partner-api", "postgres", "ranker", "redis",
		"s3", "smtp", "sms", "stripe", "vault"}
	var names []string
	for _, s := range services {
		for _, d := range deps {
			names = append(names, s+"."+d)
		}
	}
	_, url, _, bs := cmdtest.Fleet(t, names...)
	byName := map[string]*infuse.Breaker{}
	for _, b := range bs {
		byName[b.Name()] = b
	}
	bg := context.Background()
	fail := func(name string) {
		_ = byName[name].Call(bg, func(context.Context) error { return errors.New("upstream failed") })
	}
	for _, n := range []string{"cart.redis", "catalog.elastic", "geo.geoip", "orders.kafka", "search.ranker"} {
		fail(n) // one failure: a run of one, closed
	}
	base := cmdtest.StartDashboard(t, url, "s3cret")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, fmt.Sprintf(`document.body.dataset.ready === "1" && document.querySelectorAll("#breakers tbody tr").length === %d`, len(names)), 60*time.Second)

	// Transitions made elsewhere, for the table and the timeline.
	for _, n := range []string{"payments.stripe", "checkout.partner-api", "fraud.ranker"} {
		fail(n)
		fail(n) // FailMax 2: tripped
	}
	for _, n := range []string{"media.s3", "notifications.sms"} {
		if err := byName[n].Open(bg); err != nil {
			t.Fatal(err)
		}
	}
	if err := byName["shipping.partner-api"].HalfOpen(bg); err != nil {
		t.Fatal(err)
	}
	if err := byName["billing.ledger"].ForceOpen(bg); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"recommendations.ranker", "reviews.elastic"} {
		if err := byName[n].Disable(bg); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, ctx, `document.getElementById("counts").textContent === "300 breakers: 5 open, 1 forced open, 1 half-open, 2 disabled, 291 closed"`, 10*time.Second)
	poll(t, ctx, `document.querySelectorAll("#timeline li").length === 9`, 10*time.Second)

	// Those that need attention first, forced and disabled among them,
	// in words.
	first, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#breakers tbody tr")].slice(0, 9).map(tr => tr.querySelector("td.name").textContent + " " + tr.querySelector("td.state").textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"billing.ledger forced open", "checkout.partner-api open", "fraud.ranker open", "media.s3 open",
		"notifications.sms open", "payments.stripe open", "recommendations.ranker disabled", "reviews.elastic disabled",
		"shipping.partner-api half-open"}
	if !slices.Equal(first, want) {
		t.Fatalf("the first rows: %q, want %q", first, want)
	}

	// The causes, in the words of breaker.Cause.
	causes, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("#timeline li")].map(li => [li.querySelector(".who").textContent + " → " + li.querySelector(".kind").textContent, li.querySelector(".cause").textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	for entry, tr := range map[string]breaker.Transition{
		"payments.stripe → open":            {To: infuse.Open, Failures: 2, RunKept: true},
		"billing.ledger → forced open":      {To: infuse.Open, Mode: infuse.ModeForcedOpen, RunKept: true},
		"reviews.elastic → disabled":        {To: infuse.Closed, Mode: infuse.ModeDisabled, RunKept: true},
		"recommendations.ranker → disabled": {To: infuse.Closed, Mode: infuse.ModeDisabled, RunKept: true},
	} {
		if got, want := causes[entry], breaker.Cause(tr); got != want {
			t.Errorf("the timeline's %s: cause %q, want %q (all: %q)", entry, got, want, causes)
		}
	}

	// Select a tripped breaker and ask to force it open, for the picture.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-id="payments.stripe"] td.name`)),
		chromedp.Click(chromedp.CSS(`#selactions button[data-verb="force-open"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
	); err != nil {
		t.Fatal(err)
	}

	// Whole headers and state words, and the timeline beside the table,
	// in view, even with the page scrolled down the table.
	cut, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#breakers th, #breakers tbody tr:not([hidden]) td.state")].filter(c => c.scrollWidth > c.clientWidth).map(c => c.textContent + " (" + c.scrollWidth + " px in " + c.clientWidth + ")")`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cut) > 0 {
		t.Errorf("cut at 1280 px: %q", cut)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](besideTheTable)); err != nil || !ok {
		t.Errorf("the timeline is not beside the table (%v)", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	keep(t, "dashboard-laptop.png", shot)
	if os.Getenv("INFUSE_DOCS_SCREENSHOT") == "1" {
		writeDocsPNG(t, shot, "../../../../docs/dashboard.png")
	}
	scrollHalfway(t, ctx)
}

// besideTheTable is true in the page when the selected breaker and the
// timeline stand beside the table, in view.
const besideTheTable = `(() => {
	const s = document.getElementById("side").getBoundingClientRect(), b = document.getElementById("breakers").getBoundingClientRect();
	return s.left >= b.right && s.top < innerHeight && s.bottom > 0 && s.right <= innerWidth })()`

// scrollHalfway scrolls the page halfway down the table, and checks that
// the timeline is still in view beside it.
func scrollHalfway(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.scrollTo(0, document.body.scrollHeight / 2), true)`)); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, `scrollY > 0`, 30*time.Second)
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](besideTheTable)); err != nil || !ok {
		t.Errorf("scrolled down the table, the timeline is out of view (%v)", err)
	}
}

// writeDocsPNG writes a screenshot to path, compressed harder than
// Chromium does, so that the docs' picture stays small.
func writeDocsPNG(t *testing.T, shot []byte, path string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d × %d, %d bytes", path, img.Bounds().Dx(), img.Bounds().Dy(), out.Len())
}
