package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/deploy/local"
)

func deployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "deploy the app: to hoist's local runtime (default), Kubernetes or AWS",
		ArgsUsage: "APP",
		Description: `With --target local (the default) registers the task definition made from
APP/deployment.json and APP/deploy/ecs/task-definition.json in the local
runtime, puts the app's secrets (from the workspace's secrets file) into the
runtime's store, and creates or updates the service: a rolling deployment
that keeps minimumHealthyPercent of the tasks healthy behind the service's
load balancer on 127.0.0.1, and rolls back when the new revision never
becomes healthy. It waits until the deployment completes (--no-wait does
not). A scheduled app gets a schedule instead of a service.
Fields the local runtime does not run (IAM roles, awslogs, ...) are listed
on stderr with --verbose and under "ignored" in the result.

--delete drains and removes the app's service (or schedule).

--target kubernetes applies APP/deploy/kubernetes with server-side apply
(field manager hoist) to the cluster of --kubeconfig/--context and waits
for the rollout; --dry-run asks the server what would change; --delete
removes only what hoist applied (docs/kubernetes.md).

--target ecs|apprunner pushes the image to ECR and creates or updates the
CloudFormation stack through a change set, shown before it is applied
(--yes applies without asking); --dry-run stops after the change set;
--register-only (ecs) only registers the task definition (docs/aws.md).`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "target", Value: "local", Usage: "local, kubernetes, ecs or apprunner"},
			&cli.BoolFlag{Name: "delete", Usage: "remove what hoist deployed for the app from the target"},
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the deployment has started"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "how long to wait for the deployment"},
			&cli.BoolFlag{Name: "dry-run", Usage: "kubernetes, ecs, apprunner: show what would change and change nothing"},
		}, kubernetesDeployFlags()...), awsDeployFlags()...),
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
			switch t := c.String("target"); t {
			case "local":
			case "kubernetes", "k8s":
				return deployKubernetes(c, g, id)
			case "ecs", "apprunner":
				return deployAWS(c, g, id, t)
			default:
				return usageError{fmt.Sprintf("deploy --target %q: use local, kubernetes, ecs or apprunner", t)}
			}
			o := local.Options{
				Workspace: g.workspace, ID: id, Engine: engineConfig(c),
				Wait: !c.Bool("no-wait"), Timeout: c.Duration("timeout"),
				Logf: func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) },
			}
			if c.Bool("delete") {
				return runtimeError(local.Delete(c.Context, o))
			}
			res, err := local.Deploy(c.Context, o)
			if res != nil {
				if rerr := render(g, res, func(w *tabw) {
					fmt.Fprintf(w, "app\t%s\n", res.App)
					fmt.Fprintf(w, "task definition\t%s\n", res.TaskDefinition)
					if s := res.Service; s != nil {
						rollout := "-"
						if len(s.Deployments) > 0 {
							rollout = s.Deployments[0].RolloutState
						}
						fmt.Fprintf(w, "service\t%s (desired %d, running %d, rollout %s)\n", s.ServiceName, s.DesiredCount, s.RunningCount, rollout)
					}
					if s := res.Schedule; s != nil {
						fmt.Fprintf(w, "schedule\t%s %s (next %s)\n", s.Name, s.Expression, s.NextRun.Format(time.RFC3339))
					}
					if res.Endpoint != "" {
						fmt.Fprintf(w, "endpoint\t%s\n", res.Endpoint)
					}
					if len(res.Ignored) > 0 {
						fmt.Fprintf(w, "ignored\t%d fields the local runtime does not run (--output json lists them)\n", len(res.Ignored))
					}
				}); rerr != nil {
					return rerr
				}
			}
			return runtimeError(err)
		},
	}
}
