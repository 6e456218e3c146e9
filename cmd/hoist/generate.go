package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/generate"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "write the deployment artifacts: ECS, CloudFormation, App Runner, pipelines, Kubernetes, compose (writes APP/deployment.json, APP/deploy/)",
		ArgsUsage: "APP",
		Description: `The first run writes APP/deployment.json from APP/analysis.json: image, cpu and
memory, desired count, launch type and network mode, load balancer and health
check, auto scaling, roles, logging, secrets, volumes, schedule, notifications,
Kubernetes, App Runner and local runtime settings. It is yours to edit; later
runs keep it (delete it to get the defaults again).

From it generate writes APP/deploy/: ecs/ (task-definition.json for
aws ecs register-task-definition --cli-input-json, stack.yaml/.json),
apprunner/, pipeline/ (CodePipeline + CodeBuild, buildspec.yml, a GitHub
Actions workflow), kubernetes/ (manifests and kustomization.yaml) and
compose.yaml, each folder with a README. Every file is validated before
anything is written: CloudFormation against goformation's CloudFormation
schema, the task definition by the AWS SDK and the Fargate sizes, Kubernetes
objects by strict decoding and the API's validation rules. The same inputs
give byte-identical files; the files before the last change are kept in
APP/deploy/.previous/. Fields a target cannot express are reported as
warnings (stderr, or "warnings" in --output json).

--check validates deployment.json and the files under APP/deploy/ as they are,
hand edits included, and writes nothing.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "validate deployment.json and APP/deploy/ without writing anything"},
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
			res, err := generate.Generate(generate.Options{
				Workspace: g.workspace,
				ID:        id,
				Check:     c.Bool("check"),
				Logf:      g.logf,
			})
			if err != nil {
				return err
			}
			if g.output == "table" {
				for _, w := range res.Warnings {
					fmt.Fprintln(g.stderr, "warning:", w.String())
				}
			}
			return render(g, res, func(w *tabw) {
				fmt.Fprintf(w, "Deployment\t%s\n", res.Deployment)
				if res.DeploymentCreated {
					fmt.Fprintf(w, "\t(written from analysis.json; edit it and run generate again)\n")
				}
				fmt.Fprintf(w, "Artifacts\t%s\n", res.Dir)
				if res.Checked {
					fmt.Fprintf(w, "Checked\t%d files valid\n", len(res.Files))
					if len(res.Changed) > 0 {
						fmt.Fprintf(w, "Differs from a fresh generate\t%s\n", strings.Join(res.Changed, ", "))
					}
				} else {
					fmt.Fprintf(w, "Changed\t%s\n", orDash(strings.Join(res.Changed, ", ")))
				}
				fmt.Fprintf(w, "Warnings\t%d\n", len(res.Warnings))
			})
		},
	}
}
