// Package report builds hoist's migration report: one self-contained HTML
// page (inline CSS, inline SVG charts drawn here, no scripts, no external
// assets) from the files the phases wrote into a workspace — the inventory,
// each app's fitness for containers, its generated artifacts with syntax
// highlighting and their diff against the previous generation. No secret
// value ever reaches the page.
package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/generate/diff"
)

// BenchFile is where the report looks for hoist-bench's results:
// `hoist-bench --json containerize > WORKSPACE/bench.json`.
const BenchFile = "bench.json"

// Fitness verdicts.
const (
	Ready     = "ready"
	Attention = "needs attention"
	Blocked   = "blocked"
)

// Report is everything the page shows.
type Report struct {
	Workspace string `json:"workspace"`
	Host      string `json:"host,omitempty"`
	// Inventory is nil when inventory.json is missing; the apps then come
	// from the workspace's app directories.
	Inventory *discover.Inventory `json:"-"`
	Warnings  []string            `json:"warnings,omitempty"`
	Apps      []*App              `json:"apps"`
	Bench     *Bench              `json:"bench,omitempty"`
	// ShortSecrets are references whose values are too short to mask.
	ShortSecrets []string `json:"shortSecrets,omitempty"`
}

// Count returns how many apps have the given verdict.
func (r *Report) Count(verdict string) int {
	n := 0
	for _, a := range r.Apps {
		if a.Fitness == verdict {
			n++
		}
	}
	return n
}

// App is one application's part of the report.
type App struct {
	ID      string           `json:"id"`
	Type    discover.AppType `json:"type"`
	Runtime string           `json:"runtime"`
	Ports   []string         `json:"ports"`
	User    string           `json:"user,omitempty"`
	Path    string           `json:"path,omitempty"`
	Summary string           `json:"summary,omitempty"`

	Fitness   string   `json:"fitness"`
	Blockers  []string `json:"blockers,omitempty"`
	Attention []string `json:"attention,omitempty"`
	Phases    []Phase  `json:"phases"`

	Secrets      []Secret              `json:"secrets,omitempty"`
	Dependencies []discover.Dependency `json:"dependencies,omitempty"`
	Excluded     []extract.Excluded    `json:"excluded,omitempty"`
	ExcludedSize int64                 `json:"excludedSize,omitempty"`
	// Notes are the warnings analyze and extract recorded.
	Notes []string `json:"notes,omitempty"`
	// Unsupported are generate's warnings: fields a target cannot express.
	Unsupported []generate.Warning `json:"unsupported,omitempty"`

	Image       *containerize.Result `json:"image,omitempty"`
	Layers      []Layer              `json:"layers,omitempty"`
	LayerSource string               `json:"layerSource,omitempty"`
	// LayersComplete is set when Layers were measured in the build
	// context (the whole image but a FROM image); otherwise they are the
	// app's own layers from the manifest, without the runtime.
	LayersComplete bool `json:"layersComplete,omitempty"`
	// ValidateLog is the end of APP/containerize/validate.log.
	ValidateLog string `json:"validateLog,omitempty"`

	// Checks is the validation of every artifact (generate --check).
	Checks     []Check `json:"checks,omitempty"`
	CheckError string  `json:"checkError,omitempty"`
	// Stale lists artifacts that differ from what generate would write
	// now (hand edits, or inputs changed since).
	Stale []string `json:"stale,omitempty"`

	Artifacts []Artifact       `json:"artifacts,omitempty"`
	Diff      *diff.Generation `json:"diff,omitempty"`
}

// Phase says whether a phase has run for the app.
type Phase struct {
	Name string `json:"name"`
	Done bool   `json:"done"`
	File string `json:"file"`
}

// Secret is one secret: where it was found and where it went. Never its
// value.
type Secret struct {
	Ref    string `json:"ref"`
	Found  string `json:"found"`
	Reason string `json:"reason,omitempty"`
	// WentTo lists where the value is kept and how it reaches the app.
	WentTo   []string `json:"wentTo"`
	HasValue bool     `json:"hasValue"`
}

// Layer is one layer of the app's image with its unpacked size.
type Layer struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Files int    `json:"files"`
}

// Check is the validation result of one artifact. Documentation (the
// READMEs generate writes) has no validator.
type Check struct {
	File      string   `json:"file"`
	Validated bool     `json:"validated"`
	Problems  []string `json:"problems,omitempty"`
}

// Artifact is one generated file, shown highlighted.
type Artifact struct {
	// Path is relative to the app's directory.
	Path string `json:"path"`
	Lang string `json:"lang"`
	Text string `json:"-"`
	// Status is the diff status against the previous generation (files
	// under deploy/ only).
	Status string `json:"status,omitempty"`
}

// Bench is hoist-bench's JSON output.
type Bench struct {
	Suite   string        `json:"suite"`
	Results []BenchResult `json:"results"`
}

// BenchResult is one figure hoist-bench measured.
type BenchResult struct {
	Metric        string  `json:"metric"`
	Hoist         string  `json:"hoist"`
	Baseline      string  `json:"baseline,omitempty"`
	Ratio         float64 `json:"ratio,omitempty"`
	Target        string  `json:"target,omitempty"`
	Met           *bool   `json:"met,omitempty"`
	Value         float64 `json:"value"`
	BaselineValue float64 `json:"baselineValue,omitempty"`
}

// Options says what to report on.
type Options struct {
	Workspace discover.Workspace
	// IDs limits the report to these apps; empty means every app.
	IDs  []string
	Logf func(string, ...any)
}

// Build reads the workspace and assembles the report. Secret values are
// masked in everything it holds.
func Build(o Options) (*Report, *diff.Masker, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ws := o.Workspace
	if fi, err := os.Stat(ws.Dir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("reporting on workspace %s: %w: no such directory; run `hoist inventory` first or pass --workspace", ws.Dir, discover.ErrNotFound)
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return nil, nil, err
	}
	m := diff.NewMasker(secrets)
	r := &Report{Workspace: ws.Dir, ShortSecrets: m.Short()}

	inv, err := ws.ReadInventory()
	switch {
	case err == nil:
		r.Inventory = inv
		r.Host = inv.Host
		r.Warnings = append(r.Warnings, inv.Warnings...)
	case errors.Is(err, discover.ErrNotFound):
		r.Warnings = append(r.Warnings, "no inventory.json in the workspace: the apps below are the workspace's app directories")
	default:
		return nil, nil, err
	}
	ids, err := appIDs(ws, inv)
	if err != nil {
		return nil, nil, err
	}
	if len(o.IDs) > 0 {
		known := map[string]bool{}
		for _, id := range ids {
			known[id] = true
		}
		for _, id := range o.IDs {
			if !known[id] {
				return nil, nil, fmt.Errorf("reporting on %s: %w: unknown app ID; known: %s", id, discover.ErrNotFound, orNone(ids))
			}
		}
		ids = o.IDs
	}
	if len(ids) == 0 {
		r.Warnings = append(r.Warnings, "the workspace holds no apps yet: run `hoist inventory` and `hoist analyze APP`")
	}
	for _, id := range ids {
		var entry *discover.App
		if inv != nil {
			for i := range inv.Apps {
				if inv.Apps[i].ID == id {
					entry = &inv.Apps[i]
				}
			}
		}
		o.Logf("report: %s", id)
		r.Apps = append(r.Apps, buildApp(ws, id, entry, secrets, m))
	}
	r.Bench, err = readBench(ws)
	if err != nil {
		r.Warnings = append(r.Warnings, err.Error())
	}
	for i := range r.Warnings {
		r.Warnings[i] = m.String(r.Warnings[i])
	}
	return r, m, nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none (the workspace holds no apps)"
	}
	return strings.Join(ids, ", ")
}

// appIDs lists the inventory's apps, then any app directory (one holding
// analysis.json or deployment.json) the inventory does not list.
func appIDs(ws discover.Workspace, inv *discover.Inventory) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	if inv != nil {
		for _, a := range inv.Apps {
			if !seen[a.ID] {
				seen[a.ID] = true
				ids = append(ids, a.ID)
			}
		}
	}
	ents, err := os.ReadDir(ws.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading workspace %s: %w", ws.Dir, err)
	}
	var extra []string
	for _, e := range ents {
		if !e.IsDir() || seen[e.Name()] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		for _, f := range []string{ws.AnalysisPath(e.Name()), generate.DeploymentPath(ws, e.Name())} {
			if _, err := os.Stat(f); err == nil {
				extra = append(extra, e.Name())
				break
			}
		}
	}
	sort.Strings(extra)
	return append(ids, extra...), nil
}

func buildApp(ws discover.Workspace, id string, entry *discover.App, secrets discover.Secrets, m *diff.Masker) *App {
	app := &App{ID: id}
	if entry != nil {
		app.Type, app.User, app.Path, app.Summary = entry.Type, entry.User, entry.Path, entry.Summary
		for _, p := range entry.Ports {
			app.Ports = append(app.Ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(ws.Dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	// analyze
	a, err := ws.ReadAnalysis(id)
	app.Phases = append(app.Phases, Phase{Name: "analyze", Done: err == nil, File: rel(ws.AnalysisPath(id))})
	switch {
	case err == nil:
		fillFromAnalysis(app, a, secrets)
	case errors.Is(err, discover.ErrNotFound):
		app.Blockers = append(app.Blockers, "not analyzed yet: run `hoist analyze "+id+"`")
	default:
		app.Blockers = append(app.Blockers, err.Error())
	}

	// extract
	mpath := extract.ManifestPath(ws, id)
	man, err := readManifest(mpath)
	app.Phases = append(app.Phases, Phase{Name: "extract", Done: man != nil, File: rel(mpath)})
	if err != nil {
		app.Blockers = append(app.Blockers, err.Error())
	}
	if man != nil {
		fillFromManifest(app, man)
	}

	// containerize
	cdir := containerize.Dir(ws, id)
	img, err := readImage(filepath.Join(cdir, "image.json"))
	app.Phases = append(app.Phases, Phase{Name: "containerize", Done: img != nil, File: rel(filepath.Join(cdir, "image.json"))})
	if err != nil {
		app.Blockers = append(app.Blockers, err.Error())
	}
	app.Image = img
	if img != nil {
		for _, u := range img.Secrets {
			to := fmt.Sprintf("image: hoist-entry reads $%s at start", u.Env)
			switch u.Use {
			case "file":
				to += " and renders it into the config file"
			case "arg":
				to += " and puts it on the command line"
			case "env":
				to = fmt.Sprintf("image: the app reads $%s", u.Env)
			}
			addWent(app, u.Ref, to)
		}
	}
	df := filepath.Join(cdir, "Dockerfile")
	if data, err := os.ReadFile(df); err == nil {
		app.Artifacts = append(app.Artifacts, Artifact{Path: rel(df)[len(id)+1:], Lang: "dockerfile", Text: m.String(string(data))})
		if layers, err := contextLayers(string(data), filepath.Join(cdir, "context")); err == nil && len(layers) > 0 {
			app.LayersComplete = true
			app.Layers, app.LayerSource = layers, "measured in the build context "+rel(filepath.Join(cdir, "context"))+" (unpacked sizes, in the Dockerfile's COPY order)"
		}
	}
	if app.Layers == nil && man != nil {
		for _, l := range man.Sizes.Layers {
			app.Layers = append(app.Layers, Layer{Name: l.Layer, Size: l.Size, Files: l.Files})
		}
		if len(app.Layers) > 0 {
			app.LayerSource = "the app's layers from " + rel(mpath) + " (unpacked; the runtime base is not counted until `hoist containerize` has laid out its build context)"
		}
	}
	if data, err := os.ReadFile(filepath.Join(cdir, "validate.log")); err == nil {
		app.ValidateLog = m.String(lastLines(string(data), 25))
	}

	// generate
	dpath := generate.DeploymentPath(ws, id)
	_, derr := os.Stat(dpath)
	app.Phases = append(app.Phases, Phase{Name: "generate", Done: derr == nil && exists(generate.DeployDir(ws, id)), File: rel(generate.DeployDir(ws, id))})
	if derr == nil {
		if data, err := os.ReadFile(dpath); err == nil {
			app.Artifacts = append(app.Artifacts, Artifact{Path: "deployment.json", Lang: "json", Text: m.String(string(data))})
		}
		if d, err := generate.LoadDeployment(ws, id); err == nil {
			for _, s := range d.Secrets {
				addWent(app, s.SecretRef, fmt.Sprintf("deployment: $%s from AWS Secrets Manager %q; Kubernetes Secret %s-secrets key %s", s.Name, s.SecretsManagerName, d.Family, s.Name))
			}
		}
		res, err := generate.Generate(generate.Options{Workspace: ws, ID: id, Check: true})
		var ve *generate.ValidationError
		switch {
		case err == nil || errors.As(err, &ve):
			if res != nil {
				app.Unsupported = res.Warnings
				app.Stale = res.Changed
				byFile := map[string][]string{}
				if ve != nil {
					for _, p := range ve.Problems {
						f := rel(p.File)
						if strings.HasPrefix(f, id+"/deploy/") {
							f = strings.TrimPrefix(f, id+"/deploy/")
						}
						byFile[f] = append(byFile[f], m.String(p.String()))
					}
				}
				for _, f := range res.Files {
					app.Checks = append(app.Checks, Check{File: f, Validated: !strings.HasSuffix(f, ".md"), Problems: byFile[f]})
					delete(byFile, f)
				}
				for f, ps := range byFile {
					app.Checks = append(app.Checks, Check{File: f, Validated: true, Problems: ps})
				}
				sort.SliceStable(app.Checks, func(i, j int) bool { return app.Checks[i].File < app.Checks[j].File })
			} else if ve != nil {
				app.CheckError = m.String(ve.Error())
			}
		default:
			app.CheckError = m.String(err.Error())
		}
		if g, err := diff.LoadMasked(ws, id, m); err == nil {
			app.Diff = g
			st := map[string]string{}
			for _, f := range g.Files {
				st[f.Path] = f.Status
			}
			var paths []string
			for p := range g.Current {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				app.Artifacts = append(app.Artifacts, Artifact{Path: "deploy/" + p, Lang: langOf(p), Text: g.Current[p], Status: st[p]})
			}
		} else if !errors.Is(err, discover.ErrNotFound) {
			app.Blockers = append(app.Blockers, m.String(err.Error()))
		}
	}
	assess(app, id)
	for i := range app.Blockers {
		app.Blockers[i] = m.String(app.Blockers[i])
	}
	for i := range app.Attention {
		app.Attention[i] = m.String(app.Attention[i])
	}
	for i := range app.Notes {
		app.Notes[i] = m.String(app.Notes[i])
	}
	for i := range app.Unsupported {
		app.Unsupported[i].Message = m.String(app.Unsupported[i].Message)
	}
	return app
}

func fillFromAnalysis(app *App, a *discover.Analysis, secrets discover.Secrets) {
	if app.Type == "" {
		app.Type = a.Type
	}
	if app.User == "" {
		app.User = a.Observed.Process.User
	}
	rt := a.Observed.Runtime
	app.Runtime = strings.TrimSpace(rt.Kind + " " + rt.Version)
	if rt.Version == "" {
		app.Attention = append(app.Attention, "the runtime's version is unknown: check the base image matches what the app needs")
	}
	if rt.Vendor != "" {
		app.Runtime += " (" + rt.Vendor + ")"
	}
	if s := a.Observed.Server; s != nil && s.Type != "" {
		app.Runtime += ", " + strings.TrimSpace(s.Type+" "+s.Version)
	}
	if len(app.Ports) == 0 {
		for _, p := range a.Observed.Ports {
			app.Ports = append(app.Ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	app.Dependencies = a.Observed.Dependencies
	app.Notes = append(app.Notes, a.Observed.Warnings...)
	for _, s := range a.Observed.Secrets {
		found := s.Source
		switch {
		case s.Source == "env":
			found = "environment variable " + s.Key
		case s.Source == "cmdline":
			found = "command line: " + s.Key
		case strings.HasPrefix(s.Source, "config:"):
			found = strings.TrimPrefix(s.Source, "config:") + ": " + s.Key
		}
		_, has := secrets[s.Ref]
		app.Secrets = append(app.Secrets, Secret{Ref: s.Ref, Found: found, Reason: s.Reason, HasValue: has})
		if has {
			addWent(app, s.Ref, "value: the workspace's secrets.json (0600, kept out of git)")
		}
	}
}

func fillFromManifest(app *App, man *extract.Manifest) {
	app.Notes = append(app.Notes, man.Warnings...)
	for _, e := range man.Excluded {
		app.Excluded = append(app.Excluded, e)
		app.ExcludedSize += e.Size
	}
	for _, rf := range man.Redacted {
		where := rf.Path
		if rf.Entry != "" {
			where += "!/" + rf.Entry
		}
		for _, s := range rf.Secrets {
			addWent(app, s.Ref, "archive: "+where+" holds a placeholder instead of the value")
		}
	}
}

// addWent records where a secret went, adding the secret when the analysis
// did not list it (a hand-edited deployment, say).
func addWent(app *App, ref, to string) {
	for i := range app.Secrets {
		if app.Secrets[i].Ref == ref {
			for _, w := range app.Secrets[i].WentTo {
				if w == to {
					return
				}
			}
			app.Secrets[i].WentTo = append(app.Secrets[i].WentTo, to)
			return
		}
	}
	app.Secrets = append(app.Secrets, Secret{Ref: ref, Found: "not in the analysis", WentTo: []string{to}})
}

// assess decides the verdict from what was collected.
func assess(app *App, id string) {
	for _, s := range app.Secrets {
		if !s.HasValue && s.Found != "not in the analysis" {
			app.Blockers = append(app.Blockers, fmt.Sprintf("secret %s has no value in secrets.json: a deployment cannot set it (run `hoist analyze %s` on the source host, or add the value)", s.Ref, id))
		}
	}
	for _, c := range app.Checks {
		for _, p := range c.Problems {
			app.Blockers = append(app.Blockers, "invalid artifact "+c.File+": "+p)
		}
	}
	if app.CheckError != "" {
		app.Blockers = append(app.Blockers, "the artifacts could not be checked: "+app.CheckError)
	}
	if n := len(app.Secrets); n > 0 {
		app.Attention = append(app.Attention, fmt.Sprintf("%d %s found: the values stay in secrets.json; deployments must supply them (see Secrets)", n, plural(n, "secret", "secrets")))
	}
	for _, d := range app.Dependencies {
		app.Attention = append(app.Attention, fmt.Sprintf("external dependency %s at %s: make it reachable from the new network", d.Service, hostPort(d.Host, d.Port)))
	}
	if n := len(app.Excluded); n > 0 {
		app.Attention = append(app.Attention, fmt.Sprintf("%d %s left out of the image (%s): check the app does not need them", n, plural(n, "path", "paths"), HumanBytes(app.ExcludedSize)))
	}
	if n := len(app.Unsupported); n > 0 {
		app.Attention = append(app.Attention, fmt.Sprintf("%d %s a target cannot express (see Unsupported fields)", n, plural(n, "field", "fields")))
	}
	if n := len(app.Stale); n > 0 {
		app.Attention = append(app.Attention, fmt.Sprintf("%d %s differ from what `hoist generate %s` would write now (hand edits, or inputs changed since): %s", n, plural(n, "artifact", "artifacts"), id, strings.Join(app.Stale, ", ")))
	}
	for _, p := range app.Phases {
		if !p.Done && p.Name != "analyze" {
			app.Attention = append(app.Attention, "`hoist "+p.Name+" "+id+"` has not run yet")
		}
	}
	switch {
	case len(app.Blockers) > 0:
		app.Fitness = Blocked
	case len(app.Attention) > 0:
		app.Fitness = Attention
	default:
		app.Fitness = Ready
	}
}

func hostPort(h string, p int) string {
	if p == 0 {
		return h
	}
	return fmt.Sprintf("%s:%d", h, p)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func readManifest(p string) (*extract.Manifest, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var m extract.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is not a valid manifest: %v; run `hoist extract` again", p, err)
	}
	return &m, nil
}

func readImage(p string) (*containerize.Result, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var r containerize.Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not valid: %v; run `hoist containerize` again", p, err)
	}
	return &r, nil
}

// readBench reads WORKSPACE/bench.json when hoist-bench's results were
// saved there.
func readBench(ws discover.Workspace) (*Bench, error) {
	p := filepath.Join(ws.Dir, BenchFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var b Bench
	if err := json.Unmarshal(data, &b); err != nil || len(b.Results) == 0 {
		return nil, fmt.Errorf("%s is not hoist-bench's JSON output (write it with `hoist-bench --json containerize > %s`); the baselines are left out", p, p)
	}
	return &b, nil
}

// contextLayers measures each COPY of the Dockerfile in the build context:
// one image layer per COPY, in order.
func contextLayers(dockerfile, ctxDir string) ([]Layer, error) {
	if _, err := os.Stat(ctxDir); err != nil {
		return nil, err
	}
	var out []Layer
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.EqualFold(f[0], "COPY") {
			continue
		}
		var args []string
		for _, x := range f[1:] {
			if !strings.HasPrefix(x, "--") {
				args = append(args, x)
			}
		}
		if len(args) < 2 {
			continue
		}
		for _, src := range args[:len(args)-1] {
			clean := filepath.Clean("/" + src)[1:]
			size, files, err := du(filepath.Join(ctxDir, clean))
			if err != nil {
				return nil, err
			}
			out = append(out, Layer{Name: layerName(clean), Size: size, Files: files})
		}
	}
	return out, nil
}

// layerName turns a context path into a name a reader understands.
func layerName(src string) string {
	parts := strings.Split(src, "/")
	switch {
	case src == "base":
		return "runtime (host base)"
	case src == "entry":
		return "hoist-entry"
	case len(parts) == 3 && parts[0] == "layers":
		return parts[1] + " (" + strings.Replace(parts[2], "_", ":", 1) + ")"
	}
	return src
}

// du sums the sizes of the regular files under p, without following links.
func du(p string) (int64, int, error) {
	var size int64
	files := 0
	err := filepath.WalkDir(p, func(_ string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.Type().IsRegular() {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			size += fi.Size()
			files++
		}
		return nil
	})
	return size, files, err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d earlier lines in validate.log)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func langOf(p string) string {
	switch {
	case strings.HasSuffix(p, ".json"):
		return "json"
	case strings.HasSuffix(p, ".yaml"), strings.HasSuffix(p, ".yml"):
		return "yaml"
	case strings.HasSuffix(p, ".md"):
		return "markdown"
	case filepath.Base(p) == "Dockerfile":
		return "dockerfile"
	}
	return "text"
}

// HumanBytes prints a size in decimal units, as hoist-bench does.
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
