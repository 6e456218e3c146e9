// Package enginetest starts a private hoist engine (containerd and
// buildkitd with their own data and state directories) for a test, and
// stops it when the test ends.
package enginetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	hoistrt "github.com/hoistctl/hoist/runtime"
)

var (
	buildOnce sync.Once
	hoistBin  string
	buildErr  error
	buildOut  []byte
)

// repoRoot finds the checkout from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// HoistBinary is the hoist binary the test engine's supervisor runs
// (built once per test binary by Start).
func HoistBinary() string { return hoistBin }

// Start returns the config of a running private engine, or skips the test
// when this machine cannot run one (not root, -short, binaries not built).
func Start(t testing.TB) hoistrt.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containerd and buildkitd")
	}
	if os.Geteuid() != 0 {
		t.Skip("the engine needs root")
	}
	root := repoRoot()
	binDir := filepath.Join(root, "bin")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "buildkitd"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Skipf("%s not built: run `make build` first (%v)", b, err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed (make deps)")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hoist-enginetest-")
		if err != nil {
			buildErr = err
			return
		}
		hoistBin = filepath.Join(dir, "hoist")
		// hoist-supervisor beside hoist, where hoist looks for it.
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/hoist", "./cmd/hoist-supervisor")
		cmd.Dir = root
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building hoist: %v\n%s", buildErr, buildOut)
	}
	// Unix socket paths are limited to 108 bytes: keep the state dir short.
	state, err := os.MkdirTemp("/run", "hoist-test-")
	if err != nil {
		t.Fatal(err)
	}
	// A bridge and subnet of the test's own, so tests never collide with
	// each other or with a real installation.
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	cfg := hoistrt.Config{
		DataDir:      t.TempDir(),
		StateDir:     state,
		Namespace:    "hoist-test",
		BinDir:       binDir,
		Supervisor:   []string{filepath.Join(filepath.Dir(hoistBin), hoistrt.SupervisorBinary)},
		Bridge:       fmt.Sprintf("hst%x", rb[:]),
		Subnet:       fmt.Sprintf("10.%d.%d.0/24", 160+int(rb[0])%64, rb[1]),
		CNIPluginDir: "/usr/lib/cni",
	}
	t.Cleanup(func() {
		// Purge: every task, netns, bridge and iptables rule the test made.
		if err := hoistrt.Purge(context.Background(), cfg, t.Logf); err != nil {
			t.Errorf("purging the test engine: %v", err)
		}
		os.RemoveAll(state)
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(cfg.DataDir, "logs", "supervisor.log"))
			t.Logf("supervisor log:\n%s", logs)
			for _, d := range []string{"buildkitd", "containerd"} {
				logs, _ := os.ReadFile(filepath.Join(cfg.DataDir, "logs", d+".log"))
				if len(logs) > 3000 {
					logs = logs[len(logs)-3000:]
				}
				t.Logf("end of %s log:\n%s", d, logs)
			}
		}
	})
	if _, err := hoistrt.Ensure(context.Background(), cfg, t.Logf); err != nil {
		t.Fatal(err)
	}
	return cfg
}
