package hostbase

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// runtime places the language runtime.
func (a *assembler) runtime(ctx context.Context) error {
	rt := a.o.Analysis.Observed.Runtime
	switch rt.Kind {
	case "java":
		if err := a.java(ctx); err != nil {
			return err
		}
	case "dotnet":
		if err := a.dotnet(); err != nil {
			return err
		}
	case "mono":
		if err := a.mono(); err != nil {
			return err
		}
	}
	// The runtime as the app named it (a link such as
	// /usr/lib/jvm/default-java), and the binary and the command it ran
	// (/usr/bin/java -> /etc/alternatives/java -> .../bin/java).
	if rt.Home != "" && path.Clean(rt.Home) != a.home {
		if _, err := a.place(path.Clean(rt.Home), false); err != nil {
			a.note("could not recreate %s as on the host: %v", rt.Home, err)
		}
	}
	p := a.o.Analysis.Observed.Process
	exe := ""
	if path.IsAbs(p.Exe) {
		exe, _ = a.h.Resolve(path.Clean(p.Exe))
	}
	for _, c := range []string{p.Exe, first(p.Cmdline)} {
		if !path.IsAbs(c) {
			continue
		}
		real, err := a.h.Resolve(path.Clean(c))
		if err != nil || !a.h.Exists(real) {
			continue
		}
		switch {
		case a.underHome(real) || (rt.Kind == "mono" && real == exe):
			if _, err := a.place(path.Clean(c), false); err != nil {
				a.note("could not copy %s: %v", c, err)
			}
		case c == p.Exe:
			// The app's own binary (a .NET apphost): the app layer has it;
			// the libraries it needs belong here.
			a.addHostELF(real)
		}
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// javaSkip leaves out what a running JVM never reads.
func (a *assembler) javaSkip(r string, fi fs.FileInfo) string {
	switch r {
	case "lib/src.zip", "src.zip":
		return "JDK sources"
	case "man":
		return "manual pages"
	case "demo", "sample":
		return "demos and samples"
	case "include":
		return "C headers"
	case "jmods":
		return "jlink input, not read at run time"
	case "docs":
		return "documentation"
	case "lib/libatk-wrapper.so":
		// Debian links the GTK accessibility bridge into the JDK; it pulls
		// in GTK and is loaded only with assistive technologies on.
		if !a.mapped[path.Join(a.home, r)] {
			return "GTK accessibility bridge the app did not load"
		}
	}
	return ""
}

// java places a JDK or JRE, reduced with jlink when asked and possible.
func (a *assembler) java(ctx context.Context) error {
	full, n := a.measure(a.home, a.javaSkip)
	if a.o.Jlink {
		ok, err := a.jlink(ctx, full)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	a.o.Logf("host base: copying %s (%d files, %s)", a.home, n, human(full))
	if _, err := a.place(a.home, false); err != nil {
		return err
	}
	return a.copyTree(a.home, a.javaSkip)
}

// dotnet places the dotnet muxer, hostfxr and the shared frameworks the
// app uses.
func (a *assembler) dotnet() error {
	rt := a.o.Analysis.Observed.Runtime
	if _, err := a.place(a.home, false); err != nil {
		return err
	}
	muxer := path.Join(a.home, "dotnet")
	if a.h.Exists(muxer) {
		if _, err := a.place(muxer, false); err != nil {
			return err
		}
	} else {
		a.note("%s has no dotnet muxer; only apphost executables can start", a.home)
	}
	fxr := path.Join(a.home, "host", "fxr")
	if !a.h.IsDir(fxr) {
		return fmt.Errorf("%s has no host/fxr: not a .NET installation", a.home)
	}
	if _, err := a.place(fxr, true); err != nil {
		return err
	}
	shared := path.Join(a.home, "shared")
	if len(rt.Frameworks) == 0 {
		a.note("the analysis lists no .NET shared frameworks: copied all of %s", shared)
		_, err := a.place(shared, true)
		return err
	}
	used := map[string]bool{}
	for _, f := range rt.Frameworks {
		dir := path.Join(shared, f.Name, f.Version)
		if f.Version == "" || !a.h.IsDir(dir) {
			// Roll-forward picks a newer patch than the config asks for:
			// keep every installed version of that framework.
			dir = path.Join(shared, f.Name)
			if !a.h.IsDir(dir) {
				return fmt.Errorf("the app uses the .NET shared framework %s %s, which %s does not have", f.Name, f.Version, shared)
			}
			a.note("%s %s is not installed as such: copied every installed version of %s", f.Name, f.Version, f.Name)
		}
		used[dir] = true
		if _, err := a.place(dir, true); err != nil {
			return err
		}
	}
	// Note the frameworks left out.
	names, _ := a.h.ReadDir(shared)
	for _, n := range names {
		vers, _ := a.h.ReadDir(path.Join(shared, n.Name()))
		for _, v := range vers {
			d := path.Join(shared, n.Name(), v.Name())
			if !used[d] && !used[path.Join(shared, n.Name())] {
				if fi, err := a.h.Lstat(d); err == nil {
					a.skip(shared, strings.TrimPrefix(d, shared+"/"), "shared framework the app does not use", fi)
				}
			}
		}
	}
	if a.h.IsDir("/etc/dotnet") {
		if _, err := a.place("/etc/dotnet", true); err != nil {
			a.note("could not copy /etc/dotnet: %v", err)
		}
	}
	// Loaded with dlopen, so not in any DT_NEEDED: ICU for globalization,
	// OpenSSL for cryptography and TLS, GSSAPI for Negotiate auth.
	found := a.dlopenLibs([]string{`libicuuc\.so\.[0-9]+`, `libicui18n\.so\.[0-9]+`, `libssl\.so\.(3|1\.1)`, `libgssapi_krb5\.so\.2`})
	if !found[`libicuuc\.so\.[0-9]+`] {
		a.note("no ICU library (libicuuc) on the host: set DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 unless the app brings its own")
	}
	return nil
}

// mono places Mono's class libraries, binary, configuration and the native
// helpers its config maps P/Invokes to.
func (a *assembler) mono() error {
	skip := func(r string, fi fs.FileInfo) string {
		if fi.IsDir() && !strings.Contains(r, "/") && strings.HasSuffix(r, "-api") {
			return "reference assemblies, used only to compile"
		}
		return ""
	}
	if _, err := a.place(a.home, false); err != nil {
		return err
	}
	if err := a.copyTree(a.home, skip); err != nil {
		return err
	}
	if a.h.IsDir("/etc/mono") {
		if _, err := a.place("/etc/mono", true); err != nil {
			return err
		}
	} else {
		a.note("the host has no /etc/mono: Mono will miss its machine.config")
	}
	if a.h.IsDir("/usr/share/.mono") {
		if _, err := a.place("/usr/share/.mono", true); err != nil {
			a.note("could not copy Mono's certificate store /usr/share/.mono: %v", err)
		}
	}
	libdir := path.Dir(a.home) // $mono_libdir: /usr/lib
	data, _ := a.h.ReadFile("/etc/mono/config", 4<<20)
	var targets []string
	for _, m := range regexp.MustCompile(`target="\$mono_libdir/([^"]+)"`).FindAllSubmatch(data, -1) {
		targets = append(targets, string(m[1]))
	}
	sort.Strings(targets)
	for i, t := range targets {
		if i > 0 && targets[i-1] == t {
			continue
		}
		p := path.Join(libdir, t)
		if !a.h.Exists(p) {
			continue
		}
		if _, err := a.place(p, false); err != nil {
			a.note("could not copy %s: %v", p, err)
		}
	}
	return nil
}

// dlopenLibs places, for each pattern, the highest-versioned matching
// library in the standard directories, and says which were found.
func (a *assembler) dlopenLibs(patterns []string) map[string]bool {
	found := map[string]bool{}
	for _, pat := range patterns {
		re := regexp.MustCompile(`^` + pat + `$`)
		for _, dir := range a.stdDirs() {
			entries, err := a.h.ReadDir(dir)
			if err != nil {
				continue
			}
			var best string
			for _, e := range entries {
				if re.MatchString(e.Name()) && versionLess(best, e.Name()) {
					best = e.Name()
				}
			}
			if best == "" {
				continue
			}
			p := path.Join(dir, best)
			real, err := a.place(p, false)
			if err != nil {
				a.note("could not copy %s: %v", p, err)
				break
			}
			a.libs[real] = true
			found[pat] = true
			break
		}
	}
	return found
}

// versionLess orders library names by their numeric suffixes.
func versionLess(x, y string) bool {
	if x == "" {
		return true
	}
	nx, ny := regexp.MustCompile(`[0-9]+`).FindAllString(x, -1), regexp.MustCompile(`[0-9]+`).FindAllString(y, -1)
	for i := 0; i < len(nx) && i < len(ny); i++ {
		if len(nx[i]) != len(ny[i]) {
			return len(nx[i]) < len(ny[i])
		}
		if nx[i] != ny[i] {
			return nx[i] < ny[i]
		}
	}
	return len(nx) < len(ny)
}
