package extract

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/hoistctl/hoist/discover"
)

// entry is one path to archive, as found on the host.
type entry struct {
	path     string // absolute host path; its parent directories are real (no symlinks)
	typ      string
	size     int64
	mode     Mode
	uid      uint32
	gid      uint32
	link     string // symlink target, as archived
	hostLink string // the target on the host, when link was rewritten

	walked bool // directory whose contents were collected (or deliberately left empty)
	parent bool // directory added only because something below it is archived
	// via is the symlink, found while walking, through which an entry
	// outside every included path was reached; it decides the entry's layer.
	via string

	// Set while writing.
	sha      string
	data     []byte // content to archive instead of the host file's (redacted)
	redacted bool

	role, layer string
}

// collector walks the included paths of one host.
type collector struct {
	ctx  context.Context
	h    discover.Host
	excl *excluder
	// runtimes are the language runtime's directories (real paths); they
	// are left out unless the walk started inside one.
	runtimes []string
	root     string // real path of the include being walked

	entries  map[string]*entry
	excluded map[string]*Excluded

	missing    []string
	unreadable []string
	warnings   []string
}

func newCollector(ctx context.Context, h discover.Host, excl *excluder) *collector {
	return &collector{
		ctx: ctx, h: h, excl: excl,
		entries:  map[string]*entry{},
		excluded: map[string]*Excluded{},
	}
}

func (c *collector) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// local maps a host path to this machine's filesystem (copied from
// discover.Host, which keeps its version unexported).
func (c *collector) local(p string) string { return hostFile(c.h, p) }

func hostFile(h discover.Host, p string) string {
	if h.Root == "" || h.Root == "/" {
		return p
	}
	return filepath.Join(h.Root, filepath.FromSlash(p))
}

// resolve follows the symlinks in p the way the kernel would inside the
// host root, and returns every symlink it went through (each at a path
// whose directories are real) and the real path. exists is false when the
// path (or a directory on the way) does not exist.
func (c *collector) resolve(p string) (real string, hops []string, exists bool, err error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	real, rest, err := c.h.Follow(p, func(p string, _ fs.FileInfo, target string) error {
		if target != "" {
			hops = append(hops, p)
		}
		return nil
	})
	switch {
	case err == nil:
		return real, hops, true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return path.Join(append([]string{real}, rest...)...), hops, false, nil
	}
	return "", hops, false, err
}

// under says whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func (c *collector) inRuntime(p string) (string, bool) {
	for _, r := range c.runtimes {
		if under(p, r) {
			return r, true
		}
	}
	return "", false
}

// pruneRuntime says whether p belongs to the runtime and is left out. A
// path the user included from inside the runtime's directory is kept
// (Mono's xsp4.exe lives in /usr/lib/mono).
func (c *collector) pruneRuntime(p string) bool {
	if _, ok := c.inRuntime(p); !ok {
		return false
	}
	_, rootInside := c.inRuntime(c.root)
	return !rootInside
}

// include collects one included path.
func (c *collector) include(p string) error {
	dir, hops, exists, err := c.resolve(path.Dir(p))
	if err != nil {
		if errors.Is(err, discover.ErrLinkLoop) {
			c.missing = append(c.missing, p+" ("+err.Error()+")")
			return nil
		}
		c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", p, err))
		return nil
	}
	if !exists {
		c.missing = append(c.missing, p)
		return nil
	}
	lp := path.Join(dir, path.Base(p))
	fi, err := os.Lstat(c.local(lp))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.missing = append(c.missing, p)
			return nil
		}
		c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", p, err))
		return nil
	}
	if err := c.addLinks(hops, ""); err != nil {
		return err
	}
	c.root = lp
	if real, _, ok, err := c.resolve(lp); err == nil && ok {
		c.root = real
	}
	return c.visit(lp, fi, "")
}

// addLinks records symlinks a resolution went through.
func (c *collector) addLinks(hops []string, via string) error {
	for _, h := range hops {
		if _, ok := c.entries[h]; ok || !c.validName(h) {
			continue
		}
		fi, err := os.Lstat(c.local(h))
		if err != nil {
			c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", h, err))
			continue
		}
		if _, err := c.add(h, fi, via); err != nil {
			return err
		}
	}
	return nil
}

// validName refuses names manifest.json could not hold exactly.
func (c *collector) validName(p string) bool {
	if utf8.ValidString(p) {
		return true
	}
	q := strings.ToValidUTF8(p, "\ufffd")
	if _, ok := c.excluded[q]; !ok {
		c.excluded[q] = &Excluded{Path: q, Rule: "name is not valid UTF-8"}
		c.warn("%q is not archived: its name is not valid UTF-8; rename it (convmv) or provide it at deploy time", p)
	}
	return false
}

// add records one path and the directories above it.
func (c *collector) add(p string, fi fs.FileInfo, via string) (*entry, error) {
	if e, ok := c.entries[p]; ok {
		return e, nil
	}
	if err := c.addParents(p); err != nil {
		return nil, err
	}
	e := &entry{path: p, mode: modeOf(fi.Mode()), via: via}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.uid, e.gid = st.Uid, st.Gid
	}
	switch {
	case fi.Mode().IsRegular():
		e.typ, e.size = TypeFile, fi.Size()
	case fi.IsDir():
		e.typ = TypeDir
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = TypeSymlink
		t, err := os.Readlink(c.local(p))
		if err != nil {
			c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", p, err))
			return nil, nil
		}
		e.link = t
		e.mode = 0o777
	default:
		return nil, fmt.Errorf("internal error: %s is not a file, directory or symlink", p)
	}
	c.entries[p] = e
	return e, nil
}

func (c *collector) addParents(p string) error {
	var missing []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := c.entries[d]; ok {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		fi, err := os.Lstat(c.local(d))
		if err != nil {
			return fmt.Errorf("reading %s: %w", d, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("internal error: %s is not a directory", d)
		}
		e := &entry{path: d, typ: TypeDir, mode: modeOf(fi.Mode()), parent: true}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.uid, e.gid = st.Uid, st.Gid
		}
		c.entries[d] = e
	}
	return nil
}

// visit collects p (already lstat'ed) and, for a directory, what is in it.
func (c *collector) visit(p string, fi fs.FileInfo, via string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if e, ok := c.entries[p]; ok && (e.typ != TypeDir || e.walked) {
		return nil
	}
	if !c.validName(p) {
		return nil
	}
	if c.pruneRuntime(p) {
		r, _ := c.inRuntime(p)
		c.exclude(r, "runtime", false)
		return nil
	}
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
		if rule, ok := c.excl.match(p, false, c.local(p)); ok {
			c.excludeFile(p, rule, fi.Size())
			return nil
		}
		if _, err := c.add(p, fi, via); err != nil {
			return err
		}
		if strings.EqualFold(path.Ext(p), ".jar") {
			return c.classPath(p, fi.Size(), via)
		}
		return nil
	case mode.IsDir():
		e, err := c.add(p, fi, via)
		if err != nil {
			return err
		}
		e.parent, e.walked = false, true
		if e.via == "" {
			e.via = via
		}
		if rule, ok := c.excl.match(p, true, ""); ok {
			c.exclude(p, rule, true)
			return nil
		}
		f, err := os.Open(c.local(p))
		if err != nil {
			c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", p, err))
			return nil
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", p, err))
			return nil
		}
		sort.Strings(names)
		for _, n := range names {
			child := path.Join(p, n)
			cfi, err := os.Lstat(c.local(child))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // gone since the listing
				}
				c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", child, err))
				continue
			}
			if err := c.visit(child, cfi, via); err != nil {
				return err
			}
		}
		return nil
	case mode&fs.ModeSymlink != 0:
		rule, excluded := c.excl.match(p, false, "")
		if _, err := c.add(p, fi, via); err != nil {
			return err
		}
		if excluded {
			c.exclude(p, rule, false)
		}
		return c.follow(p, via, excluded)
	default:
		kind := "special file"
		switch {
		case mode&fs.ModeSocket != 0:
			kind = "socket"
		case mode&fs.ModeNamedPipe != 0:
			kind = "named pipe"
		case mode&fs.ModeDevice != 0:
			kind = "device"
		}
		c.excluded[p] = &Excluded{Path: p, Rule: "special file (" + kind + ")"}
		c.warn("%s is a %s; it is not archived (the app recreates it at run time, or it must be provided by the container)", p, kind)
		return nil
	}
}

// classPath archives what a jar's manifest Class-Path names (relative to
// the jar's real directory, as the JVM resolves it) and exists on the
// host: a library the JVM loads only when it is first needed — Debian's
// Tomcat's jasper.jar names eclipse-jdt-core.jar, the JSP compiler, which
// nothing else links to — is in the image although the process never
// opened it. Entries missing on the host too are left alone (as the JVM
// does).
func (c *collector) classPath(jar string, size int64, via string) error {
	f, err := os.Open(c.local(jar))
	if err != nil {
		return nil // the jar itself is archived; its read error shows there
	}
	data, err := readJarEntry(f, size, "META-INF/MANIFEST.MF", 1<<20)
	f.Close()
	if err != nil || data == nil {
		return nil
	}
	if via == "" {
		via = jar
	}
	for _, ref := range manifestClassPath(data) {
		p := ref
		if !path.IsAbs(p) {
			p = path.Join(path.Dir(jar), p)
		}
		p = path.Clean(p)
		if _, ok := c.entries[p]; ok || !c.validName(p) {
			continue
		}
		dir, hops, exists, err := c.resolve(path.Dir(p))
		if err != nil || !exists {
			continue
		}
		if err := c.addLinks(hops, via); err != nil {
			return err
		}
		lp := path.Join(dir, path.Base(p))
		fi, err := os.Lstat(c.local(lp))
		if err != nil {
			continue
		}
		if err := c.visit(lp, fi, via); err != nil {
			return err
		}
	}
	return nil
}

// manifestClassPath returns the paths a jar manifest's Class-Path lists:
// relative URLs (decoded) and file: URLs; other schemes are left out.
func manifestClassPath(manifest []byte) []string {
	// Continuation lines start with one space.
	text := strings.ReplaceAll(strings.ReplaceAll(string(manifest), "\r\n", "\n"), "\r", "\n")
	text = strings.ReplaceAll(text, "\n ", "")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Class-Path") {
			continue
		}
		for _, u := range strings.Fields(value) {
			if rest, ok := strings.CutPrefix(u, "file:"); ok {
				u = rest
			} else if i := strings.IndexByte(u, ':'); i > 0 && !strings.ContainsAny(u[:i], "/") {
				continue // http:, jar:, ...
			}
			if d, err := url.PathUnescape(u); err == nil {
				u = d
			}
			if u != "" {
				out = append(out, u)
			}
		}
		break // the main section's only
	}
	return out
}

// follow archives what a symlink points to: every link on the way, and the
// final file or directory, at their real paths, so the link resolves in the
// image exactly as on the host. emptyOnly is set for excluded links: a
// directory target is kept empty (the app may write logs through it).
func (c *collector) follow(link, via string, emptyOnly bool) error {
	real, hops, exists, err := c.resolve(link)
	if err != nil {
		if errors.Is(err, discover.ErrLinkLoop) {
			c.warn("%s: %v; the link is archived as it is", link, err)
			return nil
		}
		c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", link, err))
		return nil
	}
	if via == "" {
		via = link
	}
	if err := c.addLinks(hops, via); err != nil {
		return err
	}
	if !exists {
		c.warn("%s links to %s, which does not exist on the host either; the link is archived as it is", link, real)
		return nil
	}
	if broadDirs[real] || under(real, "/proc") || under(real, "/sys") || under(real, "/dev") {
		c.warn("%s links to %s; hoist does not follow it (that would copy the system), the link is archived as it is", link, real)
		return nil
	}
	if c.pruneRuntime(real) {
		r, _ := c.inRuntime(real)
		c.exclude(r, "runtime", false)
		return nil
	}
	fi, err := os.Lstat(c.local(real))
	if err != nil {
		c.unreadable = append(c.unreadable, fmt.Sprintf("%s: %v", real, err))
		return nil
	}
	if emptyOnly {
		if fi.IsDir() {
			e, err := c.add(real, fi, via)
			if err != nil {
				return err
			}
			if !e.walked {
				e.parent, e.walked = false, true
				c.exclude(real, "target of excluded "+link, true)
			}
		}
		return nil
	}
	return c.visit(real, fi, via)
}

// exclude records an excluded path with the size of what it holds.
func (c *collector) exclude(p, rule string, keptEmpty bool) {
	if _, ok := c.excluded[p]; ok {
		return
	}
	x := &Excluded{Path: p, Rule: rule, KeptEmpty: keptEmpty}
	if rule != "runtime" { // the runtime is measured by the analysis
		x.Size, x.Files = c.treeSize(p)
	}
	c.excluded[p] = x
}

func (c *collector) excludeFile(p, rule string, size int64) {
	if _, ok := c.excluded[p]; !ok {
		c.excluded[p] = &Excluded{Path: p, Rule: rule, Size: size, Files: 1}
	}
}

// treeSize adds up the regular files under p without following links.
func (c *collector) treeSize(p string) (int64, int) {
	var size int64
	var n int
	_ = filepath.WalkDir(c.local(p), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
				n++
			}
		}
		return nil
	})
	return size, n
}
