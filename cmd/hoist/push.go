package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/runtime"
)

// pushFlags are shared by `hoist push` and `hoist containerize --push`.
var pushFlags = []cli.Flag{
	&cli.StringFlag{Name: "docker-config", EnvVars: []string{"HOIST_DOCKER_CONFIG"}, Usage: "Docker config with registry credentials (default $DOCKER_CONFIG/config.json, then ~/.docker/config.json)"},
	&cli.StringFlag{Name: "profile", Usage: "AWS profile for ECR registries (default AWS_PROFILE or the default credential chain)"},
}

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push the app's image to an OCI registry (writes APP/containerize/push.json)",
		ArgsUsage: "APP",
		Description: `Pushes the image hoist containerize built (APP/containerize/image.json) from
the engine's store to a registry, sending only the blobs the registry does not
have yet. --registry takes a registry host (the image keeps its name and tag),
a repository (the tag is the image's) or a full reference:

  hoist push --registry 127.0.0.1:5000 APP
  hoist push --registry 127.0.0.1:5000/team/app APP
  hoist push --registry 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1 APP

Credentials come from the Docker config (auths, credHelpers, credsStore,
through the docker-credential-* helpers), for ECR hosts from the AWS SDK
(ecr:GetAuthorizationToken with the usual AWS credentials). Registries on
127.0.0.1/localhost are spoken to in plain HTTP, every other one in HTTPS.
"hoist registry serve" runs a local registry.

APP/containerize/push.json records the reference and digest for generate
and deploy.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "registry", Aliases: []string{"r"}, Usage: "where to push: HOST[:PORT], HOST[:PORT]/REPOSITORY or a full reference (required)"},
		}, pushFlags...),
		BashComplete: completeAppIDs,
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "app ID")
			if err != nil {
				return err
			}
			if c.String("registry") == "" {
				return usageError{"push: --registry is required (for example --registry 127.0.0.1:5000 for `hoist registry serve`)"}
			}
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			res, err := pushApp(c, g, id, c.String("registry"))
			if err != nil {
				return err
			}
			return render(g, res, func(w *tabw) { pushTable(w, res) })
		},
	}
}

// pushApp starts the engine if needed and pushes APP's image.
func pushApp(c *cli.Context, g *globals, id, registry string) (*push.Result, error) {
	var progress io.Writer = io.Discard
	if g.verbose {
		progress = g.stderr
	}
	res, err := push.App(c.Context, push.AppOptions{
		Workspace: g.workspace, ID: id, Registry: registry,
		Options: push.Options{
			Engine: func(ctx context.Context) (string, string, error) {
				cfg := engineConfig(c)
				st, err := runtime.Ensure(ctx, cfg, func(f string, a ...any) { fmt.Fprintf(g.stderr, f+"\n", a...) })
				if err != nil {
					return "", "", err
				}
				return cfg.ContainerdSocket(), st.Namespace, nil
			},
			Credentials: &push.Credentials{DockerConfig: c.String("docker-config"), AWSProfile: c.String("profile")},
			Progress:    progress,
			Logf:        g.logf,
		},
	})
	if errors.Is(err, push.ErrBadReference) {
		return nil, usageError{err.Error()}
	}
	return res, err
}

func pushTable(w *tabw, r *push.Result) {
	fmt.Fprintf(w, "Pushed\t%s\nDigest\t%s\n", r.Reference, r.Digest)
	fmt.Fprintf(w, "Blobs\t%d sent (%s), %d already there\n", r.BlobsSent, humanBytes(r.BytesSent), r.BlobsSkipped)
	if r.Credentials != "" {
		fmt.Fprintf(w, "Credentials\t%s\n", r.Credentials)
	}
}
