package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/runtime"
)

// engineFlags point hoist at its engine or at daemons the user runs.
var engineFlags = []cli.Flag{
	&cli.StringFlag{Name: "containerd-addr", EnvVars: []string{"HOIST_CONTAINERD_ADDR"}, Usage: "use this containerd socket instead of starting hoist's own"},
	&cli.StringFlag{Name: "buildkit-addr", EnvVars: []string{"BUILDKIT_HOST"}, Usage: "use this buildkitd (unix:///path or tcp://127.0.0.1:port) instead of starting hoist's own"},
	&cli.StringFlag{Name: "engine-data-dir", EnvVars: []string{"HOIST_ENGINE_DATA_DIR"}, Value: "/var/lib/hoist", Usage: "the engine's data and logs"},
	&cli.StringFlag{Name: "engine-state-dir", EnvVars: []string{"HOIST_ENGINE_STATE_DIR"}, Value: "/run/hoist", Usage: "the engine's sockets and pid files"},
	&cli.StringFlag{Name: "engine-namespace", EnvVars: []string{"HOIST_ENGINE_NAMESPACE"}, Value: "hoist", Usage: "the engine's containerd namespace"},
	&cli.StringFlag{Name: "engine-bin-dir", EnvVars: []string{"HOIST_ENGINE_BIN_DIR"}, Usage: "where containerd, containerd-shim-runc-v2 and buildkitd are (default: beside hoist, then $PATH)"},
	&cli.StringFlag{Name: "runtime-bridge", EnvVars: []string{"HOIST_RUNTIME_BRIDGE"}, Value: "hoist0", Usage: "the local runtime's task bridge"},
	&cli.StringFlag{Name: "runtime-subnet", EnvVars: []string{"HOIST_RUNTIME_SUBNET"}, Value: "10.213.0.0/16", Usage: "the local runtime's task subnet"},
	&cli.StringFlag{Name: "cni-plugin-dir", EnvVars: []string{"HOIST_CNI_PLUGIN_DIR"}, Value: "/usr/lib/cni", Usage: "where the CNI plugins (bridge, host-local, portmap, loopback) are"},
}

func engineConfig(c *cli.Context) runtime.Config {
	return runtime.Config{
		DataDir:        c.String("engine-data-dir"),
		StateDir:       c.String("engine-state-dir"),
		ContainerdAddr: c.String("containerd-addr"),
		BuildkitAddr:   c.String("buildkit-addr"),
		BinDir:         c.String("engine-bin-dir"),
		Namespace:      c.String("engine-namespace"),
		Bridge:         c.String("runtime-bridge"),
		Subnet:         c.String("runtime-subnet"),
		CNIPluginDir:   c.String("cni-plugin-dir"),
	}
}

func runtimeCommand() *cli.Command {
	return &cli.Command{
		Name:  "runtime",
		Usage: "manage hoist's engine and local runtime (services, tasks, logs, events)",
		Description: `The first command that needs the engine starts it and leaves it running:
a supervisor process that runs hoist's own containerd and a buildkitd on it,
restarting either when it dies, and the local runtime's control plane, which
runs ECS task definitions and services (hoist deploy APP puts an app there).
Data and logs are in /var/lib/hoist, sockets (mode 0600) in /run/hoist.`,
		Subcommands: append([]*cli.Command{
			{
				Name:  "status",
				Usage: "show whether the engine's daemons answer",
				Action: func(c *cli.Context) error {
					g, err := globalsFrom(c)
					if err != nil {
						return err
					}
					st := runtime.GetStatus(c.Context, engineConfig(c))
					if err := render(g, st, func(w *tabw) {
						fmt.Fprintln(w, "COMPONENT\tHEALTHY\tMANAGED\tVERSION\tADDRESS")
						for _, comp := range st.Components {
							fmt.Fprintf(w, "%s\t%v\t%v\t%s\t%s\n", comp.Name, comp.Healthy, comp.Managed, orDash(comp.Version), comp.Address)
						}
						if st.Supervisor != 0 {
							fmt.Fprintf(w, "supervisor\tpid %d\t\t\t%s\n", st.Supervisor, st.SupervisorLog)
						}
						if st.Keeper != 0 {
							fmt.Fprintf(w, "keeper\tpid %d\t\t\t(starts the supervisor again if it dies)\n", st.Keeper)
						}
					}); err != nil {
						return err
					}
					return st.Err()
				},
			},
			{
				Name:  "up",
				Usage: "start the engine now (normally started on demand)",
				Action: func(c *cli.Context) error {
					g, err := globalsFrom(c)
					if err != nil {
						return err
					}
					st, err := runtime.Ensure(c.Context, engineConfig(c), func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) })
					if err != nil {
						return err
					}
					return render(g, st, func(w *tabw) {
						for _, comp := range st.Components {
							fmt.Fprintf(w, "%s\t%s\t%s\n", comp.Name, comp.Version, comp.Address)
						}
					})
				},
			},
			{
				Name:  "down",
				Usage: "stop the engine (running tasks survive in their shims); --purge also removes every task and all runtime state",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "purge", Usage: "stop and remove every task, container, network namespace, the bridge and its iptables rules, and forget services, task definitions, events and secrets"}},
				Action: func(c *cli.Context) error {
					if c.Bool("purge") {
						g, err := globalsFrom(c)
						if err != nil {
							return err
						}
						return runtime.Purge(c.Context, engineConfig(c), func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) })
					}
					return runtime.Down(c.Context, engineConfig(c))
				},
			},
			{
				Name:   "serve",
				Hidden: true,
				Usage:  "run the engine supervisor in the foreground (started by hoist itself)",
				Action: func(c *cli.Context) error {
					// Ensure hands the config over in HOIST_ENGINE_* variables,
					// which the engine flags read.
					return runtime.Supervise(c.Context, engineConfig(c), os.Stderr)
				},
			},
		}, runtimeOpsCommands()...),
	}
}
