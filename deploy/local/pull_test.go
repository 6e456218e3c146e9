package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/deploy/registry"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestDeployPullsFromARegistry: an app whose deployment.json names an
// image in a registry (here hoist's own, on loopback) that the engine does
// not have is pulled at deploy time and served; an image the registry
// lacks is a clear not-found error and nothing is deployed.
func TestDeployPullsFromARegistry(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	const built = "hoist.local/webpull:test"
	buildWebapp(t, cfg, built)
	reg, err := registry.Start(ctx, registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Stop(context.Background()) })
	ref := reg.Addr + "/team/webpull:test"
	target, err := push.ParseTarget(ref, built)
	if err != nil {
		t.Fatal(err)
	}
	popts := push.Options{ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, Credentials: &push.Credentials{DockerConfig: t.TempDir() + "/config.json"}}
	pushed, err := push.Image(ctx, built, "", target, popts)
	if err != nil {
		t.Fatal(err)
	}
	// The engine forgets both names: only the registry has the image now.
	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	nctx := namespaces.WithNamespace(ctx, cfg.Namespace)
	for _, name := range []string{built, ref} {
		if err := cc.ImageService().Delete(nctx, name, images.SynchronousDelete()); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Fatal(err)
		}
	}

	ws := discover.Workspace{Dir: t.TempDir()}
	listener := freePort(t)
	d := deployment(t, ref, "webpull", listener)
	d.Secrets = nil
	writeDeployment(t, ws, d.ID, d)
	out, stderr, code := hoistCmd(t, cfg, ws.Dir, "--verbose", "--output", "json", "deploy", d.ID)
	if code != 0 {
		t.Fatalf("hoist deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "pulled "+ref) {
		t.Errorf("deploy did not say it pulled the image:\n%s", stderr)
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("deploy output: %v\n%s", err, out)
	}
	if res.Service == nil || res.Service.RunningCount == 0 || res.Service.RunningCount != res.Service.DesiredCount {
		t.Fatalf("deploy result: %+v", res)
	}
	if img, err := cc.ImageService().Get(nctx, ref); err != nil || img.Target.Digest.String() != pushed.Digest {
		t.Errorf("the engine's copy of %s: %v, %v; pushed %s", ref, img.Target.Digest, err, pushed.Digest)
	}
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", listener)); err != nil {
		t.Errorf("the pulled image does not serve: %v", err)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", d.ID, "--delete"); code != 0 {
		t.Errorf("deploy --delete: exit %d\n%s", code, stderr)
	}

	// A tag the registry does not have: not found, nothing deployed.
	ws2 := discover.Workspace{Dir: t.TempDir()}
	d2 := deployment(t, reg.Addr+"/team/webpull:never-pushed", "webnopull", freePort(t))
	d2.Secrets = nil
	writeDeployment(t, ws2, d2.ID, d2)
	if _, stderr, code := hoistCmd(t, cfg, ws2.Dir, "deploy", d2.ID); code != 3 || !strings.Contains(stderr, "no such image") {
		t.Errorf("deploying an image the registry lacks: exit %d, want 3 and a clear message:\n%s", code, stderr)
	}
	if out, _, _ := hoistCmd(t, cfg, ws2.Dir, "runtime", "services"); strings.Contains(out, "webnopull") {
		t.Errorf("a service was created for an image that does not exist:\n%s", out)
	}
}
