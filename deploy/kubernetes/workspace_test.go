package kubernetes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

// testDigest is the digest the fixture's image "was pushed" with.
const testDigest = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"

// fixture is a workspace made through the real generate code from one of
// generate's golden cases, with a secrets file and a push record, so the
// manifests run a pullable, pinned image.
type fixture struct {
	ws     discover.Workspace
	id     string
	family string
	ns     string
	image  string // the pinned reference
}

// newFixture sets up case name (generate/testdata/cases/NAME) with the
// given secret values and generates.
func newFixture(t *testing.T, name string, secrets map[string]string) *fixture {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "generate", "testdata", "cases", name)
	data, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := generate.ParseAnalysis(data)
	if err != nil {
		t.Fatal(err)
	}
	ws := discover.Workspace{Dir: t.TempDir()}
	if err := discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if dep, err := os.ReadFile(filepath.Join(dir, "deployment.json")); err == nil {
		if err := discover.WriteFileAtomic(generate.DeploymentPath(ws, a.ID), dep, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{ws: ws, id: a.ID}
	f.writeSecrets(t, secrets)
	// What `hoist containerize` and `hoist push` record.
	image := "hoist.local/" + a.ID + ":latest"
	cdir := filepath.Join(ws.AppDir(a.ID), "containerize")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	img, _ := json.Marshal(map[string]string{"image": image, "digest": testDigest})
	if err := os.WriteFile(filepath.Join(cdir, "image.json"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, _ := discover.MarshalJSON(push.Record{Reference: "registry.example.com/team/" + a.ID + ":latest", Digest: testDigest, Registry: "registry.example.com", Image: image})
	if err := os.WriteFile(push.RecordPath(ws, a.ID), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	f.generate(t)
	d, err := generate.LoadDeployment(ws, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.family, f.ns = d.Family, d.Kubernetes.Namespace
	f.image = "registry.example.com/team/" + a.ID + ":latest@" + testDigest
	return f
}

func (f *fixture) writeSecrets(t *testing.T, secrets map[string]string) {
	t.Helper()
	data, _ := json.Marshal(secrets)
	if err := os.WriteFile(f.ws.SecretsPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) generate(t *testing.T) {
	t.Helper()
	if _, err := generate.Generate(generate.Options{Workspace: f.ws, ID: f.id}); err != nil {
		t.Fatal(err)
	}
}

// edit changes deployment.json (as a user would, by hand) and generates.
func (f *fixture) edit(t *testing.T, change func(d map[string]any)) {
	t.Helper()
	p := generate.DeploymentPath(f.ws, f.id)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	change(d)
	out, _ := json.MarshalIndent(d, "", "  ")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	f.generate(t)
}
