package discover

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shirou/gopsutil/v3/common"
)

// Host is the machine being examined: a procfs and a filesystem root. On a
// live host they are /proc and /; tests point them at captured trees under
// testdata so that the same code reads a fixture or a machine.
type Host struct {
	// Proc is the procfs mount (default /proc, or $HOST_PROC).
	Proc string
	// Root is where the processes' filesystem is (default /). Paths seen in
	// /proc (cwd, exe, command lines) are resolved under Root.
	Root string

	// rec, when set, notes every host path read (hoist debug capture).
	rec *recorder
}

// LiveHost is this machine.
func LiveHost() Host {
	h := Host{Proc: "/proc", Root: "/"}
	if v := os.Getenv("HOST_PROC"); v != "" {
		h.Proc = v
	}
	if v := os.Getenv("HOST_ROOT"); v != "" {
		h.Root = v
	}
	return h
}

// context makes gopsutil read h.Proc rather than /proc.
func (h Host) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: h.Proc})
}

func (h Host) live() bool { return h.Root == "/" || h.Root == "" }

// proc returns a path inside the procfs.
func (h Host) proc(parts ...string) string {
	return filepath.Join(append([]string{h.Proc}, parts...)...)
}

func (h Host) procPID(pid int32, parts ...string) string {
	return filepath.Join(append([]string{h.Proc, strconv.Itoa(int(pid))}, parts...)...)
}

// MaxSymlinks bounds symlink chains, as the kernel does.
const MaxSymlinks = 40

// ErrLinkLoop is what following a path with more than MaxSymlinks links
// gives.
var ErrLinkLoop = errors.New("too many levels of symbolic links")

// Follow walks the host path p inside Root component by component, as the
// kernel would: a symlink's target replaces it (an absolute one restarts
// at Root), ".." stops at Root, at most MaxSymlinks links. visit, when not
// nil, sees every component met, at a path whose directories are real,
// with its Lstat and, for a symlink, its target (before it is followed); an
// error from visit ends the walk.
//
// Follow returns the real path. When a component is missing, or is not a
// directory while more follows, it stops there: it returns the path up to
// and including that component, the components left, and the error
// (fs.ErrNotExist, syscall.ENOTDIR or whatever Lstat said).
func (h Host) Follow(p string, visit func(p string, fi fs.FileInfo, target string) error) (resolved string, rest []string, err error) {
	if !path.IsAbs(p) {
		return "", nil, fmt.Errorf("resolving %q: not an absolute path", p)
	}
	resolved = "/"
	rest = splitPath(p)
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		fi, err := os.Lstat(h.file(next))
		if err != nil {
			return next, rest, err
		}
		target := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > MaxSymlinks {
				return "", nil, fmt.Errorf("resolving %s: %w", p, ErrLinkLoop)
			}
			if target, err = os.Readlink(h.file(next)); err != nil {
				return "", nil, err
			}
		} else if !fi.IsDir() && len(rest) > 0 {
			return next, rest, fmt.Errorf("%s: %w", next, syscall.ENOTDIR)
		}
		if visit != nil {
			if err := visit(next, fi, target); err != nil {
				return "", nil, err
			}
		}
		if target == "" {
			resolved = next
			continue
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return resolved, nil, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// Resolve follows symlinks in the host path p as the process would see them,
// without ever leaving Root (see Follow). It returns the resolved path in
// host terms (starting with /); the last element need not exist.
func (h Host) Resolve(p string) (string, error) {
	var rec func(string, fs.FileInfo, string) error
	if h.rec != nil {
		rec = func(p string, _ fs.FileInfo, target string) error {
			if target != "" {
				h.rec.link(p, target)
			}
			return nil
		}
	}
	r, rest, err := h.Follow(p, rec)
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist) && len(rest) == 0:
		return r, nil
	}
	return "", err
}

// file maps a host path to a path on this machine, without following links.
func (h Host) file(p string) string {
	if h.live() {
		return p
	}
	return filepath.Join(h.Root, filepath.FromSlash(p))
}

// Open opens a host path, following links inside Root.
func (h Host) Open(p string) (*os.File, error) {
	r, err := h.Resolve(p)
	if err != nil {
		return nil, err
	}
	h.rec.file(r)
	return os.Open(h.file(r))
}

// Stat stats a host path, following links inside Root.
func (h Host) Stat(p string) (fs.FileInfo, error) {
	r, err := h.Resolve(p)
	if err != nil {
		return nil, err
	}
	h.rec.stat(r)
	return os.Stat(h.file(r))
}

// Lstat stats a host path without following a final link.
func (h Host) Lstat(p string) (fs.FileInfo, error) {
	dir, err := h.Resolve(path.Dir(p))
	if err != nil {
		return nil, err
	}
	return os.Lstat(h.file(path.Join(dir, path.Base(p))))
}

// Readlink reads a link at a host path (its directory is resolved first).
func (h Host) Readlink(p string) (string, error) {
	dir, err := h.Resolve(path.Dir(p))
	if err != nil {
		return "", err
	}
	return os.Readlink(h.file(path.Join(dir, path.Base(p))))
}

// ReadDir lists a host directory.
func (h Host) ReadDir(p string) ([]fs.DirEntry, error) {
	r, err := h.Resolve(p)
	if err != nil {
		return nil, err
	}
	h.rec.dir(r)
	return os.ReadDir(h.file(r))
}

// ErrTooLarge is returned when a file is bigger than a reader allows.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads a host path, refusing files larger than max bytes: config
// files are small, and a huge one is a mistake rather than something to
// load into memory.
func (h Host) ReadFile(p string, max int64) ([]byte, error) {
	f, err := h.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reading %s: %w (over %d bytes)", p, ErrTooLarge, max)
	}
	return data, nil
}

// Exists says whether a host path exists (following links).
func (h Host) Exists(p string) bool {
	_, err := h.Stat(p)
	return err == nil
}

// IsDir says whether a host path is a directory (following links).
func (h Host) IsDir(p string) bool {
	fi, err := h.Stat(p)
	return err == nil && fi.IsDir()
}

// readProcFile reads a small procfs file.
func (h Host) readProcFile(pid int32, name string) ([]byte, error) {
	return os.ReadFile(h.procPID(pid, name))
}

// userDB maps ids to names from the host's /etc/passwd and /etc/group.
type userDB struct {
	users  map[uint32]string
	groups map[uint32]string
	homes  map[uint32]string
	shells map[uint32]string
}

func (h Host) loadUserDB() *userDB {
	db := &userDB{
		users:  map[uint32]string{},
		groups: map[uint32]string{},
		homes:  map[uint32]string{},
		shells: map[uint32]string{},
	}
	for id, f := range h.ColonEntries("/etc/passwd", 7) {
		db.users[id], db.homes[id], db.shells[id] = f[0], f[5], f[6]
	}
	for id, f := range h.ColonEntries("/etc/group", 3) {
		db.groups[id] = f[0]
	}
	return db
}

// ColonEntries reads a file laid out like /etc/passwd or /etc/group: the
// lines with at least fields fields, split at ':', by their numeric ID
// (the third field); the first line of an ID wins, as for getpwuid. A file
// that cannot be read has no entries.
func (h Host) ColonEntries(p string, fields int) map[uint32][]string {
	out := map[uint32][]string{}
	data, err := h.ReadFile(p, 16<<20)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < fields {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := out[uint32(id)]; !dup {
			out[uint32(id)] = f
		}
	}
	return out
}

func (db *userDB) user(uid uint32) string {
	if n, ok := db.users[uid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func (db *userDB) group(gid uint32) string {
	if n, ok := db.groups[gid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(gid), 10)
}
