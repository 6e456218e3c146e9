package discover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests in this file run real processes: a Java app compiled with javac, and
// Debian's Tomcat 10. They are skipped with -short.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (make deps installs it): %v", name, err)
	}
	return p
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

// startProcess starts cmd and stops it (by its PID only) when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", cmd.Args, err)
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
}

func waitHTTP(t *testing.T, url string, timeout time.Duration, logs func() string) {
	t.Helper()
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
			t.Fatalf("%s did not answer within %s: %v\n%s", url, timeout, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// appWithPID finds the app a PID belongs to.
func appWithPID(inv *Inventory, pid int) *App {
	for i, a := range inv.Apps {
		for _, p := range a.PIDs {
			if int(p) == pid {
				return &inv.Apps[i]
			}
		}
	}
	return nil
}

// startSampleApp compiles and starts testdata/sampleapp on a free port.
func startSampleApp(t *testing.T, dir string, port int, env ...string) *exec.Cmd {
	t.Helper()
	src, _ := filepath.Abs("../testdata/sampleapp")
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "HelloServer.class")); err != nil {
		out, err := exec.Command(needTool(t, "javac"), "-d", dir, filepath.Join(dir, "HelloServer.java")).CombinedOutput()
		if err != nil {
			t.Fatalf("javac: %v\n%s", err, out)
		}
	}
	var logs bytes.Buffer
	cmd := exec.Command(needTool(t, "java"), "-Xmx64m", "-Dapp.mode=test", "-cp", dir, "HelloServer", fmt.Sprint(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	startProcess(t, cmd)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/health", port), 30*time.Second, logs.String)
	return cmd
}

func TestLiveJavaApp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Java process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	port := freePort(t)
	const dbURL = "postgres://orders:url-secret-123@db.internal.example:5432/orders"
	const token = "tok-very-secret-0987"
	cmd := startSampleApp(t, dir, port, "API_TOKEN="+token, "DATABASE_URL="+dbURL, "GREETING_MODE=loud")

	inv, err := Scan(ctx, ScanOptions{Host: LiveHost()})
	if err != nil {
		t.Fatal(err)
	}
	app := appWithPID(inv, cmd.Process.Pid)
	if app == nil {
		t.Fatalf("pid %d not in inventory: %+v", cmd.Process.Pid, inv.Apps)
	}
	if app.Type != TypeJavaGen || !strings.HasPrefix(app.ID, "java-generic-") {
		t.Errorf("type %s id %s, want java-generic", app.Type, app.ID)
	}
	if !hasPort(app.Ports, "tcp", uint32(port)) {
		t.Errorf("ports %+v lack tcp %d", app.Ports, port)
	}
	if app.UID != uint32(os.Geteuid()) {
		t.Errorf("uid %d, want %d", app.UID, os.Geteuid())
	}

	ws := Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	if err := ws.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID})
	if err != nil {
		t.Fatal(err)
	}
	o := a.Observed
	if o.Runtime.Kind != "java" || o.Runtime.Version == "" || o.Runtime.MainClass != "HelloServer" {
		t.Errorf("runtime %+v", o.Runtime)
	}
	if want := javaVersionFromRelease(t, o.Runtime.Home); want != "" && !strings.HasPrefix(o.Runtime.Version, want) {
		t.Errorf("java version %q, release file says %q", o.Runtime.Version, want)
	}
	if v, ok := kvValue(o.Runtime.SystemProperties, "app.mode"); !ok || v != "test" {
		t.Errorf("system property app.mode = %q, %v", v, ok)
	}
	if o.Process.Cwd != dir || o.Process.PID != int32(cmd.Process.Pid) {
		t.Errorf("process %+v", o.Process)
	}
	env := map[string]EnvVar{}
	for _, e := range o.Environment {
		env[e.Name] = e
	}
	if e := env["API_TOKEN"]; e.SecretRef == "" || e.Value != "" {
		t.Errorf("API_TOKEN not classified as a secret: %+v", e)
	}
	if e := env["DATABASE_URL"]; e.SecretRef == "" {
		t.Errorf("DATABASE_URL with credentials not a secret: %+v", e)
	}
	if e := env["GREETING_MODE"]; e.Value != "loud" || e.SecretRef != "" {
		t.Errorf("GREETING_MODE: %+v", e)
	}
	if !hasDep(o.Dependencies, "postgresql", "db.internal.example", 5432) {
		t.Errorf("dependencies %+v lack postgresql db.internal.example:5432", o.Dependencies)
	}
	var props *ConfigFile
	for i, cf := range o.ConfigFiles {
		if cf.Path == filepath.Join(dir, "application.properties") {
			props = &o.ConfigFiles[i]
		}
	}
	if props == nil || len(props.SecretRefs) == 0 {
		t.Fatalf("application.properties and its password not found: %+v", o.ConfigFiles)
	}
	if got := a.ContainerParameters.Ports; len(got) != 1 || got[0] != (ExposedPort{Port: port, Protocol: "tcp"}) {
		t.Errorf("containerParameters.ports %v, want [%d/tcp]", got, port)
	}
	if a.ContainerParameters.User != fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid()) {
		t.Errorf("user %q", a.ContainerParameters.User)
	}

	// Secret values are only in the 0600 secrets file.
	raw, err := os.ReadFile(ws.AnalysisPath(app.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{token, "url-secret-123", "sample-not-a-real-password"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("analysis.json contains secret %q", secret)
		}
		assertNotInTree(t, ws.Dir, secret, SecretsFile)
	}
	fi, err := os.Stat(ws.SecretsPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v, want 0600", fi.Mode().Perm())
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if secrets[env["API_TOKEN"].SecretRef] != token {
		t.Errorf("secrets file lacks API_TOKEN's value under %s", env["API_TOKEN"].SecretRef)
	}

	// Same inputs, same bytes.
	if _, err := Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID}); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(ws.AnalysisPath(app.ID))
	if !bytes.Equal(raw, raw2) {
		t.Errorf("analysis.json differs between two runs")
	}

	// User edits survive a re-run; --force regenerates them.
	edited := bytes.Replace(raw, []byte(`"imageTag": "latest"`), []byte(`"imageTag": "v2"`), 1)
	if err := os.WriteFile(ws.AnalysisPath(app.ID), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	a2, err := Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID})
	if err != nil {
		t.Fatal(err)
	}
	if a2.ContainerParameters.ImageTag != "v2" {
		t.Errorf("edit lost: imageTag %q", a2.ContainerParameters.ImageTag)
	}
	a3, err := Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if a3.ContainerParameters.ImageTag != "latest" {
		t.Errorf("--force kept imageTag %q", a3.ContainerParameters.ImageTag)
	}

	// A broken analysis.json is refused and left as it was.
	broken := []byte("{\n  \"schemaVersion\": 1,\n  \"id\": oops\n}\n")
	if err := os.WriteFile(ws.AnalysisPath(app.ID), broken, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("broken analysis.json: err = %v, want ErrInvalid naming line 3", err)
	}
	if got, _ := os.ReadFile(ws.AnalysisPath(app.ID)); !bytes.Equal(got, broken) {
		t.Errorf("broken analysis.json was overwritten")
	}

	// Unknown IDs list the known ones.
	_, err = Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: "java-tomcat-00000000"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), app.ID) {
		t.Errorf("unknown id: err = %v, want ErrNotFound listing %s", err, app.ID)
	}

	// The ID is the app's, not the process's: a restart keeps it.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_, _ = cmd.Process.Wait()
	cmd2 := startSampleApp(t, dir, port, "API_TOKEN="+token)
	inv2, err := Scan(ctx, ScanOptions{Host: LiveHost()})
	if err != nil {
		t.Fatal(err)
	}
	app2 := appWithPID(inv2, cmd2.Process.Pid)
	if app2 == nil || app2.ID != app.ID {
		t.Errorf("after restart: %+v, want ID %s", app2, app.ID)
	}
}

func hasPort(ports []Port, proto string, port uint32) bool {
	for _, p := range ports {
		if strings.HasPrefix(p.Protocol, proto) && p.Port == port {
			return true
		}
	}
	return false
}

func hasDep(deps []Dependency, svc, host string, port int) bool {
	for _, d := range deps {
		if d.Service == svc && d.Host == host && d.Port == port {
			return true
		}
	}
	return false
}

func kvValue(kvs []KV, k string) (string, bool) {
	for _, kv := range kvs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return "", false
}

func javaVersionFromRelease(t *testing.T, home string) string {
	data, err := os.ReadFile(filepath.Join(home, "release"))
	if err != nil {
		return ""
	}
	return parseShellVars(data)["JAVA_VERSION"]
}

// assertNotInTree fails if any file under dir except the named one holds s.
func assertNotInTree(t *testing.T, dir, s, except string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || filepath.Base(p) == except {
			return nil
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s contains secret %q", p, s)
		}
		return nil
	})
}

func TestLiveTomcat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Debian's Tomcat")
	}
	home := "/usr/share/tomcat10"
	if _, err := os.Stat(filepath.Join(home, "bin", "catalina.sh")); err != nil {
		t.Skip("Debian's tomcat10 is not installed (make deps installs it)")
	}
	needTool(t, "java")
	ctx := context.Background()
	base := t.TempDir()
	port := freePort(t)
	makeCatalinaBase(t, base, port)

	var logs bytes.Buffer
	cmd := exec.Command(filepath.Join(home, "bin", "catalina.sh"), "run")
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+home, "CATALINA_BASE="+base, "CATALINA_TMPDIR="+filepath.Join(base, "temp"),
		"JAVA_OPTS=-Xmx256m -Djava.awt.headless=true", "SHOP_DB_PASSWORD=env-secret-555")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	startProcess(t, cmd)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/shop/", port), 90*time.Second, logs.String)

	inv, err := Scan(ctx, ScanOptions{Host: LiveHost()})
	if err != nil {
		t.Fatal(err)
	}
	app := appWithPID(inv, cmd.Process.Pid)
	if app == nil {
		t.Fatalf("tomcat pid %d not in inventory %+v", cmd.Process.Pid, inv.Apps)
	}
	if app.Type != TypeTomcat || app.Path != base {
		t.Errorf("app %+v, want java-tomcat at %s", app, base)
	}
	ws := Workspace{Dir: t.TempDir()}
	a, err := Analyze(ctx, AnalyzeOptions{Host: LiveHost(), Workspace: ws, ID: app.ID})
	if err != nil {
		t.Fatal(err)
	}
	o := a.Observed
	s := o.Server
	if s == nil || s.Type != "tomcat" || s.Home != home || s.Base != base {
		t.Fatalf("server %+v", s)
	}
	if want := debianUpstreamVersion(t, "tomcat10"); want == "" || s.Version != want {
		t.Errorf("tomcat version %q, dpkg says %q", s.Version, want)
	}
	paths := map[string]string{}
	for _, w := range s.WebApps {
		paths[w.ContextPath] = w.Kind
	}
	if paths["/"] != "exploded" || paths["/shop"] != "exploded" {
		t.Errorf("web apps %+v", s.WebApps)
	}
	var http bool
	for _, c := range s.Connectors {
		if c.Port == port && !c.ShutdownCmd {
			http = true
		}
	}
	if !http {
		t.Errorf("connectors %+v lack port %d", s.Connectors, port)
	}
	if !hasPort(o.Ports, "tcp", uint32(port)) {
		t.Errorf("ports %+v", o.Ports)
	}
	if got := a.ContainerParameters.Ports; len(got) != 1 || got[0] != (ExposedPort{Port: port, Protocol: "tcp"}) {
		t.Errorf("containerParameters.ports = %v, want [%d/tcp] (no shutdown port)", got, port)
	}
	if a.ContainerParameters.HealthCheck.Port != port || a.ContainerParameters.HealthCheck.Path != "/" {
		t.Errorf("health check %+v", a.ContainerParameters.HealthCheck)
	}
	// Debian links Tomcat's jars into /usr/share/java: they are the app's
	// files even though they live outside its directories.
	var external int
	for _, f := range o.Files.App {
		if f.External && strings.HasPrefix(f.Target, "/usr/share/java/") {
			external++
		}
	}
	if external < 5 {
		t.Errorf("only %d external library links found in %+v", external, o.Files.App)
	}
	if !contains(o.Files.Logs, filepath.Join(base, "logs")) || !contains(o.Files.Temp, filepath.Join(base, "temp")) {
		t.Errorf("logs %v temp %v", o.Files.Logs, o.Files.Temp)
	}
	if !hasDep(o.Dependencies, "mysql", "shopdb.internal.example", 3306) {
		t.Errorf("dependencies %+v lack the context.xml data source", o.Dependencies)
	}
	raw, _ := os.ReadFile(ws.AnalysisPath(app.ID))
	for _, secret := range []string{"ctx-secret-pass", "env-secret-555", "users-secret-pw"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("analysis.json contains %q", secret)
		}
	}
	sec, _ := ws.ReadSecrets()
	var found int
	for _, v := range sec {
		switch v {
		case "ctx-secret-pass", "env-secret-555", "users-secret-pw":
			found++
		}
	}
	if found != 3 {
		t.Errorf("secrets file holds %d of the 3 planted secrets: %v", found, keys(sec))
	}
	if o.Runtime.Kind != "java" || o.Runtime.Version == "" {
		t.Errorf("runtime %+v", o.Runtime)
	}
	if len(o.Files.Libraries) == 0 {
		t.Errorf("no loaded libraries recorded")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m Secrets) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// debianUpstreamVersion is a package's upstream version (10.1.34-0+deb12u1
// -> 10.1.34).
func debianUpstreamVersion(t *testing.T, pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	v := string(out)
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	return v
}

// makeCatalinaBase builds a private CATALINA_BASE from Debian's config:
// the HTTP connector on 127.0.0.1:port, no shutdown port, a ROOT app and a
// "shop" app with a JDBC data source.
func makeCatalinaBase(t *testing.T, base string, port int) {
	t.Helper()
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps/ROOT", "webapps/shop/WEB-INF/classes", "webapps/shop/META-INF", "lib"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"web.xml", "logging.properties", "catalina.properties", "context.xml"} {
		data, err := os.ReadFile(filepath.Join("/etc/tomcat10", f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(base, "conf", f), string(data))
	}
	write(t, filepath.Join(base, "conf", "server.xml"), fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Listener className="org.apache.catalina.startup.VersionLoggerListener" />
  <Service name="Catalina">
    <Connector port="%d" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000" />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`, port))
	write(t, filepath.Join(base, "conf", "tomcat-users.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
  <user username="deployer" password="users-secret-pw" roles="manager-script"/>
</tomcat-users>
`)
	write(t, filepath.Join(base, "webapps", "ROOT", "index.html"), "<html><body>root</body></html>\n")
	write(t, filepath.Join(base, "webapps", "shop", "index.html"), "<html><body>shop</body></html>\n")
	write(t, filepath.Join(base, "webapps", "shop", "META-INF", "context.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<Context>
  <Resource name="jdbc/ShopDB" auth="Container" type="javax.sql.DataSource"
            driverClassName="com.mysql.cj.jdbc.Driver"
            url="jdbc:mysql://shopdb.internal.example:3306/shop"
            username="shop" password="ctx-secret-pass" maxTotal="20"/>
</Context>
`)
	write(t, filepath.Join(base, "webapps", "shop", "WEB-INF", "classes", "application.properties"), "shop.currency=EUR\n")
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
