package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateCommand(t *testing.T) {
	ws := t.TempDir()
	const id = "java-tomcat-409b80f3"
	data, err := os.ReadFile(filepath.Join("..", "..", "generate", "testdata", "cases", "tomcat", "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, id, "analysis.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := run(t, nil, "--workspace", ws, "generate", id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Deployment") || !strings.Contains(out, "written from analysis.json") || !strings.Contains(errOut, "warning: ") {
		t.Errorf("table output:\n%s\nstderr:\n%s", out, errOut)
	}

	out, errOut, code = run(t, nil, "--workspace", ws, "--output", "json", "generate", "--check", id)
	if code != 0 {
		t.Fatalf("--check exit %d: %s", code, errOut)
	}
	var res struct {
		Files    []string `json:"files"`
		Checked  bool     `json:"checked"`
		Warnings []struct {
			Target, Field, Message string
		} `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if !res.Checked || len(res.Files) < 10 || len(res.Warnings) == 0 || strings.Contains(errOut, "warning:") {
		t.Errorf("json result %+v, stderr %q", res, errOut)
	}

	// Malformed deployment.json: exit 4, nothing overwritten.
	dep := filepath.Join(ws, id, "deployment.json")
	if err := os.WriteFile(dep, []byte("{\n  \"cpu\": 1024,,\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, nil, "--workspace", ws, "generate", id)
	if code != 4 || !strings.Contains(errOut, "line 2, column 16") {
		t.Errorf("malformed: exit %d, %s", code, errOut)
	}
	if got, _ := os.ReadFile(dep); string(got) != "{\n  \"cpu\": 1024,,\n}\n" {
		t.Error("malformed deployment.json was overwritten")
	}

	_, errOut, code = run(t, nil, "--workspace", ws, "generate", "nope")
	if code != 3 {
		t.Errorf("unknown app: exit %d, %s", code, errOut)
	}
	_, _, code = run(t, nil, "--workspace", ws, "generate")
	if code != 2 {
		t.Errorf("no argument: exit %d", code)
	}
}
