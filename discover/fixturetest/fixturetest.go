// Package fixturetest copies the captured hosts under testdata/procfs for
// tests, so that discovery, extraction and the later phases run on a copy
// they may change.
package fixturetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Copy copies the tree src to dst: symlinks stay symlinks (with their
// targets as captured), files keep their permission bits, and the
// .gitkeep files that stand in for captured empty directories (git keeps
// no empty directory) are left out, so the copy is the tree as captured.
func Copy(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Name() == ".gitkeep":
			return nil
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copying the fixture %s: %v", src, err)
	}
}
