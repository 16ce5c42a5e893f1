package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/infuse-go/infuse"
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

// The dashboard in a real browser: it lists the breakers, shows a
// transition made elsewhere within a second, and its buttons act with the
// token and are refused without it.
func TestDashboardInABrowser(t *testing.T) {
	_, url, store, bs := fleet(t, "payments", "search")
	base := startDashboard(t, url, "s3cret")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	row := func(name string) chromedp.CSS { return chromedp.CSS(`tr[data-name="` + name + `"] td.state`) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base),
		chromedp.WaitVisible(row("payments")),
		chromedp.WaitVisible(row("search")),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(row("payments")))
	if err != nil {
		t.Fatal(err)
	}
	if state != "closed" {
		t.Fatalf("payments shows %q", state)
	}

	// A transition made elsewhere appears within a second.
	if err := bs[0].Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`tr.open[data-name="payments"]`)))
	wcancel()
	if err != nil {
		t.Fatalf("the page did not show the transition within a second: %v", err)
	}
	t.Logf("transition shown after %v", time.Since(start))

	// Without the token, the button is refused and nothing changes.
	button := chromedp.CSS(`tr[data-name="search"] button[data-verb="force-open"]`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(button),
	); err != nil {
		t.Fatalf("clicking without the token: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("message").textContent.includes("401")`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#message")))
		t.Fatalf("the refusal was not shown: %v (message %q)", err, msg)
	}
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeNormal {
		t.Fatalf("a refused action changed Redis: %+v", info)
	}

	// With the token, it forces the breaker open in Redis.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), "s3cret"),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS(`tr.open[data-name="search"]`)),
	); err != nil {
		t.Fatalf("clicking with the token: %v", err)
	}
	if info, _ := store.Breaker(context.Background(), "search"); info.Mode != infuse.ModeForcedOpen {
		t.Fatalf("Redis holds %+v after the button", info)
	}

	// A screenshot for a person to look at, outside the repository.
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Logf("screenshot: %v", err)
	} else {
		dir := os.Getenv("INFUSE_SCREENSHOTS")
		if dir == "" {
			dir = t.TempDir()
		}
		_ = os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644)
	}
}
