package local

import (
	"context"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/runtime"
)

// ensureImage makes sure the engine has the task definition's image:
// hoist.local images are built here; any other reference (hoist's own
// `hoist registry serve`, ECR, a company registry) is pulled when the
// engine lacks it, with the credentials `hoist push` uses.
func ensureImage(ctx context.Context, cfg runtime.Config, image string, logf func(string, ...any)) error {
	ns := cfg.Namespace
	if ns == "" {
		ns = runtime.DefaultConfig().Namespace
	}
	p, err := push.Pull(ctx, image, push.Options{ContainerdAddr: cfg.ContainerdSocket(), Namespace: ns, Logf: logf})
	if err != nil {
		return err
	}
	if !p.Already {
		logf("pulled %s (%s) into the engine", p.Image, p.Digest)
	}
	return nil
}
