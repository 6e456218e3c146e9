package discover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalysisHandEdits: an analysis.json whose containerParameters, id or
// schemaVersion a hand edit broke is refused by every reader with the
// field and what to do, and analyze leaves it byte for byte as it was
// (before, a port of -1 or an image name of ../../x went through analyze
// and extract and failed only deep in BuildKit, or was built into the
// engine's store under that name).
func TestAnalysisHandEdits(t *testing.T) {
	ctx := context.Background()
	h := fxLoad(t, "generic")
	inv, err := Scan(ctx, ScanOptions{Host: h})
	if err != nil || len(inv.Apps) == 0 {
		t.Fatalf("scan: %v, %d apps", err, len(inv.Apps))
	}
	id := inv.Apps[0].ID
	ws := Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	if _, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(ws.AnalysisPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.ReadAnalysis(id); err != nil {
		t.Fatalf("analyze's own output is refused: %v", err)
	}
	for _, c := range []struct{ old, new, want string }{
		{`"imageName": "` + id + `"`, `"imageName": "../../evil"`, "containerParameters.imageName"},
		{`"imageName": "` + id + `"`, `"imageName": "Upper"`, "containerParameters.imageName"},
		{`"imageName": "` + id + `"`, `"imageName": "app:v1"`, "containerParameters.imageName"},
		{`"imageTag": "latest"`, `"imageTag": "bad tag"`, "containerParameters.imageTag"},
		{`"imageTag": "latest"`, `"imageTag": "-v1"`, "containerParameters.imageTag"},
		{`"imageTag": "latest"`, `"imageTag": "` + strings.Repeat("x", 129) + `"`, "containerParameters.imageTag"},
		{`"port": 18086,
        "protocol": "tcp"`, `"port": -1,
        "protocol": "tcp"`, "containerParameters.ports[0].port: -1 is not a port"},
		{`"port": 18086,
        "protocol": "tcp"`, `"port": 70000,
        "protocol": "tcp"`, "containerParameters.ports[0].port: 70000"},
		{`"port": 18086,
        "protocol": "tcp"`, `"port": 18086,
        "protocol": "sctp"`, "containerParameters.ports[0].protocol"},
		{`"healthCheck": {
      "port": 18086`, `"healthCheck": {
      "port": 99999`, "containerParameters.healthCheck.port"},
		{`"schemaVersion": 1`, `"schemaVersion": 2`, "schemaVersion is 2"},
		{`"id": "` + id + `"`, `"id": "java-generic-00000000"`, `id is "java-generic-00000000"`},
	} {
		edited := bytes.Replace(good, []byte(c.old), []byte(c.new), 1)
		if bytes.Equal(edited, good) {
			t.Fatalf("%s: the analysis has no %q to edit:\n%s", c.want, c.old, good)
		}
		if err := os.WriteFile(ws.AnalysisPath(id), edited, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ws.ReadAnalysis(id)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "hoist analyze "+id+" --force") {
			t.Errorf("%s: ReadAnalysis: %v, want ErrInvalid naming it and what to do", c.want, err)
		}
		_, err = Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: id})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Analyze: %v, want ErrInvalid", c.want, err)
		}
		if got, _ := os.ReadFile(ws.AnalysisPath(id)); !bytes.Equal(got, edited) {
			t.Errorf("%s: analyze changed the hand-edited file", c.want)
		}
	}
	// --force writes it again.
	if _, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: id, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.ReadAnalysis(id); err != nil {
		t.Errorf("after --force: %v", err)
	}
}

// TestBrokenAnalysisSaysWhere: an empty, cut-short or out-of-range
// analysis.json is described as such, at the right line; before, a cut
// short file said only "unexpected EOF" (generate's reader: "line 1,
// column 1"), an empty one "EOF", and 1e30 in an integer field "got a
// JSON number, want number".
func TestBrokenAnalysisSaysWhere(t *testing.T) {
	ws := Workspace{Dir: t.TempDir()}
	const id = "java-generic-8e8e2b40"
	good, err := os.ReadFile("../testdata/procfs/generic/golden/" + id + ".analysis.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{nil, "the file is empty"},
		{[]byte("  \n"), "the file is empty"},
		{good[:bytes.Index(good, []byte(`"observed"`))], "line 5, column 3: the file ends in the middle of the JSON document (cut short?)"},
		{bytes.Replace(good, []byte(`"schemaVersion": 1`), []byte(`"schemaVersion": 1e30`), 1), "line 2, column 24: field schemaVersion: 1e30 is not a whole number this field can hold"},
		{bytes.Replace(good, []byte(`"schemaVersion": 1`), []byte(`"schemaVersion": "1"`), 1), "line 2, column 23: field schemaVersion: got a JSON string, want number"},
		{bytes.Replace(good, []byte(`"schemaVersion": 1,`), []byte("\"schemaVersion\": 1,\n  \"extra\": 1,"), 1), `line 3, column 3: json: unknown field "extra"`},
	} {
		if err := os.MkdirAll(ws.AppDir(id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ws.AnalysisPath(id), c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ws.ReadAnalysis(id)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want ErrInvalid with %q", err, c.want)
		}
	}
}

// TestDirectoryInPlaceOfAFile: a directory where inventory.json or the
// secrets file belongs is invalid input saying what to do, for readers and
// writers alike (was "is a directory" or a rename's "file exists", exit 1).
func TestDirectoryInPlaceOfAFile(t *testing.T) {
	ws := Workspace{Dir: t.TempDir()}
	for _, p := range []string{ws.InventoryPath(), ws.SecretsPath()} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, err error, p string) {
		t.Helper()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p+" is a directory") || !strings.Contains(err.Error(), "move it out of the way") {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err := ws.ReadInventory()
	want("ReadInventory", err, ws.InventoryPath())
	want("WriteInventory", ws.WriteInventory(&Inventory{SchemaVersion: SchemaVersion}), ws.InventoryPath())
	_, err = ws.ReadSecrets()
	want("ReadSecrets", err, ws.SecretsPath())
	want("replaceAppSecrets", ws.replaceAppSecrets("x", Secrets{}), ws.SecretsPath())
	if fi, err := os.Stat(ws.InventoryPath()); err != nil || !fi.IsDir() {
		t.Errorf("the directory in the way was touched: %v", err)
	}
}

// TestAnalyzeAfterTheAppExited: analyze of an app analyzed before whose
// process has exited since says so (unavailable, exit 5) and that the
// earlier analysis is kept; before, it was "no running app has this ID;
// run `hoist inventory`", as for a mistyped ID.
func TestAnalyzeAfterTheAppExited(t *testing.T) {
	ctx := context.Background()
	h := fxLoad(t, "generic")
	inv, err := Scan(ctx, ScanOptions{Host: h})
	if err != nil || len(inv.Apps) == 0 {
		t.Fatalf("scan: %v", err)
	}
	app := inv.Apps[0]
	ws := Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	if _, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: app.ID}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(ws.AnalysisPath(app.ID))
	for _, pid := range app.PIDs {
		if err := os.RemoveAll(filepath.Join(h.Proc, fmt.Sprint(pid))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: app.ID})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not running now") || !strings.Contains(err.Error(), "is kept") {
		t.Errorf("got %v, want ErrUnavailable saying the app stopped and the analysis is kept", err)
	}
	if after, _ := os.ReadFile(ws.AnalysisPath(app.ID)); !bytes.Equal(after, before) {
		t.Error("analysis.json changed")
	}
	// A mistyped ID is still not found.
	if _, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: "java-generic-00000000"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
}

// A --workspace that names a file (or a path under one) is bad input that
// says what --workspace must be, not mkdir's bare "not a directory".
func TestWorkspaceThatIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ws")
	if err := os.WriteFile(file, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		err := Workspace{Dir: dir}.WriteInventory(&Inventory{SchemaVersion: SchemaVersion})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), "--workspace") {
			t.Errorf("workspace %s: %v; want invalid input naming --workspace", dir, err)
		}
	}
	if data, _ := os.ReadFile(file); string(data) != "mine\n" {
		t.Errorf("the file in the way became %q", data)
	}
}

// A secret without a value says what to do; when the workspace has no
// secrets file at all (a clone: the file is git-ignored), it says that.
func TestMissingSecretSaysWhereTheFileComesFrom(t *testing.T) {
	ws := Workspace{Dir: t.TempDir()}
	err := ws.MissingSecret("secret DB (ref app/db)", "app")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "has no secrets file") || !strings.Contains(err.Error(), "kept out of git") {
		t.Errorf("no secrets file: %v", err)
	}
	if err := os.WriteFile(ws.SecretsPath(), []byte(`{"other": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = ws.MissingSecret("secret DB (ref app/db)", "app")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "has no value in the secrets file") || !strings.Contains(err.Error(), "secret DB (ref app/db)") {
		t.Errorf("reference missing from the file: %v", err)
	}
}
