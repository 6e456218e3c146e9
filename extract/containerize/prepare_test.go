package containerize

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/fixturetest"
	"github.com/hoistctl/hoist/extract"
)

// contextTree hashes every file under dir, by relative path.
func contextTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBadInputKeepsTheContext: a containerize that refuses its input (a
// truncated or non-gzip --input-archive, a broken analysis.json) leaves
// the build context of the last run as it was, so --build-only still
// works; before, the context was cleared before the archive was read.
func TestBadInputKeepsTheContext(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	fixturetest.Copy(t, "../../testdata/procfs/generic", root)
	host := discover.Host{Proc: filepath.Join(root, "proc"), Root: filepath.Join(root, "root")}
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host, Hostname: "fixture"})
	if err != nil || len(inv.Apps) == 0 {
		t.Fatalf("scan: %v", err)
	}
	id := inv.Apps[0].ID
	ws := discover.Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	if _, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: host, Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	res, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id, AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := filepath.Join(Dir(ws, id), "context")
	o := Options{Workspace: ws, ID: id, BaseImage: "debian:12", EntryBinary: "/bin/true"}
	if _, _, err := prepare(ctx, o, ctxDir); err != nil {
		t.Fatal(err)
	}
	want := contextTree(t, ctxDir)
	if _, ok := want["hoist-manifest.json"]; !ok {
		t.Fatalf("the first run laid out no context: %v", want)
	}

	good, err := os.ReadFile(res.ArchivePath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.tar.gz")
	notGzip := filepath.Join(dir, "notgzip.tar.gz")
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notGzip, []byte("this is not an archive from hoist extract\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, archive := range []string{truncated, notGzip} {
		bad := o
		bad.InputArchive = archive
		if _, _, err := prepare(ctx, bad, ctxDir); !errors.Is(err, discover.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", filepath.Base(archive), err)
		}
		if got := contextTree(t, ctxDir); !maps.Equal(got, want) {
			t.Errorf("%s: the build context changed although the archive was refused", filepath.Base(archive))
		}
	}

	// The workspace's analysis.json, broken by a hand edit.
	apath := ws.AnalysisPath(id)
	if err := os.WriteFile(apath, []byte("{\n  \"schemaVersion\": 1,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prepare(ctx, o, ctxDir); !errors.Is(err, discover.ErrInvalid) {
		t.Errorf("broken analysis.json: %v, want ErrInvalid", err)
	}
	if got := contextTree(t, ctxDir); !maps.Equal(got, want) {
		t.Error("broken analysis.json: the build context changed although the analysis was refused")
	}
}
