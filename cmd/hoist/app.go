package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

// globals are the flags every command shares.
type globals struct {
	workspace discover.Workspace
	output    string
	verbose   bool
	host      discover.Host
	stdout    io.Writer
	stderr    io.Writer
}

func (g *globals) logf(format string, args ...any) {
	if g.verbose {
		fmt.Fprintf(g.stderr, format+"\n", args...)
	}
}

func globalsFrom(c *cli.Context) (*globals, error) {
	return globalsWithOutput(c, c.String("output"))
}

// globalsWithOutput is globalsFrom for a command that has an --output flag
// of its own (containerize: --output oci-archive=PATH as well as formats).
func globalsWithOutput(c *cli.Context, output string) (*globals, error) {
	g := &globals{
		workspace: discover.Workspace{Dir: c.String("workspace")},
		output:    output,
		verbose:   c.Bool("verbose"),
		host:      discover.LiveHost(),
		stdout:    c.App.Writer,
		stderr:    c.App.ErrWriter,
	}
	switch g.output {
	case "table", "json", "yaml":
	default:
		return nil, usageError{fmt.Sprintf("--output %q: use table, json or yaml", g.output)}
	}
	if p := c.String("host-proc"); p != "" {
		g.host.Proc = p
	}
	if r := c.String("host-root"); r != "" {
		g.host.Root = r
	}
	return g, nil
}

func newApp() *cli.App {
	// -v is --verbose here, as in most tools that migrate things.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	return &cli.App{
		Name:  "hoist",
		Usage: "move running Java and .NET applications into containers",
		Description: `hoist runs in phases, each reading the files the one before wrote in the
workspace, so you can stop, review or edit (analysis.json, the Dockerfile) and go on:

  hoist inventory          list the Java and .NET apps running here   -> inventory.json
  hoist analyze APP        everything the app needs, editable          -> APP/analysis.json
  hoist extract APP        portable archive of the app's files         -> APP/extract/APP.tar.gz
  hoist containerize APP   Dockerfile + BuildKit image, validated      -> APP/containerize/, hoist.local/APP
  hoist push APP           the image to a registry (--registry REF)    -> APP/containerize/push.json
  hoist generate APP       deployment artifacts, validated             -> APP/deployment.json, APP/deploy/
  hoist deploy APP         to the local runtime (default)
  hoist report [APP]       HTML migration report                       -> report.html
  hoist migrate APP|--all  all of the above, for CI

Results go to stdout (--output table|json|yaml), progress and logs to stderr.
See "hoist help exit-codes" for what the exit status means.`,
		Version:              version(),
		EnableBashCompletion: true,
		Writer:               os.Stdout,
		ErrWriter:            os.Stderr,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "workspace", Aliases: []string{"w"}, EnvVars: []string{"HOIST_WORKSPACE"}, Value: "./hoist-workspace", Usage: "directory holding hoist's files for every app (commit it to git)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "result format: table, json or yaml"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log progress to stderr"},
			&cli.StringFlag{Name: "host-proc", EnvVars: []string{"HOST_PROC"}, Usage: "procfs to scan instead of /proc (a captured tree, or a host's /proc mounted elsewhere)"},
			&cli.StringFlag{Name: "host-root", EnvVars: []string{"HOST_ROOT"}, Usage: "filesystem root the scanned processes see, instead of /"},
		}, engineFlags...),
		Commands: []*cli.Command{
			inventoryCommand(),
			analyzeCommand(),
			extractCommand(),
			containerizeCommand(),
			pushCommand(),
			registryCommand(),
			generateCommand(),
			deployCommand(),
			migrateCommand(),
			reportCommand(),
			diffCommand(),
			runtimeCommand(),
			versionCommand(),
			completionCommand(),
			debugCommand(),
			{
				Name:  "exit-codes",
				Usage: "what hoist's exit status means",
				Action: func(c *cli.Context) error {
					fmt.Fprint(c.App.Writer, exitCodesHelp)
					return nil
				},
			},
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageError{err.Error()}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit code
	}
}

// oneArg returns the single positional argument a command needs.
func oneArg(c *cli.Context, what string) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", usageError{fmt.Sprintf("%s: missing %s (see `hoist %s --help`)", c.Command.Name, what, c.Command.Name)}
	}
	return "", usageError{fmt.Sprintf("%s: takes one %s, got %d arguments", c.Command.Name, what, c.NArg())}
}
