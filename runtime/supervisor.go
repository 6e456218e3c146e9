package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hoistctl/hoist/runtime/controlplane"
)

// Environment variables through which Ensure hands its Config to the
// supervisor process it starts (the CLI's engine flags read them).
const (
	envDataDir   = "HOIST_ENGINE_DATA_DIR"
	envStateDir  = "HOIST_ENGINE_STATE_DIR"
	envNamespace = "HOIST_ENGINE_NAMESPACE"
	envBinDir    = "HOIST_ENGINE_BIN_DIR"
	envBridge    = "HOIST_RUNTIME_BRIDGE"
	envSubnet    = "HOIST_RUNTIME_SUBNET"
	envCNIDir    = "HOIST_CNI_PLUGIN_DIR"
)

func (c Config) env() []string {
	return []string{envDataDir + "=" + c.DataDir, envStateDir + "=" + c.StateDir, envNamespace + "=" + c.Namespace, envBinDir + "=" + c.BinDir,
		envBridge + "=" + c.Bridge, envSubnet + "=" + c.Subnet, envCNIDir + "=" + c.CNIPluginDir}
}

// ConfigFromEnv is the Config a supervisor started by Ensure was handed in
// its environment (Config.env); the hoist-supervisor program runs with it.
func ConfigFromEnv() Config {
	return Config{DataDir: os.Getenv(envDataDir), StateDir: os.Getenv(envStateDir), Namespace: os.Getenv(envNamespace), BinDir: os.Getenv(envBinDir),
		Bridge: os.Getenv(envBridge), Subnet: os.Getenv(envSubnet), CNIPluginDir: os.Getenv(envCNIDir)}.withDefaults()
}

// daemon is one supervised component.
type daemon struct {
	name  string
	cmd   func() (*exec.Cmd, error)
	ready func(ctx context.Context) error
	// sockets are chmod 0600 once the daemon is up.
	sockets []string
}

// Serve runs the supervisor until ctx ends: it starts containerd and
// buildkitd, restarts either when it dies, and stops both on the way out.
// Only one supervisor runs per state directory.
func Serve(ctx context.Context, cfg Config, logw io.Writer) error {
	cfg = cfg.withDefaults()
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s supervisor: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	if err := cfg.checkPrerequisites(); err != nil {
		return err
	}
	for _, d := range []string{cfg.StateDir, filepath.Join(cfg.StateDir, "containerd"), filepath.Join(cfg.StateDir, "buildkit"), cfg.DataDir, cfg.logDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		_ = os.Chmod(d, 0o700)
	}
	unlock, err := lockFile(filepath.Join(cfg.StateDir, "supervisor.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.WriteFile(cfg.pidFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(cfg.pidFile())

	var daemons []daemon
	if cfg.ownsContainerd() {
		d, err := containerdDaemon(cfg)
		if err != nil {
			return err
		}
		daemons = append(daemons, d)
	}
	if cfg.ownsBuildkit() {
		d, err := buildkitDaemon(cfg)
		if err != nil {
			return err
		}
		daemons = append(daemons, d)
	}
	logf("started (pid %d), data %s, sockets %s", os.Getpid(), cfg.DataDir, cfg.StateDir)
	var wg sync.WaitGroup
	// The local runtime's control plane: it waits for containerd itself,
	// and answers on its socket at once.
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := controlplane.Run(ctx, controlplane.Options{
			Socket: cfg.ControlSocket(), ContainerdSocket: cfg.ContainerdSocket(), Namespace: cfg.Namespace,
			DataDir: cfg.DataDir, StateDir: cfg.StateDir, Bridge: cfg.Bridge, Subnet: cfg.Subnet, CNIPluginDir: cfg.CNIPluginDir,
			Logf: logf,
		})
		if err != nil {
			logf("control plane: %v", err)
		}
	}()
	// containerd first: buildkitd's worker needs it.
	for i, d := range daemons {
		ready := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(ctx, cfg, d, ready, logf)
		}()
		if i < len(daemons)-1 {
			select {
			case <-ready:
			case <-ctx.Done():
			}
		}
	}
	wg.Wait()
	logf("stopped")
	return nil
}

// supervise keeps one daemon running until ctx ends, restarting it with
// back-off when it exits.
func supervise(ctx context.Context, cfg Config, d daemon, ready chan struct{}, logf func(string, ...any)) {
	// Pdeathsig is delivered when the thread that started the daemon ends,
	// not the process; Go ends threads (a goroutine that entered a network
	// namespace exits locked to its thread, as netns and CNI code does).
	// Starting each daemon from a thread of its own that lives as long as
	// this loop keeps the daemons alive until the supervisor really dies.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	backoff := time.Second
	var once sync.Once
	for ctx.Err() == nil {
		cmd, err := d.cmd()
		if err != nil {
			logf("%s: %v", d.name, err)
			return
		}
		logPath := filepath.Join(cfg.logDir(), d.name+".log")
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			logf("%s: opening log: %v", d.name, err)
			return
		}
		cmd.Stdout, cmd.Stderr = lf, lf
		// The daemons die with the supervisor; running containers do not
		// (their shims are not our children), and a new supervisor's
		// containerd adopts them again.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			lf.Close()
			logf("%s: starting: %v", d.name, err)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		logf("%s: started pid %d", d.name, cmd.Process.Pid)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := waitReady(rctx, d.ready, exited); err != nil {
				logf("%s: not ready: %v", d.name, err)
				return
			}
			for _, s := range d.sockets {
				_ = os.Chmod(s, 0o600)
			}
			logf("%s: ready", d.name)
			once.Do(func() { close(ready) })
		}()
		select {
		case err := <-exited:
			lf.Close()
			logf("%s: exited after %s: %v; restarting in %s (log: %s)", d.name, time.Since(started).Round(time.Second), err, backoff, logPath)
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 30*time.Second)
		case <-ctx.Done():
			stopProcess(cmd, exited, 20*time.Second)
			lf.Close()
			logf("%s: stopped", d.name)
			return
		}
	}
}

// waitReady polls ready until it succeeds, the process exits or ctx ends.
func waitReady(ctx context.Context, ready func(context.Context) error, exited <-chan error) error {
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		last = ready(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
		if len(exited) > 0 {
			return errors.New("exited")
		}
	}
}

func stopProcess(cmd *exec.Cmd, exited <-chan error, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// lockFile takes an exclusive lock so two supervisors never share a state
// directory.
func lockFile(p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another hoist supervisor holds %s: %w", p, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// containerdConfig is hoist's private containerd configuration: its own
// root, state and sockets, and none of the CRI plugins Kubernetes needs.
func containerdConfig(cfg Config) string {
	q := strconv.Quote
	return strings.Join([]string{
		"version = 3",
		"root = " + q(filepath.Join(cfg.DataDir, "containerd")),
		"state = " + q(filepath.Join(cfg.StateDir, "containerd", "state")),
		`disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim", "io.containerd.sandbox.store.v1.local"]`,
		"",
		"[grpc]",
		"  address = " + q(cfg.ContainerdSocket()),
		"  uid = 0",
		"  gid = 0",
		"",
		"[ttrpc]",
		"  address = " + q(cfg.ContainerdSocket()+".ttrpc"),
		"",
		"[plugins]",
		`  [plugins."io.containerd.internal.v1.opt"]`,
		"    path = " + q(filepath.Join(cfg.DataDir, "opt")),
		"",
	}, "\n")
}

func containerdDaemon(cfg Config) (daemon, error) {
	bin, err := cfg.FindBinary("containerd")
	if err != nil {
		return daemon{}, err
	}
	shim, err := cfg.FindBinary("containerd-shim-runc-v2")
	if err != nil {
		return daemon{}, err
	}
	confPath := filepath.Join(cfg.StateDir, "containerd", "config.toml")
	if err := os.WriteFile(confPath, []byte(containerdConfig(cfg)), 0o600); err != nil {
		return daemon{}, err
	}
	return daemon{
		name: "containerd",
		cmd: func() (*exec.Cmd, error) {
			cmd := exec.Command(bin, "--config", confPath)
			// The shim must be the one built with this containerd.
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(shim)+":"+os.Getenv("PATH"))
			return cmd, nil
		},
		ready:   func(ctx context.Context) error { _, err := containerdVersion(ctx, cfg); return err },
		sockets: []string{cfg.ContainerdSocket(), cfg.ContainerdSocket() + ".ttrpc"},
	}, nil
}

func buildkitDaemon(cfg Config) (daemon, error) {
	bin, err := cfg.FindBinary("buildkitd")
	if err != nil {
		return daemon{}, err
	}
	root := filepath.Join(cfg.DataDir, "buildkit")
	return daemon{
		name: "buildkitd",
		cmd: func() (*exec.Cmd, error) {
			args := []string{
				"--root", root,
				"--addr", cfg.BuildkitAddress(),
				"--oci-worker=false",
				"--containerd-worker=true",
				"--containerd-worker-addr=" + cfg.ContainerdSocket(),
				// Built images land in hoist's namespace, runnable at once.
				"--containerd-worker-namespace=" + cfg.Namespace,
				// RUN steps use the host network: builds never need a CNI
				// network of their own, and nothing here reaches a registry.
				"--containerd-worker-net=host",
			}
			return exec.Command(bin, args...), nil
		},
		ready:   func(ctx context.Context) error { _, err := buildkitVersion(ctx, cfg); return err },
		sockets: []string{strings.TrimPrefix(cfg.BuildkitAddress(), "unix://")},
	}, nil
}
