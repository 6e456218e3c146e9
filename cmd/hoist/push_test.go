package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		{"flags after the app", []string{"push", "java-built-0001", "--registry", "127.0.0.1:5000"}, exitUsage, "hoist push --registry 127.0.0.1:5000 java-built-0001"},
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
