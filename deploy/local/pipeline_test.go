package local

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/generate"
	hoistrt "github.com/hoistctl/hoist/runtime"
)

// liveApp is a process of this host taken through hoist's phases before
// deploy, as a user's app is: its workspace, ID, analysis and the image
// containerize built into the test engine.
type liveApp struct {
	ws    discover.Workspace
	id    string
	a     *discover.Analysis
	image string
}

// containerizeLive finds the app match picks in the live host's inventory
// (what names it when it is not there), analyzes and extracts it, and
// containerizes it into cfg's engine FROM scratch with the host's own JDK,
// jlinked, and hoist-entry built from this checkout.
func containerizeLive(t *testing.T, cfg hoistrt.Config, what string, match func(discover.App) bool) liveApp {
	t.Helper()
	ctx := context.Background()
	ws := discover.Workspace{Dir: t.TempDir()}
	host := discover.LiveHost()
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	app, found := inv.Find(match)
	id := app.ID
	if !found {
		t.Fatalf("%s not in the inventory", what)
	}
	a, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: host, Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(t.TempDir(), "hoist-entry")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", entry, "../../cmd/hoist-entry").CombinedOutput(); err != nil {
		t.Fatalf("building hoist-entry: %v\n%s", err, out)
	}
	var progress bytes.Buffer
	r, err := containerize.Containerize(ctx, containerize.Options{
		Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: &progress, Mode: "plain", Logf: t.Logf, EntryBinary: entry, BaseKey: "jlink=true",
		Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			_, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: true, AppJars: containerize.AppJars(filepath.Dir(dest), m), Logf: t.Logf})
			return err
		},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	return liveApp{ws: ws, id: id, a: a, image: r.Image}
}

// deployDefaults deploys generate's default deployment.json for the app
// with three tasks and auto scaling off (start-up CPU would make target
// tracking scale out; the counts here are the test's), a free listener
// port and edit applied, and waits for it. It returns the deployment, the
// result and the load balancer's URL.
func (app liveApp) deployDefaults(t *testing.T, cfg hoistrt.Config, timeout time.Duration, edit func(*generate.Deployment)) (*generate.Deployment, *Result, string) {
	t.Helper()
	d := generate.DefaultDeployment(app.a, app.image)
	d.DesiredCount = 3
	d.AutoScaling.Enabled = false
	listener := freePort(t)
	d.Local.ListenerPort = listener
	if edit != nil {
		edit(d)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("default deployment: %v", err)
	}
	writeDeployment(t, app.ws, app.id, d)
	start := time.Now()
	res, err := app.deploy(t, cfg, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s deployed as %s, 3 tasks healthy after %s; ignored: %v", app.id, res.TaskDefinition, time.Since(start).Round(time.Millisecond), res.Ignored)
	return d, res, fmt.Sprintf("http://127.0.0.1:%d", listener)
}

// deploy deploys the app's deployment.json as it is and waits for the
// rollout.
func (app liveApp) deploy(t *testing.T, cfg hoistrt.Config, timeout time.Duration) (*Result, error) {
	logf := func(f string, args ...any) { t.Logf(f, args...) }
	return Deploy(context.Background(), Options{Workspace: app.ws, ID: app.id, Engine: cfg, Wait: true, Timeout: timeout, Logf: logf})
}
