package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestServiceLifecycle runs a service of three tasks on the real engine
// (containerd, runc, CNI bridge and portmap) and takes it through
// everything a service goes through: load balancing, a task killed with
// -9, a rolling deployment under load, scaling, and a bad revision rolled
// back by the circuit breaker.
func TestServiceLifecycle(t *testing.T) {
	cfg, c := engine(t)
	ctx := context.Background()

	td1, err := c.RegisterTaskDefinition(ctx, webTD("web", "one"))
	if err != nil {
		t.Fatal(err)
	}
	if td1.Revision != 1 || td1.ARN() != "web:1" {
		t.Fatalf("first revision: %+v", td1)
	}
	svc, err := c.ApplyService(ctx, webService("web", "web", 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Endpoints) != 1 || !strings.HasPrefix(svc.Endpoints[0], "http://127.0.0.1:") {
		t.Fatalf("endpoints: %v", svc.Endpoints)
	}
	lbURL := svc.Endpoints[0]
	waitService(t, c, "web", "web:1", 3, 60*time.Second)

	// Each task has its own netns, bridge address and dynamic host port on
	// 127.0.0.1 that reaches it.
	tasks, err := c.ListTasks(ctx, "web", false)
	if err != nil {
		t.Fatal(err)
	}
	netns, ips, ports := map[string]bool{}, map[string]bool{}, map[int]bool{}
	hosts := map[string]bool{}
	for _, tk := range tasks {
		netns[tk.Netns], ips[tk.IP] = true, true
		if len(tk.Ports) != 1 || tk.Ports[0].ContainerPort != 8080 || tk.Ports[0].HostPort == 0 || tk.Ports[0].HostPort == 8080 {
			t.Fatalf("task %s ports %+v: want one dynamic host port for 8080", tk.TaskID, tk.Ports)
		}
		ports[tk.Ports[0].HostPort] = true
		body, err := get(fmt.Sprintf("http://127.0.0.1:%d/", tk.Ports[0].HostPort))
		if err != nil || !strings.Contains(body, "hello from "+tk.TaskID[:12]+" rev=one") {
			t.Errorf("task %s through host port %d: %q, %v", tk.TaskID, tk.Ports[0].HostPort, body, err)
		}
		if _, err := os.Stat(tk.Netns); err != nil {
			t.Errorf("netns %s: %v", tk.Netns, err)
		}
	}
	if len(netns) != 3 || len(ips) != 3 || len(ports) != 3 {
		t.Fatalf("tasks share netns/IPs/ports: %v %v %v", netns, ips, ports)
	}
	// Round robin reaches every task.
	for range 9 {
		body, err := get(lbURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		hosts[strings.Fields(body)[2]] = true
	}
	if len(hosts) != 3 {
		t.Errorf("load balancer reached %d tasks, want 3: %v", len(hosts), hosts)
	}
	// The container runs as the image's user, no new privileges, seccomp,
	// and only NET_BIND_SERVICE in its effective set (none for non-root).
	id, err := get(lbURL + "/id")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uid=65534", "NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000"} {
		if !strings.Contains(id, want) {
			t.Errorf("/id lacks %q:\n%s", want, id)
		}
	}

	t.Run("kill -9 a task", func(t *testing.T) {
		l := enginetest.StartLoad(lbURL+"/", 4, 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		victim := tasks[0]
		killedAt := time.Now()
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var stopped *api.Task
		if err := api.WaitFor(ctx, 10*time.Second, func() (bool, error) {
			tk, err := c.DescribeTask(ctx, victim.TaskID)
			stopped = tk
			return err == nil && tk.LastStatus == api.StatusStopped, err
		}); err != nil {
			t.Fatalf("killed task not stopped: %v", err)
		}
		detected := time.Now()
		if stopped.StopCode != api.StopEssentialContainerExited || stopped.ExitCode == nil || *stopped.ExitCode != 137 || !strings.Contains(stopped.StoppedReason, "exit code 137") {
			t.Errorf("stop record: code %s exit %v reason %q", stopped.StopCode, stopped.ExitCode, stopped.StoppedReason)
		}
		failedAtDetect := l.Failed.Load()
		waitService(t, c, "web", "web:1", 3, 30*time.Second)
		t.Logf("killed task detected after %s, replaced (healthy) after %s", detected.Sub(killedAt).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
		time.Sleep(500 * time.Millisecond)
		l.Stop()
		// Requests in flight on the killed task may fail; none after it
		// was taken out of the load balancer.
		if f := l.Failed.Load(); f > failedAtDetect || f > 4 {
			t.Errorf("%d failed requests (%d when the kill was seen): %v", f, failedAtDetect, l.Errs())
		}
		if l.OK.Load() < 50 {
			t.Errorf("only %d requests succeeded", l.OK.Load())
		}
		if _, err := os.Stat(victim.Netns); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns of the stopped task %s still there: %v", victim.Netns, err)
		}
	})

	t.Run("rolling deployment under load", func(t *testing.T) {
		if _, err := c.RegisterTaskDefinition(ctx, webTD("web", "two")); err != nil {
			t.Fatal(err)
		}
		l := enginetest.StartLoad(lbURL+"/", 4, 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		s, err := c.ApplyService(ctx, webService("web", "web", 3))
		if err != nil {
			t.Fatal(err)
		}
		if s.TaskDefinition != "web:2" || s.Deployments[0].RolloutState != "IN_PROGRESS" {
			t.Fatalf("after update: %+v", s)
		}
		waitService(t, c, "web", "web:2", 3, 60*time.Second)
		time.Sleep(300 * time.Millisecond)
		l.Stop()
		if l.Failed.Load() != 0 {
			t.Errorf("%d of %d requests failed during the rollout: %v", l.Failed.Load(), l.OK.Load()+l.Failed.Load(), l.Errs())
		}
		var one, two int
		for body, n := range l.Seen() {
			switch {
			case strings.HasSuffix(body, "rev=one"):
				one += n
			case strings.HasSuffix(body, "rev=two"):
				two += n
			}
		}
		if one == 0 || two == 0 {
			t.Errorf("load saw rev=one %d times and rev=two %d times; want both", one, two)
		}
		t.Logf("rollout: %d requests, none failed (rev one %d, rev two %d)", l.OK.Load(), one, two)
	})

	t.Run("scale", func(t *testing.T) {
		if _, err := c.Scale(ctx, "web", 1); err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "web", "web:2", 1, 30*time.Second)
		if _, err := c.Scale(ctx, "web", 2); err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "web", "web:2", 2, 30*time.Second)
		if _, err := c.Scale(ctx, "nope", 2); !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), "web") {
			t.Errorf("scaling an unknown service: %v", err)
		}
	})

	t.Run("kill -9 the supervisor", func(t *testing.T) {
		before, _ := c.ListTasks(ctx, "web", false)
		st := hoistrt.GetStatus(ctx, cfg)
		if err := syscall.Kill(st.Supervisor, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// The tasks keep running in their shims.
		for _, tk := range before {
			if err := syscall.Kill(tk.PID, 0); err != nil {
				t.Errorf("task %s (pid %d) died with the supervisor", tk.TaskID, tk.PID)
			}
		}
		// The keeper starts a new supervisor by itself.
		if err := api.WaitFor(ctx, 60*time.Second, func() (bool, error) {
			now := hoistrt.GetStatus(ctx, cfg)
			return now.Healthy() && now.Supervisor != st.Supervisor, nil
		}); err != nil {
			t.Fatalf("supervisor not restarted: %v", err)
		}
		s := waitService(t, c, "web", "web:2", 2, 60*time.Second)
		after, _ := c.ListTasks(ctx, "web", false)
		ids := map[string]bool{}
		for _, tk := range before {
			ids[tk.TaskID] = true
		}
		for _, tk := range after {
			if !ids[tk.TaskID] {
				t.Errorf("task %s is new after the restart: the old ones should have been adopted", tk.TaskID)
			}
		}
		if _, err := get(s.Endpoints[0] + "/"); err != nil {
			t.Errorf("load balancer after the restart: %v", err)
		}
	})

	t.Run("a task dies while no supervisor runs", func(t *testing.T) {
		before, _ := c.ListTasks(ctx, "web", false)
		var lastSeq uint64
		_ = c.Events(ctx, 0, "", false, func(e api.Event) error { lastSeq = e.Seq; return nil })
		// Keeper first, so nothing restarts the supervisor; then the
		// supervisor; then a task.
		keeper, _ := os.ReadFile(filepath.Join(cfg.StateDir, "keeper.pid"))
		kpid, _ := strconv.Atoi(strings.TrimSpace(string(keeper)))
		st := hoistrt.GetStatus(ctx, cfg)
		if kpid == 0 || st.Supervisor == 0 {
			t.Fatalf("keeper %d, supervisor %d", kpid, st.Supervisor)
		}
		_ = syscall.Kill(kpid, syscall.SIGKILL)
		_ = syscall.Kill(st.Supervisor, syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond)
		victim := before[0]
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if _, err := hoistrt.Ensure(ctx, cfg, t.Logf); err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "web", "web:2", 2, 60*time.Second)
		tk, err := c.DescribeTask(ctx, victim.TaskID)
		// The exit code survives when containerd still had the task; when
		// it had cleaned up the dead shim, the reason says it is unknown.
		if err != nil || tk.LastStatus != api.StatusStopped || tk.StopCode != api.StopEssentialContainerExited ||
			(tk.ExitCode != nil && *tk.ExitCode != 137) || (tk.ExitCode == nil && !strings.Contains(tk.StoppedReason, "while the runtime was down")) {
			t.Errorf("task that died meanwhile: %+v, %v", tk, err)
		}
		// Its STOPPED event is in the log, after every earlier one, and
		// the sequence has no gap.
		var after []api.Event
		_ = c.Events(ctx, lastSeq, "", false, func(e api.Event) error { after = append(after, e); return nil })
		found := false
		for i, e := range after {
			if e.Seq != lastSeq+uint64(i)+1 {
				t.Errorf("event %d has seq %d", i, e.Seq)
			}
			found = found || (e.TaskID == victim.TaskID && e.Task != nil && e.Task.LastStatus == api.StatusStopped)
		}
		if !found {
			t.Errorf("no STOPPED event for the task that died while the supervisor was down")
		}
		now, _ := c.ListTasks(ctx, "web", false)
		if len(now) != 2 {
			t.Errorf("%d tasks after adoption, want 2 (no duplicates)", len(now))
		}
	})

	t.Run("kill -9 containerd and buildkitd", func(t *testing.T) {
		before, _ := c.ListTasks(ctx, "web", false)
		l := enginetest.StartLoad(lbURL+"/", 4, 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		for _, marker := range []string{"containerd/config.toml", "buildkit/buildkitd.sock"} {
			pid := daemonPID(t, cfg.StateDir+"/"+marker)
			if pid == 0 {
				t.Fatalf("no daemon with %s", marker)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		if err := api.WaitFor(ctx, 60*time.Second, func() (bool, error) { return hoistrt.GetStatus(ctx, cfg).Healthy(), nil }); err != nil {
			t.Fatalf("engine not back: %v", err)
		}
		time.Sleep(time.Second)
		l.Stop()
		if l.Failed.Load() != 0 || l.OK.Load() < 100 {
			t.Errorf("while containerd and buildkitd were down and back: %d ok, %d failed: %v", l.OK.Load(), l.Failed.Load(), l.Errs())
		}
		after, _ := c.ListTasks(ctx, "web", false)
		if len(after) != len(before) || after[0].TaskID != before[0].TaskID {
			t.Errorf("tasks changed: %d before, %d after", len(before), len(after))
		}
		// The control plane watches the tasks through the new containerd:
		// a task killed now is still replaced.
		if err := syscall.Kill(after[0].PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := api.WaitFor(ctx, 20*time.Second, func() (bool, error) {
			tk, err := c.DescribeTask(ctx, after[0].TaskID)
			return err == nil && tk.LastStatus == api.StatusStopped, err
		}); err != nil {
			t.Fatalf("task killed after the containerd restart not noticed: %v", err)
		}
		waitService(t, c, "web", "web:2", 2, 30*time.Second)
	})

	t.Run("bad revision rolled back", func(t *testing.T) {
		bad := webTD("web", "three")
		bad.ContainerDefinitions[0].Command = []string{"-exit", "3"}
		if _, err := c.RegisterTaskDefinition(ctx, bad); err != nil {
			t.Fatal(err)
		}
		in := webService("web", "web:3", 2)
		in.DeploymentConfiguration.CircuitBreaker = &api.DeploymentCircuitBreaker{Enable: true, Rollback: true}
		l := enginetest.StartLoad(lbURL+"/", 2, 10*time.Second)
		if _, err := c.ApplyService(ctx, in); err != nil {
			t.Fatal(err)
		}
		var s *api.Service
		if err := api.WaitFor(ctx, 90*time.Second, func() (bool, error) {
			var err error
			s, err = c.DescribeService(ctx, "web")
			return err == nil && s.TaskDefinition == "web:2" && s.Deployments[0].RolloutState == "COMPLETED", err
		}); err != nil {
			t.Fatalf("no rollback: %v\n%+v", err, s)
		}
		l.Stop()
		if l.Failed.Load() != 0 {
			t.Errorf("%d requests failed while the bad revision was tried: %v", l.Failed.Load(), l.Errs())
		}
		all, _ := c.ListTasks(ctx, "web", true)
		var exits int
		for _, tk := range all {
			if tk.TaskDefinition == "web:3" && tk.ExitCode != nil && *tk.ExitCode == 3 && strings.Contains(tk.StoppedReason, "exit code 3") {
				exits++
			}
		}
		if exits < 3 {
			t.Errorf("%d stopped tasks of web:3 with exit code 3, want at least 3 (the breaker's threshold)", exits)
		}
		var evs []api.Event
		_ = c.Events(ctx, 0, "web", false, func(e api.Event) error { evs = append(evs, e); return nil })
		var failedEv bool
		for _, e := range evs {
			failedEv = failedEv || strings.Contains(e.Message, "SERVICE_DEPLOYMENT_FAILED")
		}
		if !failedEv {
			t.Errorf("no SERVICE_DEPLOYMENT_FAILED event among %d", len(evs))
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := c.DeleteService(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeService(ctx, "web"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		ts, _ := c.ListTasks(ctx, "", false)
		if len(ts) != 0 {
			t.Errorf("tasks left: %+v", ts)
		}
		if _, err := get(lbURL + "/"); err == nil {
			t.Errorf("the load balancer still answers after delete")
		}
	})
}

// daemonPID finds an engine daemon by a path on its command line.
func daemonPID(t *testing.T, marker string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), marker) && !strings.Contains(string(cmdline), "runtime\x00serve") {
			return pid
		}
	}
	return 0
}
