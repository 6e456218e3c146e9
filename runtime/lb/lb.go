// Package lb is the local runtime's load balancer, one per service, like
// an ALB listener with its target group: it listens on 127.0.0.1, checks
// each registered target's health, routes (HTTP or plain TCP) round robin
// to healthy targets only, and drains a target's connections before it is
// removed.
//
// An HTTP listener is a proxy in user space: it routes each request, so a
// draining target's keep-alive connections carry no new request. A TCP
// listener given a Router is a network load balancer: the kernel routes
// each new connection (NAT), the proxy only takes the connections that
// arrive while no target is healthy, and draining waits for the target's
// connections to end.
package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Target states, as an ALB target group names them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateDraining  = "draining"
)

// Config of one load balancer.
type Config struct {
	Name string
	// Listen is 127.0.0.1:port (port 0 picks one).
	Listen   string
	Protocol string // HTTP or TCP
	// Health check: HTTP GET Path (status within [MatchLo, MatchHi]) or
	// a TCP connect.
	Path               string
	MatchLo, MatchHi   int
	Interval, Timeout  time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Deregistration is how long a removed target's in-flight requests or
	// connections may take.
	Deregistration time.Duration
	// Router, for a TCP listener, routes new connections in the kernel.
	Router Router
	// Active counts a target's open connections, those the kernel routed
	// included; with a Router, draining waits for it to reach zero.
	Active func(id string) int
	// OnChange is told each target's health transitions.
	OnChange func(id, state string)
	Logf     func(string, ...any)
}

func (c *Config) defaults() {
	if c.Protocol == "" {
		c.Protocol = "HTTP"
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.MatchLo == 0 {
		c.MatchLo, c.MatchHi = 200, 399
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Timeout > c.Interval {
		c.Timeout = c.Interval
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = 2
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = 2
	}
	if c.OnChange == nil {
		c.OnChange = func(string, string) {}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Router routes a TCP listener's new connections to its healthy targets
// in the kernel.
type Router interface {
	// Route makes targets (IP:PORT) the ones new connections to the
	// listener on port go to, round robin; none leaves them to the
	// listening socket.
	Route(port int, targets []string) error
	// Unroute removes the listener's routes.
	Unroute(port int) error
}

type target struct {
	id, addr string
	state    atomic.Value // string
	draining atomic.Bool
	inflight atomic.Int64
	tr       *http.Transport // requests with a body, upgrades
	pool     *pool           // everything else
	stop     chan struct{}
	drained  chan struct{}
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func (t *target) State() string { return t.state.Load().(string) }

// LB is one listener and its targets.
type LB struct {
	cfg     Config
	ln      net.Listener
	srv     *http.Server
	mu      sync.Mutex
	targets map[string]*target
	healthy atomic.Pointer[[]*target]
	rr      atomic.Uint64
	closed  chan struct{}
	wg      sync.WaitGroup
	// noPool sends every request through net/http's Transport (the
	// benchmark's comparison).
	noPool bool
	// router is cfg.Router once its first (empty) route worked; nil after
	// Close. routeMu orders the routes.
	routeMu sync.Mutex
	router  Router
	port    int
}

// ErrNoTarget is what a client gets when no target is healthy.
var ErrNoTarget = errors.New("no healthy target")

// New starts listening.
func New(cfg Config) (*LB, error) {
	cfg.defaults()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("load balancer of %s: %s is already in use; pick another listener port (local.listenerPort in the app's deployment.json) or stop what listens there", cfg.Name, cfg.Listen)
		}
		return nil, fmt.Errorf("load balancer of %s: listening on %s: %w", cfg.Name, cfg.Listen, err)
	}
	l := &LB{cfg: cfg, ln: ln, targets: map[string]*target{}, closed: make(chan struct{}), port: ln.Addr().(*net.TCPAddr).Port}
	empty := []*target{}
	l.healthy.Store(&empty)
	if cfg.Protocol == "TCP" && cfg.Router != nil {
		// The first route is empty: whatever an earlier supervisor left
		// routed goes until the targets' health is known again.
		if err := cfg.Router.Route(l.port, nil); err != nil {
			cfg.Logf("lb %s: %v; its connections go through the proxy instead", cfg.Name, err)
		} else {
			l.router = cfg.Router
		}
	}
	if cfg.Protocol == "TCP" {
		l.wg.Add(1)
		go l.serveTCP()
	} else {
		proxy := &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.Out.URL.Scheme = "http"
				r.SetXForwarded()
				r.Out.Host = r.In.Host
			},
			Transport:     roundTripper{l},
			FlushInterval: 0,
			BufferPool:    bufPool{},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if errors.Is(err, ErrNoTarget) {
					http.Error(w, "503 Service Unavailable: no healthy target in "+cfg.Name, http.StatusServiceUnavailable)
					return
				}
				if r.Context().Err() == nil {
					cfg.Logf("lb %s: %v", cfg.Name, err)
				}
				http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			},
			ErrorLog: nil,
		}
		l.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = l.srv.Serve(ln)
		}()
	}
	return l, nil
}

// Addr is the listener's address.
func (l *LB) Addr() string { return l.ln.Addr().String() }

// Register adds a target (host:port) in the initial state; it takes
// traffic once a health check passes.
func (l *LB) Register(id, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.targets[id]; ok && old.addr == addr {
		return
	}
	t := &target{id: id, addr: addr, stop: make(chan struct{}), drained: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	t.state.Store(StateInitial)
	t.pool = newPool(addr)
	t.tr = &http.Transport{
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	l.targets[id] = t
	l.wg.Add(1)
	go l.check(t)
}

// Deregister stops routing to a target at once and returns a channel
// closed when its in-flight requests have finished or the deregistration
// delay has passed (then its connections are closed).
func (l *LB) Deregister(id string) <-chan struct{} {
	l.mu.Lock()
	t, ok := l.targets[id]
	if !ok {
		l.mu.Unlock()
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	delete(l.targets, id)
	l.mu.Unlock()
	if !t.draining.Swap(true) {
		close(t.stop)
		t.state.Store(StateDraining)
		l.rebuild()
		go l.drain(t)
	}
	return t.drained
}

func (l *LB) drain(t *target) {
	deadline := time.After(l.cfg.Deregistration)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for t.inflight.Load() > 0 || l.active(t) > 0 {
		select {
		case <-deadline:
			l.cfg.Logf("lb %s: target %s still had %d requests or connections after the deregistration delay; closing them", l.cfg.Name, t.id, max(t.inflight.Load(), int64(l.active(t))))
			t.mu.Lock()
			for c := range t.conns {
				c.Close()
			}
			t.mu.Unlock()
			t.tr.CloseIdleConnections()
			t.pool.closeIdle(true)
			close(t.drained)
			return
		case <-tick.C:
		case <-l.closed:
		}
	}
	t.tr.CloseIdleConnections()
	t.pool.closeIdle(true)
	close(t.drained)
}

// active is the number of the target's connections the kernel routed (or
// any other way), when they are routed in the kernel.
func (l *LB) active(t *target) int {
	l.routeMu.Lock()
	routed := l.router != nil
	l.routeMu.Unlock()
	if !routed || l.cfg.Active == nil {
		return 0
	}
	return l.cfg.Active(t.id)
}

// TargetHealth is one target's state.
type TargetHealth struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	State    string `json:"state"`
	InFlight int64  `json:"inFlight"`
}

// Targets lists the registered targets.
func (l *LB) Targets() []TargetHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []TargetHealth
	for _, t := range l.targets {
		out = append(out, TargetHealth{ID: t.id, Addr: t.addr, State: t.State(), InFlight: t.inflight.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Close stops the listener and every health check; in-flight requests are
// cut.
func (l *LB) Close() {
	select {
	case <-l.closed:
		return
	default:
	}
	close(l.closed)
	l.routeMu.Lock()
	if l.router != nil {
		if err := l.router.Unroute(l.port); err != nil {
			l.cfg.Logf("lb %s: %v", l.cfg.Name, err)
		}
		l.router = nil
	}
	l.routeMu.Unlock()
	l.ln.Close()
	if l.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.srv.Shutdown(ctx)
		cancel()
	}
	l.mu.Lock()
	for id, t := range l.targets {
		if !t.draining.Swap(true) {
			close(t.stop)
		}
		t.mu.Lock()
		for c := range t.conns {
			c.Close()
		}
		t.mu.Unlock()
		t.tr.CloseIdleConnections()
		t.pool.closeIdle(true)
		delete(l.targets, id)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *LB) rebuild() {
	l.mu.Lock()
	var hs []*target
	for _, t := range l.targets {
		if t.State() == StateHealthy && !t.draining.Load() {
			hs = append(hs, t)
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].id < hs[j].id })
	l.healthy.Store(&hs)
	l.mu.Unlock()
	l.reroute()
}

// reroute gives the kernel the healthy targets. It reads them under
// routeMu, so the last route made is always the latest set.
func (l *LB) reroute() {
	l.routeMu.Lock()
	defer l.routeMu.Unlock()
	if l.router == nil {
		return
	}
	select {
	case <-l.closed:
		return
	default:
	}
	hs := *l.healthy.Load()
	addrs := make([]string, len(hs))
	for i, t := range hs {
		addrs[i] = t.addr
	}
	if err := l.router.Route(l.port, addrs); err != nil {
		// The old routes may send connections to a target that is gone:
		// remove them and let the listener proxy.
		if uerr := l.router.Unroute(l.port); uerr != nil {
			l.cfg.Logf("lb %s: %v; %v", l.cfg.Name, err, uerr)
			return
		}
		l.cfg.Logf("lb %s: %v; its connections go through the proxy from now on", l.cfg.Name, err)
		l.router = nil
	}
}

// pick returns a healthy target with its in-flight count taken, skipping
// those in skip.
func (l *LB) pick(skip map[*target]bool) *target {
	for range 4 {
		hs := *l.healthy.Load()
		if len(hs) == 0 {
			return nil
		}
		n := l.rr.Add(1)
		for i := range hs {
			t := hs[(int(n)+i)%len(hs)]
			if skip[t] {
				continue
			}
			t.inflight.Add(1)
			// The drainer sets draining before it waits for inflight to
			// reach zero: a target seen here as not draining is counted.
			if t.draining.Load() {
				t.inflight.Add(-1)
				continue
			}
			return t
		}
		if len(skip) > 0 {
			return nil
		}
	}
	return nil
}

func (l *LB) check(t *target) {
	defer l.wg.Done()
	hc := &http.Client{Timeout: l.cfg.Timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var ok, fail int
	// The first check runs at once: a target that is up takes traffic
	// without waiting a whole interval. While a target is still initial
	// (starting), it is checked again after 10 ms, 20 ms, 40 ms, then
	// every 50 ms for a second, every 100 ms up to 5 s and every 250 ms
	// after that, so that it takes traffic as soon as it answers; its
	// failures still count only once per Interval, so it turns unhealthy
	// no sooner than it would with checks at the configured interval.
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastCounted time.Time
	initialDelay := firstRecheck
	registered := time.Now()
	for {
		select {
		case <-t.stop:
			return
		case <-l.closed:
			return
		case <-timer.C:
		}
		t.pool.reap()
		passed := l.probe(hc, t.addr)
		state := t.State()
		next := state
		if passed {
			ok, fail = ok+1, 0
			if state == StateInitial || (state == StateUnhealthy && ok >= l.cfg.HealthyThreshold) {
				next = StateHealthy
			}
		} else if state != StateInitial || lastCounted.IsZero() || time.Since(lastCounted) >= l.cfg.Interval {
			lastCounted = time.Now()
			ok, fail = 0, fail+1
			if (state == StateHealthy || state == StateInitial) && fail >= l.cfg.UnhealthyThreshold {
				next = StateUnhealthy
			}
		}
		if next != state && !t.draining.Load() {
			t.state.Store(next)
			l.rebuild()
			l.cfg.Logf("lb %s: target %s (%s) is %s", l.cfg.Name, t.id, t.addr, next)
			l.cfg.OnChange(t.id, next)
		}
		if t.State() == StateInitial {
			// A starting target is asked again soon: the process has
			// just been started and a small one listens within
			// milliseconds, a JVM within a second or a few. The pace
			// slows the longer it takes.
			timer.Reset(min(initialDelay, initialPace(time.Since(registered)), l.cfg.Interval))
			initialDelay *= 2
		} else {
			timer.Reset(l.cfg.Interval)
		}
	}
}

// A starting (initial) target is checked again after firstRecheck, then
// twice as long each time, at most initialPace apart.
const firstRecheck = 10 * time.Millisecond

func initialPace(starting time.Duration) time.Duration {
	switch {
	case starting < time.Second:
		return 50 * time.Millisecond
	case starting < 5*time.Second:
		return 100 * time.Millisecond
	}
	return 250 * time.Millisecond
}

func (l *LB) probe(hc *http.Client, addr string) bool {
	if l.cfg.Protocol == "TCP" {
		c, err := net.DialTimeout("tcp", addr, l.cfg.Timeout)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	resp, err := hc.Get("http://" + addr + l.cfg.Path)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= l.cfg.MatchLo && resp.StatusCode <= l.cfg.MatchHi
}

type roundTripper struct{ l *LB }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	var skip map[*target]bool
	replayable := req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0
	for attempt := 0; ; attempt++ {
		t := rt.l.pick(skip)
		if t == nil {
			return nil, ErrNoTarget
		}
		req.URL.Host = t.addr
		var resp *http.Response
		var err error
		if fastPath(req) && !rt.l.noPool {
			resp, err = t.pool.roundTrip(req)
		} else {
			resp, err = t.tr.RoundTrip(req)
		}
		if err != nil {
			t.inflight.Add(-1)
			// A target that refuses the connection never saw the request:
			// another target can take it (an ALB would answer 502).
			var op *net.OpError
			if replayable && errors.As(err, &op) && op.Op == "dial" && attempt < 3 {
				if skip == nil {
					skip = map[*target]bool{}
				}
				skip[t] = true
				continue
			}
			return nil, err
		}
		resp.Body = &countedBody{ReadCloser: resp.Body, t: t}
		return resp, nil
	}
}

type countedBody struct {
	io.ReadCloser
	t    *target
	once sync.Once
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.t.inflight.Add(-1) })
	return err
}

func (l *LB) serveTCP() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go l.proxyTCP(c)
	}
}

func (l *LB) proxyTCP(c net.Conn) {
	var skip map[*target]bool
	var t *target
	var up net.Conn
	for attempt := 0; attempt < 4; attempt++ {
		t = l.pick(skip)
		if t == nil {
			c.Close()
			return
		}
		var err error
		up, err = net.DialTimeout("tcp", t.addr, 2*time.Second)
		if err == nil {
			break
		}
		t.inflight.Add(-1)
		if skip == nil {
			skip = map[*target]bool{}
		}
		skip[t] = true
		t, up = nil, nil
	}
	if up == nil {
		c.Close()
		return
	}
	defer t.inflight.Add(-1)
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(c, up)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	c.Close()
	up.Close()
}

// bufPool keeps ReverseProxy from allocating 32 KiB per request.
type bufPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *(copyBufs.Get().(*[]byte)) }
func (bufPool) Put(b []byte) { copyBufs.Put(&b) }
