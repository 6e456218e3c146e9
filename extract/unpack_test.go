package extract

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

// archiveBuilder writes archives by hand, hostile ones included. The
// manifest is made from the entries (those a manifest can describe)
// unless the test changes it.
type archiveBuilder struct {
	t       *testing.T
	entries []builderEntry
}

type builderEntry struct {
	hdr  tar.Header
	data []byte
}

func (b *archiveBuilder) add(hdr tar.Header, data string) *archiveBuilder {
	if hdr.Typeflag == tar.TypeReg && hdr.Size == 0 {
		hdr.Size = int64(len(data))
	}
	if hdr.Mode == 0 {
		hdr.Mode = 0o644
	}
	b.entries = append(b.entries, builderEntry{hdr, []byte(data)})
	return b
}

func (b *archiveBuilder) file(name, data string) *archiveBuilder {
	return b.add(tar.Header{Typeflag: tar.TypeReg, Name: name}, data)
}

func (b *archiveBuilder) dir(name string) *archiveBuilder {
	return b.add(tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755}, "")
}

func (b *archiveBuilder) symlink(name, target string) *archiveBuilder {
	return b.add(tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, "")
}

// manifest describes the well-formed rootfs entries.
func (b *archiveBuilder) manifest() *Manifest {
	m := &Manifest{SchemaVersion: ManifestSchemaVersion, App: "java-generic-12345678", Type: discover.TypeJavaGen, Mode: ModeProcess}
	seen := map[string]bool{}
	for _, e := range b.entries {
		name := strings.TrimSuffix(e.hdr.Name, "/")
		if !strings.HasPrefix(name, "rootfs/") || path.Clean(name) != name || strings.Contains(name, "..") {
			continue
		}
		p := strings.TrimPrefix(name, "rootfs")
		if seen[p] {
			continue
		}
		seen[p] = true
		f := File{Path: p, Mode: Mode(e.hdr.Mode & 0o7777), UID: uint32(e.hdr.Uid), GID: uint32(e.hdr.Gid), Role: RoleApp, Layer: LayerApp}
		switch e.hdr.Typeflag {
		case tar.TypeReg:
			sum := sha256.Sum256(e.data)
			f.Type, f.Size, f.SHA256 = TypeFile, int64(len(e.data)), hex.EncodeToString(sum[:])
		case tar.TypeDir:
			f.Type = TypeDir
		case tar.TypeSymlink:
			f.Type, f.LinkTarget = TypeSymlink, e.hdr.Linkname
		default:
			continue
		}
		m.Files = append(m.Files, f)
	}
	return m
}

const testAnalysis = "{\"schemaVersion\": 1}\n"

// write writes the archive: manifest (from edit, or raw when manifestJSON
// is set), analysis, entries.
func (b *archiveBuilder) write(edit func(*Manifest), manifestJSON []byte) string {
	b.t.Helper()
	m := b.manifest()
	sum := sha256.Sum256([]byte(testAnalysis))
	m.Analysis = ArchivedFile{Path: ArchiveAnalysis, Size: int64(len(testAnalysis)), SHA256: hex.EncodeToString(sum[:])}
	if edit != nil {
		edit(m)
	}
	if manifestJSON == nil {
		var err error
		if manifestJSON, err = discover.MarshalJSON(m); err != nil {
			b.t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	head := []builderEntry{
		{tar.Header{Typeflag: tar.TypeReg, Name: ArchiveManifest, Mode: 0o644, Size: int64(len(manifestJSON))}, manifestJSON},
		{tar.Header{Typeflag: tar.TypeReg, Name: ArchiveAnalysis, Mode: 0o644, Size: int64(len(testAnalysis))}, []byte(testAnalysis)},
	}
	if len(manifestJSON) == 0 {
		head = head[1:]
	}
	for _, e := range append(head, b.entries...) {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			b.t.Fatal(err)
		}
		if len(e.data) > 0 {
			tw.Write(e.data)
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(b.t.TempDir(), "app.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// unpackHostile unpacks into parent/dest, next to parent/outside, and
// checks that nothing was written anywhere but in dest, and that dest is
// gone or empty again after the failure.
func unpackHostile(t *testing.T, archive string, opts ...UnpackOption) error {
	t.Helper()
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(parent, "dest")
	_, err := Unpack(context.Background(), archive, dest, opts...)
	if err == nil {
		return nil
	}
	filepath.Walk(parent, func(p string, fi os.FileInfo, werr error) error {
		if p != parent && p != outside {
			t.Errorf("left behind after a refused archive: %s", p)
		}
		return nil
	})
	if _, err := os.Lstat("/tmp/hoist-evil"); err == nil {
		t.Errorf("/tmp/hoist-evil was written")
	}
	return err
}

func TestUnpackRefusesHostileArchives(t *testing.T) {
	ok := func(t *testing.T) *archiveBuilder {
		return (&archiveBuilder{t: t}).dir("rootfs/app").file("rootfs/app/a.txt", "hello\n")
	}
	big := make([]byte, 256<<10)
	rand.New(rand.NewSource(1)).Read(big)

	cases := []struct {
		name  string
		build func(t *testing.T) string
		opts  []UnpackOption
		kind  error
		entry string // the error must name it
	}{
		{"dot-dot in the path", func(t *testing.T) string {
			return ok(t).file("rootfs/app/../../../outside/evil", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "rootfs/app/../../../outside/evil"},
		{"leading dot-dot", func(t *testing.T) string {
			return ok(t).file("../outside/evil", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "../outside/evil"},
		{"absolute path", func(t *testing.T) string {
			return ok(t).file("/tmp/hoist-evil", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "/tmp/hoist-evil"},
		{"outside rootfs", func(t *testing.T) string {
			return ok(t).file("etc/passwd", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "etc/passwd"},
		{"unclean path", func(t *testing.T) string {
			return ok(t).file("rootfs/app//b", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "rootfs/app//b"},
		{"absolute symlink", func(t *testing.T) string {
			return ok(t).symlink("rootfs/app/passwd", "/etc/passwd").write(nil, nil)
		}, nil, ErrUnsafeLink, "rootfs/app/passwd"},
		{"symlink climbing out", func(t *testing.T) string {
			return ok(t).symlink("rootfs/app/up", "../../../outside").write(nil, nil)
		}, nil, ErrUnsafeLink, "rootfs/app/up"},
		{"symlink chain climbing out", func(t *testing.T) string {
			// Each link alone stays inside; together they climb out.
			return ok(t).dir("rootfs/app/b").dir("rootfs/app/b/c").
				symlink("rootfs/app/b/c/top", "../../..").
				symlink("rootfs/app/b/c/out", "top/../outside").write(nil, nil)
		}, nil, ErrUnsafeLink, "rootfs/app/b/c/out"},
		{"file written through an earlier symlink", func(t *testing.T) string {
			return ok(t).symlink("rootfs/app/link", ".").file("rootfs/app/link/evil", "x").write(nil, nil)
		}, nil, ErrUnsafePath, "rootfs/app/link/evil"},
		{"symlink replacing a directory", func(t *testing.T) string {
			b := ok(t).file("rootfs/app/d/x", "x").symlink("rootfs/app/d", ".")
			return b.write(func(m *Manifest) {
				// A manifest that does not list the file under the link.
				var keep []File
				for _, f := range m.Files {
					if f.Path != "/app/d/x" {
						keep = append(keep, f)
					}
				}
				m.Files = keep
			}, nil)
		}, nil, ErrNotInManifest, "rootfs/app/d/x"},
		{"hard link", func(t *testing.T) string {
			return ok(t).add(tar.Header{Typeflag: tar.TypeLink, Name: "rootfs/app/hard", Linkname: "rootfs/app/a.txt"}, "").write(nil, nil)
		}, nil, ErrHardLink, "rootfs/app/hard"},
		{"hard link to a host file", func(t *testing.T) string {
			return ok(t).add(tar.Header{Typeflag: tar.TypeLink, Name: "rootfs/app/shadow", Linkname: "/etc/shadow"}, "").write(nil, nil)
		}, nil, ErrHardLink, "rootfs/app/shadow"},
		{"character device", func(t *testing.T) string {
			return ok(t).add(tar.Header{Typeflag: tar.TypeChar, Name: "rootfs/app/null", Devmajor: 1, Devminor: 3}, "").write(nil, nil)
		}, nil, ErrSpecialFile, "rootfs/app/null"},
		{"block device", func(t *testing.T) string {
			return ok(t).add(tar.Header{Typeflag: tar.TypeBlock, Name: "rootfs/app/sda", Devmajor: 8}, "").write(nil, nil)
		}, nil, ErrSpecialFile, "rootfs/app/sda"},
		{"fifo", func(t *testing.T) string {
			return ok(t).add(tar.Header{Typeflag: tar.TypeFifo, Name: "rootfs/app/pipe"}, "").write(nil, nil)
		}, nil, ErrSpecialFile, "rootfs/app/pipe"},
		{"duplicate entry", func(t *testing.T) string {
			return ok(t).file("rootfs/app/a.txt", "hello\n").write(nil, nil)
		}, nil, ErrDuplicate, "rootfs/app/a.txt"},
		{"entry not in the manifest", func(t *testing.T) string {
			return ok(t).file("rootfs/app/extra", "x").write(func(m *Manifest) { m.Files = m.Files[:2] }, nil)
		}, nil, ErrNotInManifest, "rootfs/app/extra"},
		{"checksum mismatch", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) { m.Files[1].SHA256 = strings.Repeat("0", 64) }, nil)
		}, nil, ErrMismatch, "rootfs/app/a.txt"},
		{"size mismatch", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) { m.Files[1].Size = 3 }, nil)
		}, nil, ErrMismatch, "rootfs/app/a.txt"},
		{"mode mismatch", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) { m.Files[1].Mode = 0o4755 }, nil)
		}, nil, ErrMismatch, "rootfs/app/a.txt"},
		{"analysis mismatch", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) { m.Analysis.SHA256 = strings.Repeat("1", 64) }, nil)
		}, nil, ErrMismatch, ArchiveAnalysis},
		{"manifest missing", func(t *testing.T) string {
			return ok(t).write(nil, []byte{})
		}, nil, ErrBadManifest, ArchiveAnalysis},
		{"manifest malformed", func(t *testing.T) string {
			return ok(t).write(nil, []byte("{\"schemaVersion\": 1, \"files\": [oops]}"))
		}, nil, ErrBadManifest, ArchiveManifest},
		{"manifest with unknown fields", func(t *testing.T) string {
			return ok(t).write(nil, []byte("{\"schemaVersion\": 1, \"extra\": true}"))
		}, nil, ErrBadManifest, ArchiveManifest},
		{"manifest of another version", func(t *testing.T) string {
			return ok(t).write(nil, []byte("{\"schemaVersion\": 99}"))
		}, nil, ErrBadManifest, ArchiveManifest},
		{"manifest listing an unsafe path", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) { m.Files = append(m.Files, File{Path: "/app/../../x", Type: TypeFile}) }, nil)
		}, nil, ErrUnsafePath, "rootfs/app/../../x"},
		{"too large", func(t *testing.T) string {
			return ok(t).file("rootfs/app/big", string(big)).write(nil, nil)
		}, []UnpackOption{WithMaxTotalSize(64 << 10)}, ErrTooLarge, ""},
		{"manifest lies about the total", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) {
				m.Files[1].Size = 1 << 62
				m.Files = append(m.Files, File{Path: "/app/b", Type: TypeFile, Size: 1 << 62})
			}, nil)
		}, nil, ErrTooLarge, ""},
		{"entries missing", func(t *testing.T) string {
			return ok(t).write(func(m *Manifest) {
				m.Files = append(m.Files, File{Path: "/app/gone", Type: TypeFile, Size: 1, Mode: 0o644, SHA256: strings.Repeat("a", 64)})
			}, nil)
		}, nil, ErrIncomplete, ""},
		{"truncated", func(t *testing.T) string {
			p := ok(t).file("rootfs/app/big", string(big)).write(nil, nil)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)*2/3], 0o644)
			return p
		}, nil, ErrCorrupt, "rootfs/app/big"},
		{"trailing garbage", func(t *testing.T) string {
			p := ok(t).write(nil, nil)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, append(data, "garbage after the end"...), 0o644)
			return p
		}, nil, ErrCorrupt, ""},
		{"not gzip", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar.gz")
			os.WriteFile(p, []byte("PK\x03\x04 a zip, not a tar.gz"), 0o644)
			return p
		}, nil, ErrBadManifest, ""},
		{"empty file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar.gz")
			os.WriteFile(p, nil, 0o644)
			return p
		}, nil, ErrCorrupt, ""},
		{"a directory", func(t *testing.T) string {
			return t.TempDir()
		}, nil, ErrBadManifest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := unpackHostile(t, c.build(t), c.opts...)
			if err == nil {
				t.Fatalf("accepted")
			}
			var ae *ArchiveError
			if !errors.Is(err, c.kind) || !errors.As(err, &ae) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			if c.kind != ErrDestination && !errors.Is(err, discover.ErrInvalid) {
				t.Errorf("err = %v does not wrap discover.ErrInvalid", err)
			}
			if c.entry != "" && ae.Entry != c.entry {
				t.Errorf("err = %v names entry %q, want %q", err, ae.Entry, c.entry)
			}
			if !strings.Contains(err.Error(), "; ") {
				t.Errorf("err = %v says nothing about what to do", err)
			}
		})
	}
}

func TestUnpackDestination(t *testing.T) {
	b := (&archiveBuilder{t: t}).dir("rootfs/app").file("rootfs/app/a.txt", "hello\n").
		symlink("rootfs/app/current", "a.txt").
		add(tar.Header{Typeflag: tar.TypeDir, Name: "rootfs/app/ro/", Mode: 0o555}, "").
		add(tar.Header{Typeflag: tar.TypeReg, Name: "rootfs/app/ro/x", Mode: 0o4750, Uid: 1234, Gid: 5678}, "x")
	archive := b.write(nil, nil)
	ctx := context.Background()

	// A good archive unpacks, with modes and (as root) owners.
	dest := filepath.Join(t.TempDir(), "dest")
	m, err := Unpack(ctx, archive, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 5 {
		t.Errorf("manifest %+v", m.Files)
	}
	fi, err := os.Stat(filepath.Join(dest, "rootfs/app/ro/x"))
	if err != nil || modeOf(fi.Mode()) != 0o4750 {
		t.Errorf("ro/x: %v %v", fi, err)
	}
	if fi, _ := os.Stat(filepath.Join(dest, "rootfs/app/ro")); fi == nil || modeOf(fi.Mode()) != 0o555 {
		t.Errorf("ro: %v", fi)
	}
	if data, _ := os.ReadFile(filepath.Join(dest, "rootfs/app/current")); string(data) != "hello\n" {
		t.Errorf("link: %q", data)
	}
	for _, f := range []string{ArchiveManifest, ArchiveAnalysis} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	// A destination that is not empty is refused and left alone.
	_, err = Unpack(ctx, archive, dest)
	if !errors.Is(err, ErrDestination) {
		t.Errorf("err = %v, want ErrDestination", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "rootfs/app/a.txt")); err != nil {
		t.Errorf("the earlier unpack was damaged: %v", err)
	}
	// An empty existing directory is fine, and emptied again on failure.
	empty := t.TempDir()
	if _, err := Unpack(ctx, archive, empty); err != nil {
		t.Errorf("empty destination: %v", err)
	}
	empty2 := t.TempDir()
	bad := (&archiveBuilder{t: t}).file("rootfs/a", "x").file("rootfs/../evil", "y").write(nil, nil)
	if _, err := Unpack(ctx, bad, empty2); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("err = %v", err)
	}
	if ents, _ := os.ReadDir(empty2); len(ents) != 0 {
		t.Errorf("destination not emptied after a failure: %v", ents)
	}
	if _, err := os.Stat(empty2); err != nil {
		t.Errorf("a destination Unpack did not create was removed: %v", err)
	}
}

// An archive Extract wrote unpacks and its links stay inside.
func TestUnpackExtracted(t *testing.T) {
	h, a, secrets := fakeTomcat(t)
	ws := newWorkspace(t, a, secrets)
	res, err := Extract(context.Background(), Options{Host: h.host(), Workspace: ws, ID: tomcatID})
	if err != nil {
		t.Fatal(err)
	}
	if err := unpackHostile(t, res.ArchivePath); err != nil {
		t.Fatal(err)
	}
	// Refused when the cap is below its size.
	err = unpackHostile(t, res.ArchivePath, WithMaxTotalSize(res.Manifest.Sizes.Total-1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}
