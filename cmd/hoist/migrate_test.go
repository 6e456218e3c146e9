package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMigrateStopsAtTheFailingPhase: an app that is not running fails at
// analyze with the not-found exit code, the later phases are reported as
// skipped, and the summary on stdout is JSON for CI.
func TestMigrateStopsAtTheFailingPhase(t *testing.T) {
	ws := t.TempDir()
	stdout, stderr, code := run(t, nil, "--workspace", ws, "--host-proc", emptyProc(t), "-o", "json", "migrate", "java-generic-00000000", "--phase-flag", "containerize:--no-validate")
	if code != exitNotFound {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitNotFound, stderr)
	}
	var out struct {
		Steps []migrateStep `json:"steps"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	want := []string{"analyze:failed", "extract:skipped", "containerize:skipped", "generate:skipped", "deploy:skipped"}
	var got []string
	for _, s := range out.Steps {
		got = append(got, s.Phase+":"+s.Status)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("steps %v, want %v", got, want)
	}
	if out.Steps[0].ExitCode != exitNotFound || !strings.Contains(out.Steps[0].Error, "hoist inventory") {
		t.Errorf("failed step: %+v", out.Steps[0])
	}
	if !strings.Contains(stderr, "== hoist analyze java-generic-00000000") {
		t.Errorf("the phase's own output is not on stderr:\n%s", stderr)
	}
}

func TestMigrateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"migrate"},
		{"migrate", "--all", "java-x"},
		{"migrate", "--from", "deploy", "--to", "analyze", "java-x"},
		{"migrate", "--from", "build", "java-x"},
		{"migrate", "--phase-flag", "nonsense", "java-x"},
	} {
		_, stderr, code := run(t, nil, append([]string{"--workspace", t.TempDir()}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
}
