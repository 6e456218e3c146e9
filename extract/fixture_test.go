package extract

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/fixturetest"
)

// TestExtractFixtures runs the whole source-host pipeline over every
// captured host in ../testdata/procfs (see its README): inventory and
// analysis by discover, then Extract and Unpack. Every secret planted in
// the fixtures starts with "fixture-secret-"; none may reach an archive.
func TestExtractFixtures(t *testing.T) {
	const dir = "../testdata/procfs"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "proc")); err != nil {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			root := t.TempDir()
			fixturetest.Copy(t, filepath.Join(dir, e.Name()), root)
			host := discover.Host{Proc: filepath.Join(root, "proc"), Root: filepath.Join(root, "root")}
			inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host, Hostname: "fixture"})
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Apps) == 0 {
				t.Fatalf("no apps in the fixture")
			}
			for _, app := range inv.Apps {
				ws := discover.Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
				a, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: host, Workspace: ws, ID: app.ID})
				if err != nil {
					t.Fatal(err)
				}
				// The capture kept only what the analysis read: some
				// included paths may be gone.
				res, err := Extract(ctx, Options{Host: host, Workspace: ws, ID: app.ID, AllowMissing: true})
				if err != nil {
					t.Fatal(err)
				}
				m := res.Manifest
				if m.Mode != appMode(a.Type) || len(m.Files) == 0 {
					t.Errorf("%s: mode %s, %d files", app.ID, m.Mode, len(m.Files))
				}
				_, raw := readArchive(t, res.ArchivePath)
				if i := bytes.Index(raw, []byte("fixture-secret-")); i >= 0 {
					end := min(i+40, len(raw))
					t.Errorf("%s: a fixture secret is in the archive: %q", app.ID, raw[i:end])
				}
				for _, cf := range a.Observed.ConfigFiles {
					if len(cf.SecretRefs) == 0 {
						continue
					}
					p, entry, _ := strings.Cut(cf.Path, "!/")
					if f := fileByPath(m, p); f != nil && redactedByPath(m, f.Path, entry) == nil && redactedByPath(m, realOf(t, host, p), entry) == nil {
						t.Errorf("%s: %s holds secrets but is not listed as redacted", app.ID, cf.Path)
					}
				}
				for _, f := range m.Files {
					if m.Runtime.Home != "" && strings.HasPrefix(f.Path, m.Runtime.Home+"/") && a.Type != discover.TypeMonoXSP {
						t.Errorf("%s: runtime file %s archived", app.ID, f.Path)
					}
					if f.Layer == "" || f.Role == "" {
						t.Errorf("%s: %s has no layer or role", app.ID, f.Path)
					}
				}
				dest := filepath.Join(t.TempDir(), "out")
				if _, err := Unpack(ctx, res.ArchivePath, dest); err != nil {
					t.Fatal(err)
				}
				// Every external library link the analysis saw resolves
				// inside the unpacked tree.
				for _, ref := range a.Observed.Files.App {
					if !ref.External {
						continue
					}
					if _, err := os.Stat(filepath.Join(dest, "rootfs", ref.Path)); err != nil {
						t.Errorf("%s: %s (-> %s) does not resolve once unpacked: %v", app.ID, ref.Path, ref.Target, err)
					}
				}
			}
		})
	}
	if n == 0 {
		t.Fatalf("no fixtures under %s", dir)
	}
}

func realOf(t *testing.T, h discover.Host, p string) string {
	r, err := h.Resolve(p)
	if err != nil {
		return p
	}
	return r
}
