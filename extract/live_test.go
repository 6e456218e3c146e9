package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
)

// TestLiveSampleApp extracts a real running process: the sample app
// compiled with javac and started with java, inventoried and analyzed by
// discover, then extracted and unpacked. Skipped with -short.
func TestLiveSampleApp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Java process")
	}
	javac, err1 := exec.LookPath("javac")
	java, err2 := exec.LookPath("java")
	if err1 != nil || err2 != nil {
		t.Skip("javac and java are not installed (make deps installs them)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "sampleapp", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(javac, "-d", dir, filepath.Join(dir, "HelloServer.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const token = "live-token-secret-4242"
	cmd := exec.Command(java, "-Xmx64m", "-cp", dir, "HelloServer", fmt.Sprint(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "API_TOKEN="+token)
	startAndWait(t, cmd, fmt.Sprintf("http://127.0.0.1:%d/health", port), 30*time.Second)
	ws, a := analyzeLive(t, cmd.Process.Pid)
	id := a.ID
	res, err := Extract(ctx, Options{Host: discover.LiveHost(), Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if f := fileByPath(m, filepath.Join(dir, "HelloServer.class")); f == nil || f.Type != TypeFile || f.Layer != LayerApp {
		t.Errorf("HelloServer.class: %+v", f)
	}
	props := filepath.Join(dir, "application.properties")
	rf := redactedByPath(m, props, "")
	if f := fileByPath(m, props); f == nil || !f.Redacted || f.Layer != LayerConfig || rf == nil {
		t.Errorf("application.properties: %+v %+v", f, rf)
	}
	if m.Runtime.Home == "" || m.Runtime.Home != a.Observed.Runtime.Home {
		t.Errorf("runtime %+v, analysis says %s", m.Runtime, a.Observed.Runtime.Home)
	}
	for _, f := range m.Files {
		if m.Runtime.Home != "" && strings.HasPrefix(f.Path, m.Runtime.Home+"/") {
			t.Errorf("a runtime file is in the archive: %s", f.Path)
		}
	}
	_, raw := readArchive(t, res.ArchivePath)
	assertNoSecret(t, "the archive", raw, "sample-not-a-real-password", token)

	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Unpack(ctx, res.ArchivePath, dest); err != nil {
		t.Fatal(err)
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, "rootfs", props))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := Render(data, rf.Secrets, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if orig, _ := os.ReadFile(props); !bytes.Equal(rendered, orig) {
		t.Errorf("application.properties renders to\n%s\nwant\n%s", rendered, orig)
	}
	class, _ := os.ReadFile(filepath.Join(dest, "rootfs", dir, "HelloServer.class"))
	if orig, _ := os.ReadFile(filepath.Join(dir, "HelloServer.class")); len(orig) == 0 || !bytes.Equal(class, orig) {
		t.Errorf("HelloServer.class differs after unpacking")
	}
}

// startAndWait starts cmd, stops it (by its PID) when the test ends, and
// waits for url to answer.
func startAndWait(t *testing.T, cmd *exec.Cmd, url string, timeout time.Duration) {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _, _ = cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %s: %v\n%s", url, timeout, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// analyzeLive inventories this machine and analyzes the app of a PID.
func analyzeLive(t *testing.T, pid int) (discover.Workspace, *discover.Analysis) {
	t.Helper()
	ctx := context.Background()
	inv, err := discover.Scan(ctx, discover.ScanOptions{Host: discover.LiveHost()})
	if err != nil {
		t.Fatal(err)
	}
	app, found := inv.Find(func(a discover.App) bool { return slices.Contains(a.PIDs, int32(pid)) })
	id := app.ID
	if !found {
		t.Fatalf("pid %d not in the inventory", pid)
	}
	ws := discover.Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	a, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: discover.LiveHost(), Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return ws, a
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLiveTomcat extracts Debian's Tomcat 10, started by the test with its
// own CATALINA_BASE: its jars are links into /usr/share/java, which must
// arrive in the archive with their targets and resolve once unpacked.
func TestLiveTomcat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Debian's Tomcat")
	}
	home := "/usr/share/tomcat10"
	if _, err := os.Stat(filepath.Join(home, "bin", "catalina.sh")); err != nil {
		t.Skip("Debian's tomcat10 is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not installed")
	}
	ctx := context.Background()
	base := t.TempDir()
	port := freePort(t)
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps/ROOT", "webapps/shop/META-INF", "lib"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"web.xml", "logging.properties", "catalina.properties", "context.xml"} {
		data, err := os.ReadFile(filepath.Join("/etc/tomcat10", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(base, "conf", f), data, 0o644)
	}
	os.WriteFile(filepath.Join(base, "conf", "server.xml"), []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="%d" address="127.0.0.1" protocol="HTTP/1.1"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
`, port)), 0o644)
	os.WriteFile(filepath.Join(base, "webapps", "ROOT", "index.html"), []byte("<html>root</html>\n"), 0o644)
	os.WriteFile(filepath.Join(base, "webapps", "shop", "index.html"), []byte("<html>shop</html>\n"), 0o644)
	os.WriteFile(filepath.Join(base, "webapps", "shop", "META-INF", "context.xml"), []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Context>
  <Resource name="jdbc/ShopDB" auth="Container" type="javax.sql.DataSource"
            url="jdbc:mysql://shopdb.internal.example:3306/shop" username="shop" password="live-ctx-secret-31"/>
</Context>
`), 0o644)
	cmd := exec.Command(filepath.Join(home, "bin", "catalina.sh"), "run")
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+home, "CATALINA_BASE="+base, "CATALINA_TMPDIR="+filepath.Join(base, "temp"), "JAVA_OPTS=-Xmx256m")
	startAndWait(t, cmd, fmt.Sprintf("http://127.0.0.1:%d/shop/", port), 90*time.Second)
	ws, a := analyzeLive(t, cmd.Process.Pid)

	res, err := Extract(ctx, Options{Host: discover.LiveHost(), Workspace: ws, ID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.Mode != ModeApplication {
		t.Errorf("mode %s", m.Mode)
	}
	_, raw := readArchive(t, res.ArchivePath)
	assertNoSecret(t, "the archive", raw, "live-ctx-secret-31")
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Unpack(ctx, res.ArchivePath, dest); err != nil {
		t.Fatal(err)
	}
	// Every jar of Tomcat's lib resolves inside the unpacked tree to the
	// same bytes as on the host.
	ents, err := os.ReadDir(filepath.Join(home, "lib"))
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, e := range ents {
		p := filepath.Join(home, "lib", e.Name())
		f := fileByPath(m, p)
		if f == nil {
			t.Errorf("%s is not in the archive", p)
			continue
		}
		if f.Type == TypeSymlink {
			links++
		}
		got, err := os.ReadFile(filepath.Join(dest, "rootfs", p))
		want, _ := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s unpacked: %v", p, err)
		}
		if f.Layer != LayerServer {
			t.Errorf("%s: layer %s, want server", p, f.Layer)
		}
	}
	if links < 5 {
		t.Errorf("only %d of Tomcat's jars were links", links)
	}
	if f := fileByPath(m, filepath.Join(base, "webapps", "shop", "META-INF", "context.xml")); f == nil || !f.Redacted || f.Layer != LayerConfig {
		t.Errorf("shop context.xml: %+v", f)
	}
	// The jars Tomcat's own jars name in their manifests' Class-Path (the
	// JSP compiler, eclipse-jdt-core.jar, is loaded only when a JSP is
	// compiled), read here independently of the extractor.
	named := map[string]bool{}
	jars, _ := filepath.Glob("/usr/share/java/tomcat10-*.jar")
	for _, j := range jars {
		zr, err := zip.OpenReader(j)
		if err != nil {
			continue
		}
		for _, zf := range zr.File {
			if zf.Name != "META-INF/MANIFEST.MF" {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				continue
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			for _, line := range strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n ", ""), "\n") {
				if v, ok := strings.CutPrefix(line, "Class-Path:"); ok {
					for _, name := range strings.Fields(v) {
						p := filepath.Join(filepath.Dir(j), name)
						if _, err := os.Stat(p); err == nil {
							named[p] = true
							if real, err := filepath.EvalSymlinks(p); err == nil {
								named[real] = true
							}
						}
					}
				}
			}
		}
		zr.Close()
	}
	for p := range named {
		if fileByPath(m, p) == nil {
			t.Errorf("%s, named in a Tomcat jar's Class-Path, is not archived", p)
		}
	}
	// Not the rest of /usr/share/java, not the JDK.
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "/usr/lib/jvm/") {
			t.Errorf("JDK file %s archived", f.Path)
		}
		if strings.HasPrefix(f.Path, "/usr/share/java/") && !strings.Contains(f.Path, "tomcat10") && !named[f.Path] {
			t.Errorf("unrelated library %s archived", f.Path)
		}
	}
	if len(m.Runtime.Paths) == 0 {
		t.Errorf("the JDK was not reported as left out: %+v", m.Runtime)
	}
}
