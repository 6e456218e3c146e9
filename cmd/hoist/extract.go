package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/extract"
)

func extractCommand() *cli.Command {
	return &cli.Command{
		Name:      "extract",
		Usage:     "collect the app's files into a portable archive (writes APP/extract/APP.tar.gz and manifest.json)",
		ArgsUsage: "APP",
		Description: `Reads APP/analysis.json and copies exactly what containerParameters.include
names (minus exclude, logs, temp and caches) plus the libraries the app's server
links to, keeping owners, modes and symlinks. Config files holding secrets are
stored with {{hoist-secret:REF}} placeholders; every text file is also scanned
for the app's secret values. The archive carries analysis.json and the manifest
(sha256, size, mode, owner of every file), so containerize can run from it alone
on another machine. SOURCE_DATE_EPOCH sets every timestamp (default 0): the same
files give a byte-identical archive.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "allow-missing", Usage: "warn instead of failing when an include path no longer exists"},
			&cli.BoolFlag{Name: "refuse-found-secrets", Usage: "fail instead of redacting when a secret value turns up in a file the analysis did not parse"},
			&cli.IntFlag{Name: "compression-level", Value: 1, Usage: "gzip level 1 (fast) to 9 (small)"},
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
			epoch, err := extract.SourceDateEpochFromEnv()
			if err != nil {
				return usageError{err.Error()}
			}
			res, err := extract.Extract(c.Context, extract.Options{
				Host:               g.host,
				Workspace:          g.workspace,
				ID:                 id,
				SourceDateEpoch:    epoch,
				AllowMissing:       c.Bool("allow-missing"),
				RefuseFoundSecrets: c.Bool("refuse-found-secrets"),
				CompressionLevel:   c.Int("compression-level"),
				Logf:               g.logf,
			})
			if err != nil {
				return err
			}
			m := res.Manifest
			for _, w := range m.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			return render(g, m, func(w *tabw) {
				fmt.Fprintf(w, "Archive\t%s\n", res.ArchivePath)
				fmt.Fprintf(w, "Manifest\t%s\n", res.ManifestPath)
				fmt.Fprintf(w, "Mode\t%s\n", m.Mode)
				fmt.Fprintf(w, "Files\t%d (%s)\n", m.Sizes.Files, humanBytes(m.Sizes.Total))
				for _, l := range m.Sizes.Layers {
					fmt.Fprintf(w, "  layer %s\t%s, %d files\n", l.Layer, humanBytes(l.Size), l.Files)
				}
				fmt.Fprintf(w, "Excluded\t%d paths (%s)\n", len(m.Excluded), humanBytes(m.Sizes.Excluded.Size))
				fmt.Fprintf(w, "Redacted\t%d files\n", len(m.Redacted))
				fmt.Fprintf(w, "Runtime\t%s %s (not archived: containerize provides it)\n", m.Runtime.Kind, m.Runtime.Version)
			})
		},
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
