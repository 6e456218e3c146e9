package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"sigs.k8s.io/yaml"
)

// run runs hoist in-process and returns stdout, stderr and the exit code.
func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &stdout, &stderr
	ctx := context.Background()
	err := app.RunContext(ctx, interspersed(app, append([]string{"hoist"}, args...)))
	code := exitCode(ctx, err, &stderr)
	return stdout.String(), stderr.String(), code
}

// emptyProc is a procfs with no processes at all.
func emptyProc(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "proc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestExitCodes(t *testing.T) {
	ws := t.TempDir()
	proc := emptyProc(t)
	root := t.TempDir()
	base := []string{"--workspace", ws, "--host-proc", proc, "--host-root", root}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"inventory", "--nope"}, exitUsage, "flag provided but not defined"},
		{"bad output", append(base, "--output", "xml", "inventory"), exitUsage, "use table, json or yaml"},
		{"analyze without id", append(base, "analyze"), exitUsage, "missing app ID"},
		{"analyze two ids", append(base, "analyze", "a", "b"), exitUsage, "takes one app ID"},
		{"unknown app", append(base, "analyze", "java-tomcat-12345678"), exitNotFound, "no Java or .NET applications are running"},
		{"no procfs", []string{"--workspace", ws, "--host-proc", filepath.Join(root, "missing"), "inventory"}, exitError, "is procfs mounted"},
		{"inventory ok", append(base, "inventory"), exitOK, ""},
		{"extract before analyze", append(base, "extract", "java-tomcat-12345678"), exitNotFound, "hoist analyze java-tomcat-12345678"},
		{"pid not an app", append(base, "inventory", "--pid", "1"), exitNotFound, "not part of any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr %q lacks %q", stderr, tt.msg)
			}
		})
	}
}

func TestMalformedAnalysisIsKept(t *testing.T) {
	ws := t.TempDir()
	id := "java-generic-00000000"
	p := filepath.Join(ws, id, "analysis.json")
	broken := []byte(`{"schemaVersion": 1,,}`)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "--workspace", ws, "--host-proc", emptyProc(t), "analyze", id)
	if code != exitInvalid || !strings.Contains(stderr, "line 1, column") || !strings.Contains(stderr, "--force") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, broken) {
		t.Errorf("analysis.json was changed")
	}
}

func TestOutputFormats(t *testing.T) {
	ws := t.TempDir()
	base := []string{"--workspace", ws, "--host-proc", emptyProc(t)}

	out, _, code := run(t, nil, append(base, "inventory")...)
	if code != 0 || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "no Java or .NET applications found") {
		t.Errorf("table: %d %q", code, out)
	}
	out, _, code = run(t, nil, append(base, "-o", "json", "inventory")...)
	var inv struct {
		SchemaVersion int               `json:"schemaVersion"`
		Apps          []json.RawMessage `json:"apps"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &inv) != nil || inv.SchemaVersion != 1 || inv.Apps == nil {
		t.Errorf("json: %d %q", code, out)
	}
	out, _, code = run(t, nil, append(base, "-o", "yaml", "inventory")...)
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y["schemaVersion"] != float64(1) {
		t.Errorf("yaml: %d %q", code, out)
	}
	// inventory.json is written whatever is printed.
	if _, err := os.Stat(filepath.Join(ws, "inventory.json")); err != nil {
		t.Error(err)
	}
	out, _, _ = run(t, nil, "-o", "json", "version")
	var v struct{ Version, Go string }
	if json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version json: %q", out)
	}
	out, _, _ = run(t, nil, "exit-codes")
	if !strings.Contains(out, "130") {
		t.Errorf("exit-codes: %q", out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, stderr, code := run(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "hoist") {
			t.Errorf("completion %s: %d %q %q", sh, code, out, stderr)
		}
	}
}

// TestNotRoot runs the built binary as nobody: the inventory must still
// work and say what it could not see.
func TestNotRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to another user")
	}
	// t.TempDir's parent is private to root: use a directory nobody can enter.
	dir, err := os.MkdirTemp("", "hoist-notroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hoist")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ws := filepath.Join(dir, "ws")
	// A process of root's that a non-root user cannot look into.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _, _ = sleeper.Process.Wait() }()

	cmd := exec.Command(bin, "--workspace", ws, "-v", "inventory")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("inventory as nobody: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "not running as root") {
		t.Errorf("no warning about missing privileges: %s", stderr.String())
	}

}
