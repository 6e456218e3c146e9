package extract

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/hoistctl/hoist/discover"
)

// What Unpack refuses. Each error Unpack returns is an *ArchiveError that
// wraps one of these and discover.ErrInvalid.
var (
	ErrUnsafePath    = errors.New("unsafe path")
	ErrUnsafeLink    = errors.New("symlink pointing outside the archive")
	ErrHardLink      = errors.New("hard link")
	ErrSpecialFile   = errors.New("device, FIFO or other special file")
	ErrDuplicate     = errors.New("duplicate entry")
	ErrCorrupt       = errors.New("truncated or corrupt archive")
	ErrNotInManifest = errors.New("entry not in the manifest")
	ErrMismatch      = errors.New("entry does not match the manifest")
	ErrBadManifest   = errors.New("missing or malformed manifest")
	ErrTooLarge      = errors.New("archive larger than allowed")
	ErrIncomplete    = errors.New("entries of the manifest missing from the archive")
	ErrDestination   = errors.New("unusable destination")
)

// ArchiveError says what is wrong with an archive, at which entry, and what
// to do about it.
type ArchiveError struct {
	Archive string
	Entry   string // empty when the problem is not one entry's
	Kind    error  // one of the Err* values above
	Detail  string
}

func (e *ArchiveError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unpacking %s: ", e.Archive)
	if e.Entry != "" {
		fmt.Fprintf(&b, "entry %q: ", e.Entry)
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	b.WriteString("; " + hintFor(e.Kind))
	return b.String()
}

// Unwrap lets errors.Is find both the kind and discover.ErrInvalid.
func (e *ArchiveError) Unwrap() []error {
	if e.Kind == ErrDestination {
		return []error{e.Kind}
	}
	return []error{e.Kind, discover.ErrInvalid}
}

func hintFor(kind error) string {
	switch kind {
	case ErrCorrupt, ErrIncomplete:
		return "the file was cut short or damaged in transit: copy it again, or run `hoist extract` again on the source host"
	case ErrTooLarge:
		return "if the app really is this big, raise the limit (--max-archive-size)"
	case ErrDestination:
		return "unpack into a new or empty directory"
	case ErrBadManifest:
		return "only archives written by `hoist extract` can be unpacked: run it again on the source host"
	case ErrMismatch:
		return "the archive was damaged or changed after `hoist extract` wrote it: copy it again, or run `hoist extract` again on the source host"
	}
	return "the archive was not written by `hoist extract` or was tampered with; do not use it, run `hoist extract` again on the source host"
}

// DefaultMaxTotalSize bounds what Unpack writes, unless WithMaxTotalSize
// says otherwise.
const DefaultMaxTotalSize int64 = 64 << 30

const (
	maxManifestSize = 256 << 20
	maxAnalysisSize = 64 << 20
)

// UnpackOption changes how Unpack works.
type UnpackOption func(*unpackOptions)

type unpackOptions struct {
	maxTotal int64
	chown    bool
}

// WithMaxTotalSize sets the most bytes of file content Unpack accepts.
func WithMaxTotalSize(n int64) UnpackOption {
	return func(o *unpackOptions) { o.maxTotal = n }
}

// withChown forces (or prevents) setting owners; tests use it.
func withChown(on bool) UnpackOption {
	return func(o *unpackOptions) { o.chown = on }
}

// Unpack unpacks an archive written by Extract into destDir, which must not
// exist or be empty: the manifest at destDir/.hoist/manifest.json, the
// analysis at destDir/.hoist/analysis.json, the app's files under
// destDir/rootfs with their modes (and owners, when run as root).
//
// It checks everything against the manifest and refuses hostile or broken
// archives (unsafe paths, links out of the tree, hard links, devices,
// duplicates, entries the manifest does not list, wrong checksums,
// truncation, oversize). It never writes outside destDir, and on error it
// removes what it wrote.
func Unpack(ctx context.Context, archivePath, destDir string, opts ...UnpackOption) (m *Manifest, err error) {
	o := unpackOptions{maxTotal: DefaultMaxTotalSize, chown: os.Geteuid() == 0}
	for _, opt := range opts {
		opt(&o)
	}
	fail := func(entry string, kind error, format string, args ...any) error {
		return &ArchiveError{Archive: archivePath, Entry: entry, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}

	created := false
	if ents, err := os.ReadDir(destDir); err == nil {
		if len(ents) > 0 {
			return nil, fail("", ErrDestination, "%s is not empty", destDir)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(destDir, 0o755); err != nil {
			return nil, fmt.Errorf("unpacking %s: creating %s: %w", archivePath, destDir, err)
		}
		created = true
	} else {
		return nil, fail("", ErrDestination, "%v", err)
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", archivePath, err)
	}
	defer root.Close()
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(destDir)
			return
		}
		for _, n := range []string{ArchiveRootfs, ".hoist"} {
			root.RemoveAll(n)
		}
	}()

	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", archivePath, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fail("", ErrBadManifest, "it is a directory; name the .tar.gz file `hoist extract` wrote (APP/extract/APP.tar.gz)")
	}
	gz, err := gzip.NewReader(f)
	switch {
	case errors.Is(err, gzip.ErrHeader):
		// Something else altogether, not a damaged archive.
		return nil, fail("", ErrBadManifest, "not a gzip file")
	case err != nil:
		return nil, fail("", ErrCorrupt, "not a whole gzip file: %v", err)
	}
	tr := tar.NewReader(gz)

	// The manifest comes first.
	hdr, err := tr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail("", ErrBadManifest, "the archive is empty")
		}
		return nil, fail("", ErrCorrupt, "reading the first entry: %v", err)
	}
	if hdr.Name != ArchiveManifest || hdr.Typeflag != tar.TypeReg {
		return nil, fail(hdr.Name, ErrBadManifest, "the first entry must be the file %s", ArchiveManifest)
	}
	if hdr.Size > maxManifestSize {
		return nil, fail(hdr.Name, ErrBadManifest, "%d bytes, more than the %d a manifest may have", hdr.Size, maxManifestSize)
	}
	manifestJSON, err := io.ReadAll(tr)
	if err != nil {
		return nil, fail(hdr.Name, ErrCorrupt, "%v", err)
	}
	m, err = decodeManifest(manifestJSON)
	if err != nil {
		return nil, fail(hdr.Name, ErrBadManifest, "%v", err)
	}
	files, err := checkManifest(m, o.maxTotal, func(entry string, kind error, format string, args ...any) error {
		return fail(entry, kind, format, args...)
	})
	if err != nil {
		return nil, err
	}
	if err := root.Mkdir(".hoist", 0o755); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", archivePath, err)
	}
	if err := root.WriteFile(ArchiveManifest, manifestJSON, 0o644); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", archivePath, err)
	}
	if err := root.Mkdir(ArchiveRootfs, 0o755); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", archivePath, err)
	}

	seen := map[string]bool{ArchiveManifest: true}
	var written []*File
	analysisSeen := false
	buf := make([]byte, 256<<10)
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			last := ""
			if len(written) > 0 {
				last = written[len(written)-1].ArchiveName()
			}
			return nil, fail(last, ErrCorrupt, "reading the entry after it: %v", err)
		}
		name, err := cleanEntryName(hdr)
		if err != nil {
			return nil, fail(hdr.Name, ErrUnsafePath, "%v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
		case tar.TypeLink:
			return nil, fail(hdr.Name, ErrHardLink, "links to %q; hoist archives never hold hard links", hdr.Linkname)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return nil, fail(hdr.Name, ErrSpecialFile, "type %q", string(hdr.Typeflag))
		default:
			return nil, fail(hdr.Name, ErrSpecialFile, "unsupported entry type %q", string(hdr.Typeflag))
		}
		if seen[name] {
			return nil, fail(hdr.Name, ErrDuplicate, "the archive holds it twice")
		}
		seen[name] = true

		if name == ArchiveAnalysis {
			if hdr.Typeflag != tar.TypeReg || hdr.Size != m.Analysis.Size || hdr.Size > maxAnalysisSize {
				return nil, fail(hdr.Name, ErrMismatch, "the manifest says a %d-byte file", m.Analysis.Size)
			}
			if err := writeFile(root, name, tr, hdr.Size, 0o644, h, buf); err != nil {
				return nil, fail(hdr.Name, ErrCorrupt, "%v", err)
			}
			if sum := hex.EncodeToString(h.Sum(nil)); sum != m.Analysis.SHA256 {
				return nil, fail(hdr.Name, ErrMismatch, "sha256 %s, the manifest says %s", sum, m.Analysis.SHA256)
			}
			analysisSeen = true
			continue
		}
		hostPath := strings.TrimPrefix(name, ArchiveRootfs)
		mf, ok := files[hostPath]
		if !ok {
			return nil, fail(hdr.Name, ErrNotInManifest, "the manifest does not list %s", hostPath)
		}
		if err := matchHeader(hdr, mf); err != nil {
			return nil, fail(hdr.Name, ErrMismatch, "%v", err)
		}
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return nil, fail(hdr.Name, ErrUnsafePath, "creating its directory: %v", err)
		}
		switch mf.Type {
		case TypeDir:
			if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, fail(hdr.Name, ErrUnsafePath, "%v", err)
			}
			if fi, err := root.Lstat(name); err != nil || !fi.IsDir() {
				return nil, fail(hdr.Name, ErrDuplicate, "something other than a directory is already there")
			}
		case TypeSymlink:
			if err := root.Symlink(mf.LinkTarget, name); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return nil, fail(hdr.Name, ErrDuplicate, "a directory an earlier entry needed is already there")
				}
				return nil, fail(hdr.Name, ErrUnsafePath, "%v", err)
			}
		case TypeFile:
			if err := writeFile(root, name, tr, mf.Size, 0o600, h, buf); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, fail(hdr.Name, ErrCorrupt, "the archive ends inside it")
				}
				if errors.Is(err, fs.ErrExist) {
					return nil, fail(hdr.Name, ErrDuplicate, "something is already there")
				}
				return nil, fail(hdr.Name, ErrCorrupt, "%v", err)
			}
			if sum := hex.EncodeToString(h.Sum(nil)); sum != mf.SHA256 {
				return nil, fail(hdr.Name, ErrMismatch, "sha256 %s, the manifest says %s", sum, mf.SHA256)
			}
		}
		written = append(written, mf)
	}
	// Read to the end of the gzip stream, so its checksum is verified.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fail("", ErrCorrupt, "after the last entry: %v", err)
	}
	if !analysisSeen {
		return nil, fail(ArchiveAnalysis, ErrIncomplete, "the analysis is missing")
	}
	if len(written) != len(files) {
		var missing []string
		for p, mf := range files {
			if !seen[strings.TrimSuffix(mf.ArchiveName(), "/")] {
				missing = append(missing, p)
			}
		}
		sort.Strings(missing)
		return nil, fail("", ErrIncomplete, "%d of %d files are missing, first %s", len(missing), len(files), listSome(missing))
	}

	// Owners and modes last, deepest first, so that a read-only directory
	// or a setuid bit does not get in the way of writing.
	mtime := time.Unix(m.SourceDateEpoch, 0)
	for i := len(written) - 1; i >= 0; i-- {
		mf := written[i]
		name := strings.TrimSuffix(mf.ArchiveName(), "/")
		if o.chown {
			if err := root.Lchown(name, int(mf.UID), int(mf.GID)); err != nil {
				return nil, fmt.Errorf("unpacking %s: setting the owner of %s: %w", archivePath, name, err)
			}
		}
		if mf.Type == TypeSymlink {
			continue
		}
		if err := root.Chmod(name, mf.Mode.FileMode()); err != nil {
			return nil, fmt.Errorf("unpacking %s: setting the mode of %s: %w", archivePath, name, err)
		}
		if err := root.Chtimes(name, mtime, mtime); err != nil {
			return nil, fmt.Errorf("unpacking %s: setting the time of %s: %w", archivePath, name, err)
		}
	}
	return m, nil
}

// cleanEntryName validates an entry's name: relative, clean, no "..", and
// either the analysis or something under rootfs/.
func cleanEntryName(hdr *tar.Header) (string, error) {
	name := hdr.Name
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("the name holds a NUL byte")
	}
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if path.IsAbs(name) {
		return "", fmt.Errorf("absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("the path climbs out with \"..\"")
		}
	}
	if name == "" || path.Clean(name) != name {
		return "", fmt.Errorf("not a clean path")
	}
	if name != ArchiveAnalysis && !strings.HasPrefix(name, ArchiveRootfs+"/") {
		return "", fmt.Errorf("outside %s/ and .hoist/", ArchiveRootfs)
	}
	return name, nil
}

// checkManifest validates the manifest before anything is written: paths,
// types, links, no entry below a symlink, and the total size.
func checkManifest(m *Manifest, maxTotal int64, fail func(string, error, string, ...any) error) (map[string]*File, error) {
	files := make(map[string]*File, len(m.Files))
	links := map[string]string{}
	var total int64
	for i := range m.Files {
		f := &m.Files[i]
		p := f.Path
		entry := ArchiveRootfs + p
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.IndexByte(p, 0) >= 0 {
			return nil, fail(entry, ErrUnsafePath, "the manifest lists %q, which is not a clean absolute path", p)
		}
		if _, dup := files[p]; dup {
			return nil, fail(entry, ErrDuplicate, "the manifest lists it twice")
		}
		switch f.Type {
		case TypeFile:
			if f.Size < 0 {
				return nil, fail(entry, ErrBadManifest, "negative size")
			}
			total += f.Size
			if total > maxTotal || total < 0 {
				return nil, fail("", ErrTooLarge, "the files add up to more than %d bytes", maxTotal)
			}
		case TypeDir:
		case TypeSymlink:
			links[p] = f.LinkTarget
		default:
			return nil, fail(entry, ErrSpecialFile, "the manifest gives it type %q", f.Type)
		}
		files[p] = f
	}
	for p, f := range files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, isLink := links[d]; isLink {
				return nil, fail(ArchiveRootfs+p, ErrUnsafePath, "it is below the symlink %s, so writing it would follow the link", d)
			}
			if pf, ok := files[d]; ok && pf.Type == TypeFile {
				return nil, fail(ArchiveRootfs+p, ErrUnsafePath, "it is below the file %s", d)
			}
		}
		if f.Type == TypeSymlink && linkEscapes(p, f.LinkTarget, links) {
			return nil, fail(ArchiveRootfs+p, ErrUnsafeLink, "it points to %q, which resolves outside the unpacked tree", f.LinkTarget)
		}
	}
	return files, nil
}

// matchHeader checks a tar header against the manifest's record.
func matchHeader(hdr *tar.Header, f *File) error {
	want := map[string]byte{TypeFile: tar.TypeReg, TypeDir: tar.TypeDir, TypeSymlink: tar.TypeSymlink}[f.Type]
	switch {
	case hdr.Typeflag != want:
		return fmt.Errorf("type %q, the manifest says %s", string(hdr.Typeflag), f.Type)
	case f.Type == TypeFile && hdr.Size != f.Size:
		return fmt.Errorf("%d bytes, the manifest says %d", hdr.Size, f.Size)
	case f.Type == TypeSymlink && hdr.Linkname != f.LinkTarget:
		return fmt.Errorf("points to %q, the manifest says %q", hdr.Linkname, f.LinkTarget)
	case f.Type != TypeSymlink && Mode(hdr.Mode&0o7777) != f.Mode:
		return fmt.Errorf("mode %04o, the manifest says %s", hdr.Mode&0o7777, f.Mode)
	case hdr.Uid != int(f.UID) || hdr.Gid != int(f.GID):
		return fmt.Errorf("owner %d:%d, the manifest says %d:%d", hdr.Uid, hdr.Gid, f.UID, f.GID)
	}
	return nil
}

// writeFile creates a new file (never through an existing one) and copies
// exactly size bytes into it, hashing them into h.
func writeFile(root *os.Root, name string, r io.Reader, size int64, perm fs.FileMode, h interface {
	io.Writer
	Reset()
}, buf []byte) error {
	h.Reset()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(out, onlyReader{io.TeeReader(io.LimitReader(r, size), h)}, buf)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != size {
		return io.ErrUnexpectedEOF
	}
	return nil
}
