package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

func analyzeCommand() *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "describe everything an app needs (writes APP/analysis.json)",
		ArgsUsage: "APP",
		Description: `Writes APP/analysis.json: "observed" is what hoist saw (runtime, server, ports,
environment, config files, dependencies, files) and is rewritten on every run;
"containerParameters" is yours to edit and is kept when you run analyze again
(--force regenerates it). Secret values go only to the workspace's secrets.json
(mode 0600, git-ignored); analysis.json holds references to them.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "regenerate containerParameters (and overwrite an analysis.json that does not parse)"},
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
			g.logf("analyzing %s", id)
			a, err := discover.Analyze(c.Context, discover.AnalyzeOptions{Host: g.host, Workspace: g.workspace, ID: id, Force: c.Bool("force")})
			if err != nil {
				return err
			}
			for _, w := range a.Observed.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			g.logf("wrote %s", g.workspace.AnalysisPath(id))
			return render(g, a, func(w *tabw) { analysisTable(w, a, g.workspace) })
		},
	}
}

func analysisTable(w *tabw, a *discover.Analysis, ws discover.Workspace) {
	o := a.Observed
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, orDash(v)) }
	row("ID", a.ID)
	row("Type", string(a.Type))
	row("Process", fmt.Sprintf("pid %d, user %s (%d:%d), cwd %s", o.Process.PID, o.Process.User, o.Process.UID, o.Process.GID, o.Process.Cwd))
	row("Runtime", strings.TrimSpace(o.Runtime.Kind+" "+o.Runtime.Version+" "+o.Runtime.Home))
	if s := o.Server; s != nil {
		row("Server", strings.TrimSpace(s.Type+" "+s.Version+" "+s.Base))
		for _, wa := range s.WebApps {
			row("  web app", wa.ContextPath+" "+wa.Path)
		}
	}
	row("Ports", portList(o.Ports))
	for _, d := range o.Dependencies {
		row("Depends on", fmt.Sprintf("%s %s:%d (%s)", d.Service, d.Host, d.Port, strings.Join(d.Sources, "; ")))
	}
	row("Config files", fmt.Sprint(len(o.ConfigFiles)))
	row("Secrets", fmt.Sprintf("%d (values in %s)", len(o.Secrets), ws.SecretsPath()))
	row("Analysis", ws.AnalysisPath(a.ID))
}
