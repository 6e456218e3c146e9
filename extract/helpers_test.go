package extract

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
)

// fakeHost is a host filesystem built in a temporary directory.
type fakeHost struct {
	t    *testing.T
	root string
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	return &fakeHost{t: t, root: t.TempDir()}
}

func (h *fakeHost) host() discover.Host {
	return discover.Host{Proc: filepath.Join(h.root, "proc-unused"), Root: h.root}
}

func (h *fakeHost) local(p string) string { return filepath.Join(h.root, filepath.FromSlash(p)) }

func (h *fakeHost) mkdir(p string, mode os.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(h.local(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	// mode is written chmod-style (0o4755), not as an os.FileMode.
	if err := os.Chmod(h.local(p), Mode(uint32(mode)).FileMode()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) file(p, content string, mode os.FileMode) {
	h.t.Helper()
	h.fileBytes(p, []byte(content), mode)
}

func (h *fakeHost) fileBytes(p string, content []byte, mode os.FileMode) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.local(p)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.local(p), content, 0o644); err != nil {
		h.t.Fatal(err)
	}
	// mode is written chmod-style (0o4755), not as an os.FileMode.
	if err := os.Chmod(h.local(p), Mode(uint32(mode)).FileMode()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) symlink(p, target string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.local(p)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Symlink(target, h.local(p)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) chown(p string, uid, gid int) {
	h.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Lchown(h.local(p), uid, gid); err != nil {
		h.t.Fatal(err)
	}
}

// read reads a host path, following links inside the fake root.
func (h *fakeHost) read(p string) []byte {
	h.t.Helper()
	data, err := h.host().ReadFile(p, 1<<30)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// zipBytes builds a jar; entries are written in the order given, deflated
// unless the name ends in .jar (stored, as Spring Boot wants).
func zipBytes(t *testing.T, prefix string, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString(prefix)
	w := zip.NewWriter(&buf)
	w.SetOffset(int64(len(prefix)))
	for _, e := range entries {
		m := zip.Deflate
		if strings.HasSuffix(e[0], ".jar") {
			m = zip.Store
		}
		f, err := w.CreateHeader(&zip.FileHeader{Name: e[0], Method: m})
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(e[1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// configFiles parses config files the way `hoist analyze` does and
// returns their analysis records and the secrets file's values.
func configFiles(t *testing.T, h *fakeHost, id string, paths ...string) ([]discover.ConfigFile, discover.Secrets) {
	t.Helper()
	secrets := discover.Secrets{}
	var out []discover.ConfigFile
	for _, p := range paths {
		name := p
		var data []byte
		if jar, entry, ok := strings.Cut(p, "!/"); ok {
			name = entry
			zr, err := zip.NewReader(bytes.NewReader(h.read(jar)), int64(len(h.read(jar))))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				if f.Name == entry {
					rc, _ := f.Open()
					data, _ = io.ReadAll(rc)
					rc.Close()
				}
			}
		} else {
			data = h.read(p)
		}
		kind, ok := appconfig.DetectKind(name)
		if !ok {
			t.Fatalf("%s is not a config file", p)
		}
		f, err := appconfig.Parse(kind, data)
		if err != nil {
			t.Fatalf("parsing %s: %v", p, err)
		}
		cf := discover.ConfigFile{Path: p, File: *f}
		for _, s := range f.Secrets {
			ref := id + "/config/" + strings.TrimPrefix(p, "/") + "#" + s.Key
			if old, ok := secrets[ref]; ok && old != s.Plain() {
				ref += "#2"
			}
			secrets[ref] = s.Plain()
			cf.SecretRefs = append(cf.SecretRefs, discover.SecretLocation{Key: s.Key, Ref: ref})
		}
		out = append(out, cf)
	}
	return out, secrets
}

// newWorkspace writes analysis.json and the secrets file.
func newWorkspace(t *testing.T, a *discover.Analysis, secrets discover.Secrets) discover.Workspace {
	t.Helper()
	ws := discover.Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	data, err := discover.MarshalJSON(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if secrets != nil {
		data, _ := json.Marshal(secrets)
		if err := discover.WriteFileAtomic(ws.SecretsPath(), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readArchive decompresses an archive and returns its entries in order and
// the whole tar stream.
func readArchive(t *testing.T, p string) ([]tarEntry, []byte) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, tarEntry{hdr, data})
	}
	return out, raw
}

func fileByPath(m *Manifest, p string) *File {
	for i := range m.Files {
		if m.Files[i].Path == p {
			return &m.Files[i]
		}
	}
	return nil
}

func redactedByPath(m *Manifest, p, entry string) *RedactedFile {
	for i := range m.Redacted {
		if m.Redacted[i].Path == p && m.Redacted[i].Entry == entry {
			return &m.Redacted[i]
		}
	}
	return nil
}

func excludedByPath(m *Manifest, p string) *Excluded {
	for i := range m.Excluded {
		if m.Excluded[i].Path == p {
			return &m.Excluded[i]
		}
	}
	return nil
}

// assertNoSecret fails when data holds any of the values.
func assertNoSecret(t *testing.T, what string, data []byte, values ...string) {
	t.Helper()
	for _, v := range values {
		if bytes.Contains(data, []byte(v)) {
			t.Errorf("%s holds the secret value %q", what, v)
		}
	}
}

func hasWarning(m *Manifest, sub string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

var runtimeLockOSThread = runtime.LockOSThread

func time0() time.Time { return time.Unix(1000000000, 0) }
