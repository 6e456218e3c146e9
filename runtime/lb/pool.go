package lb

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// pool keeps idle HTTP/1.1 connections to one target and sends requests
// without a body on them from the calling goroutine. net/http's Transport
// hands every request to a write goroutine and every response back from a
// read goroutine of the connection; on the 2-core machines the runtime is
// measured on, those handoffs (and the wake-ups they cost) were most of
// what the load balancer added per request. Requests with a body and
// protocol upgrades still go through a Transport, which can send a body
// while it reads an early response.
type pool struct {
	addr   string
	dialer *net.Dialer
	mu     sync.Mutex
	idle   []*pconn
	closed bool
}

// Limits of a pool: how many idle connections it keeps (a load test's
// concurrency, not a cap on it: more are dialled when all are busy) and for
// how long.
const (
	maxIdlePerTarget = 256
	idleTimeout      = 90 * time.Second
	// A connection idle for longer than staleAfter is looked at before it
	// is used: the target may have closed it (Tomcat's keep-alive
	// timeout is 20 s, some servers' 5 s).
	staleAfter = 500 * time.Millisecond
)

type pconn struct {
	c         net.Conn
	rc        syscall.RawConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newPool(addr string) *pool {
	return &pool{addr: addr, dialer: &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}}
}

// fastPath says whether the pool can carry req: no body, no upgrade.
func fastPath(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && req.Header.Get("Upgrade") == ""
}

// idempotent requests may be sent again when a reused connection turns
// out to have been closed by the target before it answered.
func idempotent(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func (p *pool) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx, !idempotent(req.Method))
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(p, req)
		if err == nil {
			return resp, nil
		}
		pc.c.Close()
		var nr noResponse
		if reused && errors.As(err, &nr) && idempotent(req.Method) && ctx.Err() == nil && attempt < 2 {
			continue
		}
		return nil, err
	}
}

// get takes the most recently used idle connection (LIFO keeps few warm)
// or dials a new one.
func (p *pool) get(ctx context.Context, strict bool) (*pconn, bool, error) {
	now := time.Now()
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := now.Sub(pc.idleSince)
		if idle > idleTimeout || ((strict || idle > staleAfter) && !pc.alive()) {
			pc.c.Close()
			continue
		}
		return pc, true, nil
	}
	c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	pc := &pconn{c: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}
	if sc, ok := c.(syscall.Conn); ok {
		pc.rc, _ = sc.SyscallConn()
	}
	return pc, false, nil
}

// put returns a connection whose response was read to the end.
func (p *pool) put(pc *pconn) {
	pc.idleSince = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerTarget {
		p.mu.Unlock()
		pc.c.Close()
		return
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// closeIdle closes the idle connections; with final, later ones too.
func (p *pool) closeIdle(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = p.closed || final
	p.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// reap closes connections idle for longer than idleTimeout.
func (p *pool) reap() {
	cut := time.Now().Add(-idleTimeout)
	var old []*pconn
	p.mu.Lock()
	keep := p.idle[:0]
	for _, pc := range p.idle {
		if pc.idleSince.Before(cut) {
			old = append(old, pc)
		} else {
			keep = append(keep, pc)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, pc := range old {
		pc.c.Close()
	}
}

// alive peeks at an idle connection without blocking: a target that
// closed it has sent EOF; one that sent anything unasked is not speaking
// HTTP/1.1 any more.
func (pc *pconn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	if pc.rc == nil {
		return true
	}
	ok := false
	var b [1]byte
	_ = pc.rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return ok
}

// noResponse is a failure before any byte of the response arrived.
type noResponse struct{ err error }

func (e noResponse) Error() string { return e.err.Error() }
func (e noResponse) Unwrap() error { return e.err }

var longAgo = time.Unix(1, 0)

func (pc *pconn) roundTrip(p *pool, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// A client that goes away cuts the exchange with the target, as
	// net/http's Transport does.
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(longAgo) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		return nil, noResponse{err}
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		return nil, noResponse{err}
	}
	if _, err := pc.br.Peek(1); err != nil {
		stop()
		return nil, noResponse{err}
	}
	resp, err := http.ReadResponse(pc.br, req)
	// Informational answers (100 Continue, 103 Early Hints) precede the
	// response.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(pc.br, req)
	}
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		err = errors.New("the target switched protocols on a request that did not ask to")
	}
	if err != nil {
		stop()
		return nil, err
	}
	b := &pbody{rc: resp.Body, pc: pc, p: p, stop: stop, reuse: !resp.Close}
	if resp.Body == http.NoBody {
		b.eof = true
	}
	resp.Body = b
	return resp, nil
}

// pbody gives the connection back to the pool once the response was read
// to its end.
type pbody struct {
	rc    io.ReadCloser
	pc    *pconn
	p     *pool
	stop  func() bool
	eof   bool
	reuse bool
	done  bool
}

func (b *pbody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pbody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.eof {
		// Closing an unfinished body would read the rest of it (perhaps
		// a stream without end): cut the connection first.
		b.pc.c.Close()
		b.stop()
		_ = b.rc.Close()
		return nil
	}
	err := b.rc.Close()
	if b.stop() && b.reuse && err == nil {
		b.p.put(b.pc)
	} else {
		b.pc.c.Close()
	}
	return err
}
