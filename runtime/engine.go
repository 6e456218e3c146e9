// Package runtime owns hoist's engine: its own containerd and a buildkitd
// on that containerd, supervised by one long-lived hoist process, started on
// demand by the first command that needs them and left running.
package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Config says where the engine lives and which daemons to use.
type Config struct {
	// DataDir holds persistent data and logs (default /var/lib/hoist).
	DataDir string
	// StateDir holds sockets and pid files (default /run/hoist), mode 0700.
	StateDir string
	// Namespace is hoist's containerd namespace (default "hoist"), so
	// nothing collides with another containerd user on the host.
	Namespace string
	// ContainerdAddr and BuildkitAddr point at daemons the user already
	// runs; when set, hoist starts neither.
	ContainerdAddr string
	BuildkitAddr   string
	// BinDir is where containerd, containerd-shim-runc-v2 and buildkitd
	// are; empty means beside the hoist binary, then $PATH.
	BinDir string
	// Supervisor is the command that runs the supervisor (default:
	// hoist-supervisor from BinDir or beside this executable, else this
	// executable with "runtime serve"); tests point it at a built one.
	Supervisor []string
	// Bridge and Subnet are the local runtime's task network (default
	// hoist0, 10.213.0.0/16); CNIPluginDir holds the CNI plugins (default
	// /usr/lib/cni, where Debian installs them).
	Bridge       string
	Subnet       string
	CNIPluginDir string
}

// DefaultConfig is the engine of a normal installation.
func DefaultConfig() Config {
	return Config{DataDir: "/var/lib/hoist", StateDir: "/run/hoist", Namespace: "hoist", Bridge: "hoist0", Subnet: "10.213.0.0/16", CNIPluginDir: "/usr/lib/cni"}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.StateDir == "" {
		c.StateDir = d.StateDir
	}
	if c.Namespace == "" {
		c.Namespace = d.Namespace
	}
	if c.Bridge == "" {
		c.Bridge = d.Bridge
	}
	if c.Subnet == "" {
		c.Subnet = d.Subnet
	}
	if c.CNIPluginDir == "" {
		c.CNIPluginDir = d.CNIPluginDir
	}
	return c
}

// ControlSocket is the local runtime's control plane socket (mode 0600).
func (c Config) ControlSocket() string {
	return filepath.Join(c.withDefaults().StateDir, "control.sock")
}

// ContainerdSocket is the containerd address hoist uses.
func (c Config) ContainerdSocket() string {
	if c.ContainerdAddr != "" {
		return c.ContainerdAddr
	}
	return filepath.Join(c.withDefaults().StateDir, "containerd", "containerd.sock")
}

// BuildkitAddress is the buildkitd address hoist uses (unix://...).
func (c Config) BuildkitAddress() string {
	if c.BuildkitAddr != "" {
		return c.BuildkitAddr
	}
	return "unix://" + filepath.Join(c.withDefaults().StateDir, "buildkit", "buildkitd.sock")
}

func (c Config) pidFile() string { return filepath.Join(c.StateDir, "supervisor.pid") }
func (c Config) logDir() string  { return filepath.Join(c.DataDir, "logs") }

// ownsContainerd says whether hoist runs containerd itself.
func (c Config) ownsContainerd() bool { return c.ContainerdAddr == "" }
func (c Config) ownsBuildkit() bool   { return c.BuildkitAddr == "" }

// ErrPrerequisite is returned when the engine cannot start on this machine.
var ErrPrerequisite = errors.New("engine prerequisite missing")

// FindBinary looks for one of hoist's binaries (the engine's daemons,
// hoist-entry) in BinDir, beside hoist, then on $PATH.
func (c Config) FindBinary(name string) (string, error) {
	var tried []string
	dirs := []string{}
	if c.BinDir != "" {
		dirs = append(dirs, c.BinDir)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		tried = append(tried, p)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("%w: %s not found (looked in %v); run `make build` in the hoist checkout, which builds it from the version pinned in go.mod, or pass --engine-bin-dir", ErrPrerequisite, name, tried)
}

// checkPrerequisites says, before anything starts, what this machine lacks.
func (c Config) checkPrerequisites() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, fmt.Errorf("%w: the engine needs root (containers, mounts, cgroups); run hoist with sudo, or point it at your own daemons with --containerd-addr and --buildkit-addr", ErrPrerequisite))
	}
	if c.ownsContainerd() {
		if _, err := exec.LookPath("runc"); err != nil {
			errs = append(errs, fmt.Errorf("%w: runc not found on $PATH; install it: apt-get install runc", ErrPrerequisite))
		}
		for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
			if _, err := c.FindBinary(b); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.ownsBuildkit() {
		if _, err := c.FindBinary("buildkitd"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
