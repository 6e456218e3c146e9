package push

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/hoistctl/hoist/deploy/registry"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

func TestMain(m *testing.M) {
	// distribution logs every request at info level.
	_ = registry.SetLibraryLogLevel("warn")
	os.Exit(m.Run())
}

// build builds a FROM scratch image with two files, each in its own layer,
// into the engine and records it as APP's image.json the way containerize
// does.
func build(t *testing.T, ctx context.Context, addr string, ws discover.Workspace, id, image, fixed, changing string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM scratch\nCOPY fixed.txt /fixed.txt\nCOPY changing.txt /changing.txt\n",
		"fixed.txt":  fixed, "changing.txt": changing,
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var progress bytes.Buffer
	res, err := buildkit.Build(ctx, buildkit.Options{Address: addr, ContextDir: dir, Image: image, SourceDateEpoch: 1700000000, Progress: &progress, Mode: "plain"})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	data, err := discover.MarshalJSON(containerize.Result{Image: image, Digest: res.Digest, ConfigDigest: res.ConfigDigest})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(containerize.Dir(ws, id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(containerize.Dir(ws, id), "image.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

func startRegistry(t *testing.T, htpasswd string) *registry.Server {
	t.Helper()
	s, err := registry.Start(context.Background(), registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir(), Htpasswd: htpasswd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func byDigest(r *Result) map[string]bool {
	m := map[string]bool{}
	for _, b := range r.Blobs {
		m[b.Digest] = b.Sent
	}
	return m
}

// TestPushPullRoundTrip builds an image on a private engine, pushes it to
// a registry on loopback, pulls it back into a second containerd namespace
// and finds the same digests and the same file; a second push sends
// nothing, and a rebuild with one changed file sends only what changed.
func TestPushPullRoundTrip(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	ws := discover.Workspace{Dir: t.TempDir()}
	const id, image = "java-pushtest-0001", "hoist.local/pushtest:v1"
	built := build(t, ctx, cfg.BuildkitAddress(), ws, id, image, "the same in every build\n", "first build\n")
	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	// Closed after every other cleanup of this test (they run last first).
	t.Cleanup(func() { cc.Close() })
	t.Cleanup(func() {
		_ = cc.ImageService().Delete(namespaces.WithNamespace(ctx, cfg.Namespace), image, images.SynchronousDelete())
	})

	reg := startRegistry(t, "")
	var progress bytes.Buffer
	opts := AppOptions{
		Workspace: ws, ID: id, Registry: reg.Addr + "/team/pushtest",
		Options: Options{ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, Progress: &progress, Logf: t.Logf,
			Credentials: &Credentials{DockerConfig: filepath.Join(t.TempDir(), "config.json")}},
	}
	r1, err := App(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := reg.Addr + "/team/pushtest:v1"
	if r1.Reference != want || r1.Digest != built || r1.Registry != reg.Addr || r1.Credentials != "" {
		t.Errorf("result %+v, want %s at %s", r1, want, built)
	}
	// Manifest, config and two layers: all new to the registry.
	if r1.BlobsSent != 4 || r1.BlobsSkipped != 0 || len(r1.Blobs) != 4 || r1.BytesSent <= 0 {
		t.Errorf("first push: %d sent, %d skipped, %d bytes: %+v", r1.BlobsSent, r1.BlobsSkipped, r1.BytesSent, r1.Blobs)
	}
	if !strings.Contains(progress.String(), "sent") || !strings.Contains(progress.String(), "manifest") {
		t.Errorf("progress:\n%s", progress.String())
	}
	rec, err := ReadRecord(ws, id)
	if err != nil {
		t.Fatal(err)
	}
	if *rec != (Record{Reference: want, Digest: built, Registry: reg.Addr, Image: image}) {
		t.Errorf("push.json: %+v", rec)
	}

	// Pull it back into a namespace of its own.
	const pullNS = "hoist-test-pull"
	pctx := namespaces.WithNamespace(ctx, pullNS)
	pullOpts := Options{ContainerdAddr: cfg.ContainerdSocket(), Namespace: pullNS, Logf: t.Logf,
		Credentials: &Credentials{DockerConfig: filepath.Join(t.TempDir(), "config.json")}}
	p, err := Pull(ctx, want, pullOpts)
	if err != nil {
		t.Fatalf("pulling %s back: %v", want, err)
	}
	if p.Already || p.Digest != built || p.Image != want {
		t.Errorf("first pull: %+v, want %s fetched", p, built)
	}
	if p, err := Pull(ctx, want, pullOpts); err != nil || !p.Already || p.Digest != built {
		t.Errorf("second pull: %+v, %v; want the image already there", p, err)
	}
	if _, err := Pull(ctx, reg.Addr+"/team/pushtest:no-such-tag", pullOpts); !errors.Is(err, discover.ErrNotFound) {
		t.Errorf("pulling a tag the registry lacks: %v, want not found", err)
	}
	if _, err := Pull(ctx, "hoist.local/never-built:v1", pullOpts); !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist push") {
		t.Errorf("pulling a hoist.local image the engine lacks: %v", err)
	}
	if _, err := Pull(ctx, "127.0.0.1:1/team/x:v1", pullOpts); !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "pulling") {
		t.Errorf("pulling from a registry that is not there: %v", err)
	}
	pulled, err := cc.GetImage(pctx, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cc.ImageService().Delete(pctx, want, images.SynchronousDelete()); err != nil {
			t.Errorf("deleting the pulled image: %v", err)
		}
		if err := cc.NamespaceService().Delete(ctx, pullNS); err != nil {
			t.Errorf("deleting namespace %s: %v", pullNS, err)
		}
	})
	if got := pulled.Target().Digest.String(); got != built {
		t.Errorf("pulled digest %s, pushed %s", got, built)
	}
	orig := manifestOf(t, namespaces.WithNamespace(ctx, cfg.Namespace), cc.ContentStore(), built)
	back := manifestOf(t, pctx, cc.ContentStore(), built)
	if orig.Config.Digest != back.Config.Digest || len(orig.Layers) != 2 || len(back.Layers) != 2 {
		t.Fatalf("manifests differ: %+v vs %+v", orig, back)
	}
	for i := range orig.Layers {
		if orig.Layers[i].Digest != back.Layers[i].Digest {
			t.Errorf("layer %d: %s vs %s", i, orig.Layers[i].Digest, back.Layers[i].Digest)
		}
	}
	if got := fileInLayer(t, pctx, cc.ContentStore(), back.Layers[1], "changing.txt"); got != "first build\n" {
		t.Errorf("changing.txt in the pulled image: %q", got)
	}

	// Pushed again: the registry has everything, nothing is sent.
	progress.Reset()
	r2, err := App(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2.BlobsSent != 0 || r2.BlobsSkipped != 4 || r2.BytesSent != 0 || r2.Digest != built {
		t.Errorf("second push: %d sent, %d skipped: %+v\n%s", r2.BlobsSent, r2.BlobsSkipped, r2.Blobs, progress.String())
	}

	// One file changed: its layer, the config and the manifest are sent;
	// the unchanged layer is not.
	rebuilt := build(t, ctx, cfg.BuildkitAddress(), ws, id, image, "the same in every build\n", "second build\n")
	if rebuilt == built {
		t.Fatal("the rebuild has the same digest")
	}
	r3, err := App(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	sent := byDigest(r3)
	newer := manifestOf(t, namespaces.WithNamespace(ctx, cfg.Namespace), cc.ContentStore(), rebuilt)
	if r3.Digest != rebuilt || r3.BlobsSent != 3 || r3.BlobsSkipped != 1 {
		t.Errorf("push after a one-file change: %+v", r3)
	}
	if sent[newer.Layers[0].Digest.String()] || !sent[newer.Layers[1].Digest.String()] || !sent[newer.Config.Digest.String()] {
		t.Errorf("unchanged layer sent or changed one skipped: %v", sent)
	}
	if rec, err := ReadRecord(ws, id); err != nil || rec.Digest != rebuilt {
		t.Errorf("push.json after the rebuild: %+v %v", rec, err)
	}

	// By digest: accepted for the image's own digest, refused for another.
	if _, err := App(ctx, AppOptions{Workspace: ws, ID: id, Registry: reg.Addr + "/team/pinned@" + rebuilt, Options: opts.Options}); err != nil {
		t.Errorf("push by the image's digest: %v", err)
	}
	if _, err := App(ctx, AppOptions{Workspace: ws, ID: id, Registry: reg.Addr + "/team/pinned@" + built, Options: opts.Options}); err == nil || !strings.Contains(err.Error(), "names digest") {
		t.Errorf("push by another digest: %v", err)
	}

	t.Run("errors", func(t *testing.T) { pushErrors(t, ctx, cfg.ContainerdSocket(), cfg.Namespace, ws, id, image) })
	t.Run("credentials", func(t *testing.T) { pushCredentials(t, ctx, cfg.ContainerdSocket(), cfg.Namespace, ws, id) })
}

func pushErrors(t *testing.T, ctx context.Context, addr, ns string, ws discover.Workspace, id, image string) {
	base := Options{ContainerdAddr: addr, Namespace: ns, Credentials: &Credentials{DockerConfig: filepath.Join(t.TempDir(), "config.json")}}

	// Nothing listens there any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, err = App(ctx, AppOptions{Workspace: ws, ID: id, Registry: closed, Options: base})
	if !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "hoist registry serve") {
		t.Errorf("unreachable registry: %v", err)
	}

	// Unknown app; an app not containerized yet.
	_, err = App(ctx, AppOptions{Workspace: ws, ID: "java-nosuchapp-0000", Registry: closed, Options: base})
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist inventory") {
		t.Errorf("unknown app: %v", err)
	}
	if err := os.MkdirAll(ws.AppDir("java-notbuilt-0000"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = App(ctx, AppOptions{Workspace: ws, ID: "java-notbuilt-0000", Registry: closed, Options: base})
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist containerize java-notbuilt-0000") {
		t.Errorf("not built: %v", err)
	}

	// image.json names an image the engine no longer has.
	ghost := discover.Workspace{Dir: t.TempDir()}
	data, _ := discover.MarshalJSON(containerize.Result{Image: "hoist.local/gone:v1", Digest: "sha256:" + strings.Repeat("0", 64)})
	_ = os.MkdirAll(containerize.Dir(ghost, id), 0o755)
	_ = os.WriteFile(filepath.Join(containerize.Dir(ghost, id), "image.json"), data, 0o644)
	_, err = App(ctx, AppOptions{Workspace: ghost, ID: id, Registry: closed, Options: base})
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist containerize "+id) {
		t.Errorf("image not in the engine: %v", err)
	}
	// image.json names an older digest than the engine's image.
	data, _ = discover.MarshalJSON(containerize.Result{Image: image, Digest: "sha256:" + strings.Repeat("1", 64)})
	_ = os.WriteFile(filepath.Join(containerize.Dir(ghost, id), "image.json"), data, 0o644)
	_, err = App(ctx, AppOptions{Workspace: ghost, ID: id, Registry: closed, Options: base})
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "built last") {
		t.Errorf("changed image: %v", err)
	}

	// The engine is not there.
	_, err = App(ctx, AppOptions{Workspace: ws, ID: id, Registry: closed, Options: Options{ContainerdAddr: "/nonexistent/containerd.sock", Namespace: ns}})
	if !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "hoist runtime up") {
		t.Errorf("no engine: %v", err)
	}
}

// pushCredentials pushes to registries that want credentials: from the
// Docker config's auths, from a credential helper, from ECR's token.
func pushCredentials(t *testing.T, ctx context.Context, addr, ns string, ws discover.Workspace, id string) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ecrHash, err := bcrypt.GenerateFromPassword([]byte("ecr-token-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("pusher:"+string(hash)+"\nAWS:"+string(ecrHash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t, htpasswd)
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	push := func(registry string) (*Result, error) {
		return App(ctx, AppOptions{Workspace: ws, ID: id, Registry: registry, Options: Options{ContainerdAddr: addr, Namespace: ns, Credentials: &Credentials{DockerConfig: cfgPath}}})
	}
	auth := func(user, pass string) map[string]any {
		return map[string]any{"auths": map[string]any{reg.Addr: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
	}

	// No credentials at all.
	_, err = push(reg.Addr + "/secure/app")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "none were found") || !strings.Contains(err.Error(), "docker login "+reg.Addr) {
		t.Errorf("no credentials: %v", err)
	}
	// Wrong password.
	writeJSON(t, cfgPath, auth("pusher", "wrong-password"))
	_, err = push(reg.Addr + "/secure/app")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "refused the credentials from docker config") {
		t.Errorf("bad credentials: %v", err)
	}
	// The right one.
	writeJSON(t, cfgPath, auth("pusher", "right-password"))
	r, err := push(reg.Addr + "/secure/app")
	if err != nil {
		t.Fatalf("push with credentials: %v", err)
	}
	if !strings.Contains(r.Credentials, cfgPath) || r.BlobsSent != 4 {
		t.Errorf("result: %+v", r)
	}
	// A credential helper.
	helperScript(t, "hoistpush", reg.Addr, "pusher", "right-password")
	writeJSON(t, cfgPath, map[string]any{"credHelpers": map[string]string{reg.Addr: "hoistpush"}})
	r, err = push(reg.Addr + "/secure/helped")
	if err != nil {
		t.Fatalf("push with a credential helper: %v", err)
	}
	// A new repository of the same registry: the blobs are mounted from
	// secure/app, where the push before put them; only the manifest goes.
	if r.Credentials != "docker-credential-hoistpush" || r.BlobsSent != 1 || r.BlobsSkipped != 3 || r.BytesSent >= 1024 {
		t.Errorf("helper push: %+v", r)
	}

	// An ECR host: the token from GetAuthorizationToken is the password.
	api := startECRAPI(t, "ecr-token-password")
	awsEnv(t, api)
	writeJSON(t, cfgPath, map[string]any{})
	const ecrHost = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
	res, err := App(ctx, AppOptions{Workspace: ws, ID: id, Registry: ecrHost + "/shop/app:prod", Options: Options{
		ContainerdAddr: addr, Namespace: ns, Credentials: &Credentials{DockerConfig: cfgPath},
		hosts: map[string]string{ecrHost: reg.Addr},
	}})
	if err != nil {
		t.Fatalf("push to ECR: %v", err)
	}
	if res.Reference != ecrHost+"/shop/app:prod" || res.Registry != ecrHost || !strings.Contains(res.Credentials, "ecr:GetAuthorizationToken (us-west-2") {
		t.Errorf("ECR push: %+v", res)
	}
	if n := len(api.Requests()); n != 1 {
		t.Errorf("%d GetAuthorizationToken calls, want 1", n)
	}
	if rec, err := ReadRecord(ws, id); err != nil || rec.Reference != ecrHost+"/shop/app:prod" || rec.Registry != ecrHost {
		t.Errorf("push.json after the ECR push: %+v %v", rec, err)
	}
}

func manifestOf(t *testing.T, ctx context.Context, cs content.Store, dgst string) ocispec.Manifest {
	t.Helper()
	info, err := cs.Info(ctx, digest.Digest(dgst))
	if err != nil {
		t.Fatalf("manifest %s: %v", dgst, err)
	}
	data, err := content.ReadBlob(ctx, cs, ocispec.Descriptor{Digest: info.Digest, Size: info.Size})
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func fileInLayer(t *testing.T, ctx context.Context, cs content.Store, layer ocispec.Descriptor, name string) string {
	t.Helper()
	data, err := content.ReadBlob(ctx, cs, layer)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = bytes.NewReader(data)
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in layer %s: %v", name, layer.Digest, err)
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}
