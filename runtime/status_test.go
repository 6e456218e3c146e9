package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStatusErrSaysWhy: `hoist runtime status` said "the engine is not
// running; any command that needs it starts it" also when the engine ran
// and did not answer (a command then waited three minutes for it) and
// when the sockets were root's and hoist was not.
func TestStatusErrSaysWhy(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), StateDir: t.TempDir()}.withDefaults()
	ctx := context.Background()

	err := GetStatus(ctx, cfg).Err()
	if !errors.Is(err, ErrEngineUnavailable) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("no engine: %v", err)
	}

	// A live process as the supervisor, with nothing answering.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "supervisor.pid"), []byte(strconv.Itoa(sleep.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = GetStatus(ctx, cfg).Err()
	if !errors.Is(err, ErrEngineUnavailable) || strings.Contains(err.Error(), "not running") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(sleep.Process.Pid)) || !strings.Contains(err.Error(), "control plane") {
		t.Errorf("supervisor running, nothing answers: %v", err)
	}

	// Sockets hoist may not open (as a user other than root).
	st := &Status{StateDir: "/run/hoist", Components: []Component{{Name: "control plane", Error: "dial unix /run/hoist/control.sock: connect: permission denied"}}}
	if err := st.Err(); !errors.Is(err, ErrEngineUnavailable) || !strings.Contains(err.Error(), "root") {
		t.Errorf("permission denied: %v", err)
	}
	if err := (&Status{Components: []Component{{Name: "containerd", Healthy: true}}}).Err(); err != nil {
		t.Errorf("healthy: %v", err)
	}
}
