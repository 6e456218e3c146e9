package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/runtime/enginetest"
)

// TestDeployBadInput runs what a new user gets wrong through the hoist
// binary: --delete of an app that is not deployed (never, or a second
// time) says there is nothing to delete and succeeds, as for the other
// targets (it was "not found", exit 3); a hand-edited
// task-definition.json with an impossible memory is refused naming that
// file; run-task --count 0 is refused instead of starting one task; an
// empty task ID is refused as such instead of a bare "HTTP 405".
func TestDeployBadInput(t *testing.T) {
	cfg := enginetest.Start(t)
	const image = "hoist.local/webbad:test"
	buildWebapp(t, cfg, image)
	d := deployment(t, image, "webbad", freePort(t))
	d.DesiredCount = 1
	d.AutoScaling.Enabled = false
	ws := cliWorkspace(t, d, "bad-input-secret")
	id := d.ID

	// Nothing deployed yet.
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", "--delete", id); code != 0 || !strings.Contains(stderr, "nothing to delete") {
		t.Errorf("--delete before any deploy: exit %d: %s", code, stderr)
	}

	// An impossible memory in the reviewed task definition.
	tdJSON, err := os.ReadFile("testdata/task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.ReplaceAll(strings.ReplaceAll(string(tdJSON), "FAMILY", d.Family), `"memory": "256"`, `"memory": "1"`)
	tdFile := TaskDefinitionFile(ws, id)
	if err := os.MkdirAll(filepath.Dir(tdFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tdFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", id); code != 4 || !strings.Contains(stderr, `memory "1"`) || !strings.Contains(stderr, "task-definition.json") {
		t.Errorf("deploy with memory 1 in task-definition.json: exit %d: %s", code, stderr)
	}
	if err := os.Remove(tdFile); err != nil {
		t.Fatal(err)
	}

	deployJSON(t, cfg, ws, id)
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "runtime", "run-task", "--count", "0", d.Family); code != 2 || !strings.Contains(stderr, "--count 0") {
		t.Errorf("run-task --count 0: exit %d: %s", code, stderr)
	}
	if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "runtime", "stop", ""); code != 4 || !strings.Contains(stderr, "task ID is empty") {
		t.Errorf("stop \"\": exit %d: %s", code, stderr)
	}
	if out, _, _ := hoistCmd(t, cfg, ws.Dir, "runtime", "ps", "--stopped"); strings.Count(out, "family:"+d.Family) != 0 {
		t.Errorf("a task ran outside the service:\n%s", out)
	}
	for i, want := range []string{"deleted service " + d.Family, "nothing to delete"} {
		if _, stderr, code := hoistCmd(t, cfg, ws.Dir, "deploy", "--delete", id); code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("--delete #%d: exit %d: %s", i+1, code, stderr)
		}
	}
}
