package lb

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/runtime/lb/wrk"
)

// TestMain doubles as the backend of BenchmarkWrk: run with
// HOIST_LB_BACKEND=1 the test binary is a small HTTP server in a process
// of its own, as a task is, so a profile of the benchmark is the load
// balancer's alone.
func TestMain(m *testing.M) {
	if os.Getenv("HOIST_LB_BACKEND") == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr().String())
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "hello from the backend")
		}))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// backendProcess starts this test binary as a backend process.
func backendProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOIST_LB_BACKEND=1", "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// BenchmarkWrk runs Debian's wrk on loopback against a backend in a
// process of its own, straight and through the load balancer, turn about
// (HOIST_WRK_ROUNDS rounds of HOIST_WRK_SECONDS each, 2 threads, 32
// connections), and reports the medians: req/s, p99 and the ratio; also
// the ratio with every request through net/http's Transport rather than
// the load balancer's own connection pool.
func BenchmarkWrk(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk not installed (apt-get install wrk)")
	}
	addr := backendProcess(b)
	l, err := New(Config{Name: "wrk", Listen: "127.0.0.1:0", Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.Register("x", addr)
	for l.Targets()[0].State != StateHealthy {
		time.Sleep(10 * time.Millisecond)
	}
	rounds, secs := envInt("HOIST_WRK_ROUNDS", 3), envInt("HOIST_WRK_SECONDS", 3)
	var direct, via, viaTransport []wrk.Result
	for range b.N {
		for range rounds {
			for _, tc := range []struct {
				url    string
				noPool bool
				out    *[]wrk.Result
			}{{"http://" + addr + "/", false, &direct}, {"http://" + l.Addr() + "/", false, &via}, {"http://" + l.Addr() + "/", true, &viaTransport}} {
				l.noPool = tc.noPool
				r, err := wrk.Run(tc.url, 2, 32, time.Duration(secs)*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if r.Errors != "" {
					b.Errorf("wrk saw errors: %s", r.Errors)
				}
				*tc.out = append(*tc.out, r)
			}
		}
	}
	d, v, vt := wrk.Median(direct), wrk.Median(via), wrk.Median(viaTransport)
	b.ReportMetric(vt.RPS/d.RPS, "transport-only-ratio")
	b.ReportMetric(d.RPS, "direct-req/s")
	b.ReportMetric(v.RPS, "lb-req/s")
	b.ReportMetric(v.RPS/d.RPS, "ratio")
	b.ReportMetric(d.P99.Seconds()*1000, "direct-p99-ms")
	b.ReportMetric(v.P99.Seconds()*1000, "lb-p99-ms")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
