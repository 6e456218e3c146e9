package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/hoistctl/hoist/generate/diff"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what the last hoist generate changed in APP/deploy, as a unified diff",
		ArgsUsage: "APP",
		Description: `Compares APP/deploy with the generation before it, which hoist generate keeps
in APP/deploy/.previous, and prints a unified diff (paths a/... and b/...
relative to APP/deploy): coloured on a terminal, plain when piped, so a CI
job can post it on a pull request. Hand edits made since the last generate
show up too. Secret values (even with kubernetes.includeSecretValues) are
printed as [secret REF hidden].

The exit status is 0 whether or not anything changed; with --exit-code it is
1 when something changed, as with git diff --exit-code. --output json prints
the diff as data (files, hunks, edits).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour the diff: auto (on a terminal, unless NO_COLOR is set), always or never"},
			&cli.BoolFlag{Name: "exit-code", Usage: "exit with 1 when the generations differ"},
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
			color, err := wantColor(c.String("color"), g.stdout)
			if err != nil {
				return err
			}
			gen, err := diff.Load(g.workspace, id)
			if err != nil {
				return err
			}
			switch g.output {
			case "table":
				if err := diff.Write(g.stdout, gen, color); err != nil {
					return err
				}
				fmt.Fprintln(g.stderr, id+": "+diff.Summary(gen))
			default:
				if err := render(g, gen, nil); err != nil {
					return err
				}
			}
			if n := len(gen.Changed()); n > 0 && c.Bool("exit-code") {
				return fmt.Errorf("diff: %d files of %s changed since the previous generation (--exit-code)", n, id)
			}
			return nil
		},
	}
}

// wantColor decides whether to colour output written to w.
func wantColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	}
	return false, usageError{fmt.Sprintf("--color %q: use auto, always or never", mode)}
}
