package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/livetest"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestJavaSampleApp is the pipeline end to end on the sample jar app: a
// running host process is found, analyzed, extracted and containerized
// (FROM scratch with the host's own JDK), `generate`'s default
// deployment.json is deployed with three tasks, served through the load
// balancer, a task is killed and replaced, the service scaled, and a new
// revision rolled out under load without a failed request.
func TestJavaSampleApp(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	app := livetest.SampleApp(t, "DB_PASSWORD=deploy-java-env-secret", "GREETING_STYLE=plain")
	appDir, stop := app.Dir, app.Stop

	ws := discover.Workspace{Dir: t.TempDir()}
	host := discover.LiveHost()
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, a := range inv.Apps {
		if a.Path == appDir {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("sample app not in the inventory")
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
		Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: &progress, Mode: "plain", Logf: t.Logf, EntryBinary: entry,
		Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			_, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: true, AppJars: containerize.AppJars(filepath.Dir(dest), m), Logf: t.Logf})
			return err
		},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	stop()

	d := generate.DefaultDeployment(a, r.Image)
	d.DesiredCount = 3
	// Start-up CPU would make target tracking scale out; the counts here
	// are the test's.
	d.AutoScaling.Enabled = false
	listener := freePort(t)
	d.Local.ListenerPort = listener
	if err := d.Validate(); err != nil {
		t.Fatalf("default deployment: %v", err)
	}
	writeDeployment(t, ws, id, d)
	logf := func(f string, args ...any) { t.Logf(f, args...) }
	start := time.Now()
	res, err := Deploy(ctx, Options{Workspace: ws, ID: id, Engine: cfg, Wait: true, Timeout: 5 * time.Minute, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deployed %s with 3 tasks in %s; ignored: %v", res.TaskDefinition, time.Since(start).Round(time.Millisecond), res.Ignored)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", listener)
	body, err := httpGet(endpoint + "/")
	if err != nil || !strings.Contains(body, "hello from the hoist sample app") {
		t.Fatalf("through the load balancer: %q, %v", body, err)
	}
	c := cfg.Client()
	tasks, _ := c.ListTasks(ctx, d.Family, false)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}

	// load runs requests through the load balancer until stopped.
	load := func() (func() (int64, int64, []string), *atomic.Int64) {
		var ok, failed atomic.Int64
		var errs []string
		stopc := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			hc := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stopc:
					return
				default:
				}
				resp, err := hc.Get(endpoint + "/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok.Add(1)
						continue
					}
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				failed.Add(1)
				if len(errs) < 5 {
					errs = append(errs, err.Error())
				}
			}
		}()
		return func() (int64, int64, []string) { close(stopc); <-done; return ok.Load(), failed.Load(), errs }, &failed
	}

	// kill -9 one task's JVM.
	stopLoad, failedSoFar := load()
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(tasks[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var atStop int64
	if err := api.WaitFor(ctx, 20*time.Second, func() (bool, error) {
		tk, err := c.DescribeTask(ctx, tasks[0].TaskID)
		atStop = failedSoFar.Load()
		return err == nil && tk.LastStatus == api.StatusStopped, err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitStable(ctx, c, d.Family, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := api.WaitFor(ctx, 2*time.Minute, func() (bool, error) {
		s, err := c.DescribeService(ctx, d.Family)
		return err == nil && s.RunningCount == 3, err
	}); err != nil {
		t.Fatal(err)
	}
	ok, failed, errs := stopLoad()
	if failed > atStop || failed > 2 {
		t.Errorf("kill -9: %d ok, %d failed (%d by the time the kill was seen): %v", ok, failed, atStop, errs)
	}

	// Scale, then roll a new revision under load.
	if _, err := c.Scale(ctx, d.Family, 2); err != nil {
		t.Fatal(err)
	}
	d.DesiredCount = 2
	d.Environment = append(d.Environment, generate.KeyValue{Name: "HOIST_REVISION", Value: "2"})
	writeDeployment(t, ws, id, d)
	stopLoad, _ = load()
	res, err = Deploy(ctx, Options{Workspace: ws, ID: id, Engine: cfg, Wait: true, Timeout: 5 * time.Minute, Logf: logf})
	ok, failed, errs = stopLoad()
	if err != nil {
		t.Fatal(err)
	}
	if res.Service.TaskDefinition != d.Family+":2" || res.Service.RunningCount != 2 {
		t.Errorf("after the rollout: %+v", res.Service)
	}
	if failed != 0 || ok < 20 {
		t.Errorf("rollout under load: %d ok, %d failed: %v", ok, failed, errs)
	}
	t.Logf("rollout under load: %d requests, %d failed", ok, failed)
	if err := Delete(ctx, Options{Workspace: ws, ID: id, Engine: cfg}); err != nil {
		t.Fatal(err)
	}
}
