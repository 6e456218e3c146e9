// Command hoist-bench measures hoist's whole pipeline on the built-in
// sample app, side by side with baselines built or run in the same run, and
// prints the figures with the targets they are held to. It needs root, a
// JDK and the engine's binaries (make build); it starts a private engine
// and the sample app, and stops exactly what it started.
//
//	hoist-bench containerize    image size, build and rebuild times, start time
//	hoist-bench runtime         deploy to first response, load balancer, 100 tasks
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &cli.App{
		Name:  "hoist-bench",
		Usage: "measure hoist's pipeline against baselines built in the same run",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bin-dir", Usage: "where hoist, hoist-entry and the engine's binaries are (default: beside hoist-bench)"},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "repetitions of each start-time measurement (the median is reported)"},
		},
		Commands: []*cli.Command{containerizeCommand(), runtimeCommand()},
	}
	if err := app.RunContext(ctx, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "hoist-bench: %v\n", err)
		os.Exit(1)
	}
}

// binDir is where the built binaries are.
func binDir(c *cli.Context) string {
	if d := c.String("bin-dir"); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}

// result is one measured figure.
type result struct {
	Metric   string  `json:"metric"`
	Hoist    string  `json:"hoist"`
	Baseline string  `json:"baseline,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	// Value and BaselineValue are the raw numbers (bytes or seconds).
	Value         float64 `json:"value"`
	BaselineValue float64 `json:"baselineValue,omitempty"`
}

func report(c *cli.Context, title string, rs []result) error {
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"suite": title, "results": rs})
	}
	fmt.Printf("\n%s\n\n", title)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "METRIC\tHOIST\tBASELINE\tRATIO\tTARGET\tMET")
	for _, r := range rs {
		ratio, met := "", ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		if r.Met != nil {
			met = "no"
			if *r.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Metric, r.Hoist, r.Baseline, ratio, r.Target, met)
	}
	return w.Flush()
}

func boolp(b bool) *bool { return &b }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
