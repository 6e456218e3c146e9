package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/deploy/push"
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
--build-only rebuilds after you edited the Dockerfile.

Secrets never enter the image: config files keep {{hoist-secret:REF}}
placeholders, which hoist-entry (built beside hoist; HOIST_ENTRY overrides)
renders at container start from HOIST_SECRET_* variables; the app's own
secret environment variables are set at deploy time. APP/containerize/
image.json lists which variable carries which secret.

After the build the image is started once in a network namespace of its own
with the secrets from the workspace's secrets file, and hoist waits until the
app accepts connections on every TCP port (and answers its health check
path); the output goes to APP/containerize/validate.log, secrets masked.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "input-archive", Usage: "build from this extract archive instead of the workspace's"},
			&cli.BoolFlag{Name: "build-only", Usage: "rebuild from the Dockerfile and context already in the workspace"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml for the result, and/or oci-archive=PATH to also write the image as an OCI archive (loadable with docker load or ctr import); repeatable"},
			&cli.StringFlag{Name: "progress", Value: "auto", Usage: "BuildKit progress display: auto, tty, plain or quiet"},
			&cli.StringFlag{Name: "base-image", Usage: "build FROM this image (e.g. eclipse-temurin:17-jre, from a registry you can reach) instead of containerParameters.baseImage; host builds the app's own runtime from this host"},
			&cli.BoolFlag{Name: "no-jlink", Usage: "copy the whole Java runtime instead of reducing it with jdeps and jlink"},
			&cli.BoolFlag{Name: "cds", Usage: "a class data sharing archive in the jlink-reduced Java runtime, for a faster JVM start (default: added for Java 19 and later, whose archives are reproducible; --cds adds one for Java 12 to 18 too, whose are not; --cds=false never)"},
			&cli.StringFlag{Name: "locales", Usage: "locales whose data a jlink-reduced Java runtime keeps besides English, e.g. de,fr (default: from the process's locale settings; all keeps every locale)"},
			&cli.BoolFlag{Name: "no-validate", Usage: "do not start the image once to check that the app answers on its ports"},
			&cli.DurationFlag{Name: "validate-timeout", Value: 2 * time.Minute, Usage: "how long the validation run waits for the app to answer"},
			&cli.StringFlag{Name: "push", Usage: "after the build (and validation), push the image to this registry, repository or reference, as `hoist push --registry REF APP` does"},
		}, pushFlags...),
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "app ID")
			if err != nil {
				return err
			}
			// --output is this command's own flag; the format given before
			// the command (hoist -o json containerize) still counts.
			format := "table"
			if len(c.Lineage()) > 1 {
				if f := c.Lineage()[1].String("output"); f != "" {
					format = f
				}
			}
			var oci string
			for _, out := range c.StringSlice("output") {
				if p, ok := strings.CutPrefix(out, "oci-archive="); ok {
					if p == "" {
						return usageError{fmt.Sprintf("--output %q: use oci-archive=PATH", out)}
					}
					oci = p
					continue
				}
				format = out
			}
			g, err := globalsWithOutput(c, format)
			if err != nil {
				return err
			}
			if ref := c.String("push"); ref != "" {
				// A typo in --push is worth knowing before the build.
				if _, err := push.ParseTarget(ref, containerize.ImageRef(&discover.Analysis{ID: id})); err != nil {
					return usageError{err.Error()}
				}
			}
			if err := containerize.CheckInputs(containerize.Options{Workspace: g.workspace, ID: id, InputArchive: c.String("input-archive"), BuildOnly: c.Bool("build-only")}); err != nil {
				return err
			}
			st, err := runtime.Ensure(c.Context, engineConfig(c), func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) })
			if err != nil {
				return err
			}
			jlink := !c.Bool("no-jlink")
			cds := hostbase.CDSAuto
			if c.IsSet("cds") {
				cds = map[bool]hostbase.CDSMode{true: hostbase.CDSOn, false: hostbase.CDSOff}[c.Bool("cds")]
			}
			var locales []string
			if l := c.String("locales"); l != "" {
				locales = strings.Split(l, ",")
			}
			entry, err := findEntry(engineConfig(c))
			if err != nil {
				g.logf("%v", err)
			}
			res, err := containerize.Containerize(c.Context, containerize.Options{
				Workspace:    g.workspace,
				ID:           id,
				InputArchive: c.String("input-archive"),
				BuildOnly:    c.Bool("build-only"),
				BuildkitAddr: st.Components[1].Address,
				OCIArchive:   oci,
				EntryBinary:  entry,
				BaseImage:    c.String("base-image"),
				BaseKey:      fmt.Sprintf("jlink=%v cds=%q locales=%s", jlink, cds, strings.Join(locales, ",")),
				Progress:     g.stderr,
				Mode:         c.String("progress"),
				Logf:         g.logf,
				Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
					rep, err := hostbase.Assemble(ctx, hostbase.Options{Host: g.host, Analysis: a, Dest: dest, Jlink: jlink, CDS: cds, Locales: locales, AppJars: containerize.AppJars(filepath.Dir(dest), m), Logf: g.logf})
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
			out := containerizeOutput{Result: res}
			if !c.Bool("no-validate") {
				a, err := g.workspace.ReadAnalysis(id)
				if err != nil {
					return err
				}
				secrets, err := g.workspace.ReadSecrets()
				if err != nil {
					return err
				}
				cfg := engineConfig(c)
				out.Validation, err = containerize.Validate(c.Context, a, res.Image, res.Secrets, containerize.ValidateOptions{
					ContainerdAddr: cfg.ContainerdSocket(),
					Namespace:      st.Namespace,
					NetnsDir:       filepath.Join(st.StateDir, "netns"),
					Timeout:        c.Duration("validate-timeout"),
					Secrets:        secrets,
					LogPath:        filepath.Join(containerize.Dir(g.workspace, id), "validate.log"),
					Logf:           g.logf,
				})
				if werr := containerize.WriteValidation(g.workspace, id, out.Validation); werr != nil && err == nil {
					err = werr
				}
				if err != nil {
					return err
				}
			}
			if ref := c.String("push"); ref != "" {
				if out.Push, err = pushApp(c, g, id, ref); err != nil {
					return err
				}
			}
			return render(g, out, func(w *tabw) {
				fmt.Fprintf(w, "Image\t%s\nDigest\t%s\nDockerfile\t%s\n", res.Image, res.Digest, res.Dockerfile)
				for _, s := range res.Secrets {
					fmt.Fprintf(w, "Secret\t%s from %s (%s)\n", s.Env, s.Ref, s.Use)
				}
				if v := out.Validation; v != nil {
					for _, p := range v.Ports {
						fmt.Fprintf(w, "Validated\t%d/%s %s\n", p.Port, p.Protocol, p.Result)
					}
					fmt.Fprintf(w, "Ready after\t%s\n", v.StartToReady.Round(time.Millisecond))
				}
				if out.Push != nil {
					pushTable(w, out.Push)
				}
			})
		},
	}
}

// containerizeOutput is what `hoist containerize` prints.
type containerizeOutput struct {
	*containerize.Result
	Validation *containerize.Validation `json:"validation,omitempty"`
	Push       *push.Result             `json:"push,omitempty"`
}

// findEntry finds hoist-entry: $HOIST_ENTRY, else where hoist finds the
// engine's binaries.
func findEntry(cfg runtime.Config) (string, error) {
	if p := os.Getenv("HOIST_ENTRY"); p != "" {
		return p, nil
	}
	p, err := cfg.FindBinary("hoist-entry")
	if err != nil {
		return "", fmt.Errorf("%v (only needed when the app's config holds secrets)", err)
	}
	return p, nil
}
