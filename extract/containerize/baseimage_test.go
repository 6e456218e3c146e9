package containerize_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/deploy/registry"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/buildkit"
	. "github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestContainerizeBaseImage builds the sample app FROM an image the user
// names, pulled from a registry (one started by the test on loopback, which
// holds a Java runtime image made for the purpose, as eclipse-temurin
// would be): the launcher is run by name from the base image's PATH, and
// the image answers in its validation run. The worker-machine mode
// (--input-archive into an empty workspace), --build-only after an edit of
// the Dockerfile and the OCI archive output are checked on the way.
func TestContainerizeBaseImage(t *testing.T) {
	cfg := enginetest.Start(t)
	ctx := context.Background()
	jdk := ""
	if p, err := filepath.EvalSymlinks("/usr/bin/java"); err == nil {
		jdk = filepath.Dir(filepath.Dir(p))
	} else {
		t.Skip("no java (make deps)")
	}

	reg, err := registry.Start(ctx, registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop(context.Background())

	// The base image: a JRE at its usual place, on PATH, nothing else.
	jreCtx := t.TempDir()
	an := &discover.Analysis{}
	an.Observed.Runtime = discover.RuntimeInfo{Kind: "java", Home: jdk}
	an.Observed.Process = discover.ProcessInfo{Exe: filepath.Join(jdk, "bin", "java"), Cmdline: []string{"java"}}
	if _, err := hostbase.Assemble(ctx, hostbase.Options{Host: discover.LiveHost(), Analysis: an, Dest: filepath.Join(jreCtx, "jre")}); err != nil {
		t.Fatal(err)
	}
	df := fmt.Sprintf("FROM scratch\nCOPY jre/ /\nENV PATH=%s/bin:/usr/bin:/bin\n", jdk)
	if err := os.WriteFile(filepath.Join(jreCtx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildkit.Build(ctx, buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: jreCtx, Dockerfile: "Dockerfile", Image: "hoist.local/test-jre:1", Progress: io.Discard, Mode: "quiet"}); err != nil {
		t.Fatal(err)
	}
	baseRef := reg.Addr + "/test-jre:1"
	target, err := push.ParseTarget(baseRef, "hoist.local/test-jre:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := push.Image(ctx, "hoist.local/test-jre:1", "", target, push.Options{ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace}); err != nil {
		t.Fatal(err)
	}

	// The app, analysed and extracted on the "source host".
	appDir, port, _ := RunSample(t)
	src := discover.Workspace{Dir: t.TempDir()}
	id, res := AnalyzeAndExtract(t, src, func(a discover.App) bool { return a.Path == appDir })

	// The "worker machine": an empty workspace and the archive.
	ws := discover.Workspace{Dir: t.TempDir()}
	ociPath := filepath.Join(t.TempDir(), "image.tar")
	var progress bytes.Buffer
	opts := Options{
		Workspace: ws, ID: id, InputArchive: res.ArchivePath, BaseImage: baseRef,
		BuildkitAddr: cfg.BuildkitAddress(), Progress: &progress, Mode: "plain", Logf: t.Logf,
		EntryBinary: BuildEntry(t), OCIArchive: ociPath,
	}
	r, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	dockerfile, _ := os.ReadFile(r.Dockerfile)
	for _, want := range []string{"FROM " + baseRef + "\n", `"/.hoist/entry", "--", "java", "-Xmx64m"`} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, dockerfile)
		}
	}
	if strings.Contains(string(dockerfile), "COPY base/") {
		t.Errorf("a host base in a base-image build:\n%s", dockerfile)
	}
	if _, err := os.Stat(filepath.Join(Dir(ws, id), "context", "base")); err == nil {
		t.Error("the host base was assembled although a base image was named")
	}
	if fi, err := os.Stat(ociPath); err != nil || fi.Size() < 1<<20 {
		t.Errorf("OCI archive: %v %v", fi, err)
	}

	secrets, err := src.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	a, err := ReadArchivedAnalysis(filepath.Join(Dir(ws, id), "context"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context, c *http.Client) error {
		got, err := Get(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil || !strings.Contains(got, "hello from the hoist sample app") {
			return fmt.Errorf("GET /: %q %v", got, err)
		}
		return nil
	}
	if _, err := Validate(ctx, a, r.Image, r.Secrets, ValidateOptions{
		ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(cfg.StateDir, "netns"),
		Secrets: secrets, LogPath: filepath.Join(Dir(ws, id), "validate.log"), Logf: t.Logf, Check: check,
	}); err != nil {
		log, _ := os.ReadFile(filepath.Join(Dir(ws, id), "validate.log"))
		t.Fatalf("validation run: %v\n%s", err, log)
	}

	// --build-only after an edit of the Dockerfile: the edit is built.
	edited := strings.Replace(string(dockerfile), "\nUSER ", "\nLABEL org.example.reviewed=\"yes\"\nUSER ", 1)
	if err := os.WriteFile(r.Dockerfile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.BuildOnly, opts.OCIArchive = true, ""
	r2, err := Containerize(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest == r.Digest {
		t.Error("--build-only ignored the edited Dockerfile")
	}
	cc := ContainerdClient(t, cfg.ContainerdSocket(), cfg.Namespace)
	if cfgBlob := ImageConfig(t, ctx, cc, r2.Image); !bytes.Contains(cfgBlob, []byte(`"org.example.reviewed":"yes"`)) {
		t.Errorf("the edited label is not in the image config: %s", cfgBlob)
	}
	if after, _ := os.ReadFile(r.Dockerfile); string(after) != edited {
		t.Error("--build-only rewrote the edited Dockerfile")
	}
}
