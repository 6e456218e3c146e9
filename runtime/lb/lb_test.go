package lb

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is an HTTP server on 127.0.0.1 that says who it is.
func backend(t testing.TB, name string, healthy *atomic.Bool) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && healthy != nil && !healthy.Load() {
			http.Error(w, "sick", 500)
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		fmt.Fprint(w, name)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }
}

func fetch(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), nil
}

func waitState(t *testing.T, l *LB, id, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, th := range l.Targets() {
			if th.ID == id && th.State == state {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("target %s never %s: %+v", id, state, l.Targets())
}

func TestRoundRobinHealthAndDraining(t *testing.T) {
	var bHealthy atomic.Bool
	bHealthy.Store(true)
	a, stopA := backend(t, "a", nil)
	defer stopA()
	b, stopB := backend(t, "b", &bHealthy)
	defer stopB()
	var changes sync.Map
	l, err := New(Config{Name: "t", Listen: "127.0.0.1:0", Path: "/health", Interval: 50 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Deregistration: 2 * time.Second,
		OnChange: func(id, state string) { changes.Store(id, state) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	url := "http://" + l.Addr()
	c := &http.Client{Timeout: 5 * time.Second}
	if body, err := fetch(c, url+"/"); err == nil || !strings.Contains(body, "no healthy target") {
		t.Errorf("with no targets: %q %v", body, err)
	}
	l.Register("a", a)
	l.Register("b", b)
	waitState(t, l, "a", StateHealthy)
	waitState(t, l, "b", StateHealthy)
	seen := map[string]int{}
	for range 10 {
		body, err := fetch(c, url+"/")
		if err != nil {
			t.Fatal(err)
		}
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round robin: %v", seen)
	}
	// b fails its checks: no more traffic to it.
	bHealthy.Store(false)
	waitState(t, l, "b", StateUnhealthy)
	if v, _ := changes.Load("b"); v != StateUnhealthy {
		t.Errorf("OnChange for b: %v", v)
	}
	for range 6 {
		if body, _ := fetch(c, url+"/"); body != "a" {
			t.Fatalf("routed to %q while b is unhealthy", body)
		}
	}
	bHealthy.Store(true)
	waitState(t, l, "b", StateHealthy)

	// Draining: an in-flight slow request to a finishes; new ones go to b.
	var slow string
	var slowErr error
	var wg sync.WaitGroup
	// Two slow requests: round robin gives one to each target.
	results := make(chan string, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := fetch(c, url+"/slow")
			if err != nil {
				slowErr = err
			}
			results <- body
		}()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	drained := l.Deregister("a")
	for range 4 {
		if body, _ := fetch(c, url+"/"); body != "b" {
			t.Errorf("routed to %q after a was deregistered", body)
		}
	}
	<-drained
	wg.Wait()
	close(results)
	for r := range results {
		slow += r
	}
	if slowErr != nil || !strings.Contains(slow, "a") {
		t.Errorf("in-flight requests during draining: %q, %v", slow, slowErr)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("draining took %s: it should end when the in-flight request does", d)
	}
	// A target that refuses connections never costs a request.
	l.Register("dead", "127.0.0.1:1")
	for range 6 {
		if _, err := fetch(c, url+"/"); err != nil {
			t.Errorf("request failed with a dead target registered: %v", err)
		}
	}
}

func TestListenerInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := New(Config{Name: "svc", Listen: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("listener on a used port: %v", err)
	}
}

// BenchmarkThroughput compares requests straight to one backend with the
// same requests through the load balancer (one healthy target), 16
// concurrent clients on loopback; p99-ms is the 99th percentile latency.
func BenchmarkThroughput(b *testing.B) {
	addr, stop := backend(b, "x", nil)
	defer stop()
	l, err := New(Config{Name: "bench", Listen: "127.0.0.1:0", Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.Register("x", addr)
	for l.Targets()[0].State != StateHealthy {
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct{ name, url string }{{"direct", "http://" + addr + "/"}, {"via-lb", "http://" + l.Addr() + "/"}} {
		b.Run(tc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			c := &http.Client{Transport: tr}
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if _, err := fetch(c, tc.url); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			tr.CloseIdleConnections()
		})
	}
}
