package containerize

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/livetest"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/hostbase"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

const helloServlet = `import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

@WebServlet("/hello")
public class Hello extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain");
        resp.getWriter().println("hello from " + getServletContext().getServerInfo()
            + " on Java " + System.getProperty("java.version")
            + ", user " + System.getProperty("user.name")
            + ", zone " + java.util.TimeZone.getTimeZone("Europe/Berlin").getID());
    }
}
`

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body), err
}

// TestContainerizeTomcat takes Debian's Tomcat 10 with a web app from a
// running process to an image on the jlink-reduced host base, and checks
// that the container answers every page exactly as the original does.
func TestContainerizeTomcat(t *testing.T) {
	cfg := enginetest.Start(t)
	if _, err := exec.LookPath("javac"); err != nil {
		t.Skip("no JDK (make deps)")
	}
	ctx := context.Background()
	cmd, port := livetest.Tomcat(t, livetest.TomcatOptions{Servlet: helloServlet, Password: "tomcat-ctz-secret-77", JavaOpts: "-Xmx256m -Duser.timezone=UTC"})

	ws := discover.Workspace{Dir: t.TempDir()}
	host := discover.LiveHost()
	id, _ := analyzeAndExtract(t, ws, func(a discover.App) bool { return int(a.PID) == cmd.Process.Pid })
	a, err := ws.ReadAnalysis(id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Type != discover.TypeTomcat {
		t.Fatalf("type %s", a.Type)
	}
	var progress bytes.Buffer
	r, err := Containerize(ctx, Options{
		Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: &progress, Mode: "plain", Logf: t.Logf,
		EntryBinary: buildEntry(t), BaseKey: "jlink=true",
		Base: func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			rep, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: true, AppJars: AppJars(filepath.Dir(dest), m), Logf: t.Logf})
			if err == nil && !rep.Reduced {
				t.Errorf("Tomcat's runtime was not reduced: %v", rep.Notes)
			}
			return err
		},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	df, _ := os.ReadFile(r.Dockerfile)
	for _, want := range []string{"# The application server.", "COPY entry/ /", `"/.hoist/entry", "--"`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Contains(string(df), "tomcat-ctz-secret-77") {
		t.Error("the Dockerfile holds the secret")
	}

	// What the original answers.
	// greeting.jsp needs the JSP compiler (eclipse-jdt-core.jar, named
	// only by jasper.jar's Class-Path).
	paths := []string{"/", "/shop/", "/shop/hello", "/shop/missing", "/shop/greeting.jsp"}
	want := map[string]string{}
	for _, p := range paths {
		body, err := get(ctx, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d%s", port, p))
		if err != nil {
			t.Fatal(err)
		}
		want[p] = body
	}
	if !strings.Contains(want["/shop/hello"], "hello from Apache Tomcat/10") {
		t.Fatalf("original servlet: %q", want["/shop/hello"])
	}
	if !strings.Contains(want["/shop/greeting.jsp"], "jsp says 42") {
		t.Fatalf("original JSP: %q", want["/shop/greeting.jsp"])
	}

	secrets, err := ws.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	a, err = ws.ReadAnalysis(id)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Validate(ctx, a, r.Image, r.Secrets, ValidateOptions{
		ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(cfg.StateDir, "netns"),
		Secrets: secrets, LogPath: filepath.Join(Dir(ws, id), "validate.log"), Timeout: 3 * time.Minute, Logf: t.Logf,
		Check: func(ctx context.Context, c *http.Client) error {
			// Tomcat accepts connections before it has deployed its apps.
			deadline := time.Now().Add(time.Minute)
			for {
				got, err := get(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/shop/hello", port))
				if err == nil && strings.HasPrefix(got, "200 ") {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("/shop/hello in the container: %q, %v", got, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			for _, p := range paths {
				got, err := get(ctx, c, fmt.Sprintf("http://127.0.0.1:%d%s", port, p))
				if err != nil {
					return err
				}
				if got != want[p] {
					t.Errorf("GET %s: container answers %q, the original %q", p, got, want[p])
				}
			}
			return nil
		},
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(Dir(ws, id), "validate.log"))
		t.Fatalf("validation run: %v\n%s", err, log)
	}
	if !v.Passed {
		t.Errorf("validation: %+v", v)
	}
	log, _ := os.ReadFile(filepath.Join(Dir(ws, id), "validate.log"))
	if bytes.Contains(log, []byte("tomcat-ctz-secret-77")) {
		t.Error("validate.log holds the secret")
	}
	t.Logf("Tomcat in the container answered after %s", v.StartToReady)
}
