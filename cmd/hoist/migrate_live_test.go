package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover/livetest"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestMigrateReusesTheWorkspace runs `hoist migrate --config hoist.yaml`
// on the running sample app with a private engine, four times: the first
// run does every phase; the second finds nothing changed and skips
// containerize and generate; after one of the app's files changed the
// image is built again and the artifacts made again; after the generated
// files were removed only generate runs again. --force runs everything.
func TestMigrateReusesTheWorkspace(t *testing.T) {
	cfg := enginetest.Start(t)
	app := livetest.SampleApp(t, "DB_PASSWORD=migrate-test-secret")
	ws := t.TempDir()
	globals := []string{"--workspace", ws,
		"--engine-data-dir", cfg.DataDir, "--engine-state-dir", cfg.StateDir,
		"--engine-namespace", cfg.Namespace, "--engine-bin-dir", cfg.BinDir,
		"--runtime-bridge", cfg.Bridge, "--runtime-subnet", cfg.Subnet}
	stdout, stderr, code := run(t, nil, append(globals, "inventory", "--quiet", "--pid", fmt.Sprint(app.Cmd.Process.Pid))...)
	if code != 0 {
		t.Fatalf("inventory: exit %d\n%s", code, stderr)
	}
	id := strings.TrimSpace(stdout)

	conf := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(conf, []byte("# what CI runs\napps: ["+id+"]\nto: generate\nflags:\n  extract: [--compression-level=6]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	migrate := func(extra ...string) map[string]string {
		t.Helper()
		stdout, stderr, code := run(t, nil, append(append(globals, "-o", "json", "migrate", "--config", conf), extra...)...)
		if code != 0 {
			t.Fatalf("migrate %v: exit %d\nstdout:\n%s\nstderr:\n%s", extra, code, stdout, stderr)
		}
		var out struct {
			Steps []migrateStep `json:"steps"`
		}
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
		}
		got := map[string]string{}
		for _, s := range out.Steps {
			if s.App != id {
				t.Errorf("step of app %q, want %q", s.App, id)
			}
			got[s.Phase] = s.Status
		}
		if _, ok := got["deploy"]; ok {
			t.Errorf("to: generate in the config was not honoured: %v", got)
		}
		return got
	}
	want := func(run string, got map[string]string, w map[string]string) {
		t.Helper()
		for phase, status := range w {
			if got[phase] != status {
				t.Errorf("%s: %s is %q, want %q (all: %v)", run, phase, got[phase], status, got)
			}
		}
	}

	want("first run", migrate(), map[string]string{"analyze": "ok", "extract": "ok", "containerize": "ok", "generate": "ok"})
	var image struct{ Digest string }
	readJSON(t, filepath.Join(ws, id, "containerize", "image.json"), &image)
	if image.Digest == "" {
		t.Fatal("containerize recorded no image digest")
	}

	want("second run", migrate(), map[string]string{"analyze": "ok", "extract": "ok", "containerize": "unchanged", "generate": "unchanged"})

	// One of the app's files changes: extract sees it, the image is built
	// again (a new digest), and generate runs because the image changed.
	f, err := os.OpenFile(filepath.Join(app.Dir, "application.properties"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "greeting=changed by the test")
	f.Close()
	want("after a change", migrate(), map[string]string{"extract": "ok", "containerize": "ok", "generate": "ok"})
	var image2 struct{ Digest string }
	readJSON(t, filepath.Join(ws, id, "containerize", "image.json"), &image2)
	if image2.Digest == image.Digest {
		t.Errorf("the image digest stayed %s after the app's file changed", image.Digest)
	}

	// The generated files are gone: generate runs, containerize does not.
	if err := os.RemoveAll(filepath.Join(ws, id, "deploy")); err != nil {
		t.Fatal(err)
	}
	want("after removing deploy/", migrate(), map[string]string{"containerize": "unchanged", "generate": "ok"})
	if _, err := os.Stat(filepath.Join(ws, id, "deploy", "ecs", "task-definition.json")); err != nil {
		t.Errorf("generate did not make the artifacts again: %v", err)
	}

	// The command line wins over the file.
	want("--force", migrate("--force"), map[string]string{"containerize": "ok", "generate": "ok"})
	got := migrate("--to", "extract")
	if _, ok := got["containerize"]; ok || got["extract"] != "ok" {
		t.Errorf("--to extract on the command line did not win over the config's to: generate: %v", got)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestMigrateConfigErrors: a config file with a typo, an unknown phase, or
// no file at all is refused with the exit code for its kind and a message
// naming the problem; a kubernetes target without a registry says to name
// one.
func TestMigrateConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"typo", []string{"migrate", "--config", write("typo.yaml", "apps: [java-x]\ntargte: local\n")}, exitInvalid, "line 2: field targte not found"},
		{"bad phase", []string{"migrate", "--config", write("phase.yaml", "apps: [java-x]\nflags:\n  build: [--x]\n")}, exitInvalid, `"build" is no phase`},
		{"not yaml", []string{"migrate", "--config", write("broken.yaml", "apps: [java-x\n")}, exitInvalid, "broken.yaml"},
		{"missing", []string{"migrate", "--config", filepath.Join(dir, "nope.yaml")}, exitNotFound, "no such file"},
		{"no apps", []string{"migrate", "--config", write("empty.yaml", "target: local\n")}, exitUsage, "name one app ID"},
		{"bad target", []string{"migrate", "--target", "mainframe", "java-x"}, exitUsage, "use local, kubernetes"},
		{"kubernetes without registry", []string{"migrate", "--from", "deploy", "--target", "kubernetes", "java-x"}, exitUsage, "--registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, append([]string{"--workspace", t.TempDir()}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr should contain %q:\n%s", code, tc.code, tc.want, stderr)
			}
		})
	}
}
