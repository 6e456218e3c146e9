package containerize

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	bkclient "github.com/moby/buildkit/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/livetest"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

func waitHTTP(url string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(body), nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runSample starts the sample app with a secret and a plain variable in
// its environment.
func runSample(t *testing.T) (dir string, port int, stop func()) {
	t.Helper()
	app := livetest.SampleApp(t, "DB_PASSWORD=containerize-env-secret", "GREETING_STYLE=plain")
	return app.Dir, app.Port, app.Stop
}

// analyzeAndExtract takes the inventory, finds the app, analyzes and
// extracts it into ws, and returns its ID and the archive.
func analyzeAndExtract(t *testing.T, ws discover.Workspace, match func(discover.App) bool) (string, *extract.Result) {
	t.Helper()
	ctx := context.Background()
	host := discover.LiveHost()
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	app, found := inv.Find(match)
	id := app.ID
	if !found {
		t.Fatalf("the app is not in the inventory: %+v", inv.Apps)
	}
	if _, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: host, Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	res, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return id, res
}

// TestContainerizeSampleApp takes the sample app from a running process to
// an image that answers like the original, with no secret in any layer.
func TestContainerizeSampleApp(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	appDir, port, stop := runSample(t)
	ws := discover.Workspace{Dir: t.TempDir()}
	host := discover.LiveHost()
	id, _ := analyzeAndExtract(t, ws, func(a discover.App) bool { return a.Path == appDir })
	var progress bytes.Buffer
	opts := Options{
		Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: &progress, Mode: "plain", Logf: t.Logf,
		EntryBinary: buildEntry(t),
		Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			_, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: true, AppJars: AppJars(filepath.Dir(dest), m), Logf: t.Logf})
			return err
		},
	}
	r1, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	df, _ := os.ReadFile(r1.Dockerfile)
	for _, want := range []string{"FROM scratch", fmt.Sprintf("EXPOSE %d/tcp", port), fmt.Sprintf("USER %d:%d", os.Geteuid(), os.Getegid()), "WORKDIR " + appDir, `ENV GREETING_STYLE="plain"`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Contains(string(df), "containerize-env-secret") || strings.Contains(string(df), "DB_PASSWORD") {
		t.Errorf("Dockerfile carries the secret env var:\n%s", df)
	}
	// application.properties holds a password: hoist-entry renders it.
	if !strings.Contains(string(df), `ENTRYPOINT ["/.hoist/entry", "--", "/usr/lib/jvm/`) {
		t.Errorf("Dockerfile does not start the app through hoist-entry:\n%s", df)
	}
	uses := map[string]SecretUse{}
	for _, u := range r1.Secrets {
		uses[u.Use+":"+u.Env] = u
	}
	if _, ok := uses["env:DB_PASSWORD"]; !ok || len(r1.Secrets) != 2 {
		t.Errorf("secrets: %+v, want DB_PASSWORD from the environment and the properties file's password", r1.Secrets)
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}

	// The validation run, while the original still holds the port: the
	// image runs in a network namespace of its own.
	v, err := Validate(ctx, mustAnalysis(t, ws, id), r1.Image, r1.Secrets, ValidateOptions{
		ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(cfg.StateDir, "netns"),
		Secrets: secrets, LogPath: filepath.Join(Dir(ws, id), "validate.log"), Logf: t.Logf,
		// Inside the container's network namespace: the app read the
		// original password, rendered by hoist-entry.
		Check: func(ctx context.Context, c *http.Client) error {
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/config-digest", port))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("%x", sha256.Sum256([]byte("sample-not-a-real-password"))); !strings.Contains(string(body), want) {
				return fmt.Errorf("rendered password: %q, want sha256 %s", body, want)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatalf("validation run: %v", err)
	}
	if !v.Passed || len(v.Ports) != 1 || v.Ports[0].Port != port || !strings.Contains(v.Ports[0].Result, "accepts") {
		t.Errorf("validation: %+v", v)
	}
	if log, _ := os.ReadFile(filepath.Join(Dir(ws, id), "validate.log")); !strings.Contains(string(log), "listening on 127.0.0.1") {
		t.Errorf("validate.log: %q", log)
	}
	// Without the secrets the app cannot start, and the run says so.
	if _, err := Validate(ctx, mustAnalysis(t, ws, id), r1.Image, r1.Secrets, ValidateOptions{
		ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(cfg.StateDir, "netns"),
		Secrets: discover.Secrets{}, LogPath: filepath.Join(Dir(ws, id), "validate.log"),
	}); err == nil || !strings.Contains(err.Error(), "no value") {
		t.Errorf("validation without secrets: %v", err)
	}

	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	layers1 := imageLayers(t, ctx, cc, r1.Image)
	// No secret value in any layer or in the image config.
	cfgBlob := imageConfig(t, ctx, cc, r1.Image)
	for _, sv := range []string{"containerize-env-secret", "sample-not-a-real-password"} {
		if bytes.Contains(cfgBlob, []byte(sv)) {
			t.Errorf("image config contains secret %q", sv)
		}
	}
	for _, l := range layers1 {
		data := blob(t, ctx, cc.ContentStore(), l)
		for _, s := range []string{"containerize-env-secret", "sample-not-a-real-password"} {
			if bytes.Contains(gunzipAll(t, data), []byte(s)) {
				t.Errorf("layer %s contains secret %q", l.Digest, s)
			}
		}
	}

	// Same inputs, same digest.
	r2, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest != r1.Digest {
		t.Errorf("rebuild digest %s != %s", r2.Digest, r1.Digest)
	}
	// And from nothing: with BuildKit's cache emptied and the host base
	// assembled again, every layer is made anew and must come out the same.
	pruneBuildCache(t, ctx, cfg.BuildkitAddress())
	if err := os.RemoveAll(filepath.Join(Dir(ws, id), "context")); err != nil {
		t.Fatal(err)
	}
	r2b, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2b.Digest != r1.Digest {
		t.Errorf("digest after emptying the build cache %s != %s", r2b.Digest, r1.Digest)
	}

	// The image runs like the original: stop the original, start the image
	// (host network, same loopback port) and ask it.
	stop()
	img, err := cc.GetImage(ctx, r1.Image)
	if err != nil {
		t.Fatal(err)
	}
	cname := "ctz-test-" + fmt.Sprint(port)
	ctr, err := cc.NewContainer(ctx, cname, containerd.WithImage(img), containerd.WithNewSnapshot(cname+"-snap", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf,
			oci.WithEnv(secretEnvOf(t, r1.Secrets, secrets))))
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	var out bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(ctx, containerd.WithProcessKill)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	body, err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", port), 60*time.Second)
	if err != nil || !strings.Contains(body, "hello from the hoist sample app") {
		t.Errorf("containerized app: %q, %v\noutput:\n%s", body, err, out.String())
	}
	// The password the app read in the container is the original one.
	body, err = waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/config-digest", port), 10*time.Second)
	if want := fmt.Sprintf("%x", sha256.Sum256([]byte("sample-not-a-real-password"))); err != nil || !strings.Contains(body, want) {
		t.Errorf("rendered password: %q (%v), want sha256 %s", body, err, want)
	}
	_ = task.Kill(ctx, syscall.SIGKILL)
	if ch, err := task.Wait(ctx); err == nil {
		<-ch
	}

	// A one-file change in the app rebuilds only its layer.
	if err := os.WriteFile(filepath.Join(appDir, "extra.txt"), []byte("new file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	r3, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	layers3 := imageLayers(t, ctx, cc, r3.Image)
	if len(layers3) != len(layers1) {
		t.Fatalf("layer count changed: %d -> %d", len(layers1), len(layers3))
	}
	var changed int
	for i := range layers1 {
		if layers1[i].Digest != layers3[i].Digest {
			changed++
		}
	}
	if changed != 1 {
		t.Errorf("%d layers changed after a one-file change, want 1", changed)
	}
}

// containerdClient connects to the test engine's containerd.
func containerdClient(t *testing.T, addr, ns string) *containerd.Client {
	t.Helper()
	cc, err := containerd.New(addr, containerd.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// pruneBuildCache empties BuildKit's cache.
func pruneBuildCache(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch := make(chan bkclient.UsageInfo)
	done := make(chan struct{})
	n := 0
	go func() {
		for range ch {
			n++
		}
		close(done)
	}()
	err = c.Prune(ctx, ch, bkclient.PruneAll)
	close(ch)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pruned %d build cache records", n)
}

// buildEntry builds hoist-entry as `make build` does.
func buildEntry(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hoist-entry")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "../../cmd/hoist-entry")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hoist-entry: %v\n%s", err, b)
	}
	return out
}

func mustAnalysis(t *testing.T, ws discover.Workspace, id string) *discover.Analysis {
	t.Helper()
	a, err := ws.ReadAnalysis(id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func secretEnvOf(t *testing.T, uses []SecretUse, vals discover.Secrets) []string {
	t.Helper()
	env, _, err := secretEnv(uses, vals)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func imageConfig(t *testing.T, ctx context.Context, cc *containerd.Client, ref string) []byte {
	t.Helper()
	img, err := cc.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return blob(t, ctx, cc.ContentStore(), d)
}

func imageLayers(t *testing.T, ctx context.Context, cc *containerd.Client, ref string) []ocispec.Descriptor {
	t.Helper()
	img, err := cc.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(blob(t, ctx, cc.ContentStore(), img.Target()), &mf); err != nil {
		t.Fatal(err)
	}
	return mf.Layers
}

func blob(t *testing.T, ctx context.Context, cs content.Store, d ocispec.Descriptor) []byte {
	t.Helper()
	data, err := content.ReadBlob(ctx, cs, d)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// gunzipAll returns the concatenated file contents of a gzipped tar layer.
func gunzipAll(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return data
	}
	tr := tar.NewReader(zr)
	var all bytes.Buffer
	for {
		_, err := tr.Next()
		if err != nil {
			break
		}
		_, _ = io.Copy(&all, tr)
	}
	return all.Bytes()
}
