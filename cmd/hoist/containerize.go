package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/runtime"
)

func containerizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "containerize",
		Usage:     "write a Dockerfile and build the app's image with BuildKit (writes APP/containerize/)",
		ArgsUsage: "APP",
		Description: `Unpacks APP/extract/APP.tar.gz (or --input-archive, made on another machine)
into a build context split into layers (directories, server, libraries, the
app's own files, config), writes APP/containerize/Dockerfile and builds it on
hoist's engine, which it starts if needed. The image is hoist.local/NAME:TAG in
the engine's containerd. With containerParameters.baseImage "host" the image is
FROM scratch plus the app's own runtime from this host (reduced with jlink when
the JDK tools exist); otherwise FROM the image named there.
--build-only rebuilds after you edited the Dockerfile.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input-archive", Usage: "build from this extract archive instead of the workspace's"},
			&cli.BoolFlag{Name: "build-only", Usage: "rebuild from the Dockerfile and context already in the workspace"},
			&cli.StringFlag{Name: "export", Usage: "also write the image as oci-archive=PATH (loadable with docker load or ctr import)"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "BuildKit progress display: auto, tty, plain or quiet"},
			&cli.BoolFlag{Name: "no-jlink", Usage: "copy the whole Java runtime instead of reducing it with jdeps and jlink"},
		},
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "app ID")
			if err != nil {
				return err
			}
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			var oci string
			if out := c.String("export"); out != "" {
				var ok bool
				if oci, ok = strings.CutPrefix(out, "oci-archive="); !ok || oci == "" {
					return usageError{fmt.Sprintf("--export %q: use oci-archive=PATH", out)}
				}
			}
			st, err := runtime.Ensure(c.Context, engineConfig(c), func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) })
			if err != nil {
				return err
			}
			jlink := !c.Bool("no-jlink")
			res, err := containerize.Containerize(c.Context, containerize.Options{
				Workspace:    g.workspace,
				ID:           id,
				InputArchive: c.String("input-archive"),
				BuildOnly:    c.Bool("build-only"),
				BuildkitAddr: st.Components[1].Address,
				OCIArchive:   oci,
				Progress:     g.stderr,
				Mode:         c.String("progress"),
				Logf:         g.logf,
				Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
					rep, err := hostbase.Assemble(ctx, hostbase.Options{Host: g.host, Analysis: a, Dest: dest, Jlink: jlink, AppJars: containerize.AppJars(filepath.Dir(dest), m), Logf: g.logf})
					if err != nil {
						return err
					}
					for _, n := range rep.Notes {
						g.logf("base: %s", n)
					}
					return nil
				},
			})
			if err != nil {
				return err
			}
			return render(g, res, func(w *tabw) {
				fmt.Fprintf(w, "Image\t%s\nDigest\t%s\nDockerfile\t%s\n", res.Image, res.Digest, res.Dockerfile)
			})
		},
	}
}
