// Package livetest starts the real workloads the tests of several phases
// take through hoist: the built-in sample app (testdata/sampleapp) and
// Debian's Tomcat 10 with a servlet web app, each on a free loopback port,
// stopped (by PID) when the test ends. Tests skip when the JDK or Tomcat is
// not installed (make deps installs them).
package livetest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// repoRoot finds the checkout from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort is a TCP port free on 127.0.0.1 just now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitHTTP polls url until it answers 200.
func WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Sample is a running sample app.
type Sample struct {
	Dir  string
	Port int
	Cmd  *exec.Cmd
	// Stop stops it (once; also when the test ends).
	Stop func()
}

// SampleApp compiles the sample app into a fresh directory (readable by
// anyone, as an installed app is) and starts it with env added to the
// test's environment.
func SampleApp(t testing.TB, env ...string) *Sample {
	t.Helper()
	for _, tool := range []string{"javac", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "hoist-sampleapp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), "testdata", "sampleapp", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("javac", "-d", dir, filepath.Join(dir, "HelloServer.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	port := FreePort(t)
	cmd := exec.Command("java", "-Xmx64m", "-cp", dir, "HelloServer", fmt.Sprint(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	s := &Sample{Dir: dir, Port: port, Cmd: cmd, Stop: start(t, cmd)}
	if err := WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d/health", port), 30*time.Second); err != nil {
		t.Fatalf("the sample app did not start: %v\n%s", err, logs.String())
	}
	return s
}

// start starts cmd and returns a stop function, also run at cleanup.
func start(t testing.TB, cmd *exec.Cmd) func() {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_, _ = cmd.Process.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TomcatOptions describe the web app of Tomcat.
type TomcatOptions struct {
	// Servlet is the source of a class Hello, compiled into the "shop" web
	// app (annotated with its own @WebServlet path).
	Servlet string
	// Password is the data source password in shop's context.xml: a
	// secret for hoist to find.
	Password string
	// JavaOpts are Tomcat's JAVA_OPTS (default -Xmx256m).
	JavaOpts string
	// Ready is the path that answers 200 once the app is deployed
	// (default /shop/hello).
	Ready string
}

// Tomcat runs Debian's Tomcat 10 (catalina.sh run) with a private
// CATALINA_BASE on a free loopback port: ROOT and shop web apps, the
// servlet, and a data source holding the password.
func Tomcat(t testing.TB, o TomcatOptions) (*exec.Cmd, int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(TomcatHome, "bin", "catalina.sh")); err != nil {
		t.Skip("Debian's tomcat10 is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("no JDK (make deps)")
	}
	base, err := os.MkdirTemp("", "hoist-tomcat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	port := FreePort(t)
	cmd, err := TomcatBase(base, port, o)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start(t, cmd)
	if o.Ready == "" {
		o.Ready = "/shop/hello"
	}
	if err := WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d%s", port, o.Ready), 2*time.Minute); err != nil {
		t.Fatalf("Tomcat did not start: %v\n%s", err, logs.String())
	}
	return cmd, port
}

// TomcatHome is Debian's tomcat10.
const TomcatHome = "/usr/share/tomcat10"

// TomcatBase makes a CATALINA_BASE in the empty directory base for Debian's
// Tomcat 10 listening on 127.0.0.1:port, with a "shop" web app (static
// pages, a data source whose password is o.Password, o.Servlet compiled
// when set), and returns the command that runs it in the foreground (not
// started). hoist-bench uses it too.
func TomcatBase(base string, port int, o TomcatOptions) (*exec.Cmd, error) {
	if o.JavaOpts == "" {
		o.JavaOpts = "-Xmx256m"
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return nil, err
	}
	write := func(p, s string) error {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(s), 0o644)
	}
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps/ROOT", "webapps/shop/WEB-INF/classes", "lib"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"web.xml", "logging.properties", "catalina.properties", "context.xml"} {
		data, err := os.ReadFile(filepath.Join("/etc/tomcat10", f))
		if err != nil {
			return nil, err
		}
		if err := write(filepath.Join(base, "conf", f), string(data)); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"conf/server.xml": fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="%d" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
`, port),
		"webapps/ROOT/index.html": "<html><body>root</body></html>\n",
		"webapps/shop/index.html": "<html><body>shop</body></html>\n",
		// A JSP: compiled on first request by the JSP compiler, which
		// Tomcat loads only then.
		"webapps/shop/greeting.jsp": "<%@ page contentType=\"text/plain\" %><%= \"jsp says \" + (6 * 7) %>\n",
		"webapps/shop/META-INF/context.xml": fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Context>
  <Resource name="jdbc/ShopDB" auth="Container" type="javax.sql.DataSource"
            url="jdbc:mysql://shopdb.internal.example:3306/shop" username="shop" password="%s"/>
</Context>
`, o.Password),
	}
	for name, body := range files {
		if err := write(filepath.Join(base, name), body); err != nil {
			return nil, err
		}
	}
	if o.Servlet != "" {
		src := filepath.Join(base, "temp", "Hello.java")
		if err := write(src, o.Servlet); err != nil {
			return nil, err
		}
		out, err := exec.Command("javac", "-cp", filepath.Join(TomcatHome, "lib", "servlet-api.jar"), "-d", filepath.Join(base, "webapps", "shop", "WEB-INF", "classes"), src).CombinedOutput()
		_ = os.Remove(src)
		if err != nil {
			return nil, fmt.Errorf("javac: %v\n%s", err, out)
		}
	}
	cmd := exec.Command(filepath.Join(TomcatHome, "bin", "catalina.sh"), "run")
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+TomcatHome, "CATALINA_BASE="+base, "CATALINA_TMPDIR="+filepath.Join(base, "temp"), "JAVA_OPTS="+o.JavaOpts)
	return cmd, nil
}
