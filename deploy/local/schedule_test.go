package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestDeployScheduledApp deploys a scheduled app (deployment.json
// `schedule`, as a nightly batch job has) with `hoist deploy`: it becomes a
// schedule, not a service, whose firing runs the task, which writes to its
// shared volume and exits 0; `hoist deploy --delete` removes the schedule.
// A cron schedule fires at the next minute, so this takes up to a minute.
func TestDeployScheduledApp(t *testing.T) {
	cfg := enginetest.Start(t)
	const image = "hoist.local/nightly:test"
	// The batch job: append a line to /data/runs and exit.
	buildWebapp(t, cfg, image, "-write", "/data/runs")
	d := deployment(t, image, "nightly", freePort(t))
	d.Schedule = &generate.Schedule{Expression: "cron(* * * * ? *)"}
	d.AutoScaling = generate.AutoScaling{}
	d.LoadBalancer = generate.LoadBalancer{Type: generate.LoadBalancerNone}
	d.AppRunner.Enabled = false
	d.Kubernetes.Ingress.Enabled = false
	id := d.ID
	ws := cliWorkspace(t, d, "not-shown")

	res, _, _ := deployJSON(t, cfg, ws, id)
	if res.Service != nil || res.Schedule == nil || res.Schedule.Expression != "cron(* * * * ? *)" || res.Schedule.NextRun.IsZero() {
		t.Fatalf("a scheduled app should become a schedule: %+v", res)
	}
	c := cfg.Client()
	ctx := context.Background()
	var runs []api.Task
	if err := api.WaitFor(ctx, 90*time.Second, func() (bool, error) {
		all, err := c.ListTasks(ctx, "", true)
		runs = runs[:0]
		for _, tk := range all {
			if tk.StartedBy == "schedule/nightly" && tk.LastStatus == api.StatusStopped {
				runs = append(runs, tk)
			}
		}
		return len(runs) > 0, err
	}); err != nil {
		t.Fatalf("the schedule never ran its task: %v", err)
	}
	if r := runs[0]; r.ExitCode == nil || *r.ExitCode != 0 || r.Group != "family:nightly" || r.TaskDefinition != res.TaskDefinition {
		t.Errorf("the scheduled run: %+v", r)
	}
	data, err := os.ReadFile(filepath.Join(cfg.DataDir, "runtime", "volumes", "nightly-data", "runs"))
	if err != nil || !strings.Contains(string(data), "run at ") || !strings.Contains(string(data), "uid 65534") {
		t.Errorf("what the scheduled task wrote to its volume: %q, %v", data, err)
	}
	out, _, code := hoistCmd(t, cfg, ws.Dir, "runtime", "logs", runs[0].TaskID)
	if code != 0 || !strings.Contains(out, "wrote /data/runs") {
		t.Errorf("runtime logs of the scheduled run: exit %d\n%s", code, out)
	}

	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", "--delete", id); code != 0 {
		t.Fatalf("deploy --delete: %d %s", code, stderr)
	}
	if ss, err := c.ListSchedules(ctx); err != nil || len(ss) != 0 {
		t.Errorf("schedules after --delete: %+v %v", ss, err)
	}
}
