package local

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/livetest"
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
	app := containerizeLive(t, cfg, fmt.Sprintf("Tomcat (pid %d)", cmd.Process.Pid), func(a discover.App) bool { return int(a.PID) == cmd.Process.Pid })
	_ = cmd.Process.Signal(syscall.SIGTERM)

	d, _, endpoint := app.deployDefaults(t, cfg, 8*time.Minute, func(d *generate.Deployment) {
		d.Memory = 1024
		d.Cpu = 512
		d.HealthCheck.GracePeriodSeconds = 120
	})
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
	writeDeployment(t, app.ws, app.id, d)
	l := enginetest.StartLoad(endpoint+"/shop/hello", 1, 5*time.Second)
	_, err := app.deploy(t, cfg, 8*time.Minute)
	ok, failed, errs := l.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || ok < 20 {
		t.Errorf("Tomcat rollout under load: %d ok, %d failed: %v", ok, failed, errs)
	}
	if body, _ := httpGet(endpoint + "/shop/hello"); !strings.Contains(body, "rev 2") {
		t.Errorf("after the rollout: %q", body)
	}
	if err := Delete(ctx, Options{Workspace: app.ws, ID: app.id, Engine: cfg}); err != nil {
		t.Fatal(err)
	}
}
