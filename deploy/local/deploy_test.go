package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/generate"
	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// buildWebapp builds the runtime's test web app into the engine as image,
// run with args (see its flags).
func buildWebapp(t *testing.T, cfg hoistrt.Config, image string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "webapp"), ".")
	build.Dir, _ = filepath.Abs("../../runtime/controlplane/testdata/webapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the web app: %v\n%s", err, out)
	}
	entrypoint, _ := json.Marshal(append([]string{"/webapp"}, args...))
	df := "FROM scratch\nCOPY webapp /webapp\nUSER 65534:65534\nENTRYPOINT " + string(entrypoint) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildkit.Build(context.Background(), buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: image, Mode: "quiet"}); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hoistCmd runs the hoist binary against the test engine and workspace.
func hoistCmd(t *testing.T, cfg hoistrt.Config, ws string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(enginetest.HoistBinary(), append([]string{"--workspace", ws}, args...)...)
	cmd.Env = append(os.Environ(),
		"HOIST_ENGINE_DATA_DIR="+cfg.DataDir, "HOIST_ENGINE_STATE_DIR="+cfg.StateDir, "HOIST_ENGINE_NAMESPACE="+cfg.Namespace,
		"HOIST_ENGINE_BIN_DIR="+cfg.BinDir, "HOIST_RUNTIME_BRIDGE="+cfg.Bridge, "HOIST_RUNTIME_SUBNET="+cfg.Subnet, "HOIST_CNI_PLUGIN_DIR="+cfg.CNIPluginDir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// cliWorkspace is a workspace holding d as its app's deployment.json and a
// secrets file with dbPassword as the app's DB_PASSWORD (the secret of
// deployment()), for the hoist binary to deploy.
func cliWorkspace(t *testing.T, d *generate.Deployment, dbPassword string) discover.Workspace {
	t.Helper()
	ws := discover.Workspace{Dir: t.TempDir()}
	writeDeployment(t, ws, d.ID, d)
	sec, _ := json.Marshal(map[string]string{d.ID + "/env/DB_PASSWORD": dbPassword})
	if err := os.WriteFile(ws.SecretsPath(), sec, 0o600); err != nil {
		t.Fatal(err)
	}
	return ws
}

// deployJSON runs `hoist --output json deploy ID` and decodes its result;
// a failed deploy ends the test. The output is returned too.
func deployJSON(t *testing.T, cfg hoistrt.Config, ws discover.Workspace, id string) (res Result, stdout, stderr string) {
	t.Helper()
	out, stderr, code := hoistCmd(t, cfg, ws.Dir, "--output", "json", "deploy", id)
	if code != 0 {
		t.Fatalf("hoist deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("deploy output: %v\n%s", err, out)
	}
	return res, out, stderr
}

func writeDeployment(t *testing.T, ws discover.Workspace, id string, d *generate.Deployment) {
	t.Helper()
	data, err := generate.MarshalDeployment(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ws.AppDir(id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(generate.DeploymentPath(ws, id), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeployCLI deploys an app the way a user does — `hoist deploy APP`
// from the workspace files — and operates it with `hoist runtime ...`:
// three tasks behind the load balancer, the secret from the workspace's
// secrets file, scaling, logs, events, a new revision rolled out under
// load without a failed request, --delete and down --purge leaving nothing
// behind on the host.
func TestDeployCLI(t *testing.T) {
	cfg := enginetest.Start(t)
	const image = "hoist.local/webdeploy:test"
	buildWebapp(t, cfg, image)
	listener := freePort(t)
	d := deployment(t, image, "webdeploy", listener)
	id := d.ID
	const secret = "deploy-test-secret-value"
	ws := cliWorkspace(t, d, secret)

	res, out, stderr := deployJSON(t, cfg, ws, id)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", listener)
	if res.Endpoint != endpoint || res.TaskDefinition != "webdeploy:1" || res.Service.RunningCount != 3 || res.Service.Deployments[0].RolloutState != "COMPLETED" {
		t.Fatalf("deploy result: %+v %+v", res, res.Service)
	}
	if !strings.Contains(strings.Join(res.Ignored, "\n"), "ALBRequestCountPerTarget") {
		t.Errorf("ignored: %v", res.Ignored)
	}
	if strings.Contains(out+stderr, secret) {
		t.Errorf("deploy printed the secret value")
	}
	body, err := httpGet(endpoint + "/env?name=DB_PASSWORD")
	if err != nil || body != secret {
		t.Errorf("secret in the task: %q, %v", body, err)
	}

	out, _, code := hoistCmd(t, cfg, ws.Dir, "-o", "json", "runtime", "ps", "--service", "webdeploy")
	var tasks []api.Task
	if code != 0 || json.Unmarshal([]byte(out), &tasks) != nil || len(tasks) != 3 {
		t.Fatalf("runtime ps: exit %d\n%s", code, out)
	}
	out, _, _ = hoistCmd(t, cfg, ws.Dir, "runtime", "services")
	if !strings.Contains(out, "webdeploy") || !strings.Contains(out, "COMPLETED") || !strings.Contains(out, endpoint) {
		t.Errorf("runtime services:\n%s", out)
	}
	out, _, code = hoistCmd(t, cfg, ws.Dir, "runtime", "logs", "--tail", "5", "webdeploy")
	if code != 0 || strings.Count(out, "listening on :8080") != 3 {
		t.Errorf("runtime logs: exit %d\n%s", code, out)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "runtime", "scale", "nope", "1"); code != 3 || !strings.Contains(stderr, "webdeploy") {
		t.Errorf("scaling an unknown service: exit %d: %s", code, stderr)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "runtime", "scale", "webdeploy", "2"); code != 0 {
		t.Fatalf("scale: %d %s", code, stderr)
	}
	c := cfg.Client()
	if _, err := WaitStable(context.Background(), c, "webdeploy", time.Minute); err != nil {
		t.Fatal(err)
	}

	// A new revision (deployment.json edited) under load.
	d.Environment[0].Value = "two"
	d.DesiredCount = 2
	writeDeployment(t, ws, id, d)
	l := enginetest.StartLoad(endpoint+"/", 1, 5*time.Second)
	out, stderr, code = hoistCmd(t, cfg, ws.Dir, "-o", "json", "deploy", id)
	ok, failed, errs := l.Stop()
	if code != 0 {
		t.Fatalf("second deploy: exit %d\n%s\n%s", code, out, stderr)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("during the rollout: %d ok, %d failed: %v", ok, failed, errs)
	}
	if body, _ := httpGet(endpoint + "/"); !strings.HasSuffix(strings.TrimSpace(body), "rev=two") {
		t.Errorf("after the rollout: %q", body)
	}

	// Events: one JSON document per line.
	out, _, code = hoistCmd(t, cfg, ws.Dir, "-o", "json", "runtime", "events", "--service", "webdeploy")
	sc := bufio.NewScanner(strings.NewReader(out))
	var n, completed int
	for sc.Scan() {
		var e api.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		n++
		if strings.Contains(e.Message, "SERVICE_DEPLOYMENT_COMPLETED") {
			completed++
		}
	}
	if code != 0 || n < 10 || completed != 2 {
		t.Errorf("events: exit %d, %d events, %d completed deployments", code, n, completed)
	}

	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", "--delete", id); code != 0 {
		t.Fatalf("deploy --delete: %d %s", code, stderr)
	}
	if _, err := c.DescribeService(context.Background(), "webdeploy"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("service after --delete: %v", err)
	}

	// Start something again, then purge: nothing of the runtime is left.
	writeDeployment(t, ws, id, d)
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", id); code != 0 {
		t.Fatalf("third deploy: %d %s", code, stderr)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "runtime", "down", "--purge"); code != 0 {
		t.Fatalf("down --purge: %d %s", code, stderr)
	}
	if _, err := net.InterfaceByName(cfg.Bridge); err == nil {
		t.Errorf("bridge %s left after purge", cfg.Bridge)
	}
	if ents, _ := os.ReadDir(filepath.Join(cfg.StateDir, "netns")); len(ents) != 0 {
		t.Errorf("netns left after purge: %v", ents)
	}
	nat, _ := exec.Command("iptables", "-t", "nat", "-S").Output()
	if strings.Contains(string(nat), "hoist-"+cfg.Bridge) {
		t.Errorf("iptables rules of the runtime left after purge:\n%s", nat)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), cfg.StateDir) {
		t.Errorf("mounts under %s left after purge", cfg.StateDir)
	}
	if hoistrt.GetStatus(context.Background(), cfg).Healthy() {
		t.Errorf("engine still running after down --purge")
	}
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), nil
}
