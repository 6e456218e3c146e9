package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover/fixturetest"
)

// copyFixture copies a captured host (links kept) out of testdata.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	fixturetest.Copy(t, filepath.Join("..", "..", "testdata", "procfs", name), dst)
	return dst
}

// generatedTwice runs inventory, analyze, extract and generate on the
// Jetty fixture through the CLI, edits deployment.json and generates again.
func generatedTwice(t *testing.T) (ws, id string) {
	t.Helper()
	fx := copyFixture(t, "jetty")
	ws = filepath.Join(t.TempDir(), "ws")
	host := []string{"--workspace", ws, "--host-proc", filepath.Join(fx, "proc"), "--host-root", filepath.Join(fx, "root")}
	out, stderr, code := run(t, nil, append(host, "inventory", "--quiet")...)
	id = strings.TrimSpace(out)
	if code != 0 || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("inventory: %d %q %q", code, out, stderr)
	}
	for _, args := range [][]string{{"analyze", id}, {"extract", "--allow-missing", id}, {"generate", id}} {
		if _, stderr, code := run(t, nil, append(host, args...)...); code != 0 {
			t.Fatalf("%s: exit %d: %s", args[0], code, stderr)
		}
	}
	p := filepath.Join(ws, id, "deployment.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	d["cpu"], d["memory"] = 512, 1024
	d["kubernetes"].(map[string]any)["includeSecretValues"] = true
	data, _ = json.MarshalIndent(d, "", "  ")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, nil, "--workspace", ws, "generate", id); code != 0 {
		t.Fatalf("generate again: exit %d: %s", code, stderr)
	}
	return ws, id
}

func TestReportAndDiffCommands(t *testing.T) {
	ws, id := generatedTwice(t)
	secrets, err := os.ReadFile(filepath.Join(ws, "secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]string
	if err := json.Unmarshal(secrets, &values); err != nil || len(values) == 0 {
		t.Fatalf("the fixture's secrets: %v %q", err, secrets)
	}
	noSecrets := func(what, s string) {
		t.Helper()
		for ref, v := range values {
			if strings.Contains(s, v) {
				t.Errorf("%s prints the value of %s", what, ref)
			}
		}
	}
	w := []string{"--workspace", ws}

	// hoist diff, piped: plain unified diff, exit 0.
	out, stderr, code := run(t, nil, append(w, "diff", id)...)
	if code != 0 || strings.Contains(out, "\x1b[") {
		t.Fatalf("diff: exit %d, colour codes %v: %s", code, strings.Contains(out, "\x1b["), stderr)
	}
	for _, want := range []string{"--- a/ecs/task-definition.json\n+++ b/ecs/task-definition.json\n", `-  "cpu": "1024",`, `+  "cpu": "512",`, "+++ b/kubernetes/secret.yaml", "[secret value hidden]"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "files changed") {
		t.Errorf("diff's summary on stderr: %q", stderr)
	}
	noSecrets("hoist diff", out)
	out, _, _ = run(t, nil, append(w, "diff", "--color", "always", id)...)
	if !strings.Contains(out, "\x1b[31m-  \"cpu\": \"1024\",\x1b[0m") {
		t.Errorf("--color always: no red deletion in %q", out)
	}
	if _, stderr, code := run(t, nil, append(w, "diff", "--exit-code", id)...); code != 1 || !strings.Contains(stderr, "changed since the previous generation") {
		t.Errorf("--exit-code with changes: exit %d %q", code, stderr)
	}
	out, _, code = run(t, nil, append(w, "-o", "json", "diff", id)...)
	var g struct {
		HasPrevious bool `json:"hasPrevious"`
		Files       []struct {
			Path, Status string
		} `json:"files"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || !g.HasPrevious || len(g.Files) == 0 {
		t.Errorf("diff -o json: exit %d %q", code, out)
	}
	noSecrets("hoist diff -o json", out)
	if _, _, code := run(t, nil, append(w, "diff", "--color", "sometimes", id)...); code != 2 {
		t.Errorf("--color sometimes: exit %d, want 2", code)
	}
	if _, stderr, code := run(t, nil, append(w, "diff", "java-nothing-00000000")...); code != 3 || !strings.Contains(stderr, "hoist analyze") {
		t.Errorf("diff of an unknown app: exit %d %q", code, stderr)
	}

	// hoist report.
	out, stderr, code = run(t, nil, append(w, "report")...)
	if code != 0 || !strings.Contains(out, filepath.Join(ws, "report.html")) || !strings.Contains(out, id) {
		t.Fatalf("report: exit %d %q %q", code, out, stderr)
	}
	page, err := os.ReadFile(filepath.Join(ws, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	noSecrets("the report", string(page))
	if !strings.Contains(string(page), `id="app-`+id+`"`) {
		t.Error("the report does not cover the app")
	}
	out, _, code = run(t, nil, append(w, "-o", "json", "report", id)...)
	var res struct {
		Path      string   `json:"path"`
		Attention []string `json:"attention"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Path != filepath.Join(ws, id, "report.html") || len(res.Attention) != 1 {
		t.Errorf("report APP -o json: exit %d %q", code, out)
	}
	custom := filepath.Join(t.TempDir(), "review.html")
	if _, stderr, code := run(t, nil, append(w, "report", "--all", "--out", custom)...); code != 0 {
		t.Errorf("report --out: exit %d %s", code, stderr)
	} else if _, err := os.Stat(custom); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "--all", id}, 2},
		{[]string{"report", id, id}, 2},
		{[]string{"report", "java-nothing-00000000"}, 3},
	} {
		if _, stderr, code := run(t, nil, append(w, c.args...)...); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, stderr)
		}
	}
	if _, _, code := run(t, nil, "--workspace", filepath.Join(t.TempDir(), "none"), "report"); code != 3 {
		t.Errorf("report on a missing workspace: exit %d, want 3", code)
	}
}

// TestDiffHelperProcess is not a test: TestDiffOnTerminal runs the test
// binary as hoist through it, with the arguments in HOIST_HELPER_ARGS.
func TestDiffHelperProcess(t *testing.T) {
	args := os.Getenv("HOIST_HELPER_ARGS")
	if args == "" {
		t.Skip("only run by TestDiffOnTerminal")
	}
	err := newApp().Run(append([]string{"hoist"}, strings.Split(args, "\x1f")...))
	os.Exit(exitCode(t.Context(), err, os.Stderr))
}

// TestDiffOnTerminal runs hoist diff on a real pseudo-terminal (script(1)
// allocates it): coloured there, plain into a pipe.
func TestDiffOnTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed (apt-get install bsdutils): no pseudo-terminal to test on")
	}
	ws, id := generatedTwice(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := self + " -test.run=^TestDiffHelperProcess$"
	env := append(os.Environ(), "HOIST_HELPER_ARGS="+strings.Join([]string{"--workspace", ws, "diff", id}, "\x1f"), "NO_COLOR=", "TERM=xterm")

	cmd := exec.Command(script, "-qec", helper, "/dev/null")
	cmd.Env = env
	tty, err := cmd.Output()
	if err != nil {
		t.Fatalf("hoist diff on a terminal: %v\n%s", err, tty)
	}
	if !strings.Contains(string(tty), "\x1b[31m-  \"cpu\": \"1024\",\x1b[0m") || !strings.Contains(string(tty), "\x1b[32m+  \"cpu\": \"512\",\x1b[0m") {
		t.Errorf("no colours on a terminal:\n%q", tty)
	}

	cmd = exec.Command(self, "-test.run=^TestDiffHelperProcess$")
	cmd.Env = env
	piped, err := cmd.Output()
	if err != nil {
		t.Fatalf("hoist diff into a pipe: %v", err)
	}
	if strings.Contains(string(piped), "\x1b[") || !strings.Contains(string(piped), `-  "cpu": "1024",`) {
		t.Errorf("into a pipe: %q", piped)
	}

	// NO_COLOR turns colours off on a terminal too.
	cmd = exec.Command(script, "-qec", helper, "/dev/null")
	cmd.Env = append(env, "NO_COLOR=1")
	tty, err = cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(tty), "\x1b[3") {
		t.Errorf("NO_COLOR on a terminal still colours:\n%q", tty)
	}
}
