package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

// migratePhases are the phases `hoist migrate` runs, in order. push runs
// only when there is a registry to push to.
var migratePhases = []string{"inventory", "analyze", "extract", "containerize", "push", "generate", "deploy"}

// migrateStep is one phase of one app in the summary.
type migrateStep struct {
	App      string  `json:"app"`
	Phase    string  `json:"phase"`
	Status   string  `json:"status"` // ok, unchanged, failed, skipped
	Seconds  float64 `json:"seconds"`
	ExitCode int     `json:"exitCode,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "run the phases one after the other, non-interactively (for CI)",
		ArgsUsage: "APP | --all",
		Description: `Runs inventory, analyze, extract, containerize, push, generate and deploy
for APP (or, with --all, for every app of a fresh inventory), exactly as the
separate commands do, with the same global flags. Each phase's own output
goes to stderr; stdout gets one summary (--output json for CI).

--from and --to limit the phases: on a worker machine that has the
workspace and the archive, --from containerize; to stop before deploying,
--to generate. push runs only with --registry (or registry in the config
file); --target kubernetes needs it, ecs and apprunner push to ECR
themselves.

The workspace is reused: containerize and generate are skipped ("unchanged"
in the summary) when nothing they read changed since they last succeeded
— the extracted files, analysis.json, deployment.json, the image, the
flags, hoist itself — and their result is still there (the image in the
engine's store, the generated files). APP/migrate.json keeps what they
read. --force runs every phase.

--config hoist.yaml reads the same settings from a file (apps, all,
target, registry, from, to, force, flags: {PHASE: [FLAG...]}); flags on the
command line win. With --all a failing app does not stop the others.
The exit status is that of the first failure (hoist help exit-codes).`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "every app in the inventory"},
			&cli.StringFlag{Name: "from", Value: "analyze", Usage: "first phase: inventory, analyze, extract, containerize, push, generate or deploy"},
			&cli.StringFlag{Name: "to", Value: "deploy", Usage: "last phase"},
			&cli.StringFlag{Name: "target", Value: "local", Usage: "where deploy goes: local, kubernetes, ecs or apprunner"},
			&cli.StringFlag{Name: "registry", Usage: "push the image to this registry (REGISTRY[/REPOSITORY[:TAG]]) before generate"},
			&cli.BoolFlag{Name: "force", Usage: "run every phase, even those whose inputs did not change"},
			&cli.StringFlag{Name: "config", Usage: "read the settings from this YAML file (hoist.yaml)"},
			&cli.StringSliceFlag{Name: "phase-flag", Usage: "PHASE:FLAG passes a flag to one phase, e.g. containerize:--no-validate or deploy:--timeout=5m (repeatable)"},
		},
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			cfg := &migrateConfig{}
			if p := c.String("config"); p != "" {
				if cfg, err = readMigrateConfig(p); err != nil {
					return err
				}
			}
			setting := func(name, fromFile string) string {
				if c.IsSet(name) || fromFile == "" {
					return c.String(name)
				}
				return fromFile
			}
			fromName, toName := setting("from", cfg.From), setting("to", cfg.To)
			target, registry := setting("target", cfg.Target), setting("registry", cfg.Registry)
			force := c.Bool("force") || (!c.IsSet("force") && cfg.Force)
			all := c.Bool("all") || (!c.IsSet("all") && c.NArg() == 0 && cfg.All)
			from, to := phaseIndex(fromName), phaseIndex(toName)
			if from < 0 || to < 0 || from > to {
				return usageError{fmt.Sprintf("migrate: --from %q --to %q: use phases in this order: %s", fromName, toName, strings.Join(migratePhases, ", "))}
			}
			switch target {
			case "local", "kubernetes", "k8s", "ecs", "apprunner":
			default:
				return usageError{fmt.Sprintf("migrate --target %q: use local, kubernetes, ecs or apprunner", target)}
			}
			extra := map[string][]string{}
			for phase, flags := range cfg.Flags {
				extra[phase] = append(extra[phase], flags...)
			}
			for _, pf := range c.StringSlice("phase-flag") {
				phase, flag, ok := strings.Cut(pf, ":")
				if !ok || flag == "" || phaseIndex(phase) < 0 {
					return usageError{fmt.Sprintf("migrate: --phase-flag %q: use PHASE:FLAG, e.g. containerize:--no-validate", pf)}
				}
				extra[phase] = append(extra[phase], flag)
			}
			extra["deploy"] = append([]string{"--target=" + target}, extra["deploy"]...)
			if registry != "" {
				extra["push"] = append([]string{"--registry=" + registry}, extra["push"]...)
			}
			var ids []string
			switch {
			case all && c.NArg() == 0:
			case !all && c.NArg() == 1:
				ids = []string{c.Args().First()}
			case !all && c.NArg() == 0 && len(cfg.Apps) > 0:
				ids = cfg.Apps
			default:
				return usageError{"migrate: name one app ID, or --all (or apps/all in --config)"}
			}
			globals := forwardGlobals(c)
			run := func(args ...string) error {
				app := newApp()
				app.Writer, app.ErrWriter = g.stderr, g.stderr
				return app.RunContext(c.Context, append(append([]string{"hoist"}, globals...), args...))
			}
			var steps []migrateStep
			var first error
			record := func(id, phase, status string, t0 time.Time, err error) {
				st := migrateStep{App: id, Phase: phase, Status: status, Seconds: time.Since(t0).Seconds()}
				if err != nil {
					st.Status, st.Error = "failed", err.Error()
					st.ExitCode = exitCodeOf(c, err)
					if first == nil {
						first = err
					}
				}
				steps = append(steps, st)
			}
			if from == 0 || all {
				fmt.Fprintln(g.stderr, "== hoist inventory")
				t0 := time.Now()
				err := run(append([]string{"inventory"}, extra["inventory"]...)...)
				record("", "inventory", "ok", t0, err)
				if err != nil {
					return renderMigrate(g, steps, err)
				}
			}
			if all {
				inv, err := g.workspace.ReadInventory()
				if err != nil {
					return err
				}
				for _, a := range inv.Apps {
					ids = append(ids, a.ID)
				}
				if len(ids) == 0 {
					return renderMigrate(g, steps, fmt.Errorf("migrate --all: the inventory found no Java or .NET application: %w", discover.ErrNotFound))
				}
			}
			engine := engineConfig(c)
			for _, id := range ids {
				state := readMigrateState(g.workspace, id)
				if (target == "kubernetes" || target == "k8s") && registry == "" && to >= phaseIndex("deploy") {
					if _, err := os.Stat(filepath.Join(g.workspace.AppDir(id), "containerize", "push.json")); err != nil {
						record(id, "deploy", "", time.Now(), usageError{fmt.Sprintf("migrate %s --target kubernetes %s: a cluster pulls from a registry; pass --registry REF (or registry in --config)", id, errNoRegistry)})
						continue
					}
				}
				for i := max(from, 1); i <= to; i++ {
					phase := migratePhases[i]
					if phase == "push" && registry == "" {
						continue
					}
					flags := extra[phase]
					t0 := time.Now()
					var inputs string
					if skippable[phase] && !force {
						d, ok := phaseInputs(c.Context, g.workspace, id, phase, flags, engine)
						if prev, had := state.Phases[phase]; ok && had && prev.Inputs == d {
							fmt.Fprintf(g.stderr, "== hoist %s %s: unchanged since %s, skipped (--force runs it)\n", phase, id, prev.At.Format(time.RFC3339))
							record(id, phase, "unchanged", t0, nil)
							continue
						}
					}
					fmt.Fprintf(g.stderr, "== hoist %s %s\n", phase, id)
					// A phase that runs forgets what it read last time (it may
					// fail half way). The phases after it need not: what it
					// writes is part of their inputs.
					if _, had := state.Phases[phase]; had {
						delete(state.Phases, phase)
						_ = state.write(g.workspace, id)
					}
					err := run(append(append([]string{phase}, flags...), id)...)
					if err == nil && skippable[phase] {
						if d, ok := phaseInputs(c.Context, g.workspace, id, phase, flags, engine); ok {
							inputs = d
						}
					}
					record(id, phase, "ok", t0, err)
					if err != nil {
						for j := i + 1; j <= to; j++ {
							if migratePhases[j] != "push" || registry != "" {
								steps = append(steps, migrateStep{App: id, Phase: migratePhases[j], Status: "skipped"})
							}
						}
						break
					}
					if inputs != "" {
						state.Phases[phase] = migratePhaseRun{Inputs: inputs, At: time.Now().UTC()}
						if werr := state.write(g.workspace, id); werr != nil {
							fmt.Fprintf(g.stderr, "hoist: warning: recording what %s read in %s: %v (it will run again next time)\n", phase, migrateStatePath(g.workspace, id), werr)
						}
					}
					if c.Context.Err() != nil {
						return c.Context.Err()
					}
				}
			}
			return renderMigrate(g, steps, first)
		},
	}
}

func renderMigrate(g *globals, steps []migrateStep, err error) error {
	if rerr := render(g, map[string]any{"steps": steps}, func(w *tabw) {
		fmt.Fprintln(w, "APP\tPHASE\tSTATUS\tSECONDS\tERROR")
		for _, s := range steps {
			app := s.App
			if app == "" {
				app = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%.1f\t%s\n", app, s.Phase, s.Status, s.Seconds, strings.SplitN(s.Error, "\n", 2)[0])
		}
	}); rerr != nil {
		return rerr
	}
	return err
}

func phaseIndex(p string) int {
	for i, q := range migratePhases {
		if q == p {
			return i
		}
	}
	return -1
}

// forwardGlobals spells the global flags the user set, for the phases.
func forwardGlobals(c *cli.Context) []string {
	var out []string
	// c's lookups go up to the app's own flags (the last context in
	// c.Lineage() is a bare one without flags).
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) || name == "output" {
			continue
		}
		if bf, ok := f.(*cli.BoolFlag); ok {
			out = append(out, "--"+bf.Name+"="+strconv.FormatBool(c.Bool(name)))
			continue
		}
		out = append(out, "--"+name+"="+c.String(name))
	}
	return out
}

// exitCodeOf is the exit code hoist would give for err, without printing.
func exitCodeOf(c *cli.Context, err error) int {
	return exitCode(c.Context, err, io.Discard)
}
