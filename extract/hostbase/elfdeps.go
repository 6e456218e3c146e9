package hostbase

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hoistctl/hoist/discover"
)

// elfInfo is what the dynamic loader reads from an ELF file.
type elfInfo struct {
	class   elf.Class
	machine elf.Machine
	interp  string
	needed  []string
	rpath   []string
	runpath []string
	soname  string
}

func parseELF(r io.ReaderAt) (*elfInfo, error) {
	if !isELF(r) {
		return nil, errNotELF
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	info := &elfInfo{class: f.Class, machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
			if err == nil {
				info.interp = strings.TrimRight(string(data), "\x00")
			}
		}
	}
	info.needed, _ = f.DynString(elf.DT_NEEDED)
	info.rpath, _ = f.DynString(elf.DT_RPATH)
	info.runpath, _ = f.DynString(elf.DT_RUNPATH)
	if s, _ := f.DynString(elf.DT_SONAME); len(s) > 0 {
		info.soname = s[0]
	}
	return info, nil
}

// elfHeader reads just the class and machine of an ELF file.
func elfHeader(r io.ReaderAt) (elf.Class, elf.Machine, bool) {
	var b [20]byte
	if _, err := r.ReadAt(b[:], 0); err != nil || string(b[:4]) != "\x7fELF" {
		return 0, 0, false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if elf.Data(b[elf.EI_DATA]) == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	return elf.Class(b[elf.EI_CLASS]), elf.Machine(bo.Uint16(b[18:20])), true
}

// addELF notes an ELF file written under Dest (a real host path).
func (a *assembler) addELF(p string) {
	if !a.elfSeen[p] {
		a.elfSeen[p] = true
		a.elfs = append(a.elfs, p)
	}
}

// addHostELF notes an ELF file whose libraries are needed but which is not
// copied here.
func (a *assembler) addHostELF(p string) {
	if !a.elfSeen[p] {
		a.elfSeen[p] = true
		a.hostELFs = append(a.hostELFs, p)
	}
}

// mappedLibraries places the shared objects the process had mapped.
func (a *assembler) mappedLibraries(context.Context) error {
	var libs []string
	for l := range a.mapped {
		libs = append(libs, l)
	}
	sort.Strings(libs)
	var missing, gone []string
	for _, l := range libs {
		l = strings.TrimSuffix(l, " (deleted)")
		if !path.IsAbs(l) {
			continue
		}
		if a.underHome(l) {
			if _, err := a.destLstat(l); err != nil && !a.skipped[l] {
				missing = append(missing, l)
			}
			continue
		}
		real, err := a.h.Resolve(l)
		if err != nil || !a.h.Exists(real) {
			gone = append(gone, l)
			continue
		}
		switch {
		case a.appPath(real):
			a.addHostELF(real) // the app layer has it
		case within(real, "/tmp") || within(real, "/var/tmp") || within(real, "/dev/shm"):
			a.addHostELF(real)
			a.note("%s was extracted by the app at run time (it will be again); the libraries it needs are included", l)
		default:
			real, err := a.place(l, false)
			if err != nil {
				a.note("could not copy the loaded library %s: %v", l, err)
				continue
			}
			a.libs[real] = true
		}
	}
	if len(missing) > 0 {
		hint := ""
		if a.rep.Reduced {
			hint = "; add the modules that provide them or turn jlink off"
		}
		a.note("the process loaded %s, which the runtime built here lacks%s", strings.Join(missing, ", "), hint)
	}
	if len(gone) > 0 {
		a.note("the process had loaded %s, no longer on the host; left out", strings.Join(gone, ", "))
	}
	return nil
}

// appPath says whether a host path belongs to the app's own files.
func (a *assembler) appPath(p string) bool {
	for _, f := range a.o.Analysis.Observed.Files.App {
		if f.Path != "" && within(p, path.Clean(f.Path)) {
			return true
		}
	}
	return false
}

// closure places the dynamic loader and every shared library the copied
// ELF files need, resolved as ld.so would.
func (a *assembler) closure(ctx context.Context) error {
	ldconf := a.ldSoConfDirs("/etc/ld.so.conf", 0)
	var ldLibraryPath []string
	for _, e := range a.o.Analysis.Observed.Environment {
		if e.Name == "LD_LIBRARY_PATH" && e.SecretRef == "" {
			for _, d := range strings.Split(e.Value, ":") {
				if path.IsAbs(d) {
					ldLibraryPath = append(ldLibraryPath, path.Clean(d))
				}
			}
		}
	}
	// Libraries the runtime loads by full path (libjvm.so) are found by
	// name once loaded; searching the runtime's own directories last
	// stands in for that.
	var runtimeDirs []string
	seenDir := map[string]bool{}
	for _, p := range a.elfs {
		if d := path.Dir(p); a.underHome(p) && !seenDir[d] {
			seenDir[d] = true
			runtimeDirs = append(runtimeDirs, d)
		}
	}
	sort.Strings(runtimeDirs)

	type need struct{ name, by string }
	var pending []need
	sonames := map[string]bool{}
	cache := map[string]string{}
	scan := func(p string, fromHost bool) {
		info, err := a.readELF(p, fromHost)
		if err != nil {
			return
		}
		sonames[path.Base(p)] = true
		if info.soname != "" {
			sonames[info.soname] = true
		}
		if info.interp != "" && path.IsAbs(info.interp) {
			if real, err := a.place(info.interp, false); err != nil {
				a.note("the dynamic loader %s (of %s) could not be copied: %v", info.interp, p, err)
			} else {
				a.libs[real] = true
			}
		}
		dirs := searchDirs(p, info, ldLibraryPath, ldconf, runtimeDirs)
		key := strings.Join(dirs, ":")
		for _, name := range info.needed {
			ck := name + "\x00" + key + "\x00" + fmt.Sprint(info.class, info.machine)
			found, ok := cache[ck]
			if !ok {
				found = a.findLib(name, dirs, info)
				cache[ck] = found
			}
			if found == "" {
				pending = append(pending, need{name, p})
				continue
			}
			if a.underHome(found) {
				continue // in Dest with the runtime
			}
			real, err := a.place(found, false)
			if err != nil {
				a.note("could not copy %s (needed by %s): %v", found, p, err)
				continue
			}
			a.libs[real] = true
			a.sonameLink(real)
		}
	}
	for _, p := range a.hostELFs {
		scan(p, true)
	}
	for i := 0; i < len(a.elfs); i++ { // grows as libraries are placed
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		scan(a.elfs[i], false)
	}
	libs := make([]string, 0, len(a.libs))
	for l := range a.libs {
		libs = append(libs, l)
	}
	sort.Strings(libs)
	for _, l := range libs {
		a.sonameLink(l)
	}
	byName := map[string][]string{}
	var names []string
	for _, n := range pending {
		if sonames[n.name] {
			continue
		}
		if byName[n.name] == nil {
			names = append(names, n.name)
		}
		byName[n.name] = append(byName[n.name], n.by)
	}
	sort.Strings(names)
	for _, n := range names {
		by := byName[n]
		sort.Strings(by)
		more := ""
		if len(by) > 3 {
			more = fmt.Sprintf(" and %d more", len(by)-3)
			by = by[:3]
		}
		a.note("shared library %s not found on the host (needed by %s%s); code that loads it will fail", n, strings.Join(by, ", "), more)
	}
	return nil
}

// sonameLink places the soname link of a library found by another name
// (libz.so.1 -> libz.so.1.2.13) when the host has it.
func (a *assembler) sonameLink(real string) {
	info, err := a.readELF(real, false)
	if err != nil || info.soname == "" || info.soname == path.Base(real) || strings.Contains(info.soname, "/") {
		return
	}
	link := path.Join(path.Dir(real), info.soname)
	fi, err := a.h.Lstat(link)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return
	}
	if r, err := a.h.Resolve(link); err == nil && r == real {
		_, _ = a.place(link, false)
	}
}

// readELF parses an ELF file from Dest (what was copied) or the host.
func (a *assembler) readELF(p string, fromHost bool) (*elfInfo, error) {
	if fromHost {
		f, err := a.h.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return parseELF(f)
	}
	f, err := a.root.Open(rel(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseELF(f)
}

// findLib searches dirs for a library the requester (info) can load: same
// ELF class and machine, as ld.so skips incompatible ones. It returns the
// path as found (not resolved), or "".
func (a *assembler) findLib(name string, dirs []string, info *elfInfo) string {
	if strings.Contains(name, "/") {
		if path.IsAbs(name) && a.loadable(name, info) {
			return name
		}
		return ""
	}
	for _, d := range dirs {
		p := path.Join(d, name)
		if a.loadable(p, info) {
			return p
		}
	}
	return ""
}

// loadable says whether p is an ELF file the requester can load. Below the
// runtime home, Dest is authoritative.
func (a *assembler) loadable(p string, want *elfInfo) bool {
	real, err := a.h.Resolve(p)
	if err != nil {
		return false
	}
	var r io.ReaderAt
	if a.underHome(real) {
		fi, err := a.destLstat(real)
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
		f, err := a.root.Open(rel(real))
		if err != nil {
			return false
		}
		defer f.Close()
		r = f
	} else {
		fi, err := a.h.Stat(real)
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
		f, err := a.h.Open(real)
		if err != nil {
			return false
		}
		defer f.Close()
		r = f
	}
	class, machine, ok := elfHeader(r)
	return ok && class == want.class && machine == want.machine
}

// multiarch is Debian's triplet for a machine.
func multiarch(m elf.Machine, c elf.Class) string {
	switch {
	case m == elf.EM_X86_64 && c == elf.ELFCLASS64:
		return "x86_64-linux-gnu"
	case m == elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case m == elf.EM_386:
		return "i386-linux-gnu"
	case m == elf.EM_ARM:
		return "arm-linux-gnueabihf"
	case m == elf.EM_PPC64:
		return "powerpc64le-linux-gnu"
	case m == elf.EM_S390:
		return "s390x-linux-gnu"
	case m == elf.EM_RISCV:
		return "riscv64-linux-gnu"
	}
	return ""
}

// searchDirs is ld.so's search order for the libraries of the object at p:
// DT_RPATH (without DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, ld.so.conf
// (what ld.so.cache holds), the default directories; then the runtime's
// own directories.
func searchDirs(p string, info *elfInfo, ldLibraryPath, ldconf, runtimeDirs []string) []string {
	triplet := multiarch(info.machine, info.class)
	lib := "lib"
	if triplet != "" {
		lib = "lib/" + triplet
	}
	origin := path.Dir(p)
	expand := func(list []string) []string {
		var out []string
		for _, entry := range list {
			for _, d := range strings.Split(entry, ":") {
				for _, tok := range []struct{ k, v string }{{"${ORIGIN}", origin}, {"$ORIGIN", origin}, {"${LIB}", lib}, {"$LIB", lib}, {"${PLATFORM}", "x86_64"}, {"$PLATFORM", "x86_64"}} {
					d = strings.ReplaceAll(d, tok.k, tok.v)
				}
				if path.IsAbs(d) {
					out = append(out, path.Clean(d))
				}
			}
		}
		return out
	}
	var dirs []string
	if len(info.runpath) == 0 {
		dirs = append(dirs, expand(info.rpath)...)
	}
	dirs = append(dirs, ldLibraryPath...)
	dirs = append(dirs, expand(info.runpath)...)
	dirs = append(dirs, ldconf...)
	if triplet != "" {
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	if info.class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	} else {
		dirs = append(dirs, "/lib32", "/usr/lib32")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	dirs = append(dirs, runtimeDirs...)
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// ldSoConfDirs reads the library directories of ld.so.conf and the files
// it includes.
func (a *assembler) ldSoConfDirs(file string, depth int) []string {
	if depth > 8 {
		return nil
	}
	data, err := a.h.ReadFile(file, 1<<20)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "include":
			for _, pat := range f[1:] {
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(file), pat)
				}
				entries, err := a.h.ReadDir(path.Dir(pat))
				if err != nil {
					continue
				}
				for _, e := range entries {
					if ok, _ := path.Match(path.Base(pat), e.Name()); ok {
						out = append(out, a.ldSoConfDirs(path.Join(path.Dir(pat), e.Name()), depth+1)...)
					}
				}
			}
		case "hwcap":
		default:
			for _, d := range f {
				d, _, _ = strings.Cut(d, "=")
				if path.IsAbs(d) {
					out = append(out, path.Clean(d))
				}
			}
		}
	}
	return out
}

// stdDirs are the standard library directories of the host.
func (a *assembler) stdDirs() []string {
	var out []string
	for _, d := range append(a.ldSoConfDirs("/etc/ld.so.conf", 0),
		"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/lib64", "/usr/lib64", "/lib", "/usr/lib") {
		if a.h.IsDir(d) {
			out = append(out, d)
		}
	}
	return out
}

// checkLinks verifies that the result is self-contained: every symlink
// under Dest resolves inside it, unless it was already dangling on the
// host.
func (a *assembler) checkLinks(context.Context) error {
	dh := discover.Host{Root: a.dest}
	var dangling []string
	err := filepath.WalkDir(a.dest, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		hp := "/" + filepath.ToSlash(strings.TrimPrefix(fp, a.dest+string(filepath.Separator)))
		r, err := dh.Resolve(hp)
		if err == nil && dh.Exists(r) {
			return nil
		}
		if !a.h.Exists(hp) {
			return nil // dangling on the host as well
		}
		dangling = append(dangling, hp)
		return nil
	})
	if err != nil {
		return err
	}
	if len(dangling) > 0 {
		more := ""
		if len(dangling) > 10 {
			more = fmt.Sprintf(" and %d more", len(dangling)-10)
			dangling = dangling[:10]
		}
		a.note("links that do not resolve inside the image: %s%s", strings.Join(dangling, ", "), more)
	}
	return nil
}
