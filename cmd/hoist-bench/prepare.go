package main

import (
	"context"
	"fmt"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
)

// prepareApp takes the app a user would through hoist: the inventory, the
// app that match picks (what names it in the error), the analysis with the
// health check the user tells hoist, and the extract, all in ws.
func prepareApp(ctx context.Context, host discover.Host, ws discover.Workspace, what string, match func(discover.App) bool, hc discover.HealthCheck) (*discover.Analysis, error) {
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		return nil, err
	}
	var id string
	for _, a := range inv.Apps {
		if match(a) {
			id = a.ID
		}
	}
	if id == "" {
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
