package main

import (
	"github.com/urfave/cli/v2"
)

// kubernetesDeployFlags are the flags of `hoist deploy --target kubernetes`.
func kubernetesDeployFlags() []cli.Flag {
	return nil
}

// deployKubernetes applies APP/deploy/kubernetes to a cluster.
func deployKubernetes(c *cli.Context, g *globals, id string) error {
	return usageError{"deploy --target kubernetes: not available in this build yet"}
}
