package wrk

import (
	"testing"
	"time"
)

const report = `Running 5s test @ http://127.0.0.1:8080/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    2.01ms  40.12ms   91.20%
    Req/Sec    11.20k     1.01k   13.00k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.60ms
     90%    2.90ms
     99%   11.31ms
  111516 requests in 5.00s, 14.57MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  22295.32
Transfer/sec:      2.91MB
`

func TestParse(t *testing.T) {
	r := Parse(report)
	if r.RPS != 22295.32 || r.P50 != 1100*time.Microsecond || r.P99 != 11310*time.Microsecond || r.Errors != "Non-2xx or 3xx responses: 3; " {
		t.Errorf("%+v", r)
	}
	if m := Median([]Result{{RPS: 3}, {RPS: 1}, {RPS: 2}}); m.RPS != 2 {
		t.Errorf("median %+v", m)
	}
}
