package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// awsDeployFlags are the flags of `hoist deploy --target ecs|apprunner`.
func awsDeployFlags() []cli.Flag {
	return nil
}

// deployAWS deploys APP to ECS or App Runner through CloudFormation.
func deployAWS(c *cli.Context, g *globals, id, target string) error {
	return usageError{fmt.Sprintf("deploy --target %s: not available in this build yet", target)}
}
