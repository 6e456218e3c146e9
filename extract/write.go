package extract

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hoistctl/hoist/discover"
)

// The archive is two gzip members, which every gzip reader reads as one
// stream: the first holds .hoist/manifest.json and .hoist/analysis.json,
// the second the app's files. The files are read once, hashed while they
// are written into the second member, and the manifest is made from those
// hashes, so the manifest always describes exactly the bytes archived,
// even when the app changes a file meanwhile.

func openNoFollow(local string) (*os.File, error) {
	return os.OpenFile(local, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}

func readAllMax(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w (over %d bytes)", discover.ErrTooLarge, max)
	}
	return data, nil
}

func readJarFile(local, entryName string) ([]byte, error) {
	f, err := openNoFollow(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return readJarEntry(f, fi.Size(), entryName, maxConfigFile)
}

// onlyReader hides io.WriterTo so that io.CopyBuffer uses our buffer.
type onlyReader struct{ io.Reader }

// writer writes the archive's second member.
type writer struct {
	x       *extraction
	tw      *tar.Writer
	mtime   time.Time
	buf     []byte
	small   []byte // for files the scan reads whole
	h       hash.Hash
	failed  []string // unreadable files
	refused []string // secrets found with RefuseFoundSecrets
}

func (x *extraction) write(ctx context.Context) (*Result, error) {
	id, ws := x.opts.ID, x.opts.Workspace
	archivePath, manifestPath := ArchivePath(ws, id), ManifestPath(ws, id)
	outDir := filepath.Dir(archivePath)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", outDir, err)
	}
	workDir, err := os.MkdirTemp(outDir, ".work-")
	if err != nil {
		return nil, fmt.Errorf("creating a work directory in %s: %w", outDir, err)
	}
	defer os.RemoveAll(workDir)
	x.workDir = workDir

	level := x.opts.CompressionLevel
	if level == 0 {
		// Apps are mostly jars, already deflated: level 6 took 3 times as
		// long as level 1 for an archive 1% smaller (BenchmarkExtract).
		level = gzip.BestSpeed
	}
	bodyFile, err := os.Create(filepath.Join(workDir, "body.gz"))
	if err != nil {
		return nil, err
	}
	defer bodyFile.Close()
	gz, err := newPgzipWriter(bodyFile, level)
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	w := &writer{
		x: x, tw: tar.NewWriter(gz), mtime: time.Unix(x.opts.SourceDateEpoch, 0).UTC(),
		buf: make([]byte, 256<<10), small: make([]byte, maxScanSize), h: sha256.New(),
	}
	paths := make([]string, 0, len(x.c.entries))
	for p := range x.c.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	x.logf("archiving %d entries", len(paths))
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.entry(x.c.entries[p]); err != nil {
			return nil, err
		}
	}
	if len(w.failed) > 0 {
		return nil, fmt.Errorf("%w: %d files could not be read: %s; run hoist as root (or as the app's user), or add them to containerParameters.exclude in %s", discover.ErrUnavailable, len(w.failed), listSome(w.failed), ws.AnalysisPath(id))
	}
	if len(w.refused) > 0 {
		return nil, fmt.Errorf("%w the analysis did not parse: %s; exclude those files, or run without refusing found secrets to have them redacted", ErrSecretFound, listSome(w.refused))
	}
	if err := w.tw.Close(); err != nil {
		return nil, fmt.Errorf("writing the archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("writing the archive: %w", err)
	}

	m, err := x.manifest(paths)
	if err != nil {
		return nil, err
	}
	analysisJSON, err := discover.MarshalJSON(x.a)
	if err != nil {
		return nil, err
	}
	if refs := x.scan.inJSONValues(analysisJSON); len(refs) > 0 {
		return nil, fmt.Errorf("%w: %s holds the value of secret %s; replace the value by a secretRef and run the command again", ErrSecretFound, ws.AnalysisPath(id), strings.Join(refs, ", "))
	}
	sum := sha256.Sum256(analysisJSON)
	m.Analysis = ArchivedFile{Path: ArchiveAnalysis, Size: int64(len(analysisJSON)), SHA256: hex.EncodeToString(sum[:])}
	manifestJSON, err := discover.MarshalJSON(m)
	if err != nil {
		return nil, err
	}

	// The final file: the head member, then the body as it was compressed.
	tmp, err := os.CreateTemp(outDir, "."+id+".tar.gz.tmp-*")
	if err != nil {
		return nil, fmt.Errorf("writing the archive: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := x.writeHead(tmp, level, w.mtime, manifestJSON, analysisJSON); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if _, err := bodyFile.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := io.Copy(tmp, bodyFile); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), archivePath); err != nil {
		return nil, fmt.Errorf("writing %s: %w", archivePath, err)
	}
	if err := discover.WriteFileAtomic(manifestPath, manifestJSON, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", manifestPath, err)
	}
	x.logf("wrote %s: %d files, %s", archivePath, m.Sizes.Files, humanSize(m.Sizes.Total))
	return &Result{ArchivePath: archivePath, ManifestPath: manifestPath, Manifest: m}, nil
}

// writeHead writes the first gzip member: the manifest and the analysis.
func (x *extraction) writeHead(out io.Writer, level int, mtime time.Time, manifestJSON, analysisJSON []byte) error {
	gz, err := gzip.NewWriterLevel(out, level)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{ArchiveManifest, manifestJSON}, {ArchiveAnalysis, analysisJSON}} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	// Flush pads the last entry; no end-of-archive marker here, the body
	// member carries it.
	if err := tw.Flush(); err != nil {
		return err
	}
	return gz.Close()
}

func (w *writer) header(e *entry) *tar.Header {
	return &tar.Header{
		Name:    ArchiveRootfs + e.path,
		Mode:    int64(e.mode),
		Uid:     int(e.uid),
		Gid:     int(e.gid),
		ModTime: w.mtime,
	}
}

// entry writes one archive entry.
func (w *writer) entry(e *entry) error {
	switch e.typ {
	case TypeDir:
		hdr := w.header(e)
		hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		return w.tw.WriteHeader(hdr)
	case TypeSymlink:
		hdr := w.header(e)
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		return w.tw.WriteHeader(hdr)
	}
	x := w.x
	if e.data != nil {
		data, occ := x.scan.redact(e.data)
		if err := w.found(e.path, "", occ); err != nil {
			return err
		}
		e.redacted = true
		return w.bytesEntry(e, data)
	}
	local := hostFile(x.opts.Host, e.path)
	f, err := openNoFollow(local)
	if err != nil {
		w.failed = append(w.failed, fmt.Sprintf("%s: %v", e.path, err))
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		w.failed = append(w.failed, fmt.Sprintf("%s: %v", e.path, err))
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s was replaced by a %s while hoist read it; stop the app or exclude it, then run the command again", e.path, fi.Mode().Type())
	}
	size := fi.Size()
	scanning := len(x.scan.vals) > 0
	if isZipName(e.path) && (scanning || x.jarEdits[e.path] != nil) {
		done, err := w.zipEntry(e, f, size)
		if done || err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if scanning && size <= maxScanSize {
		// Read into a reused buffer; the size is what fstat said, so a
		// file that grows meanwhile is cut there, as when streaming.
		data := w.small[:size]
		n, err := io.ReadFull(f, data)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			w.failed = append(w.failed, fmt.Sprintf("%s: %v", e.path, err))
			return nil
		}
		if int64(n) != size {
			return fmt.Errorf("%s shrank from %d to %d bytes while hoist read it; stop the app or exclude the file, then run the command again", e.path, size, n)
		}
		if isText(data) && x.scan.find(data) {
			out, occ := x.scan.redact(data)
			if len(occ) > 0 {
				if err := w.found(e.path, "", occ); err != nil {
					return err
				}
				e.redacted = true
				data = out
			}
		}
		return w.bytesEntry(e, data)
	}
	return w.streamEntry(e, f, size)
}

// found records the secret values the scan replaced in a file.
func (w *writer) found(p, entryName string, occ []occurrence) error {
	if len(occ) == 0 {
		return nil
	}
	x := w.x
	name := p
	if entryName != "" {
		name += "!/" + entryName
	}
	secrets, err := mergeOccurrences(name, occ, nil, x.secrets)
	if err != nil {
		return err
	}
	var refs []string
	for _, s := range secrets {
		refs = append(refs, s.Ref)
	}
	if x.opts.RefuseFoundSecrets {
		w.refused = append(w.refused, name+" ("+strings.Join(refs, ", ")+")")
		return nil
	}
	x.warn("%s holds the value of %s although the analysis did not find it there; it was redacted like the others", name, strings.Join(refs, ", "))
	return x.addRedacted(p, entryName, "", "scan", secrets)
}

func (w *writer) bytesEntry(e *entry, data []byte) error {
	hdr := w.header(e)
	hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := w.tw.Write(data); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	e.sha, e.size = hex.EncodeToString(sum[:]), int64(len(data))
	return nil
}

func (w *writer) streamEntry(e *entry, r io.Reader, size int64) error {
	hdr := w.header(e)
	hdr.Typeflag, hdr.Size = tar.TypeReg, size
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	w.h.Reset()
	n, err := io.CopyBuffer(w.tw, onlyReader{io.TeeReader(io.LimitReader(r, size), w.h)}, w.buf)
	if err != nil {
		return fmt.Errorf("reading %s: %w", e.path, err)
	}
	if n != size {
		return fmt.Errorf("%s shrank from %d to %d bytes while hoist read it; stop the app or exclude the file, then run the command again", e.path, size, n)
	}
	e.sha, e.size = hex.EncodeToString(w.h.Sum(nil)), size
	return nil
}

// zipEntry handles a jar or war: when a config inside holds a secret, or
// the scan finds one in a text entry, the archive gets a rewritten copy.
// done is false when the file is to be archived as it is.
func (w *writer) zipEntry(e *entry, f *os.File, size int64) (done bool, err error) {
	x := w.x
	edits := x.jarEdits[e.path]
	zr, err := zip.NewReader(f, size)
	if err != nil {
		if edits != nil {
			return false, fmt.Errorf("reading %s as a jar to redact its secrets: %w", e.path, err)
		}
		return false, nil // not a zip after all: archived as it is
	}
	changes, err := scanZip(zr, edits, x.scan)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", e.path, err)
	}
	if len(changes) == 0 {
		return false, nil
	}
	names := make([]string, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := changes[n]
		if err := x.addRedacted(e.path, n, c.kind, "config", c.secrets); err != nil {
			return false, err
		}
		if err := w.found(e.path, n, c.occ); err != nil {
			return false, err
		}
	}
	if x.opts.RefuseFoundSecrets && len(w.refused) > 0 {
		return true, nil
	}
	tmp, err := os.CreateTemp(x.workDir, "jar-*")
	if err != nil {
		return false, err
	}
	defer tmp.Close()
	if err := rewriteZip(f, size, zr, tmp, changes); err != nil {
		return false, fmt.Errorf("rewriting %s with its secrets redacted: %w; exclude it, or move its secrets to an external config file, and run the command again", e.path, err)
	}
	n, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	e.redacted = true
	return true, w.streamEntry(e, tmp, n)
}

func dedup(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
