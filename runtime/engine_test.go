package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// engineForTest prepares a private engine (own data and state dirs) run by
// a hoist binary built from this checkout, and tears it down afterwards.
func engineForTest(t *testing.T) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containerd and buildkitd")
	}
	if os.Geteuid() != 0 {
		t.Skip("the engine needs root")
	}
	binDir, _ := filepath.Abs("../bin")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "buildkitd"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			t.Skipf("%s not built: run `make build` first (%v)", b, err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed (make deps)")
	}
	hoist := filepath.Join(t.TempDir(), "hoist")
	if out, err := exec.Command("go", "build", "-o", hoist, "../cmd/hoist").CombinedOutput(); err != nil {
		t.Fatalf("building hoist: %v\n%s", err, out)
	}
	// Unix socket paths are limited to 108 bytes: keep the state dir short.
	state, err := os.MkdirTemp("/run", "hoist-test-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir:    t.TempDir(),
		StateDir:   state,
		Namespace:  "hoist-test",
		BinDir:     binDir,
		Supervisor: []string{hoist, "runtime", "serve"},
	}
	t.Cleanup(func() {
		if err := Down(context.Background(), cfg); err != nil {
			t.Errorf("down: %v", err)
		}
		os.RemoveAll(state)
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(cfg.DataDir, "logs", "supervisor.log"))
			t.Logf("supervisor log:\n%s", logs)
		}
	})
	return cfg
}

// daemonPID finds the pid of one of this engine's daemons by the socket or
// config path on its command line.
func daemonPID(t *testing.T, marker string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), marker) && !strings.Contains(string(cmdline), "runtime\x00serve") {
			return pid
		}
	}
	return 0
}

func TestEngineLifecycle(t *testing.T) {
	cfg := engineForTest(t)
	ctx := context.Background()
	st, err := Ensure(ctx, cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Healthy() || st.Supervisor == 0 {
		t.Fatalf("status after Ensure: %+v", st)
	}
	if st.Components[0].Version == "" || st.Components[1].Version == "" {
		t.Errorf("versions missing: %+v", st.Components)
	}
	for _, s := range []string{cfg.ContainerdSocket(), strings.TrimPrefix(cfg.BuildkitAddress(), "unix://")} {
		fi, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", s, fi.Mode().Perm())
		}
	}
	// A second Ensure reuses the running engine.
	st2, err := Ensure(ctx, cfg, t.Logf)
	if err != nil || st2.Supervisor != st.Supervisor {
		t.Errorf("second Ensure: %+v, %v", st2, err)
	}

	// A daemon killed with -9 is restarted by the supervisor.
	for _, marker := range []string{filepath.Join(cfg.StateDir, "containerd", "config.toml"), cfg.BuildkitAddress()} {
		pid := daemonPID(t, marker)
		if pid == 0 {
			t.Fatalf("no daemon with %s on its command line", marker)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if p := daemonPID(t, marker); p != 0 && p != pid && GetStatus(ctx, cfg).Healthy() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("daemon %d (%s) not restarted: %+v", pid, marker, GetStatus(ctx, cfg))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	if err := Down(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if GetStatus(ctx, cfg).Healthy() {
		t.Errorf("engine still answers after Down")
	}
	for _, marker := range []string{filepath.Join(cfg.StateDir, "containerd", "config.toml"), cfg.BuildkitAddress()} {
		if pid := daemonPID(t, marker); pid != 0 {
			t.Errorf("daemon %d still running after Down", pid)
		}
	}
}

func TestPrerequisitesSayWhatToDo(t *testing.T) {
	cfg := Config{BinDir: t.TempDir(), DataDir: t.TempDir(), StateDir: t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	err := cfg.withDefaults().checkPrerequisites()
	if !errors.Is(err, ErrPrerequisite) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"runc", "containerd not found", "buildkitd not found", "make build"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Daemons the user runs: hoist needs none of its own binaries.
	ext := Config{ContainerdAddr: "/nonexistent.sock", BuildkitAddr: "unix:///nonexistent.sock"}
	if _, err := Ensure(context.Background(), ext, t.Logf); !errors.Is(err, ErrEngineUnavailable) || !strings.Contains(err.Error(), "/nonexistent.sock") {
		t.Errorf("external daemons down: %v", err)
	}
}
