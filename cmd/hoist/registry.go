package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/deploy/registry"
)

func registryCommand() *cli.Command {
	return &cli.Command{
		Name:  "registry",
		Usage: "a local OCI registry (the stand-in for ECR)",
		Subcommands: []*cli.Command{
			{
				Name:  "serve",
				Usage: "run an OCI registry on 127.0.0.1 in the foreground (Ctrl-C stops it)",
				Description: `Runs a registry (distribution/distribution, in-process) on loopback, storing
images under the engine's data dir (/var/lib/hoist/registry) or --root, where
they survive a restart. Push to it with
  hoist push --registry 127.0.0.1:5000 APP
It prints its address (and, with --output json, {"addr", "root"}) on stdout,
one line per request on stderr. It serves plain HTTP, so it listens on
loopback only; --htpasswd FILE (bcrypt, htpasswd -B) makes it ask for
credentials.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "addr", Value: registry.DefaultAddr, Usage: "loopback HOST:PORT to listen on (port 0: any free port)"},
					&cli.StringFlag{Name: "root", Usage: "storage directory (default: registry/ in the engine's data dir)"},
					&cli.StringFlag{Name: "htpasswd", Usage: "htpasswd file (bcrypt) whose users may push and pull; default: no authentication"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no line per request"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageError{fmt.Sprintf("registry serve: takes no arguments, got %q", c.Args().First())}
					}
					g, err := globalsFrom(c)
					if err != nil {
						return err
					}
					if err := registry.CheckAddr(c.String("addr")); err != nil {
						return usageError{"--addr: " + err.Error()}
					}
					root := c.String("root")
					if root == "" {
						root = filepath.Join(engineConfig(c).DataDir, "registry")
					}
					level := "fatal"
					if g.verbose {
						level = "info"
					}
					_ = registry.SetLibraryLogLevel(level)
					o := registry.Options{Addr: c.String("addr"), Root: root, Htpasswd: c.String("htpasswd")}
					if !c.Bool("quiet") {
						o.AccessLog = g.stderr
					}
					s, err := registry.Start(c.Context, o)
					if err != nil {
						if errors.Is(err, registry.ErrNotLoopback) {
							return usageError{err.Error()}
						}
						return err
					}
					out := struct {
						Addr string `json:"addr"`
						Root string `json:"root"`
					}{s.Addr, s.Root}
					if err := render(g, out, func(w *tabw) {
						fmt.Fprintf(w, "Registry\t%s\nStorage\t%s\n", s.Addr, s.Root)
					}); err != nil {
						_ = s.Stop(c.Context)
						return err
					}
					fmt.Fprintf(g.stderr, "serving; push with `hoist push --registry %s APP`; Ctrl-C stops it\n", s.Addr)
					return s.Wait(c.Context)
				},
			},
		},
	}
}
