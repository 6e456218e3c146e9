package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

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
	cfg := enginetest.Start(t)
	ctx := context.Background()
	st, err := Ensure(ctx, cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Healthy() || st.Supervisor == 0 {
		t.Fatalf("status after Ensure: %+v", st)
	}
	if len(st.Components) != 3 || st.Components[2].Name != "control plane" {
		t.Errorf("components: %+v", st.Components)
	}
	if st.Components[0].Version == "" || st.Components[1].Version == "" {
		t.Errorf("versions missing: %+v", st.Components)
	}
	for _, s := range []string{cfg.ContainerdSocket(), strings.TrimPrefix(cfg.BuildkitAddress(), "unix://"), cfg.ControlSocket()} {
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
