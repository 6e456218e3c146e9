package hostbase

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoistctl/hoist/discover"
)

// Modules every reduced runtime gets: things apps reach reflectively or
// through service loading, which jdeps cannot see.
var alwaysModules = []string{"java.base", "jdk.crypto.ec", "jdk.zipfs", "jdk.unsupported", "jdk.localedata", "jdk.charsets"}

// broadModules is used when jdeps fails.
var broadModules = []string{"java.se", "jdk.unsupported", "jdk.crypto.ec", "jdk.zipfs", "jdk.management", "jdk.localedata"}

// javaFeature is the feature release of a Java version: 17 for
// "17.0.15+6-Debian-1deb12u1", 8 for "1.8.0_392"; 0 when unknown.
func javaFeature(v string) int {
	v = strings.TrimSpace(v)
	if rest, ok := strings.CutPrefix(v, "1."); ok {
		v = rest
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0
	}
	return n
}

// jdkDirs are the directories where the runtime's JDK may be: the home
// itself, and the JDK around a Java 8 jre/.
func (a *assembler) jdkDirs() []string {
	dirs := []string{a.home}
	if path.Base(a.home) == "jre" {
		dirs = append(dirs, path.Dir(a.home))
	}
	return dirs
}

// releaseProps reads the JDK's release file.
func (a *assembler) releaseProps() map[string]string {
	out := map[string]string{}
	for _, d := range a.jdkDirs() {
		data, err := a.h.ReadFile(path.Join(d, "release"), 1<<20)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok {
				out[k] = strings.Trim(v, `"'`)
			}
		}
		return out
	}
	return out
}

// jlink builds a reduced runtime at the home's path in Dest. It returns
// false (with a note saying why) when the full runtime must be copied.
func (a *assembler) jlink(ctx context.Context, fullSize int64) (bool, error) {
	rt := a.o.Analysis.Observed.Runtime
	props := a.releaseProps()
	feature := javaFeature(rt.Version)
	if feature == 0 {
		feature = javaFeature(props["JAVA_VERSION"])
	}
	switch {
	case a.h.Root != "/":
		a.note("not reduced with jlink: jdeps and jlink run only on the source host itself; copied the full runtime")
		return false, nil
	case feature != 0 && feature < 9:
		a.note("not reduced with jlink: Java %d has no modules; copied the full runtime", feature)
		return false, nil
	case len(a.o.AppJars) == 0:
		a.note("not reduced with jlink: no application jars were given to jdeps; copied the full runtime")
		return false, nil
	}
	var jdeps, jlink string
	for _, d := range a.jdkDirs() {
		if isExec(path.Join(d, "bin", "jdeps")) && isExec(path.Join(d, "bin", "jlink")) {
			jdeps, jlink = path.Join(d, "bin", "jdeps"), path.Join(d, "bin", "jlink")
			break
		}
	}
	if jlink == "" {
		a.note("not reduced with jlink: %s has no jdeps and jlink (a JRE, not a JDK); copied the full runtime", a.home)
		return false, nil
	}
	available := a.availableModules(ctx, props)
	if len(available) == 0 {
		a.note("not reduced with jlink: could not list the modules of %s; copied the full runtime", a.home)
		return false, nil
	}

	// What the app needs, as jdeps sees it.
	tmp, err := os.MkdirTemp("", "hoist-jdeps-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	inputs := a.jdepsInputs(tmp)
	want := map[string]bool{}
	if len(inputs) == 0 {
		a.note("jdeps: none of the application jars could be read; using a broad module set")
		addAll(want, broadModules)
	} else {
		mods, err := runJdeps(ctx, jdeps, feature, inputs)
		if err != nil {
			a.note("jdeps failed (%v); using a broad module set", err)
			addAll(want, broadModules)
		} else {
			addAll(want, mods)
		}
	}
	addAll(want, alwaysModules)
	addAll(want, optionModules(rt))
	addAll(want, a.nativeModules())
	var mods, dropped []string
	for m := range want {
		if available[m] {
			mods = append(mods, m)
		} else {
			dropped = append(dropped, m)
		}
	}
	sort.Strings(mods)
	sort.Strings(dropped)
	if len(dropped) > 0 {
		a.note("modules not in %s, left out of the reduced runtime: %s", a.home, strings.Join(dropped, ", "))
	}

	// jlink writes straight to the home's path under Dest.
	if _, err := a.place(path.Dir(a.home), false); err != nil {
		return false, err
	}
	if _, err := a.destLstat(a.home); err == nil {
		if err := a.root.RemoveAll(rel(a.home)); err != nil {
			return false, err
		}
	}
	// The image's layers are gzipped: an uncompressed jimage compresses
	// better there than a zip-compressed one (and starts faster).
	compress := "--compress=0"
	if feature >= 21 {
		compress = "--compress=zip-0"
	}
	args := []string{"--add-modules", strings.Join(mods, ","), "--strip-debug", "--no-man-pages", "--no-header-files", compress}
	if locales := a.locales(); len(locales) > 0 && available["jdk.localedata"] {
		args = append(args, "--include-locales="+strings.Join(locales, ","))
		a.note("kept the locale data of %s only (from the process's locale settings); containerize --locales all keeps every locale", strings.Join(locales, ","))
	}
	args = append(args, "--output", a.destPath(a.home))
	a.o.Logf("host base: jlink %s", strings.Join(args, " "))
	jctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(jctx, jlink, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = a.root.RemoveAll(rel(a.home))
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		a.note("jlink failed (%v: %s); copied the full runtime", err, tail(out.String(), 400))
		return false, nil
	}
	if err := a.dumpCDS(ctx, feature); err != nil {
		return false, err
	}
	if fi, err := a.h.Lstat(a.home); err == nil {
		a.owner(rel(a.home), fi, false)
		_ = a.root.Chmod(rel(a.home), modeBits(fi.Mode()))
	}
	files0, size0 := a.files, a.size
	if err := a.countTree(a.home); err != nil {
		return false, err
	}
	kept, err := a.overlayHostConfig()
	if err != nil {
		return false, err
	}
	size, n := a.size-size0, a.files-files0
	a.rep.Reduced = true
	a.rep.Modules = mods
	pct := 0.0
	if fullSize > 0 {
		pct = 100 * float64(size) / float64(fullSize)
	}
	a.note("reduced %s with jlink to %d modules (%s): %s in %d files instead of %s for the full runtime (%.0f%%)",
		a.home, len(mods), strings.Join(mods, ","), human(size), n, human(fullSize), pct)
	if kept > 0 {
		a.note("kept the host's version of %d configuration files of the runtime (conf/, lib/security/ and links into /etc), so local changes and the system trust store survive the reduction", kept)
	}
	return true, nil
}

func addAll(set map[string]bool, xs []string) {
	for _, x := range xs {
		set[x] = true
	}
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", "; ")
}

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// availableModules lists the runtime's modules, from its release file or
// from `java --list-modules`.
func (a *assembler) availableModules(ctx context.Context, props map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, m := range strings.Fields(props["MODULES"]) {
		out[m] = true
	}
	if len(out) > 0 {
		return out
	}
	java := path.Join(a.home, "bin", "java")
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	data, err := exec.CommandContext(lctx, java, "--list-modules").Output()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), "@")
		if moduleName.MatchString(name) {
			out[name] = true
		}
	}
	return out
}

// runJdeps asks jdeps which JDK modules the inputs need.
func runJdeps(ctx context.Context, jdeps string, feature int, inputs []string) ([]string, error) {
	if feature < 9 {
		feature = 9
	}
	args := append([]string{"--ignore-missing-deps", "--print-module-deps", "--multi-release", strconv.Itoa(feature), "-q"}, inputs...)
	jctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(jctx, jdeps, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%v: %s", err, tail(stderr.String()+stdout.String(), 300))
	}
	// The module list is the last line; anything before is a warning.
	var last string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if l := strings.TrimSpace(line); l != "" {
			last = l
		}
	}
	var mods []string
	for _, m := range strings.Split(last, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !moduleName.MatchString(m) {
			return nil, fmt.Errorf("unexpected output %q", tail(stdout.String(), 200))
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// optionModules are modules the JVM's options need: agents, JMX, JFR.
func optionModules(rt discover.RuntimeInfo) []string {
	var out []string
	for _, o := range rt.JVMOptions {
		switch {
		case strings.HasPrefix(o, "-agentlib:jdwp"), strings.HasPrefix(o, "-Xrunjdwp"):
			out = append(out, "jdk.jdwp.agent")
		case strings.HasPrefix(o, "-javaagent:"):
			out = append(out, "java.instrument")
		case strings.HasPrefix(o, "-XX:StartFlightRecording"), strings.HasPrefix(o, "-XX:+FlightRecorder"), strings.HasPrefix(o, "-XX:FlightRecorderOptions"):
			out = append(out, "jdk.jfr")
		case strings.HasPrefix(o, "-Dcom.sun.management.jmxremote"):
			out = append(out, "jdk.management.agent", "java.management.rmi")
		case strings.HasPrefix(o, "--add-modules="), strings.HasPrefix(o, "--add-modules "):
			for _, m := range strings.Split(strings.TrimSpace(o[len("--add-modules="):]), ",") {
				if moduleName.MatchString(m) && !strings.HasPrefix(m, "ALL-") {
					out = append(out, m)
				}
			}
		}
	}
	for i, o := range rt.JVMOptions {
		if o == "--add-modules" && i+1 < len(rt.JVMOptions) {
			for _, m := range strings.Split(rt.JVMOptions[i+1], ",") {
				if moduleName.MatchString(m) && !strings.HasPrefix(m, "ALL-") {
					out = append(out, m)
				}
			}
		}
	}
	for _, kv := range rt.SystemProperties {
		if strings.HasPrefix(kv.Key, "com.sun.management.jmxremote") {
			out = append(out, "jdk.management.agent", "java.management.rmi")
		}
	}
	return out
}

// nativeModules are the modules whose native libraries the process had
// loaded (libmanagement_ext.so -> jdk.management, ...), read from the
// JDK's jmods.
func (a *assembler) nativeModules() []string {
	want := map[string]bool{}
	for l := range a.mapped {
		// The JVM maps libjsvml.so (vector math stubs) at start on every
		// CPU with AVX; it says nothing about the incubator module.
		if a.underHome(l) && path.Base(l) != "libjsvml.so" {
			want[strings.TrimPrefix(l, a.home+"/")] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	var out []string
	for _, d := range a.jdkDirs() {
		dir := path.Join(d, "jmods")
		entries, err := a.h.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".jmod") {
				continue
			}
			if jmodHasAny(a.h, path.Join(dir, e.Name()), want) {
				out = append(out, strings.TrimSuffix(e.Name(), ".jmod"))
			}
		}
		return out
	}
	// No jmods (JDK 24 and later may link from the run-time image alone,
	// JEP 493): the JDK's own native libraries by name.
	for l := range want {
		if m, ok := nativeLibModules[path.Base(l)]; ok {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// nativeLibModules are the modules of the JDK's native libraries outside
// java.base (which is always linked), for JDKs without jmods.
var nativeLibModules = map[string]string{
	"libextnet.so":           "jdk.net",
	"libsctp.so":             "jdk.sctp",
	"libmanagement.so":       "java.management",
	"libmanagement_ext.so":   "jdk.management",
	"libmanagement_agent.so": "jdk.management.agent",
	"libattach.so":           "jdk.attach",
	"libinstrument.so":       "java.instrument",
	"librmi.so":              "java.rmi",
	"libprefs.so":            "java.prefs",
	"libjaas.so":             "jdk.security.auth",
	"libj2gss.so":            "java.security.jgss",
	"libj2pkcs11.so":         "jdk.crypto.cryptoki",
	"libj2pcsc.so":           "java.smartcardio",
	"libdt_socket.so":        "jdk.jdwp.agent",
	"libjdwp.so":             "jdk.jdwp.agent",
	"libsaproc.so":           "jdk.hotspot.agent",
	"libawt.so":              "java.desktop",
	"libawt_headless.so":     "java.desktop",
	"libawt_xawt.so":         "java.desktop",
	"libfontmanager.so":      "java.desktop",
	"libfreetype.so":         "java.desktop",
	"libjavajpeg.so":         "java.desktop",
	"libjawt.so":             "java.desktop",
	"libjsound.so":           "java.desktop",
	"liblcms.so":             "java.desktop",
	"libmlib_image.so":       "java.desktop",
	"libsplashscreen.so":     "java.desktop",
}

// jmodHasAny says whether a jmod (a zip after a 4-byte header) holds one
// of the names.
func jmodHasAny(h discover.Host, p string, names map[string]bool) bool {
	f, err := h.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < 4 {
		return false
	}
	zr, err := zip.NewReader(io.NewSectionReader(f, 4, fi.Size()-4), fi.Size()-4)
	if err != nil {
		return false
	}
	for _, z := range zr.File {
		if names[z.Name] {
			return true
		}
	}
	return false
}

// jdepsInputs turns the app's jars, wars and directories into what jdeps
// reads: jars and class directories. Wars and Spring Boot jars are opened
// up into tmp.
func (a *assembler) jdepsInputs(tmp string) []string {
	var out []string
	for i, p := range a.o.AppJars {
		fi, err := os.Stat(p)
		if err != nil {
			a.note("jdeps: skipped %s: %v", p, err)
			continue
		}
		if fi.IsDir() {
			out = append(out, dirInputs(p)...)
			continue
		}
		nested, err := openNested(p, filepath.Join(tmp, strconv.Itoa(i)), 2)
		if err != nil {
			a.note("jdeps: skipped %s: %v", p, err)
			continue
		}
		if nested != nil {
			out = append(out, nested...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

// dirInputs reads an exploded web app or Spring Boot app, or a directory
// of jars and classes.
func dirInputs(dir string) []string {
	var out []string
	for _, inf := range []string{"WEB-INF", "BOOT-INF"} {
		if fi, err := os.Stat(filepath.Join(dir, inf)); err == nil && fi.IsDir() {
			if c := filepath.Join(dir, inf, "classes"); hasClasses(c) {
				out = append(out, c)
			}
			out = append(out, jarsIn(filepath.Join(dir, inf, "lib"))...)
			return out
		}
	}
	if hasClasses(dir) {
		out = append(out, dir)
	}
	return append(out, jarsIn(dir)...)
}

func jarsIn(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".jar") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func hasClasses(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(p, ".class") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// openNested unpacks the classes and nested jars of a war, ear or Spring
// Boot jar into dir and returns them; nil means p is a plain jar.
func openNested(p, dir string, depth int) ([]string, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	prefixes := []string{"WEB-INF/classes/", "BOOT-INF/classes/"}
	nested := false
	for _, f := range zr.File {
		n := f.Name
		if strings.HasPrefix(n, "WEB-INF/") || strings.HasPrefix(n, "BOOT-INF/") ||
			(strings.HasSuffix(n, ".war") || strings.HasSuffix(n, ".jar")) && !strings.Contains(n, "/") && strings.HasSuffix(p, ".ear") {
			nested = true
			break
		}
	}
	if !nested {
		return nil, nil
	}
	var out []string
	classes := filepath.Join(dir, "classes")
	haveClasses := false
	for i, f := range zr.File {
		n := f.Name
		if f.FileInfo().IsDir() || !filepath.IsLocal(n) {
			continue
		}
		switch {
		case strings.HasSuffix(n, ".jar") || strings.HasSuffix(n, ".war"):
			if !strings.HasPrefix(n, "WEB-INF/lib/") && !strings.HasPrefix(n, "BOOT-INF/lib/") && strings.Contains(n, "/") {
				continue
			}
			dst := filepath.Join(dir, "lib", strconv.Itoa(i)+"-"+path.Base(n))
			if err := unzipEntry(f, dst); err != nil {
				return nil, err
			}
			if depth > 1 && strings.HasSuffix(n, ".war") {
				sub, err := openNested(dst, dst+".d", depth-1)
				if err != nil {
					return nil, err
				}
				out = append(out, sub...)
				continue
			}
			out = append(out, dst)
		case strings.HasSuffix(n, ".class"):
			for _, pre := range prefixes {
				if r, ok := strings.CutPrefix(n, pre); ok && filepath.IsLocal(r) {
					if err := unzipEntry(f, filepath.Join(classes, filepath.FromSlash(r))); err != nil {
						return nil, err
					}
					haveClasses = true
				}
			}
		}
	}
	if haveClasses {
		out = append([]string{classes}, out...)
	}
	return out, nil
}

func unzipEntry(f *zip.File, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, io.LimitReader(r, 1<<30)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// overlayHostConfig replaces files of the jlink output with the host's
// version where the host's runtime takes them from /etc or where they are
// configuration (conf/, lib/security/): local edits and the system trust
// store then survive the reduction.
func (a *assembler) overlayHostConfig() (int, error) {
	var paths []string
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := a.h.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			r := strings.TrimPrefix(p, a.home+"/")
			fi, err := a.h.Lstat(p)
			if err != nil {
				return err
			}
			if a.javaSkip(r, fi) != "" || r == "legal" {
				continue
			}
			switch {
			case fi.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case fi.Mode()&fs.ModeSymlink != 0:
				if real, err := a.h.Resolve(p); err == nil && !a.underHome(real) {
					paths = append(paths, p)
				}
			case fi.Mode().IsRegular():
				if strings.HasPrefix(r, "conf/") || strings.HasPrefix(r, "lib/security/") {
					paths = append(paths, p)
				}
			}
		}
		return nil
	}
	if err := walk(a.home); err != nil {
		return 0, err
	}
	kept := 0
	for _, p := range paths {
		cur, err := a.destLstat(p)
		if err != nil || !cur.Mode().IsRegular() {
			continue // not part of the modules linked
		}
		if err := a.root.Remove(rel(p)); err != nil {
			return kept, err
		}
		a.files--
		a.size -= cur.Size()
		if _, err := a.place(p, true); err != nil {
			return kept, fmt.Errorf("keeping the host's %s: %w", p, err)
		}
		kept++
	}
	return kept, nil
}

// countTree counts the regular files of a Dest directory written by a
// tool (jlink) and notes its ELF files.
func (a *assembler) countTree(p string) error {
	base := a.destPath(p)
	return filepath.WalkDir(base, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		a.size += fi.Size()
		a.files++
		hp := p + filepath.ToSlash(strings.TrimPrefix(fp, base))
		if f, err := a.root.Open(rel(hp)); err == nil {
			if isELF(f) {
				a.addELF(hp)
			}
			f.Close()
		}
		return nil
	})
}

// localeProps are the system properties that choose a JVM's locale.
var localeProps = []string{"user.language", "user.language.format", "user.language.display"}

// locales lists the locales whose data the reduced runtime keeps: English
// (what java.base itself holds) plus the languages of the process's locale
// (its -Duser.language options, else LC_ALL, LC_MESSAGES, LANG), unless
// Options.Locales says otherwise. nil means every locale.
func (a *assembler) locales() []string {
	if len(a.o.Locales) > 0 {
		for _, l := range a.o.Locales {
			if l == "all" || l == "*" {
				return nil
			}
		}
		return dedupeSorted(append([]string{"en"}, a.o.Locales...))
	}
	langs := []string{"en"}
	for _, kv := range a.o.Analysis.Observed.Runtime.SystemProperties {
		for _, p := range localeProps {
			if kv.Key == p && kv.Value != "" {
				langs = append(langs, strings.ToLower(kv.Value))
			}
		}
	}
	env := map[string]string{}
	for _, e := range a.o.Analysis.Observed.Environment {
		env[e.Name] = e.Value
	}
	for _, n := range []string{"LC_ALL", "LC_MESSAGES", "LC_TIME", "LC_NUMERIC", "LANG"} {
		v := env[n]
		if v == "" || v == "C" || v == "POSIX" || strings.HasPrefix(v, "C.") {
			continue
		}
		lang := strings.ToLower(strings.SplitN(strings.SplitN(v, ".", 2)[0], "_", 2)[0])
		if moduleName.MatchString(lang) && len(lang) <= 8 {
			langs = append(langs, lang)
		}
	}
	var ok []string
	for _, l := range langs {
		if isLangTag(l) {
			ok = append(ok, l)
		}
	}
	return dedupeSorted(ok)
}

func isLangTag(s string) bool {
	if len(s) < 2 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '-' && r != '*' {
			return false
		}
	}
	return true
}

func dedupeSorted(xs []string) []string {
	sort.Strings(xs)
	var out []string
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// CDSMode says when a reduced Java runtime gets a class data sharing
// archive.
type CDSMode string

const (
	// CDSAuto adds one where the JVM's dump is reproducible (Java 19 and
	// later: JDK-8241071 made -Xshare:dump deterministic).
	CDSAuto CDSMode = ""
	// CDSOn adds one from Java 12 on, reproducible or not.
	CDSOn CDSMode = "on"
	// CDSOff never adds one.
	CDSOff CDSMode = "off"
)

// reproducibleCDS is the first Java feature release whose -Xshare:dump
// writes the same archive every time.
const reproducibleCDS = 19

// dumpCDS writes the class data sharing archive of the reduced runtime's
// own classes where the JVM looks for it by default (lib/server), with
// the reduced runtime itself: -Xshare:dump with the options the JDK's own
// build uses, so the archive does not depend on this machine's memory or
// CPUs. Only the archive the process will use is written: the one for
// compressed oops, unless its options turn them off or ask for a heap too
// big for them. A dump that fails is noted, not fatal: the JVM runs
// without an archive.
func (a *assembler) dumpCDS(ctx context.Context, feature int) error {
	switch {
	case a.o.CDS == CDSOff:
		return nil
	case feature < 12:
		if a.o.CDS == CDSOn {
			a.note("no class data sharing archive: Java %d has no default archive to dump", feature)
		}
		return nil
	case feature < reproducibleCDS && a.o.CDS != CDSOn:
		a.note("no class data sharing archive: Java %d's dumps differ from one run to the next, which would make the image irreproducible; containerize --cds adds one anyway (the JVM starts faster)", feature)
		return nil
	}
	name, args := "classes.jsa", []string{"-Xshare:dump", "-Xmx128M", "-Xms128M", "-XX:+UseG1GC"}
	for _, o := range a.o.Analysis.Observed.Runtime.JVMOptions {
		if o == "-XX:-UseCompressedOops" || bigHeap(o) {
			name, args = "classes_nocoops.jsa", append(args, "-XX:-UseCompressedOops")
			break
		}
	}
	archive := path.Join(a.home, "lib", "server", name)
	args = append(args, "-XX:SharedArchiveFile="+a.destPath(archive))
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(dctx, a.destPath(path.Join(a.home, "bin", "java")), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	a.o.Logf("host base: java %s", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = a.root.Remove(rel(archive))
		a.note("no class data sharing archive: the dump failed (%v: %s)", err, tail(out.String(), 400))
		return nil
	}
	if feature < reproducibleCDS {
		a.note("added a class data sharing archive (%s) for a faster JVM start; Java %d's dumps are not reproducible: the image digest changes with every assembly", name, feature)
	} else {
		a.note("added a class data sharing archive (%s) for a faster JVM start", name)
	}
	return nil
}

// bigHeap says whether a -Xmx option asks for 32 GB or more (no
// compressed oops then).
func bigHeap(o string) bool {
	v, ok := strings.CutPrefix(o, "-Xmx")
	if !ok || v == "" {
		return false
	}
	mult := int64(1)
	switch v[len(v)-1] {
	case 'g', 'G':
		mult, v = 1<<30, v[:len(v)-1]
	case 'm', 'M':
		mult, v = 1<<20, v[:len(v)-1]
	case 'k', 'K':
		mult, v = 1<<10, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n*mult >= 32<<30
}

// NewerJDK is a JDK installed under /usr/lib/jvm whose class data sharing
// dumps are reproducible (Java 19 or later) and that has jlink: where a
// machine has one, tests and benchmarks also try hoist on it.
func NewerJDK() (home string, feature int, ok bool) {
	releases, _ := filepath.Glob("/usr/lib/jvm/*/release")
	sort.Strings(releases)
	for _, r := range releases {
		data, err := os.ReadFile(r)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, found := strings.CutPrefix(strings.TrimSpace(line), "JAVA_VERSION="); found {
				f := javaFeature(strings.Trim(v, `"'`))
				if h := filepath.Dir(r); f >= reproducibleCDS && isExec(filepath.Join(h, "bin", "jlink")) && isExec(filepath.Join(h, "bin", "java")) {
					return h, f, true
				}
			}
		}
	}
	return "", 0, false
}
