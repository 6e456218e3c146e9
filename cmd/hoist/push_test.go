package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistctl/hoist/deploy/registry"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// writeImageJSON records image as APP's built image, as containerize does.
func writeImageJSON(t *testing.T, ws, id, image, digest string) {
	t.Helper()
	dir := containerize.Dir(discover.Workspace{Dir: ws}, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(containerize.Result{Image: image, Digest: digest})
	if err := os.WriteFile(filepath.Join(dir, "image.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPushAndRegistryUsage: what is wrong with the command line is found
// before any engine starts.
func TestPushAndRegistryUsage(t *testing.T) {
	ws := t.TempDir()
	writeImageJSON(t, ws, "java-built-0001", "hoist.local/built:v1", "sha256:"+strings.Repeat("a", 64))
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no app", []string{"push", "--registry", "127.0.0.1:5000"}, exitUsage, "missing app ID"},
		// Flags after the app are moved before it (TestInterspersedFlags).
		{"flags after the app, registry missing", []string{"push", "java-built-0001", "--docker-config", "/nonexistent"}, exitUsage, "--registry is required"},
		{"no registry", []string{"push", "java-built-0001"}, exitUsage, "--registry is required"},
		{"unknown app", []string{"push", "--registry", "127.0.0.1:5000", "java-nosuch-0001"}, exitNotFound, "hoist inventory"},
		{"bad reference", []string{"push", "--registry", "127.0.0.1:5000/Upper/Case", "java-built-0001"}, exitUsage, "--registry"},
		{"registry on all interfaces", []string{"registry", "serve", "--addr", "0.0.0.0:5000"}, exitUsage, "loopback"},
		{"registry argument", []string{"registry", "serve", "extra"}, exitUsage, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, append([]string{"--workspace", ws}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tc.code, stderr, tc.msg)
			}
		})
	}
}

// TestPushCommand pushes an image built on a private engine through the
// CLI: JSON result, push.json, nothing sent the second time, and the exit
// codes of an unreachable registry and a missing image.
func TestPushCommand(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /hello.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("pushed by the CLI test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const id, image = "java-clipush-0001", "hoist.local/clipush:v2"
	built, err := buildkit.Build(ctx, buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: image, SourceDateEpoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	writeImageJSON(t, ws, id, image, built.Digest)
	_ = registry.SetLibraryLogLevel("error")
	reg, err := registry.Start(ctx, registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Stop(context.Background()) })

	engine := []string{"--workspace", ws, "--engine-data-dir", cfg.DataDir, "--engine-state-dir", cfg.StateDir, "--engine-namespace", cfg.Namespace,
		"--engine-bin-dir", cfg.BinDir, "--runtime-bridge", cfg.Bridge, "--runtime-subnet", cfg.Subnet}
	env := map[string]string{"DOCKER_CONFIG": t.TempDir()}
	var results []map[string]any
	for i := 0; i < 2; i++ {
		stdout, stderr, code := run(t, env, append(engine, "-o", "json", "push", "--registry", reg.Addr+"/cli/app", id)...)
		if code != exitOK {
			t.Fatalf("push %d: exit %d\n%s", i+1, code, stderr)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("push output: %v\n%s", err, stdout)
		}
		results = append(results, res)
	}
	if results[0]["reference"] != reg.Addr+"/cli/app:v2" || results[0]["digest"] != built.Digest {
		t.Errorf("first push: %v", results[0])
	}
	if results[0]["blobsSent"] != 3.0 || results[1]["blobsSent"] != 0.0 || results[1]["blobsSkipped"] != 3.0 {
		t.Errorf("blobs sent: first %v, second %v (skipped %v)", results[0]["blobsSent"], results[1]["blobsSent"], results[1]["blobsSkipped"])
	}
	data, err := os.ReadFile(filepath.Join(ws, id, "containerize", "push.json"))
	if err != nil || !strings.Contains(string(data), `"reference": "`+reg.Addr+`/cli/app:v2"`) {
		t.Errorf("push.json: %s %v", data, err)
	}

	// The table for a person.
	stdout, _, code := run(t, env, append(engine, "push", "--registry", reg.Addr, id)...)
	if code != exitOK || !strings.Contains(stdout, "Pushed") || !strings.Contains(stdout, reg.Addr+"/clipush:v2") {
		t.Errorf("table output (exit %d):\n%s", code, stdout)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if _, stderr, code := run(t, env, append(engine, "push", "--registry", closed, id)...); code != exitUnavailable || !strings.Contains(stderr, "hoist registry serve") {
		t.Errorf("unreachable registry: exit %d, %s", code, stderr)
	}
	writeImageJSON(t, ws, "java-gone-0001", "hoist.local/gone:v1", "sha256:"+strings.Repeat("b", 64))
	if _, stderr, code := run(t, env, append(engine, "push", "--registry", reg.Addr, "java-gone-0001")...); code != exitNotFound || !strings.Contains(stderr, "hoist containerize java-gone-0001") {
		t.Errorf("image not in the engine: exit %d, %s", code, stderr)
	}
}

// TestContainerizePush takes the sample app through the CLI up to
// `containerize --push`: the built and validated image lands in a registry
// on loopback under the reference push.json names, with the digest
// image.json names.
func TestContainerizePush(t *testing.T) {
	cfg := enginetest.Start(t)
	for _, tool := range []string{"javac", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
	appDir, err := os.MkdirTemp("", "hoist-push-app-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(appDir) })
	_ = os.Chmod(appDir, 0o755)
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join("../../testdata/sampleapp", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(appDir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("javac", "-d", appDir, filepath.Join(appDir, "HelloServer.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	app := exec.Command("java", "-Xmx64m", "-cp", appDir, "HelloServer", fmt.Sprint(port))
	app.Dir = appDir
	app.Env = append(os.Environ(), "DB_PASSWORD=push-test-secret")
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Process.Signal(syscall.SIGTERM); _, _ = app.Process.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sample app did not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	_ = registry.SetLibraryLogLevel("error")
	reg, err := registry.Start(context.Background(), registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Stop(context.Background()) })

	ws := t.TempDir()
	engine := []string{"--workspace", ws, "--engine-data-dir", cfg.DataDir, "--engine-state-dir", cfg.StateDir, "--engine-namespace", cfg.Namespace,
		"--engine-bin-dir", cfg.BinDir, "--runtime-bridge", cfg.Bridge, "--runtime-subnet", cfg.Subnet}
	env := map[string]string{"DOCKER_CONFIG": t.TempDir()}
	stdout, stderr, code := run(t, env, append(engine, "inventory", "--quiet", "--pid", fmt.Sprint(app.Process.Pid))...)
	id := strings.TrimSpace(stdout)
	if code != exitOK || id == "" {
		t.Fatalf("inventory: exit %d %q\n%s", code, stdout, stderr)
	}
	for _, phase := range []string{"analyze", "extract"} {
		if _, stderr, code := run(t, env, append(engine, phase, id)...); code != exitOK {
			t.Fatalf("%s: exit %d\n%s", phase, code, stderr)
		}
	}
	// A typo in --push stops containerize before it builds anything.
	if _, stderr, code := run(t, env, append(engine, "containerize", "--push", reg.Addr+"/Bad Name", id)...); code != exitUsage || !strings.Contains(stderr, "--registry") {
		t.Errorf("bad --push: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(ws, id, "containerize", "image.json")); err == nil {
		t.Errorf("containerize built despite a bad --push")
	}

	stdout, stderr, code = run(t, env, append(engine, "containerize", "--progress", "quiet", "--output", "json", "--push", reg.Addr+"/sample", id)...)
	if code != exitOK {
		t.Fatalf("containerize --push: exit %d\n%s", code, stderr)
	}
	var out struct {
		Image      string `json:"image"`
		Digest     string `json:"digest"`
		Validation *struct {
			Passed bool `json:"passed"`
		} `json:"validation"`
		Push *struct {
			Reference string `json:"reference"`
			Digest    string `json:"digest"`
			BlobsSent int    `json:"blobsSent"`
		} `json:"push"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("containerize output: %v\n%s", err, stdout)
	}
	if out.Validation == nil || !out.Validation.Passed {
		t.Errorf("not validated before the push: %s", stdout)
	}
	tag := out.Image[strings.LastIndex(out.Image, ":")+1:]
	if out.Push == nil || out.Push.Reference != reg.Addr+"/sample:"+tag || out.Push.Digest != out.Digest || out.Push.BlobsSent < 3 {
		t.Fatalf("push result: %s", stdout)
	}
	data, err := os.ReadFile(filepath.Join(ws, id, "containerize", "push.json"))
	if err != nil || !strings.Contains(string(data), out.Digest) {
		t.Errorf("push.json: %s %v", data, err)
	}
	// The registry serves that digest under the reference.
	req, _ := http.NewRequest(http.MethodHead, "http://"+reg.Addr+"/v2/sample/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); resp.StatusCode != http.StatusOK || got != out.Digest {
		t.Errorf("registry: %s, digest %s, want %s", resp.Status, got, out.Digest)
	}
}
