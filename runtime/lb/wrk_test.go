package lb

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
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
	var direct, via, viaTransport []WrkResult
	for range b.N {
		for range rounds {
			for _, tc := range []struct {
				url    string
				noPool bool
				out    *[]WrkResult
			}{{"http://" + addr + "/", false, &direct}, {"http://" + l.Addr() + "/", false, &via}, {"http://" + l.Addr() + "/", true, &viaTransport}} {
				l.noPool = tc.noPool
				r, err := Wrk(tc.url, 2, 32, time.Duration(secs)*time.Second)
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
	d, v, vt := MedianWrk(direct), MedianWrk(via), MedianWrk(viaTransport)
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

// WrkResult is what one wrk run measured.
type WrkResult struct {
	RPS    float64
	P50    time.Duration
	P99    time.Duration
	Errors string
}

// Wrk runs wrk against url and reads its report.
func Wrk(url string, threads, conns int, d time.Duration) (WrkResult, error) {
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var r WrkResult
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.RPS, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.P50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.P99 = wrkDuration(f[1])
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx") || strings.HasPrefix(strings.TrimSpace(line), "Socket errors"):
			r.Errors += strings.TrimSpace(line) + "; "
		}
	}
	if r.RPS == 0 {
		return r, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	return r, nil
}

func wrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if strings.HasSuffix(s, u.suffix) {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return time.Duration(v * float64(u.unit))
		}
	}
	return 0
}

// MedianWrk is the median of each figure.
func MedianWrk(rs []WrkResult) WrkResult {
	pick := func(f func(WrkResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return WrkResult{
		RPS: pick(func(r WrkResult) float64 { return r.RPS }),
		P50: time.Duration(pick(func(r WrkResult) float64 { return float64(r.P50) })),
		P99: time.Duration(pick(func(r WrkResult) float64 { return float64(r.P99) })),
	}
}
