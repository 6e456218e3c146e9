// Package registry runs a local OCI registry on loopback, built in-process on
// github.com/distribution/distribution/v3 with filesystem storage: the
// stand-in for ECR that the local runtime and the tests pull from.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"

	// The registry's storage driver and auth scheme register themselves.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/hoistctl/hoist/discover"
)

// DefaultAddr is where `hoist registry serve` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:5000"

// Options configures one registry.
type Options struct {
	// Addr is host:port on loopback (default 127.0.0.1:5000); port 0
	// picks a free port, which Server.Addr then names.
	Addr string
	// Root holds the registry's blobs and manifests (required); what was
	// pushed survives a restart on the same root.
	Root string
	// Htpasswd, when set, is an htpasswd file of bcrypt hashes
	// (`htpasswd -Bbn USER PASS`): clients must then send basic auth.
	Htpasswd string
	// AccessLog receives one line per request; nil logs nothing.
	AccessLog io.Writer
}

// Server is a running registry.
type Server struct {
	// Addr is the address it listens on (host:port).
	Addr string
	// Root is its storage directory.
	Root string

	srv  *http.Server
	ln   net.Listener
	app  *handlers.App
	done chan error
	once sync.Once
	err  error
}

// ErrNotLoopback is returned for an address other hosts could reach: the
// registry serves without TLS, so it listens on loopback only.
var ErrNotLoopback = errors.New("the registry listens on loopback only")

// CheckAddr says whether addr is a loopback host:port.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("registry address %q: %v (use HOST:PORT, for example %s)", addr, err, DefaultAddr)
	}
	if port == "" {
		return fmt.Errorf("registry address %q: no port (use HOST:PORT, for example %s)", addr, DefaultAddr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q is not a loopback address; use 127.0.0.1:PORT (the registry has no TLS and no default credentials, so it must not be reachable from other hosts)", ErrNotLoopback, addr)
}

// SetLibraryLogLevel sets the level of the registry library's own log
// (logrus's standard logger, so process-wide): "warn" keeps a foreground
// `hoist registry serve` quiet, "info" or "debug" shows what it does.
func SetLibraryLogLevel(level string) error {
	l, err := logrus.ParseLevel(level)
	if err != nil {
		return err
	}
	logrus.SetLevel(l)
	return nil
}

// Start starts a registry and returns once it accepts connections. It runs
// until Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if err := CheckAddr(o.Addr); err != nil {
		return nil, err
	}
	if o.Root == "" {
		return nil, errors.New("starting the registry: no storage directory (Options.Root)")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("creating the registry's storage directory %s: %w", root, err)
	}
	if o.Htpasswd != "" {
		// distribution would create a missing file with a random user and
		// log its password; a typo in a path should be an error instead.
		if _, err := os.Stat(o.Htpasswd); err != nil {
			return nil, fmt.Errorf("starting the registry: the htpasswd file: %w: %v (create it with `htpasswd -Bc FILE USER`)", discover.ErrNotFound, err)
		}
	}
	secret, err := httpSecret(root)
	if err != nil {
		return nil, err
	}

	cfg := &configuration.Configuration{}
	cfg.HTTP.Addr = o.Addr
	// Upload sessions are signed with it; kept in the root so an upload
	// survives a restart of the registry.
	cfg.HTTP.Secret = secret
	cfg.Catalog.MaxEntries = 1000
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": root},
		"delete":     configuration.Parameters{"enabled": true},
		"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
		// The filesystem driver has no URLs to redirect to.
		"redirect": configuration.Parameters{"disable": true},
	}
	if o.Htpasswd != "" {
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "hoist", "path": o.Htpasswd}}
	}

	app, err := newApp(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Addr)
	if err != nil {
		_ = app.Shutdown()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("starting the registry on %s: %w: %v; another registry (or `hoist registry serve`) already listens there: use it, stop it, or pick another port with --addr 127.0.0.1:PORT", o.Addr, discover.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("starting the registry on %s: %w: %v", o.Addr, discover.ErrUnavailable, err)
	}
	var h http.Handler = app
	if o.AccessLog != nil {
		h = accessLog(h, o.AccessLog)
	}
	s := &Server{
		Addr: ln.Addr().String(),
		Root: root,
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second},
		ln:   ln,
		app:  app,
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// newApp builds distribution's application, which panics on a bad
// configuration.
func newApp(cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("configuring the registry: %v", r)
		}
	}()
	// Its own context: the upload purger runs until Shutdown cancels it.
	return handlers.NewApp(context.Background(), cfg), nil
}

// httpSecret reads the root's upload-signing secret, creating it once.
func httpSecret(root string) (string, error) {
	p := filepath.Join(root, "http-secret")
	if data, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(data))) >= 32 {
		return strings.TrimSpace(string(data)), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b[:])
	if err := discover.WriteFileAtomic(p, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the registry's upload secret: %w", err)
	}
	return s, nil
}

// URL is the registry's base URL (plain HTTP: it is on loopback).
func (s *Server) URL() string { return "http://" + s.Addr }

// Done receives the serve loop's error (nil after Stop) once it ends.
func (s *Server) Done() <-chan error { return s.done }

// Stop stops accepting requests, lets running ones finish until ctx ends,
// and releases the registry.
func (s *Server) Stop(ctx context.Context) error {
	s.once.Do(func() {
		err := s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
		}
		// Shutdown closes only the listeners Serve has taken up: one stopped
		// before its serving goroutine ran would keep the port until then.
		_ = s.ln.Close()
		s.err = errors.Join(err, s.app.Shutdown())
	})
	return s.err
}

// Wait serves until ctx ends or the server fails, then stops it.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.done:
		_ = s.Stop(context.Background())
		if err != nil {
			return fmt.Errorf("serving the registry on %s: %w", s.Addr, err)
		}
		return nil
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Stop(sctx)
	}
}

// accessLog writes "METHOD PATH STATUS BYTES DURATION" per request.
func accessLog(next http.Handler, w io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s %s %d %dB %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, rec.status, rec.n, time.Since(start).Round(time.Millisecond))
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
