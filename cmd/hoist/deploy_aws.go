package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	hoistaws "github.com/hoistctl/hoist/deploy/aws"
	"github.com/hoistctl/hoist/deploy/push"
)

// awsDeployFlags are the flags of `hoist deploy --target ecs|apprunner`.
func awsDeployFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "region", EnvVars: []string{"HOIST_AWS_REGION"}, Usage: "ecs, apprunner: AWS region (default AWS_REGION, the profile's, or registry.region in deployment.json)"},
		&cli.StringFlag{Name: "stack-name", Usage: "ecs, apprunner: CloudFormation stack (default hoist-FAMILY, hoist-FAMILY-apprunner)"},
		&cli.StringSliceFlag{Name: "parameter", Aliases: []string{"p"}, Usage: "ecs, apprunner: a stack parameter KEY=VALUE (repeatable), e.g. VpcId=vpc-..., Subnet1=subnet-..."},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "ecs, apprunner: apply (or delete) without asking; needed when stdin is not a terminal"},
		&cli.BoolFlag{Name: "register-only", Usage: "ecs: only register APP/deploy/ecs/task-definition.json (account and region filled in)"},
		&cli.BoolFlag{Name: "delete-images", Usage: "ecs, apprunner with --delete: delete the ECR repository with its images too"},
	}, pushFlags...)
}

// deployAWS deploys APP to ECS or App Runner through CloudFormation.
func deployAWS(c *cli.Context, g *globals, id, target string) error {
	params := map[string]string{}
	for _, kv := range c.StringSlice("parameter") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Sprintf("deploy --parameter %q: use KEY=VALUE, for example --parameter VpcId=vpc-0123456789abcdef0", kv)}
		}
		if _, dup := params[k]; dup {
			return usageError{fmt.Sprintf("deploy --parameter %s is given twice", k)}
		}
		params[k] = v
	}
	switch {
	case c.Bool("register-only") && target != hoistaws.TargetECS:
		return usageError{"deploy --register-only registers an ECS task definition: use it with --target ecs"}
	case c.Bool("register-only") && (c.Bool("delete") || c.Bool("dry-run")):
		return usageError{"deploy --register-only cannot be combined with --delete or --dry-run"}
	case c.Bool("delete-images") && !c.Bool("delete"):
		return usageError{"deploy --delete-images goes with --delete"}
	case c.Bool("delete") && len(params) > 0:
		return usageError{"deploy --delete takes no --parameter"}
	}
	var progress io.Writer = g.stderr
	o := hoistaws.Options{
		Workspace: g.workspace, ID: id, Target: target,
		Profile: c.String("profile"), Region: c.String("region"), StackName: c.String("stack-name"),
		Parameters: params, Yes: c.Bool("yes"), DryRun: c.Bool("dry-run"), NoWait: c.Bool("no-wait"),
		Timeout: c.Duration("timeout"), DeleteImages: c.Bool("delete-images"),
		Progress: progress, Logf: g.logf,
		Confirm: terminalConfirm(g.stderr),
		Push: func(ctx context.Context, ref string) (*push.Result, error) {
			return pushApp(c, g, id, ref)
		},
	}
	var (
		res *hoistaws.Result
		err error
	)
	switch {
	case c.Bool("register-only"):
		res, err = hoistaws.RegisterTaskDefinition(c.Context, o)
	case c.Bool("delete"):
		res, err = hoistaws.Delete(c.Context, o)
	default:
		res, err = hoistaws.Deploy(c.Context, o)
	}
	if res != nil {
		if rerr := render(g, res, func(w *tabw) { awsTable(w, res) }); rerr != nil {
			return rerr
		}
	}
	return awsError(err)
}

// awsError turns the errors a user fixes on the command line into usage
// errors (exit 2).
func awsError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hoistaws.ErrNoCredentials), errors.Is(err, hoistaws.ErrNoRegion),
		errors.Is(err, hoistaws.ErrNotConfirmed), errors.Is(err, hoistaws.ErrParameters):
		return usageError{err.Error()}
	}
	return err
}

// terminalConfirm asks on the terminal; nil (refuse) when stdin or stderr
// is not one.
func terminalConfirm(stderr io.Writer) func(string) (bool, error) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(os.Stdin.Fd())) || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(q string) (bool, error) {
		fmt.Fprintf(stderr, "%s [y/N] ", q)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return false, nil
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}

func awsTable(w *tabw, r *hoistaws.Result) {
	fmt.Fprintf(w, "app\t%s\n", r.App)
	fmt.Fprintf(w, "target\t%s (account %s, %s)\n", r.Target, r.Account, r.Region)
	if r.Stack != "" {
		fmt.Fprintf(w, "stack\t%s\n", r.Stack)
	}
	fmt.Fprintf(w, "status\t%s\n", r.Status)
	if r.StackStatus != "" {
		fmt.Fprintf(w, "stack status\t%s\n", r.StackStatus)
	}
	if r.ChangeSet != "" {
		fmt.Fprintf(w, "change set\t%s (%s, %d changes)\n", r.ChangeSet, r.ChangeSetType, len(r.Changes))
	}
	if r.Image != "" {
		fmt.Fprintf(w, "image\t%s\n", r.Image)
	}
	if r.TaskDefinitionArn != "" {
		fmt.Fprintf(w, "task definition\t%s\n", r.TaskDefinitionArn)
	}
	for _, s := range r.Secrets {
		fmt.Fprintf(w, "secret\t%s (%s)\n", s.Name, s.Action)
	}
	keys := make([]string, 0, len(r.Outputs))
	for k := range r.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "output %s\t%s\n", k, r.Outputs[k])
	}
	if f := r.Failure; f != nil {
		fmt.Fprintf(w, "failed resource\t%s (%s) %s: %s\n", orDash(f.Resource), orDash(f.Type), orDash(f.Status), orDash(f.Reason))
		fmt.Fprintf(w, "rollback\t%s\n", f.StackStatus)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note\t%s\n", n)
	}
}
