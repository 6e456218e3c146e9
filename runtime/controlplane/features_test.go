package controlplane_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistctl/hoist/runtime/api"
)

// TestRuntimeFeatures covers what a service or task can ask for beyond
// the basics, each against the real engine: health check commands,
// OOM kills, secrets, shared volumes, one-off and scheduled tasks, the
// event log and webhooks, TCP load balancing, target tracking, and the
// errors bad requests get.
func TestRuntimeFeatures(t *testing.T) {
	cfg, c := engine(t)
	ctx := context.Background()

	// Every event, as a webhook on loopback receives them.
	var hookMu sync.Mutex
	var hooked []api.Event
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e api.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		hookMu.Lock()
		hooked = append(hooked, e)
		hookMu.Unlock()
	})}
	go hookSrv.Serve(hookLn)
	defer hookSrv.Close()
	if _, err := c.AddWebhook(ctx, "http://"+hookLn.Addr().String()+"/events"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddWebhook(ctx, "http://192.0.2.1/x"); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("non-loopback webhook: %v", err)
	}
	// A follower of the event log from the start.
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var followMu sync.Mutex
	var followed []api.Event
	go c.Events(fctx, 0, "", true, func(e api.Event) error {
		followMu.Lock()
		followed = append(followed, e)
		followMu.Unlock()
		return nil
	})

	t.Run("bad requests", func(t *testing.T) {
		bad := webTD("bad", "x")
		bad.ContainerDefinitions[0].PortMappings = append(bad.ContainerDefinitions[0].PortMappings, api.PortMapping{ContainerPort: 70000})
		bad.ContainerDefinitions[0].HealthCheck = &api.HealthCheck{Command: []string{"curl"}}
		_, err := c.RegisterTaskDefinition(ctx, bad)
		if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "containerPort 70000") || !strings.Contains(err.Error(), "healthCheck.command") {
			t.Errorf("bad task definition: %v", err)
		}
		if _, err := c.RegisterTaskDefinition(ctx, &api.TaskDefinition{Family: "../etc", ContainerDefinitions: []api.ContainerDefinition{{Name: "x", Image: "y"}}}); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("hostile family: %v", err)
		}
		missing := webTD("missing", "x")
		missing.ContainerDefinitions[0].Image = "hoist.local/does-not-exist:1"
		if _, err := c.RegisterTaskDefinition(ctx, missing); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ApplyService(ctx, webService("missing", "missing", 1)); !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), "hoist containerize") {
			t.Errorf("missing image: %v", err)
		}
		if _, err := c.DescribeService(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("unknown service: %v", err)
		}
		if _, err := c.ApplyService(ctx, webService("x", "nofamily", 1)); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("unknown task definition: %v", err)
		}
		// A fixed host port that is taken on this machine.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		fixed := webTD("fixed", "x")
		fixed.ContainerDefinitions[0].PortMappings[0].HostPort = busy.Addr().(*net.TCPAddr).Port
		if _, err := c.RegisterTaskDefinition(ctx, fixed); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ApplyService(ctx, webService("fixed", "fixed", 2)); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "hostPort 0") {
			t.Errorf("two tasks on one fixed host port: %v", err)
		}
		ts, err := c.RunTask(ctx, &api.RunTaskInput{TaskDefinition: "fixed", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if ts[0].StopCode != api.StopTaskFailedToStart || !strings.Contains(ts[0].StoppedReason, "in use") {
			t.Errorf("task on a busy host port: %+v", ts[0])
		}
		// A listener port in use.
		in := webService("lbconflict", "web-feat", 1)
		in.LoadBalancers[0].ListenerPort = busy.Addr().(*net.TCPAddr).Port
		if _, err := c.RegisterTaskDefinition(ctx, webTD("web-feat", "x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ApplyService(ctx, in); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "already in use") {
			t.Errorf("listener port in use: %v", err)
		}
		if ss, _ := c.ListServices(ctx); len(ss) != 0 {
			t.Errorf("failed requests left services behind: %+v", ss)
		}
	})

	t.Run("secrets and volumes", func(t *testing.T) {
		const secret = "s3cr3t-value-not-to-be-shown"
		if err := c.PutSecret(ctx, "db-password", secret); err != nil {
			t.Fatal(err)
		}
		td := webTD("vol", "x")
		cd := &td.ContainerDefinitions[0]
		cd.Secrets = []api.Secret{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password"}}
		td.Volumes = []api.Volume{{Name: "shared"}}
		cd.MountPoints = []api.MountPoint{{SourceVolume: "shared", ContainerPath: "/data"}}
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		s, err := c.ApplyService(ctx, webService("vol", "vol", 2))
		if err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "vol", "vol:1", 2, 60*time.Second)
		if got, err := get(s.Endpoints[0] + "/env?name=DB_PASSWORD"); err != nil || got != secret {
			t.Errorf("secret in the task: %q, %v", got, err)
		}
		// One task writes, every task reads the same directory.
		resp, err := http.Post(s.Endpoints[0]+"/volume?path=/data/f", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		writer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("write to volume: %s", writer)
		}
		ts, _ := c.ListTasks(ctx, "vol", false)
		for _, tk := range ts {
			got, err := get(fmt.Sprintf("http://127.0.0.1:%d/volume?path=/data/f", tk.Ports[0].HostPort))
			if err != nil || got != string(writer) {
				t.Errorf("task %s reads %q, %v; want %q", tk.TaskID, got, err, writer)
			}
		}
		// The value shows nowhere: not in the task definition, tasks,
		// events, or the secret list.
		var shown []string
		tdOut, _ := c.DescribeTaskDefinition(ctx, "vol:1")
		tasksOut, _ := c.ListTasks(ctx, "", true)
		names, _ := c.ListSecrets(ctx)
		var evs []api.Event
		_ = c.Events(ctx, 0, "", false, func(e api.Event) error { evs = append(evs, e); return nil })
		for what, v := range map[string]any{"task definition": tdOut, "tasks": tasksOut, "secret names": names, "events": evs} {
			data, _ := json.Marshal(v)
			if strings.Contains(string(data), secret) {
				shown = append(shown, what)
			}
		}
		logs, _ := os.ReadFile(filepath.Join(cfg.DataDir, "logs", "supervisor.log"))
		if strings.Contains(string(logs), secret) {
			shown = append(shown, "supervisor log")
		}
		if len(shown) > 0 {
			t.Errorf("the secret value shows in %v", shown)
		}
		if err := c.DeleteService(ctx, "vol"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("health check command and OOM", func(t *testing.T) {
		td := webTD("hc", "x")
		cd := &td.ContainerDefinitions[0]
		cd.HealthCheck = &api.HealthCheck{Command: []string{"CMD", "/webapp", "-check", "http://127.0.0.1:8080/health"}, IntervalMillis: 300, TimeoutMillis: 2000, Retries: 2}
		cd.Memory = 48
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		in := webService("hc", "hc", 1)
		in.LoadBalancers = nil // the container check alone decides
		if _, err := c.ApplyService(ctx, in); err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "hc", "hc:1", 1, 60*time.Second)
		ts, _ := c.ListTasks(ctx, "hc", false)
		first := ts[0]
		// Make it sick: its own check fails, the task is replaced.
		if _, err := get(fmt.Sprintf("http://127.0.0.1:%d/sick", first.Ports[0].HostPort)); err != nil {
			t.Fatal(err)
		}
		var st *api.Task
		if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			var err error
			st, err = c.DescribeTask(ctx, first.TaskID)
			return err == nil && st.LastStatus == api.StatusStopped, err
		}); err != nil {
			t.Fatalf("unhealthy task not stopped: %v", err)
		}
		if !strings.Contains(st.StoppedReason, "container health checks") {
			t.Errorf("stopped reason %q", st.StoppedReason)
		}
		waitService(t, c, "hc", "hc:1", 1, 60*time.Second)
		// Use more memory than the limit: the kernel kills it, the runtime
		// says so.
		ts, _ = c.ListTasks(ctx, "hc", false)
		second := ts[0]
		_, _ = get(fmt.Sprintf("http://127.0.0.1:%d/alloc?mb=200", second.Ports[0].HostPort))
		if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			var err error
			st, err = c.DescribeTask(ctx, second.TaskID)
			return err == nil && st.LastStatus == api.StatusStopped, err
		}); err != nil {
			t.Fatalf("task over its memory limit not stopped: %v", err)
		}
		if !st.OOMKilled || !strings.Contains(st.StoppedReason, "OutOfMemoryError") {
			t.Errorf("OOM-killed task: oom=%v reason %q exit %v", st.OOMKilled, st.StoppedReason, st.ExitCode)
		}
		if err := c.DeleteService(ctx, "hc"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("run-task and schedules", func(t *testing.T) {
		td := webTD("job", "x")
		td.Volumes = []api.Volume{{Name: "jobdata"}}
		td.ContainerDefinitions[0].MountPoints = []api.MountPoint{{SourceVolume: "jobdata", ContainerPath: "/out"}}
		td.ContainerDefinitions[0].Command = []string{"-write", "/out/runs"}
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		ts, err := c.RunTask(ctx, &api.RunTaskInput{TaskDefinition: "job", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if ts[0].ExitCode == nil || *ts[0].ExitCode != 0 || ts[0].Group != "family:job" {
			t.Fatalf("run-task: %+v", ts[0])
		}
		var out strings.Builder
		if err := c.Logs(ctx, ts[0].TaskID, false, 0, &out); err != nil || !strings.Contains(out.String(), "wrote /out/runs") {
			t.Errorf("logs of the task: %q, %v", out.String(), err)
		}
		failing := webTD("failjob", "x")
		failing.ContainerDefinitions[0].Command = []string{"-exit", "7"}
		if _, err := c.RegisterTaskDefinition(ctx, failing); err != nil {
			t.Fatal(err)
		}
		ts, err = c.RunTask(ctx, &api.RunTaskInput{TaskDefinition: "failjob", Wait: true})
		if err != nil || ts[0].ExitCode == nil || *ts[0].ExitCode != 7 {
			t.Errorf("failing task: %+v %v", ts, err)
		}
		if _, err := c.PutSchedule(ctx, &api.Schedule{Name: "bad", Expression: "cron(0 12 * * * *)", TaskDefinition: "job"}); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("cron with both day fields: %v", err)
		}
		if _, err := c.PutSchedule(ctx, &api.Schedule{Name: "every2s", Expression: "rate(2 seconds)", TaskDefinition: "job"}); err != nil {
			t.Fatal(err)
		}
		var runs []api.Task
		if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			all, err := c.ListTasks(ctx, "", true)
			runs = runs[:0]
			for _, tk := range all {
				if tk.StartedBy == "schedule/every2s" && tk.LastStatus == api.StatusStopped && tk.ExitCode != nil && *tk.ExitCode == 0 {
					runs = append(runs, tk)
				}
			}
			return len(runs) >= 3, err
		}); err != nil {
			t.Fatalf("scheduled runs: %d: %v", len(runs), err)
		}
		if err := c.DeleteSchedule(ctx, "every2s"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TCP load balancer", func(t *testing.T) {
		td := webTD("tcp", "x")
		td.ContainerDefinitions[0].Environment = append(td.ContainerDefinitions[0].Environment, api.KeyValuePair{Name: "TCP_ECHO", Value: "9000"})
		td.ContainerDefinitions[0].PortMappings = append(td.ContainerDefinitions[0].PortMappings, api.PortMapping{ContainerPort: 9000})
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		in := webService("tcp", "tcp", 2)
		in.LoadBalancers[0].ContainerPort = 9000
		in.LoadBalancers[0].Protocol = "TCP"
		in.LoadBalancers[0].HealthCheck.Path = ""
		in.LoadBalancers[0].DeregistrationDelaySeconds = ptr(60)
		s, err := c.ApplyService(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "tcp", "tcp:1", 2, 60*time.Second)
		addr := strings.TrimPrefix(s.Endpoints[0], "tcp://")
		seen := map[string]bool{}
		for range 6 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			hello, _ := r.ReadString('\n')
			fmt.Fprintf(conn, "ping\n")
			echo, _ := r.ReadString('\n')
			conn.Close()
			if echo != "ping\n" {
				t.Errorf("echo %q", echo)
			}
			seen[hello] = true
		}
		if len(seen) != 2 {
			t.Errorf("TCP connections reached %d tasks, want 2: %v", len(seen), seen)
		}

		// A network load balancer: the kernel routes the connections to
		// the two tasks.
		ts, err := c.ListTasks(ctx, "tcp", false)
		if err != nil {
			t.Fatal(err)
		}
		rules, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"load balancer " + addr, "--to-destination " + ts[0].IP + ":9000", "--to-destination " + ts[1].IP + ":9000"} {
			if !strings.Contains(string(rules), want) {
				t.Errorf("the nat table lacks %q:\n%s", want, rules)
			}
		}

		// Draining: a connection to the task taken out by a scale-in keeps
		// it until the connection ends (the delay is 60 s).
		held := map[string]net.Conn{}
		for range 6 {
			if len(held) == 2 {
				break
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			hello, _ := bufio.NewReader(conn).ReadString('\n')
			id := strings.TrimSpace(strings.TrimPrefix(hello, "echo from "))
			if _, ok := held[id]; ok || id == "" {
				conn.Close()
				continue
			}
			defer conn.Close()
			held[id] = conn
		}
		if len(held) != 2 {
			t.Fatalf("connections held to %d tasks, want 2", len(held))
		}
		in.DesiredCount = 1
		if _, err := c.ApplyService(ctx, in); err != nil {
			t.Fatal(err)
		}
		var out api.Task
		if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			ts, err := c.ListTasks(ctx, "tcp", true)
			for _, tk := range ts {
				if tk.DesiredStatus == api.StatusStopped && held[tk.TaskID[:12]] != nil {
					out = tk
					return true, nil
				}
			}
			return false, err
		}); err != nil {
			t.Fatalf("no task taken out after the scale-in: %v", err)
		}
		time.Sleep(2 * time.Second)
		if tk, err := c.DescribeTask(ctx, out.TaskID); err != nil || tk.LastStatus == api.StatusStopped {
			t.Errorf("the draining task stopped while a connection to it was open: %+v %v", tk, err)
		}
		conn := held[out.TaskID[:12]]
		fmt.Fprintf(conn, "draining\n")
		buf := make([]byte, 64)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "draining\n" {
			t.Errorf("the draining task's connection: %q, %v", buf[:n], err)
		}
		for range 4 {
			c2, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			hello, _ := bufio.NewReader(c2).ReadString('\n')
			c2.Close()
			if strings.Contains(hello, out.TaskID[:12]) {
				t.Errorf("a new connection reached the draining task %s", out.TaskID[:12])
			}
		}
		closed := time.Now()
		conn.Close()
		if err := api.WaitFor(ctx, 20*time.Second, func() (bool, error) {
			tk, err := c.DescribeTask(ctx, out.TaskID)
			return err == nil && tk.LastStatus == api.StatusStopped, err
		}); err != nil {
			t.Errorf("the drained task did not stop after its last connection ended: %v", err)
		} else {
			t.Logf("the drained task stopped %s after its last connection ended", time.Since(closed).Round(time.Millisecond))
		}
		for _, conn := range held {
			conn.Close()
		}
		if err := c.DeleteService(ctx, "tcp"); err != nil {
			t.Fatal(err)
		}
		if rules, _ := exec.Command("iptables", "-w", "-t", "nat", "-S").Output(); strings.Contains(string(rules), "load balancer "+addr) {
			t.Errorf("the listener's routes are left after the service was deleted:\n%s", rules)
		}
	})

	t.Run("target tracking", func(t *testing.T) {
		td := webTD("cpu", "x")
		td.Cpu = "256" // a quarter CPU: a busy task is far above target
		// Each task is busy for its first seconds, as a starting JVM is:
		// not load to scale out for.
		td.ContainerDefinitions[0].Environment = append(td.ContainerDefinitions[0].Environment, api.KeyValuePair{Name: "START_BURN", Value: "5s"})
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		in := webService("cpu", "cpu", 1)
		in.AutoScaling = &api.AutoScaling{MinCapacity: 1, MaxCapacity: 3, TargetTracking: []api.TargetTracking{{Metric: api.MetricCPU, TargetValue: 50, ScaleOutCooldown: 1, ScaleInCooldown: 2}}}
		s, err := c.ApplyService(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "cpu", "cpu:1", 1, 60*time.Second)
		time.Sleep(6 * time.Second)
		if s, err := c.DescribeService(ctx, "cpu"); err != nil || s.DesiredCount != 1 {
			t.Fatalf("a starting task's CPU scaled the service out: desired count %d, %v", s.DesiredCount, err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = get(s.Endpoints[0] + "/burn?d=500ms")
				}
			}()
		}
		err = api.WaitFor(ctx, 60*time.Second, func() (bool, error) {
			s, err := c.DescribeService(ctx, "cpu")
			return err == nil && s.DesiredCount > 1, err
		})
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("no scale-out under CPU load: %v", err)
		}
		// Idle again: back to the minimum after the cooldown.
		if err := api.WaitFor(ctx, 60*time.Second, func() (bool, error) {
			s, err := c.DescribeService(ctx, "cpu")
			return err == nil && s.DesiredCount == 1, err
		}); err != nil {
			t.Fatalf("no scale-in when idle: %v", err)
		}
		if err := c.DeleteService(ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("target tracking on memory", func(t *testing.T) {
		td := webTD("mem", "x")
		td.Memory = "64"
		if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
			t.Fatal(err)
		}
		in := webService("mem", "mem", 1)
		in.AutoScaling = &api.AutoScaling{MinCapacity: 1, MaxCapacity: 3, TargetTracking: []api.TargetTracking{{Metric: api.MetricMemory, TargetValue: 50, ScaleOutCooldown: 1, ScaleInCooldown: 2}}}
		if _, err := c.ApplyService(ctx, in); err != nil {
			t.Fatal(err)
		}
		waitService(t, c, "mem", "mem:1", 1, 60*time.Second)
		// Idle, a task uses a few MiB of its 64: no scaling.
		time.Sleep(3 * time.Second)
		if s, err := c.DescribeService(ctx, "mem"); err != nil || s.DesiredCount != 1 {
			t.Fatalf("idle service scaled: %+v %v", s, err)
		}
		ts, _ := c.ListTasks(ctx, "mem", false)
		hoarder := ts[0]
		if _, err := get(fmt.Sprintf("http://127.0.0.1:%d/alloc?mb=40", hoarder.Ports[0].HostPort)); err != nil {
			t.Fatal(err)
		}
		if err := api.WaitFor(ctx, 30*time.Second, func() (bool, error) {
			s, err := c.DescribeService(ctx, "mem")
			return err == nil && s.DesiredCount > 1, err
		}); err != nil {
			t.Fatalf("no scale-out with a task at 40 of its 64 MiB: %v", err)
		}
		var why string
		_ = c.Events(ctx, 0, "mem", false, func(e api.Event) error {
			if strings.Contains(e.Message, "target tracking") {
				why = e.Message
			}
			return nil
		})
		if !strings.Contains(why, api.MetricMemory) {
			t.Errorf("scaling event %q does not name the memory metric", why)
		}
		// The task holding the memory is stopped: the service is back at
		// its minimum after the cooldown.
		if _, err := c.StopTask(ctx, hoarder.TaskID, ""); err != nil {
			t.Fatal(err)
		}
		if err := api.WaitFor(ctx, 60*time.Second, func() (bool, error) {
			s, err := c.DescribeService(ctx, "mem")
			return err == nil && s.DesiredCount == 1, err
		}); err != nil {
			t.Fatalf("no scale-in once memory use fell: %v", err)
		}
		if err := c.DeleteService(ctx, "mem"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("scheduled scaling", func(t *testing.T) {
		if _, err := c.RegisterTaskDefinition(ctx, webTD("sched", "x")); err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Add(3 * time.Second).Format("2006-01-02T15:04:05")
		in := webService("sched", "sched", 1)
		in.AutoScaling = &api.AutoScaling{MinCapacity: 1, MaxCapacity: 3, Scheduled: []api.ScheduledScaling{{Name: "rush", Schedule: "at(" + at + ")", MinCapacity: ptr(2), MaxCapacity: ptr(3)}}}
		if _, err := c.ApplyService(ctx, in); err != nil {
			t.Fatal(err)
		}
		s := waitService(t, c, "sched", "sched:1", 2, 60*time.Second)
		if s.AutoScaling.MinCapacity != 2 {
			t.Errorf("capacity after the scheduled action: %+v", s.AutoScaling)
		}
		if err := c.DeleteService(ctx, "sched"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("events", func(t *testing.T) {
		var stored []api.Event
		if err := c.Events(ctx, 0, "", false, func(e api.Event) error { stored = append(stored, e); return nil }); err != nil {
			t.Fatal(err)
		}
		var running, stopped int
		for i, e := range stored {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
			if e.DetailType == api.EventTaskStateChange && e.Task != nil {
				switch e.Task.LastStatus {
				case api.StatusRunning:
					running++
				case api.StatusStopped:
					stopped++
					if e.Task.StoppedReason == "" {
						t.Errorf("STOPPED event without a reason: %+v", e)
					}
				}
			}
		}
		if running < 5 || stopped < 5 {
			t.Errorf("%d RUNNING and %d STOPPED events", running, stopped)
		}
		last := stored[len(stored)-1].Seq
		// The follower and the webhook got every one, in order.
		if err := api.WaitFor(ctx, 15*time.Second, func() (bool, error) {
			followMu.Lock()
			defer followMu.Unlock()
			hookMu.Lock()
			defer hookMu.Unlock()
			return len(followed) >= int(last) && len(hooked) >= int(last)-2, nil
		}); err != nil {
			t.Errorf("follower has %d, webhook %d of %d events", len(followed), len(hooked), last)
		}
		followMu.Lock()
		for i := 0; i < len(followed) && i < int(last); i++ {
			if followed[i].Seq != uint64(i+1) {
				t.Errorf("followed event %d has seq %d", i, followed[i].Seq)
				break
			}
		}
		followMu.Unlock()
		hookMu.Lock()
		for i := 1; i < len(hooked); i++ {
			if hooked[i].Seq != hooked[i-1].Seq+1 {
				t.Errorf("webhook got seq %d after %d", hooked[i].Seq, hooked[i-1].Seq)
				break
			}
		}
		hookMu.Unlock()
	})
}
