package discover

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hoistctl/hoist/discover/appconfig"
)

// recorder notes the host paths a scan or analysis reads, so that
// Capture can copy exactly those into a fixture.
type recorder struct {
	mu    sync.Mutex
	links map[string]string
	files map[string]bool
	dirs  map[string]bool
	stats map[string]bool
}

func newRecorder() *recorder {
	return &recorder{links: map[string]string{}, files: map[string]bool{}, dirs: map[string]bool{}, stats: map[string]bool{}}
}

func (r *recorder) link(p, target string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.links[p] = target
	r.mu.Unlock()
}

func (r *recorder) file(p string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.files[p] = true
	r.mu.Unlock()
}

func (r *recorder) dir(p string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.dirs[p] = true
	r.mu.Unlock()
}

func (r *recorder) stat(p string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.stats[p] = true
	r.mu.Unlock()
}

// CaptureOptions configures Capture.
type CaptureOptions struct {
	// KeepSecrets copies secret values as they are. Only for building test
	// fixtures from apps configured with fake secrets.
	KeepSecrets bool
}

// procFiles are the procfs entries hoist reads for a process.
var procFiles = []string{"cmdline", "comm", "status", "stat", "limits", "maps", "environ"}

// Capture copies what hoist reads about the given processes into dir:
// dir/proc is a procfs subset and dir/root the host files the scan and the
// analysis of their apps touched. Secret values are replaced unless
// opts.KeepSecrets is set.
func Capture(ctx context.Context, h Host, pids []int32, dir string, opts ...CaptureOptions) error {
	var o CaptureOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("capturing into %s: it already exists; name a new directory", dir)
	}
	procOut := filepath.Join(dir, "proc")
	if err := os.MkdirAll(procOut, 0o755); err != nil {
		return err
	}
	for _, pid := range pids {
		if err := capturePID(h, pid, procOut, o); err != nil {
			return fmt.Errorf("capturing pid %d: %w", pid, err)
		}
	}
	if b, err := os.ReadFile(h.proc("sys", "kernel", "hostname")); err == nil {
		_ = writeFile(filepath.Join(procOut, "sys", "kernel", "hostname"), b, 0o644)
	}
	// Analyse the captured processes' apps against the live host with a
	// recorder attached, then copy every file that was read.
	rh := h
	rh.rec = newRecorder()
	for _, p := range []string{"/etc/passwd", "/etc/group", "/var/lib/dpkg/status"} {
		rh.rec.file(p)
	}
	capturedHost := Host{Proc: procOut, Root: h.Root, rec: rh.rec}
	r, err := scan(ctx, ScanOptions{Host: capturedHost})
	if err != nil {
		return err
	}
	for _, g := range r.groups {
		r.analyze(ctx, g)
	}
	return copyRecorded(h, rh.rec, filepath.Join(dir, "root"), o)
}

func capturePID(h Host, pid int32, out string, o CaptureOptions) error {
	src := h.procPID(pid)
	dst := filepath.Join(out, strconv.Itoa(int(pid)))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range procFiles {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: process %d is gone", ErrUnavailable, pid)
			}
			continue
		}
		if name == "environ" && !o.KeepSecrets {
			b = redactEnviron(b)
		}
		if err := writeFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return err
		}
	}
	for _, l := range []string{"cwd", "exe", "ns/net"} {
		if t, err := os.Readlink(filepath.Join(src, l)); err == nil {
			_ = os.MkdirAll(filepath.Dir(filepath.Join(dst, l)), 0o755)
			if err := os.Symlink(t, filepath.Join(dst, l)); err != nil {
				return err
			}
		}
	}
	if names, err := readDirNames(filepath.Join(src, "fd")); err == nil {
		_ = os.MkdirAll(filepath.Join(dst, "fd"), 0o755)
		for _, n := range names {
			if t, err := os.Readlink(filepath.Join(src, "fd", n)); err == nil {
				_ = os.Symlink(t, filepath.Join(dst, "fd", n))
			}
		}
	}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		if b, err := os.ReadFile(filepath.Join(src, "net", proto)); err == nil {
			if err := writeFile(filepath.Join(dst, "net", proto), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func redactEnviron(b []byte) []byte {
	var out []string
	for _, kv := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") {
		name, val, _ := strings.Cut(kv, "=")
		if len(appconfig.ClassifySetting(name, val)) > 0 {
			val = "hoist-redacted"
		}
		out = append(out, name+"="+val)
	}
	return []byte(strings.Join(out, "\x00") + "\x00")
}

func writeFile(name string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, data, mode)
}

// copyRecorded recreates the recorded host paths under out.
func copyRecorded(h Host, rec *recorder, out string, o CaptureOptions) error {
	dst := func(p string) string { return filepath.Join(out, filepath.FromSlash(p)) }
	var links []string
	for p := range rec.links {
		links = append(links, p)
	}
	sort.Strings(links)
	for _, p := range links {
		_ = os.MkdirAll(filepath.Dir(dst(p)), 0o755)
		_ = os.Symlink(rec.links[p], dst(p))
	}
	for _, set := range []map[string]bool{rec.dirs, rec.stats} {
		for p := range set {
			fi, err := os.Stat(h.file(p))
			if err != nil {
				continue
			}
			if fi.IsDir() {
				_ = os.MkdirAll(dst(p), 0o755)
			} else if !rec.files[p] {
				_ = writeFile(dst(p), nil, 0o644)
			}
		}
	}
	for p := range rec.dirs {
		ents, err := os.ReadDir(h.file(p))
		if err != nil {
			continue
		}
		for _, e := range ents {
			q := path.Join(p, e.Name())
			if _, err := os.Lstat(dst(q)); err == nil {
				continue
			}
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				if t, err := os.Readlink(h.file(q)); err == nil {
					_ = os.Symlink(t, dst(q))
				}
			case e.IsDir():
				_ = os.MkdirAll(dst(q), 0o755)
			default:
				if !rec.files[q] {
					_ = writeFile(dst(q), nil, 0o644)
				}
			}
		}
	}
	for p := range rec.files {
		data, err := os.ReadFile(h.file(p))
		if err != nil {
			continue
		}
		switch ext := path.Ext(p); {
		case p == "/var/lib/dpkg/status":
			data = dpkgStanzas(data, monoPackages)
		case ext == ".jar" || ext == ".war":
			data, err = shrinkJar(data)
			if err != nil {
				continue
			}
		case !o.KeepSecrets:
			if kind, ok := appconfig.DetectKind(p); ok {
				if f, err := appconfig.Parse(kind, data); err == nil && len(f.Secrets) > 0 {
					data = appconfig.Redact(data, f.Secrets, func(appconfig.Secret) string { return "hoist-redacted" })
				}
			}
		}
		_ = os.Remove(dst(p)) // an empty placeholder from above
		if err := writeFile(dst(p), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// shrinkJar keeps a jar's entry names and the small text entries hoist reads
// (manifest, properties, yaml, xml), emptying class files and nested jars,
// so fixtures stay small.
func shrinkJar(data []byte) ([]byte, error) {
	zr, err := zip.NewReader(strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var buf strings.Builder
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: f.Modified})
		if err != nil {
			return nil, err
		}
		keep := strings.HasPrefix(f.Name, "META-INF/MANIFEST") || strings.HasSuffix(f.Name, ".properties") ||
			strings.HasSuffix(f.Name, ".yml") || strings.HasSuffix(f.Name, ".yaml") || strings.HasSuffix(f.Name, ".xml")
		if !keep || f.UncompressedSize64 > 1<<20 {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return []byte(buf.String()), nil
}

// dpkgStanzas keeps the named packages' entries of a dpkg status file.
func dpkgStanzas(data []byte, pkgs []string) []byte {
	var out []string
	for _, stanza := range strings.Split(string(data), "\n\n") {
		for _, p := range pkgs {
			if strings.HasPrefix(stanza, "Package: "+p+"\n") {
				out = append(out, strings.TrimSpace(stanza))
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return []byte(strings.Join(out, "\n\n") + "\n")
}
