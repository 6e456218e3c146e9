// Package wrk runs Debian's wrk load generator and reads its report, for
// the benchmarks of the local runtime's load balancer.
package wrk

import (
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Result is what one wrk run measured.
type Result struct {
	RPS float64       `json:"requestsPerSecond"`
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	// Errors are wrk's lines about non-2xx answers and socket errors.
	Errors string `json:"errors,omitempty"`
}

func (r Result) String() string {
	return fmt.Sprintf("%.0f req/s p50 %s p99 %s", r.RPS, r.P50, r.P99)
}

// Run runs wrk against url.
func Run(url string, threads, conns int, d time.Duration) (Result, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return Result{}, fmt.Errorf("wrk not installed (apt-get install wrk)")
	}
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(max(int(d.Seconds()), 1))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	r := Parse(string(out))
	if r.RPS == 0 {
		return r, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	return r, nil
}

// Parse reads wrk's --latency report.
func Parse(out string) Result {
	var r Result
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		trimmed := strings.TrimSpace(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.RPS, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.P50 = duration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.P99 = duration(f[1])
		case strings.HasPrefix(trimmed, "Non-2xx") || strings.HasPrefix(trimmed, "Socket errors"):
			r.Errors += trimmed + "; "
		}
	}
	return r
}

func duration(s string) time.Duration {
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

// Median is the median of each figure of several runs.
func Median(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	pick := func(f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return Result{
		RPS: pick(func(r Result) float64 { return r.RPS }),
		P50: time.Duration(pick(func(r Result) float64 { return float64(r.P50) })),
		P99: time.Duration(pick(func(r Result) float64 { return float64(r.P99) })),
	}
}
