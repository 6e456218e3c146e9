package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

// migratePhases are the phases `hoist migrate` runs, in order.
var migratePhases = []string{"inventory", "analyze", "extract", "containerize", "generate", "deploy"}

// migrateStep is one phase of one app in the summary.
type migrateStep struct {
	App      string  `json:"app"`
	Phase    string  `json:"phase"`
	Status   string  `json:"status"` // ok, failed, skipped
	Seconds  float64 `json:"seconds"`
	ExitCode int     `json:"exitCode,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "run the phases one after the other, non-interactively (for CI)",
		ArgsUsage: "APP | --all",
		Description: `Runs inventory, analyze, extract, containerize, generate and deploy for APP
(or, with --all, for every app of a fresh inventory), exactly as the
separate commands do, with the same global flags. Each phase's own output
goes to stderr; stdout gets one summary (--output json for CI). --from and
--to limit the phases: on a worker machine that has the workspace and the
archive, --from containerize; to stop before deploying, --to generate.
With --all a failing app does not stop the others; the exit status is that
of the first failure.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "every app in the inventory"},
			&cli.StringFlag{Name: "from", Value: "analyze", Usage: "first phase: inventory, analyze, extract, containerize, generate or deploy"},
			&cli.StringFlag{Name: "to", Value: "deploy", Usage: "last phase"},
			&cli.StringSliceFlag{Name: "phase-flag", Usage: "PHASE:FLAG passes a flag to one phase, e.g. containerize:--no-validate or deploy:--target=local (repeatable)"},
		},
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			from, to := phaseIndex(c.String("from")), phaseIndex(c.String("to"))
			if from < 0 || to < 0 || from > to {
				return usageError{fmt.Sprintf("migrate: --from %q --to %q: use phases in this order: inventory, analyze, extract, containerize, generate, deploy", c.String("from"), c.String("to"))}
			}
			extra := map[string][]string{}
			for _, pf := range c.StringSlice("phase-flag") {
				phase, flag, ok := strings.Cut(pf, ":")
				if !ok || flag == "" || phaseIndex(phase) < 0 {
					return usageError{fmt.Sprintf("migrate: --phase-flag %q: use PHASE:FLAG, e.g. containerize:--no-validate", pf)}
				}
				extra[phase] = append(extra[phase], flag)
			}
			var ids []string
			switch {
			case c.Bool("all") && c.NArg() == 0:
			case !c.Bool("all") && c.NArg() == 1:
				ids = []string{c.Args().First()}
			default:
				return usageError{"migrate: name one app ID, or --all"}
			}
			globals := forwardGlobals(c)
			run := func(args ...string) error {
				app := newApp()
				app.Writer, app.ErrWriter = g.stderr, g.stderr
				return app.RunContext(c.Context, append(append([]string{"hoist"}, globals...), args...))
			}
			var steps []migrateStep
			var first error
			record := func(id, phase string, t0 time.Time, err error) {
				st := migrateStep{App: id, Phase: phase, Status: "ok", Seconds: time.Since(t0).Seconds()}
				if err != nil {
					st.Status, st.Error = "failed", err.Error()
					st.ExitCode = exitCodeOf(c, err)
					if first == nil {
						first = err
					}
				}
				steps = append(steps, st)
			}
			if from == 0 || c.Bool("all") {
				fmt.Fprintln(g.stderr, "== hoist inventory")
				t0 := time.Now()
				err := run(append([]string{"inventory"}, extra["inventory"]...)...)
				record("", "inventory", t0, err)
				if err != nil {
					return renderMigrate(g, steps, err)
				}
			}
			if c.Bool("all") {
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
			for _, id := range ids {
				for i := max(from, 1); i <= to; i++ {
					phase := migratePhases[i]
					fmt.Fprintf(g.stderr, "== hoist %s %s\n", phase, id)
					t0 := time.Now()
					err := run(append(append([]string{phase}, extra[phase]...), id)...)
					record(id, phase, t0, err)
					if err != nil {
						for j := i + 1; j <= to; j++ {
							steps = append(steps, migrateStep{App: id, Phase: migratePhases[j], Status: "skipped"})
						}
						break
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
	root := c.Lineage()[len(c.Lineage())-1]
	for _, f := range c.App.Flags {
		name := f.Names()[0]
		if !root.IsSet(name) || name == "output" {
			continue
		}
		if bf, ok := f.(*cli.BoolFlag); ok {
			out = append(out, "--"+bf.Name+"="+strconv.FormatBool(root.Bool(name)))
			continue
		}
		out = append(out, "--"+name+"="+root.String(name))
	}
	return out
}

// exitCodeOf is the exit code hoist would give for err, without printing.
func exitCodeOf(c *cli.Context, err error) int {
	return exitCode(c.Context, err, io.Discard)
}
