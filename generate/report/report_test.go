package report

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/fixturetest"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/generate"
)

// fixtures are the captured hosts (../../testdata/procfs) the test
// workspace is built from: a Jetty server with a secret in a config file,
// and a .NET app with secrets in its environment and appsettings and five
// external dependencies.
var fixtures = []string{"jetty", "dotnet"}

// hostileSecrets are the values the test puts into secrets.json: HTML,
// quotes, YAML's quote doubling, several lines.
var hostileSecrets = []string{
	`p<a>ss&"w'ord-1`,
	"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\n-----END PRIVATE KEY-----",
	`s3cr3t-</pre><script>alert(1)</script>`,
	"plain-secret-value-42",
}

// testWorkspace runs the real phases over the fixtures: inventory,
// analyze, extract, generate; then changes deployment.json (secret values
// into secret.yaml, a new size) and generates again, so that there is a
// previous generation to compare with. It returns the workspace and the
// secret values it holds.
func testWorkspace(t *testing.T) (discover.Workspace, []string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	ws := discover.Workspace{Dir: filepath.Join(tmp, "ws")}
	all := &discover.Inventory{SchemaVersion: discover.SchemaVersion, Host: "fixture"}
	var ids []string
	hosts := map[string]discover.Host{}
	for _, f := range fixtures {
		root := filepath.Join(tmp, f)
		fixturetest.Copy(t, filepath.Join("..", "..", "testdata", "procfs", f), root)
		host := discover.Host{Proc: filepath.Join(root, "proc"), Root: filepath.Join(root, "root")}
		inv, err := discover.Scan(ctx, discover.ScanOptions{Host: host, Hostname: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range inv.Apps {
			all.Apps = append(all.Apps, a)
			ids = append(ids, a.ID)
			hosts[a.ID] = host
		}
	}
	if err := ws.WriteInventory(all); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := discover.Analyze(ctx, discover.AnalyzeOptions{Host: hosts[id], Workspace: ws, ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := extract.Extract(ctx, extract.Options{Host: hosts[id], Workspace: ws, ID: id, AllowMissing: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := generate.Generate(generate.Options{Workspace: ws, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Real values: the fixtures' own, replaced by hostile ones.
	secrets, err := ws.ReadSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) < len(hostileSecrets) {
		t.Fatalf("the fixtures hold %d secrets, the test needs %d", len(secrets), len(hostileSecrets))
	}
	var refs []string
	for ref := range secrets {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for i, ref := range refs {
		if i < len(hostileSecrets) {
			secrets[ref] = hostileSecrets[i]
		}
	}
	data, _ := discover.MarshalJSON(secrets)
	if err := discover.WriteFileAtomic(ws.SecretsPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p := generate.DeploymentPath(ws, id)
		var d map[string]any
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		d["kubernetes"].(map[string]any)["includeSecretValues"] = true
		d["cpu"], d["memory"] = 512, 1024
		// A user who pastes a password into the environment by hand: it
		// reaches the task definition, the ConfigMap, compose.yaml.
		env, _ := d["environment"].([]any)
		d["environment"] = append(env, map[string]any{"name": "PASTED_PASSWORD", "value": hostileSecrets[0]})
		raw, _ = json.MarshalIndent(d, "", "  ")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := generate.Generate(generate.Options{Workspace: ws, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// The secret values really are in the workspace's artifacts now, so
	// the report has something to leak.
	leaked := false
	for _, id := range ids {
		sec, _ := os.ReadFile(filepath.Join(generate.DeployDir(ws, id), "kubernetes", "secret.yaml"))
		for _, v := range secrets {
			if strings.Contains(string(sec), v) || strings.Contains(string(sec), "MIIEvQIBADANBgkqhkiG9w0BAQ") {
				leaked = true
			}
		}
	}
	if !leaked {
		t.Fatal("no secret value reached kubernetes/secret.yaml: the leak test would prove nothing")
	}
	return ws, ids, secrets
}

// secretForms are the ways a value could appear in the page.
func secretForms(v string) []string {
	forms := []string{v, html.EscapeString(v), base64.StdEncoding.EncodeToString([]byte(v)), strings.ReplaceAll(v, "'", "''")}
	j, _ := json.Marshal(v)
	forms = append(forms, string(j[1:len(j)-1]))
	for _, l := range strings.Split(v, "\n") {
		if len(l) >= 8 && !strings.HasPrefix(l, "-----") {
			forms = append(forms, l)
		}
	}
	return forms
}

func assertNoSecrets(t *testing.T, where, page string, secrets map[string]string) {
	t.Helper()
	for ref, v := range secrets {
		if len(v) < 4 {
			continue
		}
		for _, f := range secretForms(v) {
			if strings.Contains(page, f) {
				t.Errorf("%s holds the value of %s (as %q)", where, ref, f)
			}
		}
	}
}

func TestReportWorkspace(t *testing.T) {
	ws, ids, secrets := testWorkspace(t)
	res, err := Write(Options{Workspace: ws}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(ws.Dir, "report.html") {
		t.Errorf("written to %s", res.Path)
	}
	raw, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	assertNoSecrets(t, "the report", page, secrets)

	// Self-contained: no scripts, no external resources.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)<script`), regexp.MustCompile(`(?i)\ssrc=`), regexp.MustCompile(`(?i)<link`), regexp.MustCompile(`(?i)href="(https?:)?//`), regexp.MustCompile(`(?i)url\(`), regexp.MustCompile(`(?i)@import`)} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("the page is not self-contained: %q", page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
		}
	}
	if n := strings.Count(page, "<svg"); n < len(ids) {
		t.Errorf("%d charts for %d apps", n, len(ids))
	}

	// Everything the phases recorded is on the page.
	inv, _ := ws.ReadInventory()
	esc := html.EscapeString
	for _, app := range inv.Apps {
		a, err := ws.ReadAnalysis(app.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Checked against the page's text (entities decoded): html/template
		// escapes more than html.EscapeString ("+" in a version, say).
		want := []string{string(app.Type), a.Observed.Runtime.Version}
		for _, p := range app.Ports {
			want = append(want, itoa(int(p.Port))+"/"+p.Protocol)
		}
		if len(a.Observed.Secrets) == 0 {
			t.Fatalf("%s: the fixture has no secrets", app.ID)
		}
		for _, s := range a.Observed.Secrets {
			want = append(want, s.Ref)
		}
		for _, d := range a.Observed.Dependencies {
			want = append(want, d.Service, d.Host)
		}
		data, err := os.ReadFile(extract.ManifestPath(ws, app.ID))
		if err != nil {
			t.Fatal(err)
		}
		var m extract.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Excluded {
			want = append(want, e.Path, HumanBytes(e.Size))
		}
		for _, l := range m.Sizes.Layers {
			want = append(want, l.Layer, HumanBytes(l.Size))
		}
		check, err := generate.Generate(generate.Options{Workspace: ws, ID: app.ID, Check: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(check.Warnings) == 0 {
			t.Fatalf("%s: generate reports no warnings; the test needs some", app.ID)
		}
		for _, w := range check.Warnings {
			want = append(want, w.Message)
		}
		sec := page[strings.Index(page, `id="app-`+app.ID+`"`):]
		if end := strings.Index(sec[1:], `<section class="app"`); end > 0 {
			sec = sec[:end+1]
		}
		text := html.UnescapeString(sec)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the report lacks %q", app.ID, w)
			}
		}
		// Markup: every artifact validated, the diff of what the second
		// generate changed.
		markup := []string{`<code>deploy/kubernetes/secret.yaml</code><span class="status modified">modified</span>`}
		for _, f := range check.Files {
			result := `<span class="ok">valid</span>`
			if strings.HasSuffix(f, ".md") {
				result = `<span class="muted">documentation, not validated</span>`
			}
			markup = append(markup, "<code>deploy/"+esc(f)+"</code></td><td>"+result)
		}
		for _, w := range markup {
			if !strings.Contains(sec, w) {
				t.Errorf("%s: the report lacks %q", app.ID, w)
			}
		}
		for _, re := range []string{`<tr class="del">[^\n]*?<td>-\s+&#34;cpu&#34;: &#34;1024&#34;`, `<tr class="ins">[^\n]*?<td>\+\s+&#34;cpu&#34;: &#34;512&#34;`} {
			if !regexp.MustCompile(re).MatchString(sec) {
				t.Errorf("%s: the diff lacks a row matching %s", app.ID, re)
			}
		}
		if !strings.Contains(sec, `<span class="x">[secret `) {
			t.Errorf("%s: no masked secret shown in the artifacts or diff", app.ID)
		}
	}
	if res.Apps[Blocked] != 0 || res.Apps[Attention] != len(ids) {
		t.Errorf("verdicts %v: every fixture app needs attention (secrets, not containerized) and none is blocked", res.Apps)
	}

	// The same inputs give the same page.
	res2, err := Write(Options{Workspace: ws}, filepath.Join(t.TempDir(), "again.html"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(res2.Path)
	if string(again) != page {
		t.Error("a second report of the same workspace differs")
	}
}

func TestReportOneAppAndBlockers(t *testing.T) {
	ws, ids, secrets := testWorkspace(t)
	id := ids[0]
	// A hand edit that breaks the task definition, and a secret whose
	// value is gone: both block the app.
	td := generate.TaskDefinitionPath(ws, id)
	data, err := os.ReadFile(td)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["cpu"] = "300"
	data, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(td, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := ws.ReadAnalysis(id)
	gone := a.Observed.Secrets[0].Ref
	kept := discover.Secrets{}
	for k, v := range secrets {
		if k != gone {
			kept[k] = v
		}
	}
	raw, _ := discover.MarshalJSON(kept)
	if err := discover.WriteFileAtomic(ws.SecretsPath(), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := Write(Options{Workspace: ws, IDs: []string{id}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(ws.AppDir(id), "report.html") || len(res.Blocked) != 1 || res.Blocked[0] != id {
		t.Fatalf("result %+v: want %s blocked in APP/report.html", res, id)
	}
	out, _ := os.ReadFile(res.Path)
	page := string(out)
	for _, want := range []string{
		"invalid artifact ecs/task-definition.json",
		"secret " + html.EscapeString(gone) + " has no value in secrets.json",
		`<span class="badge blocked">blocked</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	for _, other := range ids[1:] {
		if strings.Contains(page, `id="app-`+other+`"`) {
			t.Errorf("the report for %s also covers %s", id, other)
		}
	}
	assertNoSecrets(t, "the one-app report", page, secrets)

	if _, err := Write(Options{Workspace: ws, IDs: []string{"java-nothing-00000000"}}, ""); err == nil || !strings.Contains(err.Error(), "known: ") {
		t.Errorf("an unknown app: %v", err)
	}
}

func TestReportBench(t *testing.T) {
	ws, ids, _ := testWorkspace(t)
	// What `hoist-bench --json containerize` prints (its result type,
	// figures from one run of it on this kind of machine).
	bench := `{
  "suite": "containerize: sample app java-generic-0c7e5a1d (linux/amd64, 2 CPUs)",
  "results": [
    {"metric": "image size, compressed (pull)", "hoist": "41.2 MB", "baseline": "full JDK: 191.0 MB", "ratio": 0.2157, "target": "<= 0.30x", "met": true, "value": 41200000, "baselineValue": 191000000},
    {"metric": "image size, unpacked (disk)", "hoist": "98.1 MB", "baseline": "full JDK: 333.9 MB", "ratio": 0.2938, "value": 98100000, "baselineValue": 333900000},
    {"metric": "image size, unpacked (disk)", "hoist": "98.1 MB", "baseline": "process mode: 420.3 MB", "ratio": 0.2334, "value": 98100000, "baselineValue": 420300000},
    {"metric": "containerize, cold", "hoist": "21.40 s", "baseline": "full JDK: 9.10 s", "value": 21.4},
    {"metric": "containerize after a one-file change", "hoist": "1.92 s", "target": "< 3 s", "met": true, "value": 1.92},
    {"metric": "layers changed by that rebuild", "hoist": "1 of 6", "target": "1", "met": true, "value": 1},
    {"metric": "start to first HTTP 200", "hoist": "container: 0.61 s", "baseline": "host process: 0.55 s", "ratio": 1.109, "target": "<= 1.20x", "met": true, "value": 0.61, "baselineValue": 0.55}
  ]
}
`
	if err := os.WriteFile(filepath.Join(ws.Dir, BenchFile), []byte(bench), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Write(Options{Workspace: ws}, "")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(res.Path)
	page := string(out)
	for _, want := range []string{
		`id="bench"`, "Image sizes against the baselines", "Build and start times",
		"baseline: full JDK (hoist-bench)", "baseline: process mode (hoist-bench)",
		"start to first HTTP 200, host process", "333.9 MB", "21.40 s", "0.22x",
		"Image of " + ids[0] + " against the baselines, unpacked", ids[0] + " (app layers only, no runtime yet)",
	} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	if err := os.WriteFile(filepath.Join(ws.Dir, BenchFile), []byte("METRIC HOIST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Write(Options{Workspace: ws}, "")
	if err != nil {
		t.Fatal(err)
	}
	out, _ = os.ReadFile(res.Path)
	if !strings.Contains(string(out), "is not hoist-bench&#39;s JSON output") || strings.Contains(string(out), `id="bench"`) {
		t.Error("a bench.json that is not JSON is not reported as such")
	}
}

func TestContextLayers(t *testing.T) {
	ctx := t.TempDir()
	write := func(p string, n int) {
		if err := discover.WriteFileAtomic(filepath.Join(ctx, p), []byte(strings.Repeat("x", n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base/usr/lib/jvm/lib/modules", 5000)
	write("base/etc/passwd", 100)
	write("layers/app/0_0/srv/app/app.jar", 700)
	write("layers/config/102_105/etc/app/app.properties", 30)
	if err := os.Symlink("/usr/lib/jvm/lib/modules", filepath.Join(ctx, "base/usr/lib/modules-link")); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY base/ /\n\n# app\nCOPY --chown=0:0 layers/app/0_0/ /\nCOPY --chown=102:105 layers/config/102_105/ /\nENV A=b\n"
	got, err := contextLayers(dockerfile, ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Layer{{"runtime (host base)", 5100, 2}, {"app (0:0)", 700, 1}, {"config (102:105)", 30, 1}}
	if len(got) != len(want) {
		t.Fatalf("layers %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("layer %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
