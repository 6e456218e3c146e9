package push

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/hoistctl/hoist/discover"
)

// resolver talks to registries the way push and pull both do: credentials
// from c (note hears where they came from, or why none were found), plain
// HTTP only on loopback, Docker Hub under its API host.
func (o Options) resolver(ctx context.Context, c *Credentials, note func(source string, err error)) remotes.Resolver {
	dial := func(h string) string {
		if a, ok := o.hosts[h]; ok {
			return a
		}
		return h
	}
	undial := func(h string) string {
		for k, v := range o.hosts {
			if v == h {
				return k
			}
		}
		return h
	}
	authorizer := docker.NewDockerAuthorizer(
		docker.WithAuthClient(httpClient()),
		docker.WithAuthCreds(func(h string) (string, string, error) {
			cred, err := c.Lookup(ctx, undial(h))
			note(cred.Source, err)
			if err != nil {
				return "", "", err
			}
			return cred.Username, cred.Secret, nil
		}))
	return docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithClient(httpClient()),
			docker.WithAuthorizer(authorizer),
			// Plain HTTP only on loopback: everything else is TLS.
			docker.WithPlainHTTP(func(h string) (bool, error) { return docker.IsLocalhost(dial(h)), nil }),
			docker.WithHostTranslator(func(h string) (string, error) {
				if h == "docker.io" {
					return "registry-1.docker.io", nil
				}
				return dial(h), nil
			}),
		),
	})
}

// connect reaches the engine's containerd (starting the engine through
// o.Engine when set) and returns ctx in its namespace.
func (o *Options) connect(ctx context.Context) (*containerd.Client, context.Context, error) {
	if o.Engine != nil {
		addr, ns, err := o.Engine(ctx)
		if err != nil {
			return nil, nil, err
		}
		o.ContainerdAddr, o.Namespace = addr, ns
	}
	if p := strings.TrimPrefix(o.ContainerdAddr, "unix://"); !strings.Contains(p, "://") {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, fmt.Errorf("connecting to the engine's containerd: %w: %v; is the engine running? (`hoist runtime up` starts it)", discover.ErrUnavailable, err)
		}
	}
	cc, err := containerd.New(o.ContainerdAddr, containerd.WithDefaultNamespace(o.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the engine's containerd at %s: %w: %v", o.ContainerdAddr, discover.ErrUnavailable, err)
	}
	return cc, namespaces.WithNamespace(ctx, o.Namespace), nil
}

// Pulled is what Pull did.
type Pulled struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Already is true when the engine had the image and nothing was
	// fetched.
	Already bool `json:"already"`
}

// Pull makes sure the engine's store has ref: when it is not there, it is
// fetched from its registry (credentials as for push) and kept under that
// name, so the local runtime can run images from `hoist registry serve`,
// ECR or any registry. Layers are unpacked when a task first needs them.
func Pull(ctx context.Context, ref string, o Options) (*Pulled, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Credentials == nil {
		o.Credentials = &Credentials{}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: image %q: %v", ErrBadReference, ref, err)
	}
	named = reference.TagNameOnly(named)
	cc, ctx, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	for _, name := range []string{ref, named.String()} {
		if img, err := cc.ImageService().Get(ctx, name); err == nil {
			return &Pulled{Image: name, Digest: img.Target.Digest.String(), Already: true}, nil
		} else if !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("looking up %s in the engine's containerd: %w: %v", name, discover.ErrUnavailable, err)
		}
	}
	if reference.Domain(named) == "hoist.local" {
		return nil, fmt.Errorf("image %s: %w: hoist.local images exist only in the engine that built them; run `hoist containerize APP` here, or push it with `hoist push APP --registry REF` and use that reference", ref, discover.ErrNotFound)
	}
	var credSrc string
	var credErr error
	resolver := o.resolver(ctx, o.Credentials, func(src string, err error) {
		if err != nil {
			credErr = err
		} else {
			credSrc = src
		}
	})
	o.Logf("pulling %s", named)
	img, err := cc.Pull(ctx, named.String(), containerd.WithResolver(resolver))
	if err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrNotFound) {
			return nil, fmt.Errorf("pulling %s: %w: the registry has no such image (%v); push it first (`hoist push APP --registry REF`)", named, discover.ErrNotFound, err)
		}
		return nil, explain(err, "pulling "+named.String(), named, credSrc, credErr, o.Credentials)
	}
	return &Pulled{Image: img.Name(), Digest: img.Target().Digest.String()}, nil
}
