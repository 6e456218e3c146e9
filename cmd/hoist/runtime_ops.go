package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
)

// runtimeError gives the control plane's errors hoist's exit codes: an
// unknown service or task is "not found" (3), a refused definition
// "invalid input" (4), a control plane that does not answer "unavailable"
// (5).
func runtimeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrNotFound):
		return kindError{err, discover.ErrNotFound}
	case errors.Is(err, api.ErrInvalid):
		return kindError{err, discover.ErrInvalid}
	case errors.Is(err, api.ErrUnavailable):
		return kindError{err, runtime.ErrEngineUnavailable}
	}
	return err
}

type kindError struct {
	err  error
	kind error
}

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.err, e.kind} }

// runtimeClient starts the engine when needed and returns the control
// plane's client.
func runtimeClient(c *cli.Context, g *globals) (*api.Client, error) {
	cfg := engineConfig(c)
	if _, err := runtime.Ensure(c.Context, cfg, func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) }); err != nil {
		return nil, err
	}
	return cfg.Client(), nil
}

// runtimeArg starts most runtime subcommands: their one argument, the
// global options and a client of the local runtime (started if needed).
func runtimeArg(c *cli.Context, what string) (string, *globals, *api.Client, error) {
	arg, err := oneArg(c, what)
	if err != nil {
		return "", nil, nil, err
	}
	g, err := globalsFrom(c)
	if err != nil {
		return "", nil, nil, err
	}
	cl, err := runtimeClient(c, g)
	return arg, g, cl, err
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}

func runtimeOpsCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "services",
			Usage: "list the local runtime's services",
			Action: func(c *cli.Context) error {
				g, err := globalsFrom(c)
				if err != nil {
					return err
				}
				cl, err := runtimeClient(c, g)
				if err != nil {
					return err
				}
				ss, err := cl.ListServices(c.Context)
				if err != nil {
					return runtimeError(err)
				}
				return render(g, ss, func(w *tabw) {
					fmt.Fprintln(w, "SERVICE\tTASK DEFINITION\tDESIRED\tRUNNING\tPENDING\tROLLOUT\tENDPOINT")
					for _, s := range ss {
						rollout := "-"
						if len(s.Deployments) > 0 {
							rollout = s.Deployments[0].RolloutState
						}
						ep := "-"
						if len(s.Endpoints) > 0 {
							ep = s.Endpoints[0]
						}
						fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.ServiceName, s.TaskDefinition, s.DesiredCount, s.RunningCount, s.PendingCount, rollout, ep)
					}
				})
			},
		},
		{
			Name:  "ps",
			Usage: "list tasks (with --stopped, also those stopped within the last hour and why)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "service", Usage: "only this service's tasks"},
				&cli.BoolFlag{Name: "stopped", Aliases: []string{"a"}, Usage: "include stopped tasks"},
			},
			Action: func(c *cli.Context) error {
				g, err := globalsFrom(c)
				if err != nil {
					return err
				}
				cl, err := runtimeClient(c, g)
				if err != nil {
					return err
				}
				ts, err := cl.ListTasks(c.Context, c.String("service"), c.Bool("stopped"))
				if err != nil {
					return runtimeError(err)
				}
				return render(g, ts, func(w *tabw) {
					fmt.Fprintln(w, "TASK\tGROUP\tTASK DEFINITION\tSTATUS\tHEALTH\tPORTS\tPID\tAGE\tSTOPPED REASON")
					for _, t := range ts {
						var ports []string
						for _, p := range t.Ports {
							ports = append(ports, fmt.Sprintf("127.0.0.1:%d->%d/%s", p.HostPort, p.ContainerPort, p.Protocol))
						}
						pid := "-"
						if t.PID != 0 {
							pid = strconv.Itoa(t.PID)
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TaskID[:12], t.Group, t.TaskDefinition, t.LastStatus, t.HealthStatus, orDash(strings.Join(ports, ",")), pid, age(t.CreatedAt), orDash(t.StoppedReason))
					}
				})
			},
		},
		{
			Name:      "logs",
			Usage:     "print a task's output, or every task of a service",
			ArgsUsage: "TASK|SERVICE",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new output"},
				&cli.IntFlag{Name: "tail", Usage: "only the last N lines of each task"},
			},
			Action: func(c *cli.Context) error {
				target, g, cl, err := runtimeArg(c, "task ID or service name")
				if err != nil {
					return err
				}
				return runtimeError(cl.Logs(c.Context, target, c.Bool("follow"), c.Int("tail"), g.stdout))
			},
		},
		{
			Name:      "scale",
			Usage:     "set a service's desired count",
			ArgsUsage: "SERVICE COUNT",
			Action: func(c *cli.Context) error {
				if c.NArg() != 2 {
					return usageError{"scale: takes a service name and a count (hoist runtime scale SERVICE COUNT)"}
				}
				n, err := strconv.Atoi(c.Args().Get(1))
				if err != nil || n < 0 {
					return usageError{fmt.Sprintf("scale: count %q is not a whole number >= 0", c.Args().Get(1))}
				}
				g, err := globalsFrom(c)
				if err != nil {
					return err
				}
				cl, err := runtimeClient(c, g)
				if err != nil {
					return err
				}
				s, err := cl.Scale(c.Context, c.Args().First(), n)
				if err != nil {
					return runtimeError(err)
				}
				return render(g, s, func(w *tabw) {
					fmt.Fprintf(w, "%s\tdesired %d\trunning %d\n", s.ServiceName, s.DesiredCount, s.RunningCount)
				})
			},
		},
		{
			Name:      "stop",
			Usage:     "stop a task (a service starts a replacement)",
			ArgsUsage: "TASK",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "recorded as the task's stopped reason"}},
			Action: func(c *cli.Context) error {
				id, g, cl, err := runtimeArg(c, "task ID")
				if err != nil {
					return err
				}
				t, err := cl.StopTask(c.Context, id, c.String("reason"))
				if err != nil {
					return runtimeError(err)
				}
				return render(g, t, func(w *tabw) { fmt.Fprintf(w, "%s\t%s\t%s\n", t.TaskID, t.LastStatus, t.StoppedReason) })
			},
		},
		{
			Name:      "run-task",
			Usage:     "run a task definition once, outside any service",
			ArgsUsage: "FAMILY[:REVISION]",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "count", Value: 1, Usage: "how many tasks"},
				&cli.BoolFlag{Name: "wait", Usage: "wait for the tasks to stop; exit 1 unless all exited 0"},
			},
			Action: func(c *cli.Context) error {
				// The API reads a count of 0 as "not given" (one task).
				if n := c.Int("count"); n < 1 {
					return usageError{fmt.Sprintf("run-task: --count %d: give 1 or more tasks", n)}
				}
				td, g, cl, err := runtimeArg(c, "task definition")
				if err != nil {
					return err
				}
				ts, err := cl.RunTask(c.Context, &api.RunTaskInput{TaskDefinition: td, Count: c.Int("count"), Wait: c.Bool("wait")})
				if err != nil {
					return runtimeError(err)
				}
				if err := render(g, ts, func(w *tabw) {
					fmt.Fprintln(w, "TASK\tTASK DEFINITION\tSTATUS\tEXIT\tSTOPPED REASON")
					for _, t := range ts {
						exit := "-"
						if t.ExitCode != nil {
							exit = strconv.Itoa(*t.ExitCode)
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.TaskID, t.TaskDefinition, t.LastStatus, exit, orDash(t.StoppedReason))
					}
				}); err != nil {
					return err
				}
				if c.Bool("wait") {
					for _, t := range ts {
						if t.ExitCode == nil || *t.ExitCode != 0 {
							return fmt.Errorf("task %s: %s", t.TaskID, t.StoppedReason)
						}
					}
				}
				return nil
			},
		},
		{
			Name:  "events",
			Usage: "print the task state-change and service events (--follow to stream them)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "service", Usage: "only this service's events"},
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing events as they happen"},
				&cli.Uint64Flag{Name: "since", Usage: "only events after this sequence number"},
				&cli.StringFlag{Name: "add-webhook", Usage: "also POST every later event as JSON to this loopback URL (kept across restarts)"},
				&cli.StringFlag{Name: "remove-webhook", Usage: "stop posting events to this URL"},
			},
			Action: func(c *cli.Context) error {
				g, err := globalsFrom(c)
				if err != nil {
					return err
				}
				cl, err := runtimeClient(c, g)
				if err != nil {
					return err
				}
				if u := c.String("add-webhook"); u != "" {
					h, err := cl.AddWebhook(c.Context, u)
					if err != nil {
						return runtimeError(err)
					}
					return render(g, h, func(w *tabw) { fmt.Fprintf(w, "webhook %s receives events after #%d\n", h.URL, h.Delivered) })
				}
				if u := c.String("remove-webhook"); u != "" {
					return runtimeError(cl.DeleteWebhook(c.Context, u))
				}
				print := func(e api.Event) error {
					if g.output == "table" {
						fmt.Fprintf(g.stdout, "%d\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339Nano), e.DetailType, e.Message)
						return nil
					}
					// One JSON document per line, so a stream can be read.
					data, err := json.Marshal(e)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(g.stdout, "%s\n", data)
					return err
				}
				err = cl.Events(c.Context, c.Uint64("since"), c.String("service"), c.Bool("follow"), print)
				if c.Bool("follow") && c.Context.Err() != nil {
					return nil
				}
				return runtimeError(err)
			},
		},
	}
}
