package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

const tomcatID = "java-tomcat-0c7e5a1d"

// Secret values planted in the fake Tomcat; none may reach an archive.
var tomcatSecrets = []string{"users-secret-pw", "ctx-secret-pass", "props-secret-9876"}

// fakeTomcat builds a Debian-style Tomcat 10: CATALINA_HOME in
// /usr/share/tomcat10 with its jars linked into /usr/share/java,
// CATALINA_BASE in /var/lib/tomcat10 with conf, logs and work linked
// elsewhere, and a "shop" web app holding secrets in several places.
func fakeTomcat(t *testing.T) (*fakeHost, *discover.Analysis, discover.Secrets) {
	h := newFakeHost(t)
	h.file("/usr/lib/jvm/java-17/bin/java", "\x7fELF-java", 0o755)
	h.file("/usr/lib/jvm/java-17/release", "JAVA_VERSION=\"17.0.15\"\n", 0o644)

	h.file("/usr/share/tomcat10/bin/catalina.sh", "#!/bin/sh\nexec java org.apache.catalina.startup.Bootstrap \"$@\"\n", 0o755)
	h.fileBytes("/usr/share/tomcat10/bin/bootstrap.jar", zipBytes(t, "", [2]string{"META-INF/MANIFEST.MF", "Main-Class: org.apache.catalina.startup.Bootstrap\n"}), 0o644)
	h.symlink("/usr/share/tomcat10/lib/catalina.jar", "../../java/tomcat10-catalina.jar")
	h.symlink("/usr/share/java/tomcat10-catalina.jar", "tomcat10-catalina-10.1.34.jar")
	h.fileBytes("/usr/share/java/tomcat10-catalina-10.1.34.jar", zipBytes(t, "", [2]string{"org/apache/catalina/util/ServerInfo.properties", "server.info=Apache Tomcat/10.1.34\n"}), 0o644)
	h.fileBytes("/usr/share/java/unrelated.jar", zipBytes(t, "", [2]string{"x.txt", "not the app's"}), 0o644)
	// jasper.jar names the JSP compiler in its manifest's Class-Path (a
	// continuation line, as jar writes them), which nothing links to; a
	// missing entry and a remote URL are left alone.
	h.symlink("/usr/share/tomcat10/lib/jasper.jar", "../../java/tomcat10-jasper.jar")
	h.fileBytes("/usr/share/java/tomcat10-jasper.jar", zipBytes(t, "", [2]string{"META-INF/MANIFEST.MF",
		"Manifest-Version: 1.0\r\nClass-Path: eclipse-jdt-core.jar tomcat10-el-api.jar not-installed.jar http://exa\r\n mple.com/x.jar ext/my%20lib.jar\r\n\r\n"}), 0o644)
	h.symlink("/usr/share/java/eclipse-jdt-core.jar", "eclipse-jdt-core-3.32.0.jar")
	h.fileBytes("/usr/share/java/eclipse-jdt-core-3.32.0.jar", zipBytes(t, "", [2]string{"org/eclipse/jdt/core/JDTCompilerAdapter.class", "\xca\xfe"}), 0o644)
	h.fileBytes("/usr/share/java/tomcat10-el-api.jar", zipBytes(t, "", [2]string{"jakarta/el/ELContext.class", "\xca\xfe"}), 0o644)
	h.fileBytes("/usr/share/java/ext/my lib.jar", zipBytes(t, "", [2]string{"x/Y.class", "\xca\xfe"}), 0o644)

	h.file("/etc/tomcat10/server.xml", `<?xml version="1.0"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="8080" protocol="HTTP/1.1"/>
    <Engine name="Catalina" defaultHost="localhost"><Host name="localhost" appBase="webapps"/></Engine>
  </Service>
</Server>
`, 0o644)
	h.file("/etc/tomcat10/tomcat-users.xml", `<?xml version="1.0"?>
<tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
  <user username="deployer" password="users-secret-pw" roles="manager-script"/>
</tomcat-users>
`, 0o640)
	h.chown("/etc/tomcat10/tomcat-users.xml", 0, 125)
	h.file("/etc/tomcat10/catalina.properties", "tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n", 0o644)
	h.symlink("/var/lib/tomcat10/conf", "/etc/tomcat10")

	h.mkdir("/var/log/tomcat10", 0o2750)
	h.chown("/var/log/tomcat10", 125, 4)
	h.file("/var/log/tomcat10/catalina.out", "INFO started, db password ctx-secret-pass\n", 0o640)
	h.symlink("/var/lib/tomcat10/logs", "../../log/tomcat10")
	h.file("/var/lib/tomcat10/work/Catalina/localhost/shop/org/apache/jsp/index_jsp.class", "\xca\xfe\xba\xbe\x00", 0o644)
	h.symlink("/var/lib/tomcat10/lib/jre", "/usr/lib/jvm/java-17")
	h.file("/var/lib/tomcat10/bin/setuid-helper", "#!/bin/sh\n", 0o4755)

	w := "/var/lib/tomcat10/webapps"
	h.file(w+"/ROOT/index.html", "<html>root</html>\n", 0o644)
	h.file(w+"/shop/META-INF/context.xml", `<?xml version="1.0"?>
<Context>
  <Resource name="jdbc/ShopDB" auth="Container" type="javax.sql.DataSource"
            url="jdbc:mysql://shopdb.internal.example:3306/shop"
            username="shop" password="ctx-secret-pass" maxTotal="20"/>
</Context>
`, 0o644)
	h.file(w+"/shop/WEB-INF/classes/application.properties", "shop.currency=EUR\nspring.datasource.password=props-secret-9876\n", 0o644)
	h.file(w+"/shop/WEB-INF/classes/com/example/Shop.class", "\xca\xfe\xba\xbe\x00\x00\x00\x3d", 0o644)
	h.fileBytes(w+"/shop/WEB-INF/lib/dep.jar", zipBytes(t, "",
		[2]string{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"},
		[2]string{"com/dep/Dep.class", "\xca\xfe\xba\xbe\x00"},
		[2]string{"com/dep/defaults.properties", "fallback.password=ctx-secret-pass\n"},
	), 0o644)
	// A copy the analysis never parsed: only the scan can catch it.
	h.file(w+"/shop/backup/context.xml.bak", "<Context><Resource password=\"ctx-secret-pass\"/></Context>\n", 0o600)
	h.file(w+"/shop/tomcat.pid", "4711\n", 0o644)
	h.mkdir(w+"/shop/uploads", 0o770)
	h.chown(w+"/shop/uploads", 1001, 1001)
	h.file(w+"/shop/uploads/data.bin", "\x00\x01\x02", 0o660)
	h.chown(w+"/shop/uploads/data.bin", 1001, 1001)
	if err := syscall.Mkfifo(h.local(w+"/shop/control.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfs, secrets := configFiles(t, h, tomcatID,
		"/var/lib/tomcat10/conf/server.xml",
		"/var/lib/tomcat10/conf/tomcat-users.xml",
		"/var/lib/tomcat10/conf/catalina.properties",
		w+"/shop/META-INF/context.xml",
		w+"/shop/WEB-INF/classes/application.properties",
	)
	a := &discover.Analysis{
		SchemaVersion: discover.SchemaVersion,
		ID:            tomcatID,
		Type:          discover.TypeTomcat,
		Observed: discover.Observed{
			Host:    "testhost",
			Runtime: discover.RuntimeInfo{Kind: "java", Version: "17.0.15", Home: "/usr/lib/jvm/java-17"},
			Server: &discover.ServerInfo{Type: "tomcat", Home: "/usr/share/tomcat10", Base: "/var/lib/tomcat10", WebApps: []discover.WebApp{
				{Name: "ROOT", ContextPath: "/", Path: w + "/ROOT", Kind: "exploded"},
				{Name: "shop", ContextPath: "/shop", Path: w + "/shop", Kind: "exploded"},
			}},
			Ports:       []discover.Port{},
			Environment: []discover.EnvVar{},
			ConfigFiles: cfs,
			Files: discover.FileLayout{
				App: []discover.FileRef{
					{Path: "/usr/share/tomcat10", Role: "server-home"},
					{Path: "/var/lib/tomcat10", Role: "server-base"},
					{Path: w + "/ROOT", Role: "webapp"},
					{Path: w + "/shop", Role: "webapp"},
					{Path: "/var/lib/tomcat10/conf", Role: "config", Target: "/etc/tomcat10"},
					{Path: "/usr/share/tomcat10/lib/catalina.jar", Role: "library", Target: "/usr/share/java/tomcat10-catalina-10.1.34.jar", External: true},
				},
				Runtime: []discover.FileRef{{Path: "/usr/lib/jvm/java-17", Role: "runtime"}},
				Logs:    []string{"/var/lib/tomcat10/logs"},
				Temp:    []string{"/var/lib/tomcat10/work"},
			},
		},
		ContainerParameters: discover.ContainerParameters{
			ImageName: tomcatID, ImageTag: "latest", BaseImage: "host",
			Ports: []discover.ExposedPort{{Port: 8080, Protocol: "tcp"}},
			// The external library link is left out on purpose: Extract
			// adds the observed external links itself.
			Include: []string{"/usr/share/tomcat10", "/var/lib/tomcat10", w + "/ROOT", w + "/shop", "/var/lib/tomcat10/conf"},
			Exclude: []string{"/var/lib/tomcat10/logs", "/var/lib/tomcat10/work"},
			Env:     []discover.EnvOverride{},
			User:    "125:125",
		},
	}
	return h, a, secrets
}

func TestExtractTomcat(t *testing.T) {
	ctx := context.Background()
	h, a, secrets := fakeTomcat(t)
	ws := newWorkspace(t, a, secrets)
	res, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID, SourceDateEpoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if res.ArchivePath != filepath.Join(ws.Dir, tomcatID, "extract", tomcatID+".tar.gz") || res.ManifestPath != filepath.Join(ws.Dir, tomcatID, "extract", "manifest.json") {
		t.Errorf("paths %s %s", res.ArchivePath, res.ManifestPath)
	}
	if m.Mode != ModeApplication || m.Type != discover.TypeTomcat || m.App != tomcatID || m.User != "125:125" {
		t.Errorf("manifest header %+v", m)
	}

	entries, raw := readArchive(t, res.ArchivePath)
	assertNoSecret(t, "the archive", raw, tomcatSecrets...)
	manifestJSON, _ := os.ReadFile(res.ManifestPath)
	if entries[0].hdr.Name != ArchiveManifest || !bytes.Equal(entries[0].data, manifestJSON) {
		t.Errorf("first entry %s; it must be the manifest, equal to manifest.json", entries[0].hdr.Name)
	}
	analysisJSON, _ := discover.MarshalJSON(a)
	if entries[1].hdr.Name != ArchiveAnalysis || !bytes.Equal(entries[1].data, analysisJSON) {
		t.Errorf("second entry %s; it must be analysis.json", entries[1].hdr.Name)
	}
	for _, e := range entries {
		if e.hdr.Name != ArchiveManifest && e.hdr.Name != ArchiveAnalysis && !strings.HasPrefix(e.hdr.Name, "rootfs/") {
			t.Errorf("entry %s outside rootfs/", e.hdr.Name)
		}
		if !e.hdr.ModTime.Equal(e.hdr.ModTime.Truncate(0)) || e.hdr.ModTime.Unix() != 1700000000 {
			t.Errorf("entry %s mtime %v", e.hdr.Name, e.hdr.ModTime)
		}
	}

	// Server, its linked jars (each hop of the chain) and the jars their
	// manifests' Class-Path names (with the role of the jar that names
	// them: jasper.jar was not observed as a library), not the rest of
	// /usr/share/java, not the JVM.
	want := map[string]struct{ typ, link, layer, role string }{
		"/usr/share/tomcat10/bin/catalina.sh":            {TypeFile, "", LayerServer, RoleServer},
		"/usr/share/tomcat10/bin/bootstrap.jar":          {TypeFile, "", LayerServer, RoleServer},
		"/usr/share/tomcat10/lib/catalina.jar":           {TypeSymlink, "../../java/tomcat10-catalina.jar", LayerServer, RoleLibrary},
		"/usr/share/java/tomcat10-catalina.jar":          {TypeSymlink, "tomcat10-catalina-10.1.34.jar", LayerServer, RoleLibrary},
		"/usr/share/java/tomcat10-catalina-10.1.34.jar":  {TypeFile, "", LayerServer, RoleLibrary},
		"/usr/share/java/tomcat10-jasper.jar":            {TypeFile, "", LayerServer, RoleServer},
		"/usr/share/java/eclipse-jdt-core.jar":           {TypeSymlink, "eclipse-jdt-core-3.32.0.jar", LayerServer, RoleServer},
		"/usr/share/java/eclipse-jdt-core-3.32.0.jar":    {TypeFile, "", LayerServer, RoleServer},
		"/usr/share/java/tomcat10-el-api.jar":            {TypeFile, "", LayerServer, RoleServer},
		"/usr/share/java/ext/my lib.jar":                 {TypeFile, "", LayerServer, RoleServer},
		"/var/lib/tomcat10/conf":                         {TypeSymlink, "../../../etc/tomcat10", LayerConfig, RoleConfig},
		"/etc/tomcat10/server.xml":                       {TypeFile, "", LayerConfig, RoleConfig},
		"/etc/tomcat10/tomcat-users.xml":                 {TypeFile, "", LayerConfig, RoleConfig},
		"/var/lib/tomcat10/logs":                         {TypeSymlink, "../../log/tomcat10", LayerServer, RoleServer},
		"/var/log/tomcat10":                              {TypeDir, "", LayerServer, RoleServer},
		"/var/lib/tomcat10/work":                         {TypeDir, "", LayerServer, RoleServer},
		"/var/lib/tomcat10/lib/jre":                      {TypeSymlink, "../../../../usr/lib/jvm/java-17", LayerLibraries, RoleServer},
		w("ROOT/index.html"):                             {TypeFile, "", LayerApp, RoleWebApp},
		w("shop/WEB-INF/classes/com/example/Shop.class"): {TypeFile, "", LayerApp, RoleWebApp},
		w("shop/WEB-INF/classes/application.properties"): {TypeFile, "", LayerConfig, RoleConfig},
		w("shop/META-INF/context.xml"):                   {TypeFile, "", LayerConfig, RoleConfig},
		w("shop/WEB-INF/lib/dep.jar"):                    {TypeFile, "", LayerLibraries, RoleWebApp},
		w("shop/backup/context.xml.bak"):                 {TypeFile, "", LayerApp, RoleWebApp},
		w("shop/uploads/data.bin"):                       {TypeFile, "", LayerApp, RoleWebApp},
	}
	for p, wnt := range want {
		f := fileByPath(m, p)
		if f == nil {
			t.Errorf("%s is not in the manifest", p)
			continue
		}
		if f.Type != wnt.typ || f.LinkTarget != wnt.link || f.Layer != wnt.layer || f.Role != wnt.role {
			t.Errorf("%s: %s -> %q layer %s role %s; want %s -> %q layer %s role %s", p, f.Type, f.LinkTarget, f.Layer, f.Role, wnt.typ, wnt.link, wnt.layer, wnt.role)
		}
	}
	for _, p := range []string{"/usr/share/java/unrelated.jar", "/var/log/tomcat10/catalina.out", "/var/lib/tomcat10/work/Catalina", w("shop/tomcat.pid"), w("shop/control.fifo"), "/usr/lib/jvm/java-17", "/usr/lib/jvm/java-17/bin/java"} {
		if fileByPath(m, p) != nil {
			t.Errorf("%s must not be in the archive", p)
		}
	}
	if f := fileByPath(m, "/var/lib/tomcat10/conf"); f == nil || f.HostLinkTarget != "/etc/tomcat10" {
		t.Errorf("conf link %+v: the host's absolute target must be recorded", f)
	}
	if len(m.Runtime.Paths) != 1 || m.Runtime.Paths[0] != "/usr/lib/jvm/java-17" || m.Runtime.Home != "/usr/lib/jvm/java-17" {
		t.Errorf("runtime %+v", m.Runtime)
	}
	for p, rule := range map[string]string{
		"/var/lib/tomcat10/logs": "/var/lib/tomcat10/logs",
		"/var/log/tomcat10":      "target of excluded /var/lib/tomcat10/logs",
		"/var/lib/tomcat10/work": "/var/lib/tomcat10/work",
		w("shop/tomcat.pid"):     "built-in *.pid",
		w("shop/control.fifo"):   "special file (named pipe)",
		"/usr/lib/jvm/java-17":   "runtime",
	} {
		x := excludedByPath(m, p)
		if x == nil || x.Rule != rule {
			t.Errorf("excluded %s: %+v, want rule %q", p, x, rule)
		}
	}
	if x := excludedByPath(m, "/var/log/tomcat10"); x == nil || !x.KeptEmpty || x.Files != 1 {
		t.Errorf("the log directory must be kept empty and its file counted: %+v", x)
	}
	if !hasWarning(m, "control.fifo is a named pipe") {
		t.Errorf("no warning about the FIFO: %v", m.Warnings)
	}

	// Modes and owners as on the host.
	if f := fileByPath(m, "/var/lib/tomcat10/bin/setuid-helper"); f == nil || f.Mode != 0o4755 {
		t.Errorf("setuid helper %+v", f)
	}
	if f := fileByPath(m, "/var/log/tomcat10"); f == nil || f.Mode != 0o2750 {
		t.Errorf("log dir %+v", f)
	}
	if os.Geteuid() == 0 {
		if f := fileByPath(m, w("shop/uploads")); f == nil || f.UID != 1001 || f.GID != 1001 || f.Mode != 0o770 {
			t.Errorf("uploads %+v", f)
		}
		if f := fileByPath(m, "/etc/tomcat10/tomcat-users.xml"); f == nil || f.GID != 125 || f.Mode != 0o640 {
			t.Errorf("tomcat-users.xml %+v", f)
		}
	}

	// What was redacted, and how.
	for _, r := range []struct{ path, entry, source string }{
		{"/etc/tomcat10/tomcat-users.xml", "", "config"},
		{w("shop/META-INF/context.xml"), "", "config"},
		{w("shop/WEB-INF/classes/application.properties"), "", "config"},
		{w("shop/backup/context.xml.bak"), "", "scan"},
		{w("shop/WEB-INF/lib/dep.jar"), "com/dep/defaults.properties", "scan"},
	} {
		rf := redactedByPath(m, r.path, r.entry)
		if rf == nil || rf.Source != r.source || len(rf.Secrets) == 0 {
			t.Errorf("redacted %s!/%s: %+v, want source %s", r.path, r.entry, rf, r.source)
			continue
		}
		for _, s := range rf.Secrets {
			if _, ok := secrets[s.Ref]; !ok {
				t.Errorf("%s: unknown ref %s", r.path, s.Ref)
			}
		}
		if f := fileByPath(m, r.path); f == nil || !f.Redacted {
			t.Errorf("%s not marked redacted", r.path)
		}
	}
	if !hasWarning(m, "context.xml.bak holds the value of") {
		t.Errorf("no warning about the secret found in the backup copy: %v", m.Warnings)
	}
	if m.Sizes.Files == 0 || len(m.Sizes.Layers) != 4 || len(m.Sizes.Largest) == 0 || m.Sizes.Excluded.Files < 3 {
		t.Errorf("sizes %+v", m.Sizes)
	}

	// Unpack and compare with the host.
	dest := filepath.Join(t.TempDir(), "out")
	um, err := Unpack(ctx, res.ArchivePath, dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(um.Files) != len(m.Files) {
		t.Fatalf("unpacked manifest has %d files, want %d", len(um.Files), len(m.Files))
	}
	for _, f := range m.Files {
		got := filepath.Join(dest, "rootfs", f.Path)
		fi, err := os.Lstat(got)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		if f.Type == TypeSymlink {
			if tgt, _ := os.Readlink(got); tgt != f.LinkTarget {
				t.Errorf("%s -> %s, want %s", f.Path, tgt, f.LinkTarget)
			}
			continue
		}
		if modeOf(fi.Mode()) != f.Mode {
			t.Errorf("%s: mode %s, want %s", f.Path, modeOf(fi.Mode()), f.Mode)
		}
		if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != f.UID || st.Gid != f.GID) {
			t.Errorf("%s: owner %d:%d, want %d:%d", f.Path, st.Uid, st.Gid, f.UID, f.GID)
		}
		if f.Type != TypeFile {
			continue
		}
		data, _ := os.ReadFile(got)
		orig := h.read(f.Path)
		if rf := redactedByPath(m, f.Path, ""); rf != nil {
			assertNoSecret(t, f.Path, data, tomcatSecrets...)
			rendered, err := Render(data, rf.Secrets, secrets)
			if err != nil {
				t.Fatal(err)
			}
			data = rendered
		}
		if strings.HasSuffix(f.Path, "dep.jar") {
			continue // checked below
		}
		if !bytes.Equal(data, orig) {
			t.Errorf("%s differs from the host's:\n%s\nwant\n%s", f.Path, data, orig)
		}
	}
	// Links resolve inside the unpacked tree.
	if data, err := os.ReadFile(filepath.Join(dest, "rootfs/usr/share/tomcat10/lib/catalina.jar")); err != nil || !bytes.Equal(data, h.read("/usr/share/java/tomcat10-catalina-10.1.34.jar")) {
		t.Errorf("catalina.jar through its links: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "rootfs/var/lib/tomcat10/conf/server.xml")); err != nil {
		t.Errorf("conf link: %v", err)
	}
	if ents, err := os.ReadDir(filepath.Join(dest, "rootfs/var/log/tomcat10")); err != nil || len(ents) != 0 {
		t.Errorf("log dir must exist, empty: %v %v", ents, err)
	}
	// The jar: the secret replaced in its text entry, the rest unchanged.
	jar, _ := os.ReadFile(filepath.Join(dest, "rootfs", w("shop/WEB-INF/lib/dep.jar")))
	assertNoSecret(t, "dep.jar", jar, tomcatSecrets...)
	zr, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		t.Fatalf("rewritten jar: %v", err)
	}
	orig, _ := zip.NewReader(bytes.NewReader(h.read(w("shop/WEB-INF/lib/dep.jar"))), int64(len(h.read(w("shop/WEB-INF/lib/dep.jar")))))
	if len(zr.File) != len(orig.File) {
		t.Fatalf("rewritten jar has %d entries, want %d", len(zr.File), len(orig.File))
	}
	rf := redactedByPath(m, w("shop/WEB-INF/lib/dep.jar"), "com/dep/defaults.properties")
	for i, f := range zr.File {
		if f.Name != orig.File[i].Name {
			t.Errorf("entry %d is %s, want %s", i, f.Name, orig.File[i].Name)
		}
		got, _ := readZipEntry(f, 1<<20)
		want, _ := readZipEntry(orig.File[i], 1<<20)
		if f.Name == "com/dep/defaults.properties" && rf != nil {
			if !bytes.Contains(got, []byte("{{hoist-secret:")) {
				t.Errorf("defaults.properties not redacted: %s", got)
			}
			got, _ = Render(got, rf.Secrets, secrets)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("jar entry %s: %q, want %q", f.Name, got, want)
		}
	}
}

func w(p string) string { return "/var/lib/tomcat10/webapps/" + p }

func TestExtractDeterministic(t *testing.T) {
	ctx := context.Background()
	h, a, secrets := fakeTomcat(t)
	ws := newWorkspace(t, a, secrets)
	run := func(epoch int64) []byte {
		t.Helper()
		res, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID, SourceDateEpoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(res.ArchivePath)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	first := run(0)
	// Touching files (new mtimes, atimes) changes nothing.
	for _, p := range []string{"/etc/tomcat10/server.xml", w("ROOT/index.html"), "/usr/share/tomcat10/bin"} {
		if err := os.Chtimes(h.local(p), time0(), time0()); err != nil {
			t.Fatal(err)
		}
	}
	if second := run(0); !bytes.Equal(first, second) {
		t.Errorf("two runs over the same files differ (%d and %d bytes)", len(first), len(second))
	}
	if other := run(86400); bytes.Equal(first, other) {
		t.Errorf("a different SOURCE_DATE_EPOCH gave the same archive")
	}
	// The gzip headers carry no name and no time.
	if first[3]&0x08 != 0 || !bytes.Equal(first[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header has a name or mtime: % x", first[:10])
	}
	// Nothing is left behind in the output directory.
	ents, _ := os.ReadDir(filepath.Join(ws.Dir, tomcatID, "extract"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "java-tomcat-0c7e5a1d.tar.gz,manifest.json" {
		t.Errorf("extract directory holds %v", names)
	}
}

func TestExtractBadInput(t *testing.T) {
	ctx := context.Background()
	h, a, secrets := fakeTomcat(t)

	t.Run("unknown app", func(t *testing.T) {
		ws := discover.Workspace{Dir: t.TempDir()}
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: "java-tomcat-00000000"})
		if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist analyze java-tomcat-00000000") {
			t.Errorf("err = %v, want ErrNotFound telling to run hoist analyze", err)
		}
	})
	t.Run("bad id", func(t *testing.T) {
		ws := discover.Workspace{Dir: t.TempDir()}
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: "../../etc"})
		if !errors.Is(err, discover.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("malformed analysis", func(t *testing.T) {
		ws := newWorkspace(t, a, secrets)
		os.WriteFile(ws.AnalysisPath(tomcatID), []byte("{\n  \"id\": oops\n}\n"), 0o644)
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID})
		if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("err = %v, want ErrInvalid naming line 2", err)
		}
		assertNoOutput(t, ws)
	})
	t.Run("vanished include", func(t *testing.T) {
		b := *a
		b.ContainerParameters.Include = append([]string{"/opt/gone", "/srv/also-gone/app.jar"}, a.ContainerParameters.Include...)
		ws := newWorkspace(t, &b, secrets)
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID})
		if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "/opt/gone") || !strings.Contains(err.Error(), "/srv/also-gone/app.jar") {
			t.Errorf("err = %v, want ErrNotFound naming both paths", err)
		}
		assertNoOutput(t, ws)
		res, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID, AllowMissing: true})
		if err != nil {
			t.Fatal(err)
		}
		if !hasWarning(res.Manifest, "/opt/gone") {
			t.Errorf("no warning about the missing path: %v", res.Manifest.Warnings)
		}
	})
	t.Run("relative include", func(t *testing.T) {
		b := *a
		b.ContainerParameters.Include = []string{"webapps/shop"}
		ws := newWorkspace(t, &b, secrets)
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: tomcatID})
		if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), "webapps/shop") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("config changed since analyze", func(t *testing.T) {
		h2, a2, s2 := fakeTomcat(t)
		h2.file(w("shop/WEB-INF/classes/application.properties"), "spring.datasource.password=rotated-secret-1\n", 0o644)
		ws := newWorkspace(t, a2, s2)
		_, err := Extract(ctx, Options{Host: h2.host(), Workspace: ws, ID: tomcatID})
		if err == nil || !strings.Contains(err.Error(), "application.properties") || !strings.Contains(err.Error(), "hoist analyze") {
			t.Errorf("err = %v, want an error naming the file and telling to analyze again", err)
		}
		assertNoOutput(t, ws)
	})
	t.Run("unreadable file", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to switch the filesystem uid")
		}
		h2, a2, s2 := fakeTomcat(t)
		ws := newWorkspace(t, a2, s2)
		for _, d := range []string{h2.root, filepath.Dir(h2.root), filepath.Dir(filepath.Dir(h2.root)), filepath.Dir(ws.Dir), ws.Dir, filepath.Dir(filepath.Dir(ws.Dir))} {
			// Never the shared temp dir itself (it stays 1777).
			if d != filepath.Clean(os.TempDir()) && d != "/" {
				os.Chmod(d, 0o755)
			}
		}
		os.Chmod(filepath.Join(ws.Dir, tomcatID), 0o777)
		os.Chmod(ws.SecretsPath(), 0o644)
		// Readable by root only; everything else is readable by anyone.
		for _, p := range []string{"/etc/tomcat10/tomcat-users.xml", w("shop/backup/context.xml.bak"), w("shop/uploads/data.bin")} {
			os.Chmod(h2.local(p), 0o644)
		}
		os.Chmod(h2.local(w("shop/uploads")), 0o755)
		h2.file(w("shop/private.key"), "key material\n", 0o600)
		err := asUser(t, 65534, func() error {
			_, err := Extract(ctx, Options{Host: h2.host(), Workspace: ws, ID: tomcatID})
			return err
		})
		if !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "private.key") || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("err = %v, want an error naming private.key", err)
		}
		assertNoOutput(t, ws)
	})
}

// asUser runs fn with the filesystem uid and gid of another user, on this
// thread only, so the permission checks are real.
func asUser(t *testing.T, id int, fn func() error) error {
	t.Helper()
	done := make(chan error)
	go func() {
		runtimeLockOSThread()
		// The thread is not unlocked: it dies with the goroutine, so
		// the changed ids never leak into other goroutines.
		syscall.Setfsgid(id)
		syscall.Setfsuid(id)
		done <- fn()
	}()
	return <-done
}

func assertNoOutput(t *testing.T, ws discover.Workspace) {
	t.Helper()
	if _, err := os.Stat(ArchivePath(ws, tomcatID)); err == nil {
		t.Errorf("an archive was left at %s", ArchivePath(ws, tomcatID))
	}
	if _, err := os.Stat(ManifestPath(ws, tomcatID)); err == nil {
		t.Errorf("a manifest was left at %s", ManifestPath(ws, tomcatID))
	}
	ents, _ := os.ReadDir(filepath.Join(ws.Dir, tomcatID, "extract"))
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}
