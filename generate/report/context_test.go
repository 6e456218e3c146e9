package report

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
)

// TestReportBuildContextLayers lays out a real build context with
// containerize (it stops at the build: no BuildKit answers), then checks
// that the report measures the image's layers there, in the Dockerfile's
// order, and that they add up to the extract manifest's files plus
// hoist-entry.
func TestReportBuildContextLayers(t *testing.T) {
	ws, ids, _ := testWorkspace(t)
	id := ids[0]
	// A registry base image instead of the host's runtime: no JDK is
	// copied, and the context is still containerize's own.
	a, err := ws.ReadAnalysis(id)
	if err != nil {
		t.Fatal(err)
	}
	a.ContainerParameters.BaseImage = "eclipse-temurin:17-jre"
	data, _ := discover.MarshalJSON(a)
	if err := discover.WriteFileAtomic(ws.AnalysisPath(id), data, 0o644); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(t.TempDir(), "hoist-entry")
	build := exec.Command("go", "build", "-o", entry, "./cmd/hoist-entry")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hoist-entry: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = containerize.Containerize(ctx, containerize.Options{
		Workspace: ws, ID: id, EntryBinary: entry,
		BuildkitAddr: "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock"),
		Progress:     io.Discard, Mode: "quiet",
	})
	if err == nil {
		t.Fatal("containerize built an image without BuildKit")
	}
	dockerfile := filepath.Join(containerize.Dir(ws, id), "Dockerfile")
	if _, serr := os.Stat(dockerfile); serr != nil {
		t.Fatalf("containerize stopped before writing the Dockerfile: %v", err)
	}

	r, _, err := Build(Options{Workspace: ws, IDs: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	app := r.Apps[0]
	if !app.LayersComplete || !strings.Contains(app.LayerSource, "build context") {
		t.Fatalf("layers not measured in the build context: %q %+v", app.LayerSource, app.Layers)
	}
	var total int64
	var names []string
	sawEntry := false
	for _, l := range app.Layers {
		names = append(names, l.Name)
		if l.Name == "hoist-entry" {
			sawEntry = true
			continue
		}
		total += l.Size
	}
	if !sawEntry {
		t.Errorf("no hoist-entry layer in %q (the jetty app's config holds a secret)", names)
	}
	raw, err := os.ReadFile(extract.ManifestPath(ws, id))
	if err != nil {
		t.Fatal(err)
	}
	var m extract.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if total != m.Sizes.Total {
		t.Errorf("the context's layers add up to %d bytes, the manifest's files to %d (layers %q)", total, m.Sizes.Total, names)
	}
	// The layers come in the Dockerfile's COPY order.
	df, _ := os.ReadFile(dockerfile)
	copies := 0
	for _, l := range strings.Split(string(df), "\n") {
		if strings.HasPrefix(l, "COPY ") {
			copies++
		}
	}
	if copies != len(app.Layers) || copies < 3 {
		t.Errorf("%d COPY instructions, %d layers measured: %q", copies, len(app.Layers), names)
	}
	var page strings.Builder
	if err := Render(&page, r, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(page.String(), n) {
			t.Errorf("the page lacks layer %q", n)
		}
	}
	if !strings.Contains(page.String(), "<span class=\"k\">COPY</span>") {
		t.Error("the Dockerfile is not shown highlighted")
	}
}
