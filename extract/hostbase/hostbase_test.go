package hostbase

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

// hostJDK is the JDK the tests' java runs from, or a skip.
func hostJDK(t *testing.T) string {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("no JDK installed (make deps)")
	}
	real, err := filepath.EvalSymlinks(javac)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(real))
}

// probeJar builds a jar whose main class prints what it sees of its
// environment: the user name from the passwd database, a time zone from
// the zone database and the number of trusted CA certificates.
func probeJar(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := `import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
public class Probe {
  public static void main(String[] a) throws Exception {
    TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    f.init((KeyStore) null);
    int n = ((X509TrustManager) f.getTrustManagers()[0]).getAcceptedIssuers().length;
    System.out.println("user=" + System.getProperty("user.name"));
    System.out.println("tz=" + java.time.ZoneId.of("Europe/Paris").getRules().getOffset(java.time.Instant.EPOCH));
    System.out.println("cas=" + (n > 10));
    String m = java.time.format.DateTimeFormatter.ofPattern("MMMM", java.util.Locale.GERMAN).format(java.time.Month.MARCH);
    System.out.println("month=" + m.replace("\u00e4", "ae"));
    java.util.logging.Logger.getLogger("probe").info("logging works");
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "Probe.java"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("javac", "-d", dir, filepath.Join(dir, "Probe.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	jar := filepath.Join(dir, "probe.jar")
	jdk := hostJDK(t)
	if out, err := exec.Command(filepath.Join(jdk, "bin", "jar"), "--create", "--file", jar, "--main-class", "Probe", "-C", dir, "Probe.class").CombinedOutput(); err != nil {
		t.Fatalf("jar: %v\n%s", err, out)
	}
	return jar
}

func javaAnalysis(jdk string, uid, gid uint32, user string) *discover.Analysis {
	a := &discover.Analysis{}
	a.Observed.Runtime = discover.RuntimeInfo{Kind: "java", Home: jdk, Version: "17"}
	a.Observed.Process = discover.ProcessInfo{
		Exe:     filepath.Join(jdk, "bin", "java"),
		Cmdline: []string{"java", "-jar", "/app/probe.jar"},
		User:    user, UID: uid, GID: gid,
	}
	return a
}

// runChroot runs the probe jar with the assembled runtime as the root
// directory, as the given user, with no environment but PATH.
func runChroot(t *testing.T, root, jdk, jar string, uid, gid uint32, jvmOptions ...string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(jar)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "app", "probe.jar"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// As in a container, /proc is there: the loader resolves $ORIGIN
	// through /proc/self/exe and the JVM reads its limits from it.
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mounting proc in the assembled root: %v", err)
	}
	defer func() {
		if err := syscall.Unmount(proc, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", proc, err)
		}
	}()
	if len(jvmOptions) == 0 {
		jvmOptions = []string{"-Xshare:auto"}
	}
	cmd := exec.Command(filepath.Join(jdk, "bin", "java"), append(jvmOptions, "-jar", "/app/probe.jar")...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	// exec looks the binary up on this machine's file system; inside the
	// chroot the same path exists because the runtime sits at its host path.
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("java in the assembled root failed: %v\n%s", err, out)
	}
	return string(out)
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot, chown)")
	}
}

// TestAssembleJlinkRunsInChroot assembles a jlink-reduced runtime for a
// jar and runs the jar in it, chrooted, as an unprivileged user: the user
// is known, time zones and CA certificates work, and nothing else from the
// host is needed.
func TestAssembleJlinkRunsInChroot(t *testing.T) {
	needRoot(t)
	jdk := hostJDK(t)
	jar := probeJar(t)
	dest := t.TempDir()
	an := javaAnalysis(jdk, 65534, 65534, "nobody")
	// A German process: the reduced runtime keeps German locale data.
	an.Observed.Environment = []discover.EnvVar{{Name: "LANG", Value: "de_DE.UTF-8"}}
	rep, err := Assemble(context.Background(), Options{
		Host: discover.LiveHost(), Analysis: an,
		Dest: dest, Jlink: true, AppJars: []string{jar}, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rep.Notes {
		t.Log("note:", n)
	}
	if !rep.Reduced {
		t.Fatalf("runtime not reduced although the host has a JDK and the jar was given: %v", rep.Notes)
	}
	has := map[string]bool{}
	for _, m := range rep.Modules {
		has[m] = true
	}
	for _, m := range []string{"java.base", "java.logging"} {
		if !has[m] {
			t.Errorf("module %s missing from %v", m, rep.Modules)
		}
	}
	if has["java.desktop"] || has["jdk.compiler"] || has["jdk.incubator.vector"] {
		t.Errorf("modules the probe does not use were kept: %v", rep.Modules)
	}
	if len(rep.Libraries) == 0 {
		t.Error("no shared libraries reported (the loader and libc at least)")
	}
	// No shell, no tools beyond the runtime.
	for _, p := range []string{"bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/ls"} {
		if _, err := os.Lstat(filepath.Join(dest, p)); err == nil {
			t.Errorf("%s is in the base", p)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(dest, "etc/passwd"))
	if !strings.HasPrefix(string(passwd), "root:") || !strings.Contains(string(passwd), "\nnobody:x:65534:") {
		t.Errorf("passwd:\n%s", passwd)
	}
	if lines := strings.Count(string(passwd), "\n"); lines != 2 {
		t.Errorf("passwd has %d entries, want root and nobody:\n%s", lines, passwd)
	}
	fi, err := os.Stat(filepath.Join(dest, "tmp"))
	if err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v", fi, err)
	}

	out := runChroot(t, dest, jdk, jar, 65534, 65534)
	for _, want := range []string{"user=nobody", "tz=+01:00", "cas=true", "logging works", "month=Maerz"} {
		if !strings.Contains(out, want) {
			t.Errorf("probe output lacks %q:\n%s", want, out)
		}
	}

	// The full runtime for comparison: jlink must have made it smaller.
	full := t.TempDir()
	frep, err := Assemble(context.Background(), Options{
		Host: discover.LiveHost(), Analysis: javaAnalysis(jdk, 0, 0, "root"), Dest: full,
	})
	if err != nil {
		t.Fatal(err)
	}
	if frep.Reduced {
		t.Error("reduced without Jlink")
	}
	if rep.Size >= frep.Size {
		t.Errorf("reduced runtime %d bytes is not smaller than the full one %d", rep.Size, frep.Size)
	}
	t.Logf("reduced %s vs full %s", human(rep.Size), human(frep.Size))
	out = runChroot(t, full, jdk, jar, 0, 0)
	if !strings.Contains(out, "user=root") {
		t.Errorf("full runtime probe:\n%s", out)
	}
}

// TestAssembleDeterministic: two runs give the same tree.
func TestAssembleDeterministic(t *testing.T) {
	jdk := hostJDK(t)
	var trees [2]string
	for i := range trees {
		dest := t.TempDir()
		if _, err := Assemble(context.Background(), Options{Host: discover.LiveHost(), Analysis: javaAnalysis(jdk, 0, 0, "root"), Dest: dest}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		err := filepath.Walk(dest, func(p string, fi fs.FileInfo, err error) error {
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(dest, p)
			b.WriteString(r + " " + fi.Mode().String())
			if fi.Mode().IsRegular() {
				b.WriteString(" " + strconv.FormatInt(fi.Size(), 10))
			}
			b.WriteString("\n")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		trees[i] = b.String()
	}
	if trees[0] != trees[1] {
		t.Error("two assemblies of the same runtime differ")
	}
}

// fakeHost lays out a small source host: passwd and group, a runtime
// directory, CA bundle and zoneinfo.
func fakeHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd":                         "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\ntomcat:x:105:112::/var/lib/tomcat:/usr/sbin/nologin\n",
		"etc/group":                          "root:x:0:\nadm:x:4:tomcat,alice\ntomcat:x:112:\nsecret:x:500:alice\n",
		"opt/jdk/release":                    "JAVA_VERSION=\"17.0.9\"\n",
		"opt/jdk/bin/java":                   "not an ELF file",
		"opt/jdk/lib/modules":                "modules",
		"opt/jdk/lib/src.zip":                "sources",
		"etc/ssl/certs/ca-certificates.crt":  "-----BEGIN CERTIFICATE-----\n",
		"usr/share/zoneinfo/Europe/Paris":    "TZif",
		"usr/share/zoneinfo/right/Europe/X":  "TZif",
		"usr/share/zoneinfo/posix/Europe/Pa": "TZif",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/share/zoneinfo/Europe/Paris", filepath.Join(root, "etc/localtime")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/jvm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/opt/jdk", filepath.Join(root, "usr/lib/jvm/default-java")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestAssembleSystemFiles checks the users, groups and system files on a
// host laid out in a directory (no jlink there: it runs on live hosts only).
func TestAssembleSystemFiles(t *testing.T) {
	root := fakeHost(t)
	a := &discover.Analysis{}
	a.Observed.Runtime = discover.RuntimeInfo{Kind: "java", Home: "/usr/lib/jvm/default-java", Version: "17.0.9"}
	a.Observed.Process = discover.ProcessInfo{User: "tomcat", UID: 105, GID: 112, Group: "tomcat", Supplementary: []uint32{4, 999}, Exe: "/usr/lib/jvm/default-java/bin/java"}
	dest := t.TempDir()
	rep, err := Assemble(context.Background(), Options{Host: discover.Host{Root: root}, Analysis: a, Dest: dest, Jlink: true, AppJars: []string{"/nope.jar"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RuntimeHome != "/opt/jdk" || rep.Reduced {
		t.Errorf("report: %+v", rep)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return string(b)
	}
	if got, want := read("etc/passwd"), "root:x:0:0:root:/root:/sbin/nologin\ntomcat:x:105:112::/var/lib/tomcat:/usr/sbin/nologin\n"; got != want {
		t.Errorf("passwd = %q, want %q", got, want)
	}
	// Groups: root, adm (members: only tomcat), the user's own, and 999
	// which the host does not name.
	if got, want := read("etc/group"), "root:x:0:\nadm:x:4:tomcat\ntomcat:x:112:\ng999:x:999:tomcat\n"; got != want {
		t.Errorf("group = %q, want %q", got, want)
	}
	if !strings.Contains(read("etc/nsswitch.conf"), "passwd: files") {
		t.Error("nsswitch.conf does not use files")
	}
	if read("opt/jdk/lib/modules") != "modules" || read("etc/ssl/certs/ca-certificates.crt") == "" || read("usr/share/zoneinfo/Europe/Paris") != "TZif" {
		t.Error("runtime, CA bundle or zone data missing")
	}
	if l, err := os.Readlink(filepath.Join(dest, "usr/lib/jvm/default-java")); err != nil || l != "/opt/jdk" {
		t.Errorf("runtime link as the app named it: %q %v", l, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "etc/localtime")); err != nil || l != "/usr/share/zoneinfo/Europe/Paris" {
		t.Errorf("/etc/localtime: %q %v", l, err)
	}
	for _, gone := range []string{"opt/jdk/lib/src.zip", "usr/share/zoneinfo/right", "usr/share/zoneinfo/posix", "etc/shadow"} {
		if _, err := os.Lstat(filepath.Join(dest, gone)); err == nil {
			t.Errorf("%s copied", gone)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "var/lib/tomcat")); err != nil || !fi.IsDir() {
		t.Errorf("user's home not created: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && st.Uid != 105 {
		t.Errorf("home owned by %d", st.Uid)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{"jlink", "src.zip", "no shell"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// TestAssembleUserNotInPasswd: a user from a directory service gets an
// entry made up from the analysis.
func TestAssembleUserNotInPasswd(t *testing.T) {
	root := fakeHost(t)
	a := &discover.Analysis{}
	a.Observed.Runtime = discover.RuntimeInfo{Kind: "java", Home: "/opt/jdk"}
	a.Observed.Process = discover.ProcessInfo{User: "svc-app", UID: 20001, GID: 20001}
	dest := t.TempDir()
	rep, err := Assemble(context.Background(), Options{Host: discover.Host{Root: root}, Analysis: a, Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dest, "etc/passwd"))
	if !strings.Contains(string(b), "\nsvc-app:x:20001:20001::/nonexistent:/usr/sbin/nologin\n") {
		t.Errorf("passwd:\n%s", b)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "20001") {
		t.Errorf("no note about the made-up user: %v", rep.Notes)
	}
}

// TestAssembleMissingRuntime: on a machine without the app's runtime the
// error says to run on the source host or name a base image.
func TestAssembleMissingRuntime(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		rt   discover.RuntimeInfo
		hint string
	}{
		{discover.RuntimeInfo{Kind: "java", Home: "/usr/lib/jvm/java-21-openjdk-amd64", Version: "21.0.2"}, "eclipse-temurin:21-jre"},
		{discover.RuntimeInfo{Kind: "java", Version: "1.8.0_392"}, "eclipse-temurin:8-jre"},
		{discover.RuntimeInfo{Kind: "dotnet", Version: "8.0.1", Frameworks: []discover.Framework{{Name: "Microsoft.AspNetCore.App"}}}, "mcr.microsoft.com/dotnet/aspnet:8.0"},
	} {
		a := &discover.Analysis{}
		a.Observed.Runtime = tc.rt
		dest := t.TempDir()
		_, err := Assemble(context.Background(), Options{Host: discover.Host{Root: root}, Analysis: a, Dest: dest})
		if !errors.Is(err, discover.ErrNotFound) {
			t.Fatalf("%+v: err = %v, want ErrNotFound", tc.rt, err)
		}
		for _, want := range []string{"baseImage", tc.hint} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if entries, _ := os.ReadDir(dest); len(entries) != 0 {
			t.Errorf("wrote %d entries before failing", len(entries))
		}
	}
	a := &discover.Analysis{}
	if _, err := Assemble(context.Background(), Options{Host: discover.Host{Root: root}, Analysis: a, Dest: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "analyze") {
		t.Errorf("no runtime kind: %v", err)
	}
}

// newerJDK is a JDK of Java 19 or later on this machine (whose class data
// sharing dumps are reproducible), or a skip.
func newerJDK(t *testing.T) (string, int) {
	t.Helper()
	home, feature, ok := NewerJDK()
	if !ok {
		t.Skip("no JDK of Java 19 or later with jlink under /usr/lib/jvm")
	}
	return home, feature
}

func cdsArchive(dest, home string) string {
	return filepath.Join(dest, home, "lib", "server", "classes.jsa")
}

// TestAssembleCDSReproducible: a reduced Java 19+ runtime gets a class
// data sharing archive by default, the same bytes from two assemblies in
// different directories, and the JVM maps it (-Xshare:on fails if not).
func TestAssembleCDSReproducible(t *testing.T) {
	needRoot(t)
	jdk, feature := newerJDK(t)
	jar := probeJar(t)
	var archives [2][]byte
	var dest string
	for i := range archives {
		dest = t.TempDir()
		an := javaAnalysis(jdk, 65534, 65534, "nobody")
		an.Observed.Runtime.Version = strconv.Itoa(feature)
		rep, err := Assemble(context.Background(), Options{Host: discover.LiveHost(), Analysis: an, Dest: dest, Jlink: true, AppJars: []string{jar}, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Reduced {
			t.Fatalf("not reduced: %v", rep.Notes)
		}
		if !slicesContain(rep.Notes, "added a class data sharing archive") {
			t.Errorf("notes do not say an archive was added: %v", rep.Notes)
		}
		archives[i], err = os.ReadFile(cdsArchive(dest, jdk))
		if err != nil {
			t.Fatalf("no archive in the reduced runtime: %v (notes %v)", err, rep.Notes)
		}
	}
	if string(archives[0]) != string(archives[1]) {
		t.Errorf("two assemblies of Java %d gave different class data sharing archives (%d and %d bytes)", feature, len(archives[0]), len(archives[1]))
	}
	out := runChroot(t, dest, jdk, jar, 65534, 65534, "-Xshare:on")
	if !strings.Contains(out, "user=nobody") {
		t.Errorf("probe with -Xshare:on:\n%s", out)
	}

	// --cds=false: none.
	off := t.TempDir()
	an := javaAnalysis(jdk, 0, 0, "root")
	an.Observed.Runtime.Version = strconv.Itoa(feature)
	if _, err := Assemble(context.Background(), Options{Host: discover.LiveHost(), Analysis: an, Dest: off, Jlink: true, CDS: CDSOff, AppJars: []string{jar}, Logf: t.Logf}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cdsArchive(off, jdk)); err == nil {
		t.Error("an archive was added with CDSOff")
	}
}

// TestAssembleCDSJava17: Java 17's dumps are not reproducible, so the
// default adds no archive (and says how to get one); CDSOn adds one the
// JVM maps.
func TestAssembleCDSJava17(t *testing.T) {
	needRoot(t)
	jdk := hostJDK(t)
	jar := probeJar(t)
	for _, mode := range []CDSMode{CDSAuto, CDSOn} {
		dest := t.TempDir()
		rep, err := Assemble(context.Background(), Options{Host: discover.LiveHost(), Analysis: javaAnalysis(jdk, 0, 0, "root"), Dest: dest, Jlink: true, CDS: mode, AppJars: []string{jar}, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(cdsArchive(dest, jdk))
		switch mode {
		case CDSAuto:
			if err == nil {
				t.Error("Java 17 got an archive by default")
			}
			if !slicesContain(rep.Notes, "--cds adds one anyway") {
				t.Errorf("notes do not say how to get an archive: %v", rep.Notes)
			}
		case CDSOn:
			if err != nil {
				t.Fatalf("no archive with CDSOn: %v (notes %v)", err, rep.Notes)
			}
			if !slicesContain(rep.Notes, "not reproducible") {
				t.Errorf("notes do not say the archive is not reproducible: %v", rep.Notes)
			}
			if out := runChroot(t, dest, jdk, jar, 0, 0, "-Xshare:on"); !strings.Contains(out, "user=root") {
				t.Errorf("probe with -Xshare:on:\n%s", out)
			}
		}
	}
}

func slicesContain(notes []string, sub string) bool {
	for _, n := range notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// TestNativeModulesWithoutJmods: a JDK without jmods (JEP 493) still has
// the modules of the native libraries the process loaded kept, by name.
func TestNativeModulesWithoutJmods(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "opt/jdk25/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := &assembler{h: discover.Host{Root: root}, home: "/opt/jdk25", mapped: map[string]bool{
		"/opt/jdk25/lib/libextnet.so":         true,
		"/opt/jdk25/lib/libnet.so":            true, // java.base
		"/opt/jdk25/lib/libmanagement_ext.so": true,
		"/usr/lib/x86_64-linux-gnu/libz.so.1": true, // not the JDK's
	}}
	got := strings.Join(a.nativeModules(), ",")
	if want := "jdk.management,jdk.net"; got != want {
		t.Errorf("nativeModules = %s, want %s", got, want)
	}
}
