package report

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findChromium finds Debian's chromium (or another Chromium build).
func findChromium() string {
	if p := os.Getenv("HOIST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestReportInBrowser loads the report in headless Chromium over file://,
// checks what a reader sees (text, charts drawn, highlighting applied),
// that the page logs no error and fetches nothing but itself, and saves a
// screenshot under the test's temp dir.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	exe := findChromium()
	if exe == "" {
		t.Skip("chromium is not installed (apt-get install chromium, or set HOIST_CHROMIUM to a Chromium binary): the report is not tested in a browser")
	}
	ws, ids, secrets := testWorkspace(t)
	res, err := Write(Options{Workspace: ws}, "")
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1600),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser; it must not carry the timeout.
	if _, err := chromedp.Run(ctx, chromedp.Title()); err != nil {
		t.Skipf("chromium (%s) could not be started: %v", exe, err)
	}
	var mu sync.Mutex
	var problems, requests []string
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	url := "file://" + filepath.ToSlash(res.Path)
	if err := chromedp.Do(tctx,
		chromedp.Navigate(url),
		chromedp.WaitReady("footer"),
	); err != nil {
		t.Fatalf("loading %s in chromium: %v", url, err)
	}
	// Open every collapsed artifact, as a reader would.
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[any](`document.querySelectorAll("details").forEach(d => d.open = true)`)); err != nil {
		t.Fatal(err)
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return v
	}
	text, _ := eval(`document.body.innerText`).(string)
	dom, _ := eval(`document.documentElement.outerHTML`).(string)
	num := func(v any) int { f, _ := v.(float64); return int(f) }
	charts := num(eval(`Array.from(document.querySelectorAll("svg.chart")).filter(s => s.getBoundingClientRect().width > 300 && s.querySelectorAll("rect").length > 0).length`))
	spans := num(eval(`document.querySelectorAll("pre.code span.k").length`))
	masks := num(eval(`document.querySelectorAll(".x").length`))
	color, _ := eval(`getComputedStyle(document.querySelector("pre.code span.k")).color`).(string)
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 2000 {
		t.Errorf("the screenshot is %dx%d: the page did not render in full", b.Dx(), b.Dy())
	}

	want := []string{"Migration report", "Inventory", "What needs attention", "Secrets", "External dependencies",
		"Files left out of the image", "Fields a target cannot express", "Validation of the artifacts",
		"Changes since the previous generation", "Artifacts", "kubernetes/secret.yaml", "[secret value hidden]"}
	for _, id := range ids {
		want = append(want, id)
		a, _ := ws.ReadAnalysis(id)
		for _, s := range a.Observed.Secrets {
			want = append(want, s.Ref)
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered page does not show %q", w)
		}
	}
	if charts < len(ids) {
		t.Errorf("%d charts drawn, want at least %d (one per app)", charts, len(ids))
	}
	if spans < 50 {
		t.Errorf("%d highlighted keys in the artifacts", spans)
	}
	if color == "" || color == "rgb(29, 35, 41)" {
		t.Errorf("highlighted keys have the text colour (%q): the page's CSS did not apply", color)
	}
	if masks == 0 {
		t.Error("no masked secret is marked on the page")
	}
	assertNoSecrets(t, "the rendered page's text", text, secrets)
	assertNoSecrets(t, "the rendered DOM", dom, secrets)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	for _, r := range requests {
		if r != url && !strings.HasPrefix(r, "data:") {
			t.Errorf("the page fetched %s: it must be self-contained", r)
		}
	}
	if len(requests) == 0 {
		t.Error("no request seen at all: the network listener did not work")
	}
}
