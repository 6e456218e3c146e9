package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	bkclient "github.com/moby/buildkit/client"

	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/controlplane"
)

// ErrEngineUnavailable is returned when a daemon cannot be reached.
var ErrEngineUnavailable = errors.New("engine unavailable")

func containerdVersion(ctx context.Context, cfg Config) (string, error) {
	if _, err := os.Stat(cfg.ContainerdSocket()); err != nil && cfg.ownsContainerd() {
		return "", err
	}
	c, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.withDefaults().Namespace), containerd.WithTimeout(2*time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Version(ctx)
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// buildkitVersion checks buildkitd has a worker and returns its version.
func buildkitVersion(ctx context.Context, cfg Config) (string, error) {
	c, err := bkclient.New(ctx, cfg.BuildkitAddress())
	if err != nil {
		return "", err
	}
	defer c.Close()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return "", err
	}
	if len(ws) == 0 {
		return "", errors.New("buildkitd has no worker")
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "", err
	}
	return info.BuildkitVersion.Version, nil
}

// Component is the state of one engine daemon.
type Component struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Managed bool   `json:"managed"` // started by hoist, or the user's own
	Healthy bool   `json:"healthy"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Status is what `hoist runtime status` reports.
type Status struct {
	Supervisor    int         `json:"supervisorPid,omitempty"`
	Keeper        int         `json:"keeperPid,omitempty"`
	DataDir       string      `json:"dataDir"`
	StateDir      string      `json:"stateDir"`
	Namespace     string      `json:"namespace"`
	Components    []Component `json:"components"`
	SupervisorLog string      `json:"supervisorLog"`
}

// Healthy says whether every component answers.
func (s *Status) Healthy() bool {
	for _, c := range s.Components {
		if !c.Healthy {
			return false
		}
	}
	return true
}

// Err says why the engine is not usable, and what to do, or nil when
// every component answers. A socket hoist may not open (not root) and a
// supervisor that runs while a daemon does not answer are told apart from
// an engine that is not running.
func (s *Status) Err() error {
	var down []string
	denied := false
	for _, c := range s.Components {
		if c.Healthy {
			continue
		}
		down = append(down, c.Name)
		denied = denied || strings.Contains(c.Error, "permission denied")
	}
	switch {
	case len(down) == 0:
		return nil
	case denied:
		return fmt.Errorf("%w: permission denied on the engine's sockets in %s (mode 0600, root's); run hoist as root (sudo)", ErrEngineUnavailable, s.StateDir)
	case s.Supervisor != 0 || s.Keeper != 0:
		pid := s.Supervisor
		if pid == 0 {
			pid = s.Keeper
		}
		return fmt.Errorf("%w: the engine runs (pid %d) but %s does not answer; it may still be starting (try again in a moment), else see %s, or run `hoist runtime down` and `hoist runtime up`", ErrEngineUnavailable, pid, strings.Join(down, ", "), s.SupervisorLog)
	}
	return fmt.Errorf("%w: the engine is not running; any command that needs it starts it, or run `hoist runtime up`", ErrEngineUnavailable)
}

// GetStatus asks each daemon whether it is up.
func GetStatus(ctx context.Context, cfg Config) *Status {
	cfg = cfg.withDefaults()
	st := &Status{DataDir: cfg.DataDir, StateDir: cfg.StateDir, Namespace: cfg.Namespace, SupervisorLog: filepath.Join(cfg.logDir(), "supervisor.log")}
	if pid, ok := cfg.supervisorPID(); ok {
		st.Supervisor = pid
	}
	if pid, ok := cfg.keeperPID(); ok {
		st.Keeper = pid
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cc := Component{Name: "containerd", Address: cfg.ContainerdSocket(), Managed: cfg.ownsContainerd()}
	if v, err := containerdVersion(cctx, cfg); err != nil {
		cc.Error = err.Error()
	} else {
		cc.Healthy, cc.Version = true, v
	}
	bc := Component{Name: "buildkitd", Address: cfg.BuildkitAddress(), Managed: cfg.ownsBuildkit()}
	if v, err := buildkitVersion(cctx, cfg); err != nil {
		bc.Error = err.Error()
	} else {
		bc.Healthy, bc.Version = true, v
	}
	pc := Component{Name: "control plane", Address: cfg.ControlSocket(), Managed: true}
	if err := api.NewClient(cfg.ControlSocket()).Ping(cctx); err != nil {
		pc.Error = err.Error()
	} else {
		pc.Healthy, pc.Version = true, "v1"
	}
	// A daemon of hoist's own is up once the supervisor has made its socket
	// 0600: buildkitd makes its own 0660, and it answers before that.
	for _, c := range []*Component{&cc, &bc} {
		if !c.Healthy || !c.Managed {
			continue
		}
		p := strings.TrimPrefix(c.Address, "unix://")
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			c.Healthy, c.Error = false, fmt.Sprintf("starting: %s is still mode %v (the supervisor makes it 0600 once the daemon is ready)", p, fi.Mode().Perm())
		}
	}
	st.Components = []Component{cc, bc, pc}
	return st
}

// Client returns a client of the local runtime's control plane.
func (c Config) Client() *api.Client { return api.NewClient(c.ControlSocket()) }

// supervisorPID reads the pid file and checks the process is alive.
func (c Config) supervisorPID() (int, bool) { return readPid(c.pidFile()) }

// keeperPID is the process that restarts the supervisor when it dies.
func (c Config) keeperPID() (int, bool) { return readPid(c.keeperPidFile()) }

func (c Config) supervised() bool {
	_, s := c.supervisorPID()
	_, k := c.keeperPID()
	return s || k
}

// Ensure makes sure the engine is running: it starts the supervisor when
// nobody has, then waits until every daemon answers.
func Ensure(ctx context.Context, cfg Config, logf func(string, ...any)) (*Status, error) {
	cfg = cfg.withDefaults()
	if st := GetStatus(ctx, cfg); st.Healthy() {
		return st, nil
	}
	if st := GetStatus(ctx, cfg); !cfg.ownsContainerd() && !cfg.ownsBuildkit() && (!st.Components[0].Healthy || !st.Components[1].Healthy) {
		return nil, unavailable(st, "the daemons you named with --containerd-addr and --buildkit-addr do not answer")
	}
	if err := cfg.checkPrerequisites(); err != nil {
		return nil, err
	}
	if !cfg.supervised() {
		if err := startSupervisor(cfg); err != nil {
			return nil, err
		}
		logf("started hoist's engine (containerd, buildkitd, the local runtime); it keeps running: `hoist runtime down` stops it")
	}
	start := time.Now()
	deadline := start.Add(3 * time.Minute)
	for {
		st := GetStatus(ctx, cfg)
		if st.Healthy() {
			return st, nil
		}
		// The supervisor writes its pid file within moments of starting.
		if !cfg.supervised() && time.Since(start) > 10*time.Second {
			return nil, unavailable(st, "the engine supervisor exited")
		}
		if time.Now().After(deadline) {
			return nil, unavailable(st, "the engine did not become healthy within 3 minutes")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func unavailable(st *Status, why string) error {
	var parts []string
	for _, c := range st.Components {
		if !c.Healthy {
			parts = append(parts, fmt.Sprintf("%s at %s: %s", c.Name, c.Address, c.Error))
		}
	}
	return fmt.Errorf("%w: %s (%s); see %s and the daemon logs beside it", ErrEngineUnavailable, why, strings.Join(parts, "; "), st.SupervisorLog)
}

// SupervisorBinary is the engine supervisor's own program: the runtime's
// packages without the rest of hoist, so the long-lived process maps only
// the code it runs (make build puts it beside hoist).
const SupervisorBinary = "hoist-supervisor"

// supervisorCommand is what runs the supervisor: Config.Supervisor, else
// hoist-supervisor from BinDir or beside this executable (never from $PATH:
// it must be the same build as hoist), else this executable's hidden
// `runtime serve`, which runs the same code in the larger binary.
func supervisorCommand(cfg Config) ([]string, error) {
	if len(cfg.Supervisor) > 0 {
		return cfg.Supervisor, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.BinDir, filepath.Dir(exe)} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, SupervisorBinary)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return []string{p}, nil
		}
	}
	return []string{exe, "runtime", "serve"}, nil
}

// startSupervisor starts the supervisor (supervisorCommand) detached from
// this process.
func startSupervisor(cfg Config) error {
	argv, err := supervisorCommand(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.logDir(), 0o700); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(cfg.logDir(), "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), cfg.env()...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the engine supervisor %v: %w", argv, err)
	}
	// Not waited for: it outlives this command. Release it so no zombie
	// is left if this process lives on (tests).
	go func() { _, _ = cmd.Process.Wait() }()
	return nil
}

// Purge removes everything the local runtime made: it stops every task,
// deletes their containers, network namespaces, IP leases and port rules,
// the bridge and its iptables chains, forgets services, task definitions,
// events and secrets, and then stops the engine. What a dead supervisor
// left behind (netns mounts, the bridge, iptables chains) is swept too.
func Purge(ctx context.Context, cfg Config, logf func(string, ...any)) error {
	cfg = cfg.withDefaults()
	var errs []error
	if _, err := Ensure(ctx, cfg, logf); err != nil {
		errs = append(errs, err)
	} else if err := cfg.Client().Purge(ctx); err != nil {
		errs = append(errs, fmt.Errorf("purging the local runtime: %w", err))
	}
	if err := Down(ctx, cfg); err != nil {
		errs = append(errs, err)
	}
	if err := controlplane.SweepHost(cfg.StateDir, cfg.Bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Down stops the supervisor and, through it, containerd and buildkitd.
// Running tasks survive in their shims and are adopted again by the next
// supervisor; `hoist runtime down --purge` removes them.
func Down(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	// The keeper first, so it does not start the supervisor again; it
	// stops the supervisor and waits for it.
	var pids []int
	for _, get := range []func() (int, bool){cfg.keeperPID, cfg.supervisorPID} {
		if pid, ok := get(); ok {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stopping the engine supervisor (pid %d): %w", pid, err)
		}
	}
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(pids, alive) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the engine supervisor (pids %v) did not stop within 45s; see %s", pids, filepath.Join(cfg.logDir(), "supervisor.log"))
}
