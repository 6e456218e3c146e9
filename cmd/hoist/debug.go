package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

func debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "tools for reporting problems",
		Subcommands: []*cli.Command{{
			Name:      "capture",
			Usage:     "copy what hoist reads of some processes (procfs entries, config files) into a directory, secrets removed",
			ArgsUsage: "PID...",
			Description: `Writes DIR/proc (cmdline, status, limits, maps, fd links, net tables, ...) and
DIR/root (the files hoist reads: passwd, release files, server config), so that
"hoist --host-proc DIR/proc --host-root DIR/root inventory" reproduces the scan
on another machine. Environment values and config files are copied with secret
values replaced; attach the directory to a bug report.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Required: true, Usage: "directory to write the capture to (must not exist)"},
				&cli.BoolFlag{Name: "keep-secrets", Hidden: true, Usage: "copy secret values as they are (only for test fixtures made with fake secrets)"},
			},
			Action: func(c *cli.Context) error {
				g, err := globalsFrom(c)
				if err != nil {
					return err
				}
				if c.NArg() == 0 {
					return usageError{"debug capture: name at least one PID"}
				}
				var pids []int32
				for _, a := range c.Args().Slice() {
					n, err := strconv.ParseInt(a, 10, 32)
					if err != nil || n <= 0 {
						return usageError{fmt.Sprintf("debug capture: %q is not a PID", a)}
					}
					pids = append(pids, int32(n))
				}
				return discover.Capture(c.Context, g.host, pids, c.String("out"), discover.CaptureOptions{KeepSecrets: c.Bool("keep-secrets")})
			},
		}},
	}
}
