package local

import (
	"context"
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

// TestJavaSampleApp is the pipeline end to end on the sample jar app: a
// running host process is found, analyzed, extracted and containerized
// (FROM scratch with the host's own JDK), `generate`'s default
// deployment.json is deployed with three tasks, served through the load
// balancer, a task is killed and replaced, the service scaled, and a new
// revision rolled out under load without a failed request.
func TestJavaSampleApp(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	sample := livetest.SampleApp(t, "DB_PASSWORD=deploy-java-env-secret", "GREETING_STYLE=plain")
	app := containerizeLive(t, cfg, "sample app", func(a discover.App) bool { return a.Path == sample.Dir })
	sample.Stop()

	d, _, endpoint := app.deployDefaults(t, cfg, 5*time.Minute, nil)
	body, err := httpGet(endpoint + "/")
	if err != nil || !strings.Contains(body, "hello from the hoist sample app") {
		t.Fatalf("through the load balancer: %q, %v", body, err)
	}
	c := cfg.Client()
	tasks, _ := c.ListTasks(ctx, d.Family, false)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}

	// kill -9 one task's JVM.
	l := enginetest.StartLoad(endpoint+"/", 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(tasks[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var atStop int64
	if err := api.WaitFor(ctx, 20*time.Second, func() (bool, error) {
		tk, err := c.DescribeTask(ctx, tasks[0].TaskID)
		atStop = l.Failed.Load()
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
	ok, failed, errs := l.Stop()
	if failed > atStop || failed > 2 {
		t.Errorf("kill -9: %d ok, %d failed (%d by the time the kill was seen): %v", ok, failed, atStop, errs)
	}

	// Scale, then roll a new revision under load.
	if _, err := c.Scale(ctx, d.Family, 2); err != nil {
		t.Fatal(err)
	}
	d.DesiredCount = 2
	d.Environment = append(d.Environment, generate.KeyValue{Name: "HOIST_REVISION", Value: "2"})
	writeDeployment(t, app.ws, app.id, d)
	l = enginetest.StartLoad(endpoint+"/", 1, 10*time.Second)
	res, err := app.deploy(t, cfg, 5*time.Minute)
	ok, failed, errs = l.Stop()
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
	if err := Delete(ctx, Options{Workspace: app.ws, ID: app.id, Engine: cfg}); err != nil {
		t.Fatal(err)
	}
}
