// Package hostbase implements the "host" base-image strategy of
// `hoist containerize`: it assembles, into a directory that becomes a
// build-context subtree copied onto FROM scratch, exactly the runtime the
// app ran on, taken from the source host. Every file lands at its absolute
// host path under the destination, so the app's command line works
// unchanged inside the image.
//
// What it assembles:
//
//   - the language runtime (a JDK or JRE, optionally reduced with jdeps and
//     jlink; the .NET muxer, hostfxr and the shared frameworks the app
//     uses; Mono's class libraries, binary and configuration), with
//     symlinks that leave the runtime (Debian links its JDK's conf files
//     into /etc) kept and their targets copied too;
//   - the dynamic loader and the shared-library closure of every ELF file
//     copied plus the libraries the process had mapped, found by reading
//     DT_NEEDED, RPATH and RUNPATH with debug/elf and searching the
//     directories the loader would (never by running the host's binaries);
//   - /etc/passwd and /etc/group with root and the app's user and groups,
//     a files-only /etc/nsswitch.conf, CA certificates, tzdata, /tmp, the
//     user's (empty) home directory.
//
// There is deliberately no shell.
package hostbase

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hoistctl/hoist/discover"
)

// Options says what to assemble and where.
type Options struct {
	// Host is the source host (Root "/" live; a root directory in tests).
	Host discover.Host
	// Analysis is the app's analysis.json.
	Analysis *discover.Analysis
	// Dest is a local directory; files go to Dest/<absolute host path>.
	// It is created when missing. Assemble never writes outside it.
	Dest string
	// Jlink reduces a JDK with jdeps+jlink when the tools exist on a live
	// source host and AppJars is given (the CLI turns it on by default).
	Jlink bool
	// AppJars are local paths of the app's jars, wars and classes
	// directories, for jdeps. Wars, Spring Boot jars and exploded web
	// apps are opened up (WEB-INF/classes, WEB-INF/lib/*.jar, BOOT-INF/...).
	AppJars []string
	// CDS says whether a jlink-reduced runtime gets a class data sharing
	// archive of the JDK's classes (the JVM starts faster): CDSAuto (the
	// default) adds one where the dump is reproducible (Java 19 and later),
	// CDSOn also for Java 12 to 18, whose dumps differ from one run to the
	// next, CDSOff never.
	CDS CDSMode
	// Locales are the locales whose data a jlink-reduced runtime keeps
	// besides English ("de", "fr-CA", or "all"); empty derives them from the
	// process's locale settings.
	Locales []string
	// Extra are more host paths (files or directories) to copy, at their
	// host path and with their shared-library closure: a health-check
	// binary, a native tool the app runs.
	Extra []string
	// Logf reports progress; nil is quiet.
	Logf func(string, ...any)
}

// Report says what Assemble put under Dest.
type Report struct {
	// RuntimeHome is the runtime's directory (symlinks resolved), at the
	// same path under Dest as on the host.
	RuntimeHome string `json:"runtimeHome"`
	// Reduced is set when jlink built the runtime; Modules are its modules.
	Reduced bool     `json:"reduced,omitempty"`
	Modules []string `json:"modules,omitempty"`
	// Files and Size count the regular files Assemble wrote.
	Files int   `json:"files"`
	Size  int64 `json:"size"`
	// Libraries are the host paths (real paths) of the shared objects
	// copied from outside the runtime home, the dynamic loader included.
	Libraries []string `json:"libraries,omitempty"`
	// Notes say what was left out and why, and what may be missing.
	Notes []string `json:"notes,omitempty"`
}

// Assemble copies the app's runtime from the source host into o.Dest.
func Assemble(ctx context.Context, o Options) (*Report, error) {
	if o.Analysis == nil {
		return nil, errors.New("host base image: no analysis given")
	}
	if o.Dest == "" {
		return nil, errors.New("host base image: no destination directory given")
	}
	if o.Host.Root == "" {
		o.Host.Root = "/"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	a := &assembler{
		o:        o,
		h:        o.Host,
		rep:      &Report{},
		libs:     map[string]bool{},
		trees:    map[string]bool{},
		elfSeen:  map[string]bool{},
		chown:    os.Geteuid() == 0,
		skipped:  map[string]bool{},
		mapped:   map[string]bool{},
		conflict: map[string]bool{},
	}
	for _, l := range o.Analysis.Observed.Files.Libraries {
		a.mapped[path.Clean(l)] = true
	}
	rt := o.Analysis.Observed.Runtime
	home, err := a.runtimeHome(rt)
	if err != nil {
		return nil, err
	}
	a.home = home
	a.rep.RuntimeHome = home

	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("host base image: %w", err)
	}
	a.dest = dest
	a.root, err = os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("host base image: %w", err)
	}
	defer a.root.Close()

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"top-level links", a.topLevelLinks},
		{"runtime", a.runtime},
		{"extra paths", a.extras},
		{"system files", a.system},
		{"mapped libraries", a.mappedLibraries},
		{"shared libraries", a.closure},
		{"link check", a.checkLinks},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o.Logf("host base: %s", s.name)
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("host base image: %s: %w", s.name, err)
		}
	}
	a.note("no shell: the image is FROM scratch with only the runtime, so ENTRYPOINT, CMD and HEALTHCHECK must use the exec form (no /bin/sh)")
	for l := range a.libs {
		a.rep.Libraries = append(a.rep.Libraries, l)
	}
	sort.Strings(a.rep.Libraries)
	a.rep.Files, a.rep.Size = a.files, a.size
	a.rep.Notes = a.notes
	return a.rep, nil
}

// assembler is one Assemble run.
type assembler struct {
	o    Options
	h    discover.Host
	rep  *Report
	root *os.Root // Dest; every write goes through it
	dest string
	// home is the runtime's real directory on the host. Below it, Dest is
	// authoritative once the runtime is placed (jlink output is not the
	// host's tree).
	home string
	// chown is set when running as root: owners are kept.
	chown bool

	files int
	size  int64
	// elfs are real host paths of ELF files written under Dest; hostELFs
	// are read from the host only (the app's own binaries, whose
	// libraries are needed but which the app layer provides).
	elfs     []string
	hostELFs []string
	elfSeen  map[string]bool
	libs     map[string]bool
	trees    map[string]bool
	mapped   map[string]bool
	skipped  map[string]bool
	conflict map[string]bool
	notes    []string
}

func (a *assembler) note(format string, args ...any) {
	a.notes = append(a.notes, fmt.Sprintf(format, args...))
}

// runtimeHome finds the runtime's directory on the host and fails clearly
// when it is not there (containerize run on a worker machine).
func (a *assembler) runtimeHome(rt discover.RuntimeInfo) (string, error) {
	home := rt.Home
	switch rt.Kind {
	case "java":
	case "dotnet":
		if home == "" {
			for _, c := range []string{"/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet", "/opt/dotnet"} {
				if a.h.IsDir(path.Join(c, "shared")) {
					home = c
					break
				}
			}
		}
	case "mono":
		if home == "" || home == "/usr" {
			home = "/usr/lib/mono"
		}
	case "":
		return "", fmt.Errorf("host base image: the analysis names no runtime; run `hoist analyze` again or set containerParameters.baseImage to an image reference")
	default:
		return "", fmt.Errorf("host base image: runtime kind %q is not supported; set containerParameters.baseImage to an image reference", rt.Kind)
	}
	if home == "" || !path.IsAbs(home) {
		return "", a.missingRuntime(rt, home)
	}
	real, err := a.h.Resolve(path.Clean(home))
	if err != nil || !a.h.IsDir(real) {
		return "", a.missingRuntime(rt, home)
	}
	return real, nil
}

func (a *assembler) missingRuntime(rt discover.RuntimeInfo, home string) error {
	if home == "" {
		home = "(unknown: the analysis has no runtime home)"
	}
	return fmt.Errorf("the host base strategy needs the source host's runtime at %s; run containerize on the source host or set containerParameters.baseImage to an image such as %s: %w",
		home, suggestImage(rt), discover.ErrNotFound)
}

// suggestImage names a public image for the runtime, for error messages.
func suggestImage(rt discover.RuntimeInfo) string {
	switch rt.Kind {
	case "dotnet":
		v := "8.0"
		if m := majorMinor(rt.Version); m != "" {
			v = m
		}
		for _, f := range rt.Frameworks {
			if f.Name == "Microsoft.AspNetCore.App" {
				return "mcr.microsoft.com/dotnet/aspnet:" + v
			}
		}
		return "mcr.microsoft.com/dotnet/runtime:" + v
	case "mono":
		return "mono:6.12"
	}
	f := javaFeature(rt.Version)
	if f == 0 {
		f = 17
	}
	if f == 8 {
		return "eclipse-temurin:8-jre"
	}
	return "eclipse-temurin:" + strconv.Itoa(f) + "-jre"
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	if _, err := strconv.Atoi(parts[0]); err != nil {
		return ""
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return ""
	}
	return parts[0] + "." + parts[1]
}

// topLevelLinks recreates the merged-/usr links (/lib -> usr/lib, ...) as
// they are on the host.
func (a *assembler) topLevelLinks(context.Context) error {
	for _, n := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		fi, err := a.h.Lstat("/" + n)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, err := a.place("/"+n, false); err != nil {
			a.note("could not recreate /%s as on the host: %v", n, err)
		}
	}
	return nil
}

// extras copies Options.Extra.
func (a *assembler) extras(ctx context.Context) error {
	for _, p := range a.o.Extra {
		if !path.IsAbs(p) {
			return fmt.Errorf("extra path %q is not absolute", p)
		}
		if _, err := a.place(path.Clean(p), true); err != nil {
			return fmt.Errorf("extra path %s: %w", p, err)
		}
	}
	return nil
}

// underHome says whether a real host path is inside the runtime home.
func (a *assembler) underHome(p string) bool {
	return within(p, a.home)
}

// within says whether p is dir or below it.
func within(p, dir string) bool {
	if dir == "" {
		return false
	}
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// human formats a byte count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTPE"[exp])
}
