package buildkit

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"

	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuildIntoEngine builds a Dockerfile on the engine's buildkitd: the
// image lands in the engine's containerd namespace, the same inputs give the
// same digest, and the OCI archive is a loadable layout.
func TestBuildIntoEngine(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY app/ /app/\nCOPY config/ /config/\nUSER 1000:1000\nWORKDIR /app\nENTRYPOINT [\"/app/run\"]\n")
	writeFile(t, filepath.Join(dir, "app", "run"), "#!/bin/sh\necho hello\n")
	writeFile(t, filepath.Join(dir, "config", "app.properties"), "a=1\n")
	var progress strings.Builder
	oci := filepath.Join(t.TempDir(), "image.tar")
	o := Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: "hoist.local/test:1", SourceDateEpoch: 1700000000, Progress: &progress, Mode: "plain", OCIArchive: oci}
	r1, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r1.Digest, "sha256:") {
		t.Fatalf("digest %q", r1.Digest)
	}
	if !strings.Contains(progress.String(), "COPY app/ /app/") {
		t.Errorf("progress display lacks the build steps:\n%s", progress.String())
	}
	// Reproducible: a rebuild with touched files (new mtimes) gives the same digest.
	writeFile(t, filepath.Join(dir, "app", "run"), "#!/bin/sh\necho hello\n")
	o.OCIArchive = ""
	r2, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest != r1.Digest {
		t.Errorf("rebuild digest %s != %s", r2.Digest, r1.Digest)
	}

	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	img, err := cc.GetImage(ctx, "hoist.local/test:1")
	if err != nil {
		t.Fatalf("image not in the engine's containerd: %v", err)
	}
	if img.Target().Digest.String() != r1.Digest {
		t.Errorf("stored digest %s, built %s", img.Target().Digest, r1.Digest)
	}

	// The OCI archive has an index naming the image.
	f, err := os.Open(oci)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var index struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "index.json" {
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(index.Manifests) == 0 {
		t.Fatalf("OCI archive has no index.json manifests")
	}

	// A broken Dockerfile is an error that names the problem.
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY missing/ /x/\n")
	if _, err := Build(ctx, o); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("broken build: err = %v", err)
	}
}

func TestBuildUnreachableDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10e9)
	defer cancel()
	_, err := Build(ctx, Options{Address: "unix:///nonexistent/buildkitd.sock", ContextDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/buildkitd.sock") {
		t.Errorf("err = %v", err)
	}
}

// TestBuildRecoversLostLayer: when the engine's containerd store has lost
// what BuildKit's cache still records (here its whole directory was
// removed while the engine was down, BuildKit's kept), the build clears
// the cache and builds again instead of failing on every later build.
func TestBuildRecoversLostLayer(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY base/ /base/\nCOPY app/ /app/\n")
	writeFile(t, filepath.Join(dir, "base", "lib"), strings.Repeat("runtime ", 4096))
	writeFile(t, filepath.Join(dir, "app", "run"), "v1\n")
	o := Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: "hoist.local/lost:1", SourceDateEpoch: 1700000000, Progress: io.Discard, Mode: "plain"}
	if _, err := Build(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := hoistrt.Down(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "containerd")); err != nil {
		t.Fatal(err)
	}
	if _, err := hoistrt.Ensure(ctx, cfg, t.Logf); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "app", "run"), "v2\n")
	var progress strings.Builder
	o.Progress = &progress
	r, err := Build(ctx, o)
	if err != nil {
		t.Fatalf("build after containerd's store was lost: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "clearing the build cache and building again") {
		t.Errorf("the build did not say it cleared the cache:\n%s", progress.String())
	}
	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if img, err := cc.GetImage(ctx, "hoist.local/lost:1"); err != nil || img.Target().Digest.String() != r.Digest {
		t.Errorf("image after the rebuild: %v, %v", img, err)
	} else if ok, err := img.IsUnpacked(ctx, "overlayfs"); !ok || err != nil {
		t.Errorf("the rebuilt image is not unpacked: %v", err)
	}
}
