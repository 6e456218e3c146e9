package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// envChild marks the supervisor process its keeper started.
const envChild = "HOIST_SUPERVISOR_CHILD"

func (c Config) keeperPidFile() string { return filepath.Join(c.StateDir, "keeper.pid") }

// Supervise is what hoist-supervisor (and `hoist runtime serve`) runs: a small keeper process that
// starts the supervisor (Serve) as its child and starts it again when it
// dies other than by a clean stop (kill -9, a crash), so the control plane
// and the load balancers come back by themselves; the new supervisor
// adopts the running tasks. The child is this same command with envChild
// set.
func Supervise(ctx context.Context, cfg Config, logw io.Writer) error {
	if os.Getenv(envChild) == "1" {
		return Serve(ctx, cfg, logw)
	}
	cfg = cfg.withDefaults()
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s keeper: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(cfg.StateDir, "keeper.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.WriteFile(cfg.keeperPidFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(cfg.keeperPidFile())
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	backoff := 500 * time.Millisecond
	for {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), envChild+"=1")
		cmd.Stdout, cmd.Stderr = logw, logw
		// The supervisor gets its own process group, so a signal meant for
		// it is not also delivered to the keeper.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting the supervisor: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return nil
		case err := <-exited:
			if err == nil {
				// Stopped cleanly (`hoist runtime down`): so does the keeper.
				return nil
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == exitPrereq {
				return err
			}
			if time.Since(started) > time.Minute {
				backoff = 500 * time.Millisecond
			}
			logf("supervisor (pid %d) died after %s: %v; starting it again in %s", cmd.Process.Pid, time.Since(started).Round(time.Second), err, backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
		}
	}
}

// exitPrereq is the exit status of a supervisor that cannot start on this
// machine at all; the keeper does not retry it.
const exitPrereq = 5

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] != 'Z'
		}
	}
	return true
}

func readPid(p string) (int, bool) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(trimNL(data)))
	if err != nil || !alive(pid) {
		return 0, false
	}
	return pid, true
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
