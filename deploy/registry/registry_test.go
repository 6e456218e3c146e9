package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hoistctl/hoist/discover"
)

func TestMain(m *testing.M) {
	// distribution logs every request at info level.
	_ = SetLibraryLogLevel("warn")
	os.Exit(m.Run())
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func do(t *testing.T, method, url string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// upload pushes one blob the way a client does (POST, then a monolithic
// PUT to the returned location) and returns its digest.
func upload(t *testing.T, base, repo string, data []byte, hdr map[string]string) string {
	t.Helper()
	resp := do(t, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, hdr)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digestOf(data)
	resp = do(t, http.MethodPut, loc+sep+"digest="+d, data, hdr)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("finishing an upload: %s %s", resp.Status, b)
	}
	return d
}

// TestServeStoresAndPersists pushes a blob and a manifest over the
// distribution API, reads them back, and finds them again after a restart
// on the same storage directory.
func TestServeStoresAndPersists(t *testing.T) {
	root := t.TempDir()
	var log bytes.Buffer
	s := start(t, Options{Addr: "127.0.0.1:0", Root: root, AccessLog: &log})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || strings.HasSuffix(s.Addr, ":0") {
		t.Fatalf("addr %q", s.Addr)
	}
	resp := do(t, http.MethodGet, s.URL()+"/v2/", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: %s %v", resp.Status, resp.Header)
	}

	layer := []byte("not really a tarball, but a blob all the same\n")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	ld := upload(t, s.URL(), "team/app", layer, nil)
	cd := upload(t, s.URL(), "team/app", cfg, nil)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}},
	})
	resp = do(t, http.MethodPut, s.URL()+"/v2/team/app/manifests/v1", manifest, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT manifest: %s %s", resp.Status, b)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != digestOf(manifest) {
		t.Errorf("manifest digest %s, want %s", got, digestOf(manifest))
	}
	if !strings.Contains(log.String(), "PUT /v2/team/app/manifests/v1 201") {
		t.Errorf("access log lacks the manifest PUT:\n%s", log.String())
	}

	// A restart on the same root serves the same content.
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after Stop", s.Addr)
	}
	s2 := start(t, Options{Addr: "127.0.0.1:0", Root: root})
	resp = do(t, http.MethodGet, s2.URL()+"/v2/team/app/manifests/v1", nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"})
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, manifest) {
		t.Fatalf("manifest after restart: %s %q", resp.Status, got)
	}
	resp = do(t, http.MethodGet, s2.URL()+"/v2/team/app/blobs/"+ld, nil, nil)
	got, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, layer) {
		t.Fatalf("blob after restart: %s %q", resp.Status, got)
	}
	resp = do(t, http.MethodHead, s2.URL()+"/v2/team/app/blobs/"+digestOf([]byte("never pushed")), nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of a missing blob: %s", resp.Status)
	}
	// The blob is a file in the storage directory, in distribution's layout.
	hex := strings.TrimPrefix(ld, "sha256:")
	if data, err := os.ReadFile(filepath.Join(root, "docker/registry/v2/blobs/sha256", hex[:2], hex, "data")); err != nil || !bytes.Equal(data, layer) {
		t.Errorf("blob on disk: %q, %v", data, err)
	}
	resp = do(t, http.MethodGet, s2.URL()+"/v2/_catalog", nil, nil)
	got, _ = io.ReadAll(resp.Body)
	if !strings.Contains(string(got), `"team/app"`) {
		t.Errorf("catalog: %s", got)
	}
}

// TestServeBasicAuth: with an htpasswd file, requests need its credentials.
func TestServeBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("pusher:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Addr: "127.0.0.1:0", Root: t.TempDir(), Htpasswd: htpasswd})
	resp := do(t, http.MethodGet, s.URL()+"/v2/", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Basic realm="hoist"`) {
		t.Errorf("anonymous: %s %v", resp.Status, resp.Header)
	}
	for _, c := range []struct {
		user, pass string
		want       int
	}{{"pusher", "wrong", http.StatusUnauthorized}, {"nobody", "s3cret-pass", http.StatusUnauthorized}, {"pusher", "s3cret-pass", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/", nil)
		req.SetBasicAuth(c.user, c.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s/%s: %s, want %d", c.user, c.pass, resp.Status, c.want)
		}
	}

	// A missing htpasswd file is an error, not a file with a random user.
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Root: t.TempDir(), Htpasswd: missing}); !errors.Is(err, discover.ErrNotFound) {
		t.Errorf("missing htpasswd: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("Start created %s", missing)
	}
}

func TestServeRefusesOtherHosts(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:5000", ":5000", "[::]:5000", "192.0.2.1:5000", "example.com:5000"} {
		if _, err := Start(context.Background(), Options{Addr: addr, Root: t.TempDir()}); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: err = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.0.0.2:0"} {
		if err := CheckAddr(addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := CheckAddr("127.0.0.1"); err == nil {
		t.Errorf("an address without a port was accepted")
	}
}

func TestServePortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{Addr: l.Addr().String(), Root: t.TempDir()})
	if !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "already listens there") {
		t.Errorf("err = %v", err)
	}
}

// TestWaitStopsOnCancel: the foreground mode returns when its context ends
// and the port is free again.
func TestWaitStopsOnCancel(t *testing.T) {
	s, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		t.Errorf("port not released: %v", err)
	} else {
		l.Close()
	}
}
