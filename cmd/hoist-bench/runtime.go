package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/deploy/local"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/generate"
	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/lb/wrk"
)

func runtimeCommand() *cli.Command {
	return &cli.Command{
		Name:  "runtime",
		Usage: "the local runtime: deploy to first healthy response against the host process, wrk through the load balancer against a task, supervisor memory and replacement of a killed task among 100",
		Description: `Starts a private engine (bridge hoistbench1, subnet 10.214.1.0/24, purged
at the end) and measures, each side by side with its baseline in the same
run, alternating so that both see the same load:

  deploy       from deploying a one-task service to its first HTTP 200
               through the load balancer, against starting the same
               program on the host to its first 200: a static Go web app
               (the runtime's own cost) and the sample Java app taken
               through hoist's pipeline (the 1.3x target)
  wrk          Debian's wrk (2 threads, 32 connections) through the load
               balancer against wrk straight to the task
  many tasks   a service of --tasks small tasks: the supervisor's memory,
               and from kill -9 of a task to a healthy replacement
               (--kills samples, median)

The machine's load average is printed with the figures.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Usage: "the hoist checkout (default: found from the working directory)"},
			&cli.IntFlag{Name: "tasks", Value: 100, Usage: "tasks of the many-tasks service"},
			&cli.IntFlag{Name: "kills", Value: 5, Usage: "tasks killed one after another among them"},
			&cli.IntFlag{Name: "wrk-seconds", Value: 5, Usage: "length of one wrk run"},
			&cli.BoolFlag{Name: "skip-java", Usage: "leave out the sample Java app (no JDK needed)"},
			&cli.IntFlag{Name: "task-cpu", Usage: "the sample app's task cpu units (default: as generated; a task's cpu is a CFS quota)"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only these parts: deploy, wrk, tasks (default: all)"},
			&cli.StringFlag{Name: "supervisor", Usage: "the engine supervisor's binary: hoist-supervisor, or hoist (run as hoist runtime serve) (default: hoist-supervisor in --bin-dir, else hoist)"},
			&cli.BoolFlag{Name: "trace", Usage: "print the supervisor's timing of each task start to stderr"},
		},
		Action: benchRuntime,
	}
}

func benchRuntime(c *cli.Context) (err error) {
	ctx := c.Context
	tools := []string{"runc", "wrk", "go"}
	if !c.Bool("skip-java") {
		tools = append(tools, "javac", "java")
	}
	repo, bins, err := checkBench(c, tools, " (or --skip-java for the JDK)")
	if err != nil {
		return err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }
	runs := max(c.Int("runs"), 1)
	loadBefore := loadAvg()

	cfg, work, cleanup, err := benchEngine(bins, "hoist-bench-rt", "hoistbench1", "10.214.1.0/24")
	if err != nil {
		return err
	}
	defer cleanup()
	if sv := c.String("supervisor"); sv != "" {
		cfg.Supervisor = supervisorArgv(sv)
	}
	defer func() {
		if err := hoistrt.Purge(context.WithoutCancel(ctx), cfg, logf); err != nil {
			logf("purging the bench engine: %v", err)
		}
	}()
	st, err := hoistrt.Ensure(ctx, cfg, logf)
	if err != nil {
		return err
	}
	sup := &supLog{path: st.SupervisorLog, on: c.Bool("trace"), logf: logf}
	defer func() {
		if err != nil {
			// Before the purge removes it.
			data, _ := os.ReadFile(st.SupervisorLog)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			logf("end of the supervisor's log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	}()
	cl := cfg.Client()

	// The static Go web app of the runtime's tests, on the host and as an
	// image.
	webBin := filepath.Join(work, "web", "webapp")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", webBin, ".")
	build.Dir = filepath.Join(repo, "runtime", "controlplane", "testdata", "webapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the web app: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY webapp /webapp\nUSER 65534:65534\nEXPOSE 8080\nENTRYPOINT [\"/webapp\"]\n"
	if err := os.WriteFile(filepath.Join(work, "web", "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	const webImage = "hoist.local/bench-webapp:1"
	if _, err := buildkit.Build(ctx, buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: filepath.Join(work, "web"), Image: webImage, Mode: "quiet"}); err != nil {
		return err
	}
	webTD := &api.TaskDefinition{Family: "web", Memory: "64", ContainerDefinitions: []api.ContainerDefinition{{
		Name: "web", Image: webImage, PortMappings: []api.PortMapping{{ContainerPort: 8080}}, StopTimeout: 2,
	}}}
	if _, err := cl.RegisterTaskDefinition(ctx, webTD); err != nil {
		return err
	}
	webService := func(name string, n int) *api.Service {
		return &api.Service{
			ServiceName: name, TaskDefinition: "web", DesiredCount: n,
			LoadBalancers: []api.LoadBalancer{{
				ContainerName: "web", ContainerPort: 8080, Protocol: "HTTP",
				HealthCheck:                &api.TargetHealthCheck{Path: "/health", IntervalMillis: 5000, TimeoutMillis: 2000, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2},
				DeregistrationDelaySeconds: ptrTo(0),
			}},
			DeploymentConfiguration: &api.DeploymentConfiguration{MinimumHealthyPercent: ptrTo(100), MaximumPercent: ptrTo(200)},
		}
	}
	var rs []result
	only := map[string]bool{}
	for _, p := range c.StringSlice("only") {
		only[p] = true
	}
	part := func(name string) bool { return len(only) == 0 || only[name] }

	if part("deploy") {
		// 1. Deploy to the first healthy response, alternating with the host
		// process.
		var webHost, webRT []time.Duration
		for i := range runs {
			d, err := hostFirst200(ctx, webBin, nil)
			if err != nil {
				return err
			}
			webHost = append(webHost, d)
			start := time.Now()
			s, err := cl.ApplyService(ctx, webService(fmt.Sprintf("deploy-%d", i), 1))
			if err != nil {
				return err
			}
			if err := await200(ctx, s.Endpoints[0]+"/health", start, time.Minute); err != nil {
				return err
			}
			webRT = append(webRT, time.Since(start))
			sup.show()
			if err := cl.DeleteService(ctx, s.ServiceName); err != nil {
				return err
			}
		}
		logf("web app: deploy to first 200 %v, host process %v", webRT, webHost)
		ratio := median(webRT).Seconds() / median(webHost).Seconds()
		rs = append(rs, result{Metric: "deploy to first 200 via the LB, static Go web app", Hoist: "local runtime: " + ms(median(webRT)), Baseline: "host process: " + ms(median(webHost)), Ratio: ratio, Value: median(webRT).Seconds(), BaselineValue: median(webHost).Seconds()})

		if !c.Bool("skip-java") {
			first, rt, host, err := benchJavaDeploy(ctx, repo, work, bins, cfg, runs, c.Int("task-cpu"), sup, logf)
			if err != nil {
				return err
			}
			ratio := median(rt).Seconds() / median(host).Seconds()
			rs = append(rs,
				result{Metric: "deploy to first 200 via the LB, sample Java app", Hoist: "local runtime: " + ms(median(rt)), Baseline: "host process: " + ms(median(host)), Ratio: ratio, Target: "<= 1.30x", Met: boolp(ratio <= 1.3), Value: median(rt).Seconds(), BaselineValue: median(host).Seconds()},
				result{Metric: "  the first deploy of the image (unpacks it)", Hoist: "local runtime: " + ms(first), Baseline: "host process: " + ms(median(host)), Ratio: first.Seconds() / median(host).Seconds(), Value: first.Seconds(), BaselineValue: median(host).Seconds()},
			)
			tomcat, err := benchTomcatDeploy(ctx, cfg, work, bins, runs, c.Int("task-cpu"), sup, logf)
			if err != nil {
				return err
			}
			rs = append(rs, tomcat...)
		}

	}
	if part("wrk") {
		// 2. wrk through the load balancer against wrk straight to the task:
		// the HTTP listener (an ALB: a proxy that routes each request) and
		// the TCP listener of a second task (an NLB: the kernel routes each
		// connection).
		s, err := cl.ApplyService(ctx, webService("wrk", 1))
		if err != nil {
			return err
		}
		tcpSvc := webService("wrk-tcp", 1)
		tcpSvc.LoadBalancers[0].Protocol = "TCP"
		tcpSvc.LoadBalancers[0].HealthCheck.Path = ""
		st2, err := cl.ApplyService(ctx, tcpSvc)
		if err != nil {
			return err
		}
		tcpURL := strings.Replace(st2.Endpoints[0], "tcp://", "http://", 1) + "/"
		for _, u := range []string{s.Endpoints[0] + "/health", tcpURL + "health"} {
			if err := await200(ctx, u, time.Now(), time.Minute); err != nil {
				return err
			}
		}
		ts, err := cl.ListTasks(ctx, "wrk", false)
		if err != nil || len(ts) != 1 {
			return fmt.Errorf("the wrk service's task: %v %v", ts, err)
		}
		secs := time.Duration(max(c.Int("wrk-seconds"), 1)) * time.Second
		var direct, via, viaTCP []wrk.Result
		for range runs {
			for _, w := range []struct {
				url string
				out *[]wrk.Result
			}{{fmt.Sprintf("http://%s:8080/", ts[0].IP), &direct}, {s.Endpoints[0] + "/", &via}, {tcpURL, &viaTCP}} {
				r, err := wrk.Run(w.url, 2, 32, secs)
				if err != nil {
					return err
				}
				if r.Errors != "" {
					return fmt.Errorf("wrk against %s saw errors: %s", w.url, r.Errors)
				}
				*w.out = append(*w.out, r)
			}
		}
		d, v, vt := wrk.Median(direct), wrk.Median(via), wrk.Median(viaTCP)
		logf("wrk direct %v", direct)
		logf("wrk via the load balancer %v", via)
		logf("wrk via a TCP load balancer %v", viaTCP)
		wrkRatio := v.RPS / d.RPS
		added := v.P99 - d.P99
		tcpRatio := vt.RPS / d.RPS
		tcpAdded := vt.P99 - d.P99
		rs = append(rs,
			result{Metric: "wrk requests/s, HTTP listener (ALB: a proxy) (2 threads, 32 connections)", Hoist: fmt.Sprintf("via the LB: %.0f", v.RPS), Baseline: fmt.Sprintf("straight to the task: %.0f", d.RPS), Ratio: wrkRatio, Target: ">= 0.80x", Met: boolp(wrkRatio >= 0.8), Value: v.RPS, BaselineValue: d.RPS},
			result{Metric: "wrk p99 latency, HTTP listener", Hoist: "via the LB: " + msf(v.P99), Baseline: "straight to the task: " + msf(d.P99), Target: "< 1 ms added", Met: boolp(added < time.Millisecond), Value: v.P99.Seconds(), BaselineValue: d.P99.Seconds()},
			result{Metric: "wrk p50 latency, HTTP listener", Hoist: "via the LB: " + msf(v.P50), Baseline: "straight to the task: " + msf(d.P50), Value: v.P50.Seconds(), BaselineValue: d.P50.Seconds()},
			result{Metric: "wrk requests/s, TCP listener (NLB: kernel routing)", Hoist: fmt.Sprintf("via the TCP LB: %.0f", vt.RPS), Baseline: fmt.Sprintf("straight to a task: %.0f", d.RPS), Ratio: tcpRatio, Target: ">= 0.80x", Met: boolp(tcpRatio >= 0.8), Value: vt.RPS, BaselineValue: d.RPS},
			result{Metric: "wrk p99 latency, TCP listener", Hoist: "via the TCP LB: " + msf(vt.P99), Baseline: "straight to a task: " + msf(d.P99), Target: "< 1 ms added", Met: boolp(tcpAdded < time.Millisecond), Value: vt.P99.Seconds(), BaselineValue: d.P99.Seconds()},
		)
		for _, name := range []string{"wrk", "wrk-tcp"} {
			if err := cl.DeleteService(ctx, name); err != nil {
				return err
			}
		}

	}
	if part("tasks") {
		// 3. Many tasks: the supervisor's memory, replacement of a killed task.
		idle := procMem(hoistrt.GetStatus(ctx, cfg).Supervisor)
		n := max(c.Int("tasks"), 1)
		start := time.Now()
		many := webService("many", n)
		many.LoadBalancers[0].HealthCheck.IntervalMillis = 1000
		if _, err := cl.ApplyService(ctx, many); err != nil {
			return err
		}
		if err := waitHealthy(ctx, cl, "many", n, "", 15*time.Minute); err != nil {
			return err
		}
		allUp := time.Since(start)
		logf("%d tasks healthy after %s", n, allUp.Round(time.Millisecond))
		sup.skip()
		var repl []time.Duration
		for range max(c.Int("kills"), 1) {
			time.Sleep(time.Second)
			ts, err := cl.ListTasks(ctx, "many", false)
			if err != nil {
				return err
			}
			victim := ts[len(ts)/2]
			killed := time.Now()
			if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
				return fmt.Errorf("killing task %s (pid %d): %w", victim.TaskID, victim.PID, err)
			}
			if err := waitHealthy(ctx, cl, "many", n, victim.TaskID, time.Minute); err != nil {
				return err
			}
			repl = append(repl, time.Since(killed))
			sup.show()
		}
		logf("replacement of a killed task: %v", repl)
		st = hoistrt.GetStatus(ctx, cfg)
		busy := procMem(st.Supervisor)
		keeper := procMem(st.Keeper)
		rs = append(rs,
			result{Metric: fmt.Sprintf("%d tasks: supervisor memory (VmRSS)", n), Hoist: busy.String(), Baseline: "no tasks: " + idle.String(), Target: "< 100 MB", Met: boolp(busy.rss < 100e6), Value: busy.rss, BaselineValue: idle.rss},
			result{Metric: "  its keeper (restarts it), a second process", Hoist: keeper.String(), Value: keeper.rss},
			result{Metric: fmt.Sprintf("%d tasks: all healthy after deploy", n), Hoist: secs2(allUp), Value: allUp.Seconds()},
			result{Metric: fmt.Sprintf("%d tasks: kill -9 of one to a healthy replacement (median of %d)", n, len(repl)), Hoist: ms(median(repl)), Target: "< 2 s", Met: boolp(median(repl) < 2*time.Second), Value: median(repl).Seconds()},
		)
		if err := cl.DeleteService(ctx, "many"); err != nil {
			return err
		}
	}
	if sup.skip(); sup.bad {
		return fmt.Errorf("the supervisor reported a data race or a panic (above); see %s", st.SupervisorLog)
	}
	title := fmt.Sprintf("runtime: %s/%s, %d CPUs, load average %s at the start, %s at the end", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadBefore, loadAvg())
	return report(c, title, rs)
}

// benchJavaDeploy takes the sample app through inventory, analyze,
// extract and containerize, then deploys it runs times (deleting it in
// between), alternating with starting it on the host.
func benchJavaDeploy(ctx context.Context, repo, work, bins string, cfg hoistrt.Config, runs, taskCPU int, sup *supLog, logf func(string, ...any)) (time.Duration, []time.Duration, []time.Duration, error) {
	appDir := filepath.Join(work, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return 0, nil, nil, err
	}
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join(repo, "testdata", "sampleapp", f))
		if err != nil {
			return 0, nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(appDir, f), data, 0o644); err != nil {
			return 0, nil, nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, "javac", "-d", appDir, filepath.Join(appDir, "HelloServer.java")).CombinedOutput(); err != nil {
		return 0, nil, nil, fmt.Errorf("javac: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return 0, nil, nil, err
	}
	_, stop, err := startOriginal(ctx, appDir, port)
	if err != nil {
		return 0, nil, nil, err
	}
	logf("sample app: inventory, analyze, extract, containerize")
	host := discover.LiveHost()
	ws := discover.Workspace{Dir: filepath.Join(work, "ws")}
	a, err := prepareApp(ctx, host, ws, "the sample app in "+appDir, func(app discover.App) bool { return app.Path == appDir }, discover.HealthCheck{Path: "/health", Port: port})
	stop()
	if err != nil {
		return 0, nil, nil, err
	}
	id := a.ID
	if _, _, err := containerizeDefault(ctx, cfg, host, ws, id, bins, logf); err != nil {
		return 0, nil, nil, err
	}
	if err := prepareDeploy(ws, id, taskCPU); err != nil {
		return 0, nil, nil, err
	}
	var rt, hostStarts []time.Duration
	var first time.Duration
	for i := range runs + 1 {
		d, stop, err := startOriginal(ctx, appDir, port)
		if err != nil {
			return 0, nil, nil, err
		}
		stop()
		hostStarts = append(hostStarts, d)
		d, err = deployOnce(ctx, ws, id, "/health", cfg, logf)
		if err != nil {
			return 0, nil, nil, err
		}
		sup.show()
		if i == 0 {
			first = d // the image is unpacked by this one
			continue
		}
		rt = append(rt, d)
	}
	logf("sample app: deploy to first 200 %v (first %v), host process %v", rt, first, hostStarts)
	return first, rt, hostStarts, nil
}

// prepareDeploy generates the app's artifacts with a desired count of one.
func prepareDeploy(ws discover.Workspace, id string, cpus int) error {
	if _, err := generate.Generate(generate.Options{Workspace: ws, ID: id}); err != nil {
		return err
	}
	d, err := generate.LoadDeployment(ws, id)
	if err != nil {
		return err
	}
	// One task: its minimum capacity would otherwise start a second one
	// beside it (two JVMs starting on two cores) against one host process.
	d.DesiredCount = 1
	if d.AutoScaling.Enabled {
		d.AutoScaling.MinCapacity = 1
	}
	// The CPUs the host process had: a task's cpu is a CFS quota, and a
	// JVM starts with several threads (JIT compilers, GC).
	if cpus != 0 {
		d.Cpu = cpus
		// The smallest memory Fargate takes with that cpu.
		d.Memory = max(d.Memory, cpus*2)
	}
	data, err := discover.MarshalJSON(d)
	if err != nil {
		return err
	}
	if err := discover.WriteFileAtomic(generate.DeploymentPath(ws, id), data, 0o644); err != nil {
		return err
	}
	_, err = generate.Generate(generate.Options{Workspace: ws, ID: id})
	return err
}

// deployOnce deploys the app as `hoist deploy` does, times the first HTTP
// 200 through its load balancer, and deletes it.
func deployOnce(ctx context.Context, ws discover.Workspace, id, path string, cfg hoistrt.Config, logf func(string, ...any)) (time.Duration, error) {
	o := local.Options{Workspace: ws, ID: id, Engine: cfg, Wait: false, Logf: func(string, ...any) {}}
	defer func() {
		if err := local.Delete(context.WithoutCancel(ctx), o); err != nil {
			logf("deleting the bench service: %v", err)
		}
	}()
	start := time.Now()
	res, err := local.Deploy(ctx, o)
	if err != nil {
		return 0, err
	}
	url := strings.Replace(res.Endpoint, "tcp://", "http://", 1) + path
	if err := await200(ctx, url, start, 3*time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// await200 asks url every 2 ms until it answers 200.
func await200(ctx context.Context, url string, start time.Time, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for time.Since(start) < timeout {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fmt.Errorf("no HTTP 200 from %s within %s", url, timeout)
}

// hostFirst200 starts the web app on the host and times its first 200.
func hostFirst200(ctx context.Context, bin string, env []string) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append([]string{"PORT=" + strconv.Itoa(port)}, env...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := await200(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", port), start, 30*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitHealthy polls every 10 ms until the service has n healthy tasks and
// gone (when not empty) is not among them.
func waitHealthy(ctx context.Context, cl *api.Client, service string, n int, gone string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ts, err := cl.ListTasks(ctx, service, false)
		healthy := 0
		for _, t := range ts {
			if t.TaskID == gone {
				healthy = -1 << 30
			}
			if t.HealthStatus == api.HealthHealthy {
				healthy++
			}
		}
		if err == nil && healthy == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s: %d of %d tasks healthy after %s (%v)", service, max(healthy, 0), n, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// supLog prints the supervisor's timing lines written since the last
// look (with --trace).
type supLog struct {
	path   string
	on     bool
	offset int64
	logf   func(string, ...any)
	bad    bool
}

func (s *supLog) read(print bool) {
	f, err := os.Open(s.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		s.offset += int64(len(line))
		switch {
		case print && (strings.Contains(line, " started in ") || strings.Contains(line, " healthy ")):
			s.logf("  %s", strings.TrimSpace(line))
		case strings.Contains(line, "DATA RACE") || strings.HasPrefix(line, "panic:"):
			// A supervisor built with -race, or one that crashed.
			s.logf("supervisor log: %s", strings.TrimSpace(line))
			s.bad = true
		}
		if err != nil {
			return
		}
	}
}

func (s *supLog) show() { s.read(s.on) }
func (s *supLog) skip() { s.read(false) }

// mem is what /proc/PID/status says of a process's memory, in bytes.
type mem struct{ rss, hwm, anon, file float64 }

func (m mem) String() string {
	return fmt.Sprintf("%.0f MB (peak %.0f MB; heap and stacks %.0f MB, mapped files %.0f MB)", m.rss/1e6, m.hwm/1e6, m.anon/1e6, m.file/1e6)
}

func procMem(pid int) mem {
	var m mem
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb * 1024
		case "VmHWM:":
			m.hwm = kb * 1024
		case "RssAnon:":
			m.anon = kb * 1024
		case "RssFile:":
			m.file = kb * 1024
		}
	}
	return m
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func msf(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func secs2(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ptrTo[T any](v T) *T { return &v }
