package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	hoistrt "github.com/hoistctl/hoist/runtime"
)

// prepareApp takes the app a user would through hoist: the inventory, the
// app that match picks (what names it in the error), the analysis with the
// health check the user tells hoist, and the extract, all in ws.
func prepareApp(ctx context.Context, host discover.Host, ws discover.Workspace, what string, match func(discover.App) bool, hc discover.HealthCheck) (*discover.Analysis, error) {
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		return nil, err
	}
	app, found := inv.Find(match)
	id := app.ID
	if !found {
		return nil, fmt.Errorf("%s was not found by the inventory", what)
	}
	a, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: host, Workspace: ws, ID: id})
	if err != nil {
		return nil, err
	}
	a.ContainerParameters.HealthCheck = hc
	if err := writeAnalysis(ws, a); err != nil {
		return nil, err
	}
	if _, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id}); err != nil {
		return nil, err
	}
	return a, nil
}

// containerizeDefault builds the app's image as `hoist containerize` does
// by default (host base, jlink-reduced, CDS where reproducible); notes are
// the host base's notes.
func containerizeDefault(ctx context.Context, cfg hoistrt.Config, host discover.Host, ws discover.Workspace, id, bins string, logf func(string, ...any)) (r *containerize.Result, notes []string, err error) {
	r, err = containerize.Containerize(ctx, containerize.Options{
		Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: io.Discard, Mode: "quiet",
		EntryBinary: filepath.Join(bins, "hoist-entry"), BaseKey: "jlink=true", Logf: logf,
		Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			rep, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: true, AppJars: containerize.AppJars(filepath.Dir(dest), m), Logf: func(string, ...any) {}})
			if rep != nil {
				notes = rep.Notes
			}
			return err
		},
	})
	return r, notes, err
}

// checkBench says what a bench run lacks: root, the tools given, and
// hoist's binaries in --bin-dir. It returns the checkout and the binaries'
// directory.
func checkBench(c *cli.Context, tools []string, toolHint string) (repo, bins string, err error) {
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("needs root (the engine, network namespaces)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return "", "", fmt.Errorf("%s not installed: run `make deps`%s", tool, toolHint)
		}
	}
	if repo, err = findRepo(c.String("repo")); err != nil {
		return "", "", err
	}
	bins = binDir(c)
	for _, b := range []string{"hoist", "hoist-entry", "containerd", "containerd-shim-runc-v2", "buildkitd"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			return "", "", fmt.Errorf("%s not in %s: run `make build` (or pass --bin-dir)", b, bins)
		}
	}
	return repo, bins, nil
}
