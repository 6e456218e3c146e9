package lb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A target that closes idle keep-alive connections (as Tomcat does after
// its keep-alive timeout) costs no request, and busy connections are
// reused rather than dialled anew for every request.
func TestPooledConnections(t *testing.T) {
	var dials atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		IdleTimeout: 150 * time.Millisecond,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				dials.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/echo":
				body, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %s", r.Method, body)
			case "/empty":
				w.WriteHeader(http.StatusNoContent)
			case "/stream":
				f := w.(http.Flusher)
				for i := 0; r.Context().Err() == nil; i++ {
					fmt.Fprintf(w, "line %d\n", i)
					f.Flush()
					time.Sleep(10 * time.Millisecond)
				}
			case "/xff":
				fmt.Fprint(w, r.Header.Get("X-Forwarded-For"), " ", r.Host)
			default:
				fmt.Fprint(w, "ok")
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()
	l, err := New(Config{Name: "pool", Listen: "127.0.0.1:0", Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Register("x", ln.Addr().String())
	waitState(t, l, "x", StateHealthy)
	url := "http://" + l.Addr()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	before := dials.Load()
	for range 50 {
		if body, err := fetch(c, url+"/"); err != nil || body != "ok" {
			t.Fatalf("%q %v", body, err)
		}
	}
	if n := dials.Load() - before; n > 2 {
		t.Errorf("50 requests one after another opened %d connections to the target, want 1 or 2", n)
	}
	// Pauses longer than the target's idle timeout: it has closed the
	// pooled connection each time.
	for i := range 6 {
		time.Sleep(time.Duration(100+60*i) * time.Millisecond)
		req, _ := http.NewRequest("POST", url+"/echo", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("POST without a body after %d ms idle: %v", 100+60*i, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "POST " {
			t.Errorf("POST without a body after %d ms idle: %d %q", 100+60*i, resp.StatusCode, body)
		}
		time.Sleep(time.Duration(100+60*i) * time.Millisecond)
		if body, err := fetch(c, url+"/"); err != nil || body != "ok" {
			t.Errorf("GET after %d ms idle: %q %v", 100+60*i, body, err)
		}
	}
	// A request body (through net/http's Transport), a response without
	// a body, and the forwarding headers.
	resp, err := c.Post(url+"/echo", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "POST payload" {
		t.Errorf("POST with a body: %q", body)
	}
	for range 3 {
		resp, err := c.Get(url + "/empty")
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("204: %v %v", resp, err)
		}
		resp.Body.Close()
		resp, err = c.Head(url + "/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HEAD: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if body, err := fetch(c, url+"/xff"); err != nil || !strings.HasPrefix(body, "127.0.0.1 "+l.Addr()) {
		t.Errorf("forwarding headers: %q %v", body, err)
	}
	// A client that leaves a stream without end: the load balancer cuts
	// the exchange with the target, nothing stays in flight.
	conn, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	for range 5 {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	for l.Targets()[0].InFlight != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a stream the client left is still in flight: %+v", l.Targets())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if body, err := fetch(c, url+"/"); err != nil || body != "ok" {
		t.Errorf("after the stream: %q %v", body, err)
	}
}
