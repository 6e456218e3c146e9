package local

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
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

const tomcatServlet = `import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

@WebServlet("/hello")
public class Hello extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain");
        resp.getWriter().println("hello from " + getServletContext().getServerInfo()
            + " rev " + System.getenv("HOIST_REVISION"));
    }
}
`

// TestTomcat takes Debian's Tomcat 10 with a servlet from a running
// process to three tasks behind the local load balancer, through the whole
// pipeline, kills one, and rolls a new revision under load.
func TestTomcat(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	cmd, _ := livetest.Tomcat(t, livetest.TomcatOptions{Servlet: tomcatServlet, Password: "tomcat-deploy-secret-91"})
	ws := discover.Workspace{Dir: t.TempDir()}
	host := discover.LiveHost()
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, a := range inv.Apps {
		if int(a.PID) == cmd.Process.Pid {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("Tomcat (pid %d) not in the inventory", cmd.Process.Pid)
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
	_ = cmd.Process.Signal(syscall.SIGTERM)

	d := generate.DefaultDeployment(a, r.Image)
	d.DesiredCount = 3
	// Start-up CPU would make target tracking scale out; the counts here
	// are the test's.
	d.AutoScaling.Enabled = false
	d.Memory = 1024
	d.Cpu = 512
	listener := freePort(t)
	d.Local.ListenerPort = listener
	d.HealthCheck.GracePeriodSeconds = 120
	if err := d.Validate(); err != nil {
		t.Fatalf("default deployment: %v", err)
	}
	writeDeployment(t, ws, id, d)
	logf := func(f string, args ...any) { t.Logf(f, args...) }
	start := time.Now()
	res, err := Deploy(ctx, Options{Workspace: ws, ID: id, Engine: cfg, Wait: true, Timeout: 8 * time.Minute, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Tomcat deployed as %s, 3 tasks healthy after %s", res.TaskDefinition, time.Since(start).Round(time.Millisecond))
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", listener)
	hello := func() (string, error) {
		deadline := time.Now().Add(time.Minute)
		for {
			body, err := httpGet(endpoint + "/shop/hello")
			if err == nil || time.Now().After(deadline) {
				return body, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if body, err := hello(); err != nil || !strings.Contains(body, "hello from Apache Tomcat/10") {
		t.Fatalf("servlet through the load balancer: %q, %v", body, err)
	}
	c := cfg.Client()
	tasks, _ := c.ListTasks(ctx, d.Family, false)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks: %+v", len(tasks), tasks)
	}
	if err := syscall.Kill(tasks[1].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := api.WaitFor(ctx, 3*time.Minute, func() (bool, error) {
		ts, err := c.ListTasks(ctx, d.Family, false)
		healthy := 0
		for _, tk := range ts {
			if tk.TaskID == tasks[1].TaskID {
				return false, nil
			}
			if tk.HealthStatus == api.HealthHealthy {
				healthy++
			}
		}
		return healthy == 3, err
	}); err != nil {
		t.Fatalf("killed Tomcat not replaced: %v", err)
	}

	// A new revision under load: the servlet answers throughout.
	d.Environment = append(d.Environment, generate.KeyValue{Name: "HOIST_REVISION", Value: "2"})
	writeDeployment(t, ws, id, d)
	var ok, failed int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := httpGet(endpoint + "/shop/hello"); err != nil {
				failed++
			} else {
				ok++
			}
		}
	}()
	res, err = Deploy(ctx, Options{Workspace: ws, ID: id, Engine: cfg, Wait: true, Timeout: 8 * time.Minute, Logf: logf})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || ok < 20 {
		t.Errorf("Tomcat rollout under load: %d ok, %d failed", ok, failed)
	}
	if body, _ := httpGet(endpoint + "/shop/hello"); !strings.Contains(body, "rev 2") {
		t.Errorf("after the rollout: %q", body)
	}
	if err := Delete(ctx, Options{Workspace: ws, ID: id, Engine: cfg}); err != nil {
		t.Fatal(err)
	}
}
