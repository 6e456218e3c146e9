package controlplane_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/lb/wrk"
)

func benchEngine(b *testing.B) (hoistrt.Config, *api.Client) { return engine(b) }

func freePortB(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitOK(url string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		body, err := get(url)
		if err == nil {
			return body, nil
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkDeployToFirstHealthy: from deploying a one-task service to the
// first 200 through its load balancer, against starting the same program
// directly on the host and waiting for its first 200 (target: at most
// 1.3x).
func BenchmarkDeployToFirstHealthy(b *testing.B) {
	cfg, c := benchEngine(b)
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "webapp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "testdata/webapp"
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	b.Run("host-process", func(b *testing.B) {
		for range b.N {
			port := freePortB(b)
			cmd := exec.Command(bin)
			cmd.Env = []string{"PORT=" + strconv.Itoa(port)}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			if _, err := waitOK(fmt.Sprintf("http://127.0.0.1:%d/health", port), 30*time.Second); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.StartTimer()
		}
	})
	if _, err := c.RegisterTaskDefinition(ctx, webTD("bench", "x")); err != nil {
		b.Fatal(err)
	}
	b.Run("local-runtime", func(b *testing.B) {
		for i := range b.N {
			name := fmt.Sprintf("bench-%d", i)
			in := webService(name, "bench", 1)
			in.LoadBalancers[0].HealthCheck.IntervalMillis = 100
			s, err := c.ApplyService(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := waitOK(s.Endpoints[0]+"/health", 60*time.Second); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := c.DeleteService(ctx, name); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	_ = cfg
}

// BenchmarkManyTasks runs a service of 100 small tasks, reports the
// supervisor's own memory (target: under 100 MB), and times how long a
// task killed with -9 takes to be replaced by a healthy one (target: under
// 2 s). HOIST_BENCH_TASKS changes the count.
func BenchmarkManyTasks(b *testing.B) {
	cfg, c := benchEngine(b)
	ctx := context.Background()
	n := 100
	if v, err := strconv.Atoi(os.Getenv("HOIST_BENCH_TASKS")); err == nil && v > 0 {
		n = v
	}
	td := webTD("many", "x")
	td.Memory = "32"
	if _, err := c.RegisterTaskDefinition(ctx, td); err != nil {
		b.Fatal(err)
	}
	in := webService("many", "many", n)
	in.LoadBalancers[0].HealthCheck.IntervalMillis = 1000
	in.DeploymentConfiguration.MaximumPercent = ptr(200)
	start := time.Now()
	if _, err := c.ApplyService(ctx, in); err != nil {
		b.Fatal(err)
	}
	if err := api.WaitFor(ctx, 15*time.Minute, func() (bool, error) {
		ts, err := c.ListTasks(ctx, "many", false)
		healthy := 0
		for _, t := range ts {
			if t.HealthStatus == api.HealthHealthy {
				healthy++
			}
		}
		return healthy == n, err
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d tasks healthy after %s", n, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for range b.N {
		ts, err := c.ListTasks(ctx, "many", false)
		if err != nil {
			b.Fatal(err)
		}
		victim := ts[0]
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		if err := api.WaitFor(ctx, time.Minute, func() (bool, error) {
			ts, err := c.ListTasks(ctx, "many", false)
			healthy := 0
			for _, t := range ts {
				if t.TaskID == victim.TaskID {
					return false, nil
				}
				if t.HealthStatus == api.HealthHealthy {
					healthy++
				}
			}
			return healthy == n, err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := hoistrt.GetStatus(ctx, cfg)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Supervisor))
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			b.ReportMetric(float64(kb)/1024, "supervisor-MB")
		}
	}
	b.ReportMetric(float64(n), "tasks")
	if err := c.DeleteService(ctx, "many"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoadBalancerWrk puts Debian's wrk (2 threads, 32 connections,
// 5 s) on loopback against one task of the web app, straight to the task
// and through the service's load balancer (targets: at least 0.8x the
// throughput, under 1 ms added p99).
func BenchmarkLoadBalancerWrk(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk not installed (apt-get install wrk)")
	}
	_, c := benchEngine(b)
	ctx := context.Background()
	if _, err := c.RegisterTaskDefinition(ctx, webTD("wrk", "x")); err != nil {
		b.Fatal(err)
	}
	s, err := c.ApplyService(ctx, webService("wrk", "wrk", 1))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := waitOK(s.Endpoints[0]+"/", time.Minute); err != nil {
		b.Fatal(err)
	}
	ts, _ := c.ListTasks(ctx, "wrk", false)
	for _, tc := range []struct{ name, url string }{
		{"direct", fmt.Sprintf("http://%s:8080/", ts[0].IP)},
		{"via-lb", s.Endpoints[0] + "/"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				r, err := wrk.Run(tc.url, 2, 32, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if r.Errors != "" {
					b.Errorf("wrk saw errors: %s", r.Errors)
				}
				b.ReportMetric(r.RPS, "req/s")
				b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
			}
		})
	}
}
