package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/generate/report"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "write an HTML migration report: inventory, fitness, secrets (names only), artifacts and their diff (writes report.html)",
		ArgsUsage: "[APP|--all]",
		Description: `Writes one self-contained HTML page (inline CSS and SVG charts, no scripts, no
external assets: it opens offline and can be attached to a review) from the
files the phases wrote into the workspace:

  - the inventory: each app's type, runtime, ports and fitness for containers
    (ready, needs attention, blocked);
  - per app: what blocks it, what needs attention, the secrets found and where
    each went (references only, never a value), external dependencies, files
    left out of the image with their sizes, the fields a target cannot express
    (generate's warnings), the image's layers with their sizes (against the
    baselines when WORKSPACE/bench.json holds hoist-bench's results), the
    validation of every artifact (as generate --check does), the changes since
    the previous generation and every artifact, highlighted.

Without an argument (or with --all) the page covers every app and goes to
WORKSPACE/report.html; with APP it covers that app and goes to
WORKSPACE/APP/report.html. --out FILE writes it elsewhere.

To compare with the baselines, save hoist-bench's results first:
  hoist-bench --json containerize > WORKSPACE/bench.json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "report on every app of the workspace (the default)"},
			&cli.StringFlag{Name: "out", Usage: "write the page to `FILE` instead of WORKSPACE/report.html or WORKSPACE/APP/report.html"},
		},
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			var ids []string
			switch {
			case c.NArg() > 1:
				return usageError{fmt.Sprintf("report: takes at most one app ID, got %d arguments", c.NArg())}
			case c.NArg() == 1 && c.Bool("all"):
				return usageError{"report: give an app ID or --all, not both"}
			case c.NArg() == 1:
				ids = []string{c.Args().First()}
			}
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			res, err := report.Write(report.Options{Workspace: g.workspace, IDs: ids, Logf: g.logf}, c.String("out"))
			if err != nil {
				return err
			}
			return render(g, res, func(w *tabw) {
				fmt.Fprintf(w, "Report\t%s\n", res.Path)
				fmt.Fprintf(w, "Ready\t%s\n", orDash(strings.Join(res.Ready, ", ")))
				fmt.Fprintf(w, "Needs attention\t%s\n", orDash(strings.Join(res.Attention, ", ")))
				fmt.Fprintf(w, "Blocked\t%s\n", orDash(strings.Join(res.Blocked, ", ")))
			})
		},
	}
}
