package hostbase

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// skipFunc says why a path inside a copied tree (relative to the tree's
// root) is left out, or "" to copy it.
type skipFunc func(rel string, fi fs.FileInfo) string

// place mirrors the host path p into Dest: every directory met on the way
// is created with the host's mode and owner, every symlink is recreated
// with its host target (and followed, as the kernel would), and the object
// p finally names is copied. When it is a directory, tree copies what it
// holds too. place returns p's real path. It never overwrites what Dest
// already has and only ever writes at real (link-free) paths under Dest.
func (a *assembler) place(p string, tree bool) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	resolved, _, err := a.h.Follow(p, func(next string, fi fs.FileInfo, target string) error {
		switch {
		case target != "":
			return a.mkLink(next, target, fi)
		case fi.IsDir():
			return a.mkDir(next, fi)
		case fi.Mode().IsRegular():
			return a.copyFile(next, fi)
		}
		return fmt.Errorf("%s: special file (%s) not copied", next, fi.Mode().Type())
	})
	if err != nil {
		return "", err
	}
	if tree && resolved != "/" {
		if fi, err := a.h.Lstat(resolved); err == nil && fi.IsDir() {
			if err := a.copyTree(resolved, nil); err != nil {
				return "", err
			}
		}
	}
	return resolved, nil
}

// rel is the name of a host path inside the Dest root.
func rel(p string) string {
	r := strings.TrimPrefix(path.Clean(p), "/")
	if r == "" {
		return "."
	}
	return r
}

// copyTree copies the host directory dir (a real path) into Dest, sorted,
// skipping what skip names. Symlinks are recreated; when one points out of
// dir, its target is placed as well so that the result is self-contained.
func (a *assembler) copyTree(dir string, skip skipFunc) error {
	if a.trees[dir] {
		return nil
	}
	a.trees[dir] = true
	return a.walkCopy(dir, dir, skip)
}

func (a *assembler) walkCopy(top, dir string, skip skipFunc) error {
	entries, err := a.h.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries { // os.ReadDir sorts by name
		p := path.Join(dir, e.Name())
		r := strings.TrimPrefix(p, top+"/")
		fi, err := a.h.Lstat(p)
		if err != nil {
			return err
		}
		if skip != nil {
			if why := skip(r, fi); why != "" {
				a.skip(top, r, why, fi)
				continue
			}
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := a.h.Readlink(p)
			if err != nil {
				return err
			}
			if err := a.mkLink(p, target, fi); err != nil {
				return err
			}
			real, err := a.h.Resolve(p)
			if err != nil || !a.h.Exists(real) {
				continue // dangling on the host too; kept as it is
			}
			if within(real, top) {
				continue // the walk copies it
			}
			if _, err := a.place(p, true); err != nil {
				a.note("%s links to %s, which could not be copied: %v", p, target, err)
			}
		case fi.IsDir():
			if err := a.mkDir(p, fi); err != nil {
				return err
			}
			if err := a.walkCopy(top, p, skip); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := a.copyFile(p, fi); err != nil {
				return err
			}
		default:
			a.skip(top, r, "special file", fi)
		}
	}
	return nil
}

// skip records a path left out of a tree, for the notes.
func (a *assembler) skip(top, r, why string, fi fs.FileInfo) {
	p := path.Join(top, r)
	if a.skipped[p] {
		return
	}
	a.skipped[p] = true
	what := r
	if fi.IsDir() {
		what += "/"
	}
	detail := why
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if t, err := a.h.Readlink(p); err == nil {
			detail += ", a link to " + t
		}
	case fi.IsDir():
		size, n := a.measure(p, nil)
		detail += fmt.Sprintf(", %d files, %s", n, human(size))
	case fi.Mode().IsRegular():
		detail += ", " + human(fi.Size())
	}
	a.note("left out %s of %s (%s)", what, top, detail)
}

// mkDir creates the directory p in Dest like the host's (fi).
func (a *assembler) mkDir(p string, fi fs.FileInfo) error {
	name := rel(p)
	if name == "." {
		return nil
	}
	if cur, err := a.root.Lstat(name); err == nil {
		if cur.IsDir() {
			return nil
		}
		return a.conflictAt(p, "a directory", cur)
	}
	if err := a.root.Mkdir(name, 0o700); err != nil {
		return err
	}
	a.owner(name, fi, false)
	return a.root.Chmod(name, modeBits(fi.Mode()))
}

// mkLink creates the symlink p -> target in Dest.
func (a *assembler) mkLink(p, target string, fi fs.FileInfo) error {
	name := rel(p)
	if cur, err := a.root.Lstat(name); err == nil {
		if cur.Mode()&fs.ModeSymlink != 0 {
			if t, err := a.root.Readlink(name); err == nil && t == target {
				return nil
			}
		}
		return a.conflictAt(p, "a link to "+target, cur)
	}
	if err := a.root.Symlink(target, name); err != nil {
		return err
	}
	a.owner(name, fi, true)
	return nil
}

// conflictAt notes that Dest already holds something else at p: the first
// writer wins (the runtime before the system files).
func (a *assembler) conflictAt(p, want string, cur fs.FileInfo) error {
	if !a.conflict[p] {
		a.conflict[p] = true
		a.note("%s: kept what was already there (%s) rather than %s", p, cur.Mode().Type(), want)
	}
	return nil
}

// copyFile copies the regular host file p (a real path) into Dest, with
// its mode, owner and modification time. A file Dest already has is kept.
func (a *assembler) copyFile(p string, fi fs.FileInfo) error {
	name := rel(p)
	if _, err := a.root.Lstat(name); err == nil {
		return nil
	}
	src, err := a.h.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := a.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(dst, src)
	if err == nil {
		if a.chown {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				err = dst.Chown(int(st.Uid), int(st.Gid))
			}
		}
	}
	if err == nil {
		// After chown, which clears setuid and setgid.
		err = dst.Chmod(modeBits(fi.Mode()))
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", p, err)
	}
	if err := a.root.Chtimes(name, fi.ModTime(), fi.ModTime()); err != nil {
		return err
	}
	a.files++
	a.size += n
	if isELF(src) {
		a.addELF(p)
	}
	return nil
}

// writeFile writes generated content at p (mode, owner root), replacing
// what Dest has there.
func (a *assembler) writeFile(p string, data []byte, mode fs.FileMode) error {
	if err := a.parents(p); err != nil {
		return err
	}
	name := rel(p)
	if cur, err := a.root.Lstat(name); err == nil {
		if !cur.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file in the destination", p)
		}
		if err := a.root.Remove(name); err != nil {
			return err
		}
	}
	f, err := a.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && a.chown {
		err = f.Chown(0, 0)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	a.files++
	a.size += int64(len(data))
	return nil
}

// parents places the directory p is in, as on the host (or plain 0755
// directories where the host has none).
func (a *assembler) parents(p string) error {
	dir := path.Dir(p)
	if a.h.IsDir(dir) {
		real, err := a.place(dir, false)
		if err != nil {
			return err
		}
		if real != dir {
			return fmt.Errorf("%s: the host's %s is a link to %s", p, dir, real)
		}
		return nil
	}
	if err := a.parents(dir); err != nil {
		return err
	}
	name := rel(dir)
	if _, err := a.root.Lstat(name); err == nil {
		return nil
	}
	return a.root.Mkdir(name, 0o755)
}

// owner sets the host's owner on a new Dest entry (as root only).
func (a *assembler) owner(name string, fi fs.FileInfo, link bool) {
	if !a.chown {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if link {
		_ = a.root.Lchown(name, int(st.Uid), int(st.Gid))
		return
	}
	_ = a.root.Chown(name, int(st.Uid), int(st.Gid))
}

func modeBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// measure sums the regular files below a host directory, following links
// that leave it (as a copy would), with the same skips.
func (a *assembler) measure(dir string, skip skipFunc) (int64, int) {
	var size int64
	var n int
	seen := map[string]bool{}
	var walk func(top, d string)
	walk = func(top, d string) {
		if seen[d] {
			return
		}
		seen[d] = true
		entries, err := a.h.ReadDir(d)
		if err != nil {
			return
		}
		for _, e := range entries {
			p := path.Join(d, e.Name())
			fi, err := a.h.Lstat(p)
			if err != nil {
				continue
			}
			if skip != nil && skip(strings.TrimPrefix(p, top+"/"), fi) != "" {
				continue
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				real, err := a.h.Resolve(p)
				if err != nil || within(real, top) {
					continue
				}
				rfi, err := a.h.Stat(real)
				if err != nil {
					continue
				}
				if rfi.IsDir() {
					walk(real, real)
				} else if rfi.Mode().IsRegular() {
					size += rfi.Size()
					n++
				}
			case fi.IsDir():
				walk(top, p)
			case fi.Mode().IsRegular():
				size += fi.Size()
				n++
			}
		}
	}
	walk(dir, dir)
	return size, n
}

// isELF says whether the open file starts with the ELF magic.
func isELF(r io.ReaderAt) bool {
	var b [4]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return false
	}
	return string(b[:]) == "\x7fELF"
}

// destPath is where a host path is on this machine under Dest.
func (a *assembler) destPath(p string) string {
	return a.dest + path.Clean(p)
}

// destLstat stats a host path in Dest without following a final link.
func (a *assembler) destLstat(p string) (fs.FileInfo, error) {
	return a.root.Lstat(rel(p))
}

var errNotELF = errors.New("not an ELF file")
