package generate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/discover"
)

// Options configures one generate run.
type Options struct {
	Workspace discover.Workspace
	ID        string
	// Check validates deployment.json and the files under APP/deploy/ as
	// they are (hand edits included) and writes nothing.
	Check bool
	Logf  func(string, ...any)
}

// Result says what generate wrote or checked.
type Result struct {
	ID string `json:"id"`
	// Deployment is APP/deployment.json; DeploymentCreated is true when
	// this run wrote it from the analysis.
	Deployment        string `json:"deployment"`
	DeploymentCreated bool   `json:"deploymentCreated,omitempty"`
	// Dir is APP/deploy.
	Dir string `json:"dir"`
	// Files are the artifacts, relative to Dir, in order.
	Files []string `json:"files"`
	// Changed lists the files whose content differs from the previous
	// generation (kept in Dir/.previous); with Check, from what generate
	// would write now.
	Changed  []string  `json:"changed,omitempty"`
	Warnings []Warning `json:"warnings,omitempty"`
	Checked  bool      `json:"checked,omitempty"`
}

// DeployDir is APP/deploy.
func DeployDir(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "deploy")
}

// PreviousDir holds the generation before the last one that changed
// anything, for diffs.
func PreviousDir(ws discover.Workspace, id string) string {
	return filepath.Join(DeployDir(ws, id), ".previous")
}

// TaskDefinitionPath is APP/deploy/ecs/task-definition.json.
func TaskDefinitionPath(ws discover.Workspace, id string) string {
	return filepath.Join(DeployDir(ws, id), "ecs", "task-definition.json")
}

// LoadTaskDefinition reads APP/deploy/ecs/task-definition.json into the
// RegisterTaskDefinition input and validates it.
func LoadTaskDefinition(ws discover.Workspace, id string) (*TaskDefinition, error) {
	name := TaskDefinitionPath(ws, id)
	data, err := discover.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w; run `hoist generate %s` to write it", name, discover.ErrNotFound, id)
		}
		return nil, err
	}
	if probs := validateTaskDefinition(name, data); len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	var td TaskDefinition
	if err := decodeStrict(data, &td); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", discover.ErrInvalid, name, err)
	}
	return &td, nil
}

// artifact is one file to write under APP/deploy.
type artifact struct {
	name string
	data []byte
	// check validates the file's content as it would be on disk.
	check func(file string, data []byte) []Problem
}

// Generate writes deployment.json (unless it exists) and the artifacts, or
// with Check only validates them.
func Generate(o Options) (*Result, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ws, id := o.Workspace, o.ID
	a, err := loadAnalysis(ws, id)
	if err != nil {
		return nil, err
	}
	res := &Result{ID: id, Deployment: DeploymentPath(ws, id), Dir: DeployDir(ws, id), Checked: o.Check}
	d, err := LoadDeployment(ws, id)
	switch {
	case errors.Is(err, discover.ErrNotFound):
		if o.Check {
			return nil, fmt.Errorf("checking %s: %w: no deployment.json at %s; run `hoist generate %s` first", id, discover.ErrNotFound, res.Deployment, id)
		}
		d = DefaultDeployment(a, builtImage(ws, id))
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("the defaults hoist derived for %s are not valid (edit analysis.json's containerParameters): %w", id, err)
		}
		res.DeploymentCreated = true
	case err != nil:
		return nil, fmt.Errorf("keeping your edits to deployment.json: %w", err)
	}
	if d.ID != id {
		return nil, &ValidationError{Problems: []Problem{{File: res.Deployment, Field: "id", Message: fmt.Sprintf("is %q but the file belongs to %s", d.ID, id), Fix: "set it to " + id}}}
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return nil, err
	}
	w := &warnings{}
	if built := builtImage(ws, id); built != "" && built != d.Image {
		w.add("all", "image", fmt.Sprintf("deployment.json runs %s but `hoist containerize` last built %s; set image to deploy the new build", d.Image, built))
	}
	arts, err := renderAll(ws, a, d, secrets, w)
	if err != nil {
		return nil, err
	}
	res.Warnings = w.sorted()
	for _, x := range arts {
		res.Files = append(res.Files, x.name)
	}

	if o.Check {
		return res, check(res, arts)
	}

	// Everything validates before anything is written.
	var probs []Problem
	for _, x := range arts {
		if x.check != nil {
			probs = append(probs, x.check(filepath.Join(res.Dir, x.name), x.data)...)
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	if res.DeploymentCreated {
		data, err := MarshalDeployment(d)
		if err != nil {
			return nil, err
		}
		if err := discover.WriteFileAtomic(res.Deployment, data, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", res.Deployment, err)
		}
		o.Logf("wrote %s", res.Deployment)
	}
	changed, err := writeArtifacts(ws, id, arts, o.Logf)
	if err != nil {
		return nil, err
	}
	res.Changed = changed
	return res, nil
}

// check validates the files on disk and reports which differ from what
// generate would write.
func check(res *Result, arts []artifact) error {
	var probs []Problem
	for _, x := range arts {
		name := filepath.Join(res.Dir, x.name)
		data, err := discover.ReadFile(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				probs = append(probs, Problem{File: name, Message: "is missing", Fix: "run `hoist generate " + res.ID + "` to write it"})
				continue
			}
			return err
		}
		if !bytes.Equal(data, x.data) {
			res.Changed = append(res.Changed, x.name)
		}
		if x.check != nil {
			probs = append(probs, x.check(name, data)...)
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func loadAnalysis(ws discover.Workspace, id string) (*discover.Analysis, error) {
	name := ws.AnalysisPath(id)
	data, err := discover.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			hint := "run `hoist analyze " + id + "` first"
			if inv, ierr := ws.ReadInventory(); ierr == nil {
				var ids []string
				known := false
				for _, app := range inv.Apps {
					ids = append(ids, app.ID)
					known = known || app.ID == id
				}
				if !known {
					hint = "unknown app ID; known: " + strings.Join(ids, ", ")
					if len(ids) == 0 {
						hint = "unknown app ID; the inventory lists no apps"
					}
				}
			}
			return nil, fmt.Errorf("generating %s: %w: no analysis at %s; %s", id, discover.ErrNotFound, name, hint)
		}
		return nil, err
	}
	a, err := ParseAnalysis(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if a.ID != id {
		return nil, fmt.Errorf("%w: %s: field id is %q, not %q; run `hoist analyze %s` again", discover.ErrInvalid, name, a.ID, id, id)
	}
	return a, nil
}

// builtImage is the image `hoist containerize` recorded, if it ran.
func builtImage(ws discover.Workspace, id string) string {
	data, err := os.ReadFile(filepath.Join(ws.AppDir(id), "containerize", "image.json"))
	if err != nil {
		return ""
	}
	var r struct {
		Image string `json:"image"`
	}
	if json.Unmarshal(data, &r) != nil {
		return ""
	}
	return r.Image
}

// renderAll builds every artifact in memory.
func renderAll(ws discover.Workspace, a *discover.Analysis, d *Deployment, secrets discover.Secrets, w *warnings) ([]artifact, error) {
	var arts []artifact
	add := func(name string, data []byte, check func(string, []byte) []Problem) {
		arts = append(arts, artifact{name: name, data: data, check: check})
	}
	analysisWarnings(d, a, w)

	// ECS.
	in := TaskDefinitionInput(d)
	td, err := serializeTaskDefinition(in)
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{File: "ecs/task-definition.json", Message: err.Error(), Fix: "correct deployment.json"}}}
	}
	add("ecs/task-definition.json", td, validateTaskDefinition)
	for _, st := range []struct {
		dir  string
		tmpl interface{ JSON() ([]byte, error) }
	}{
		{"ecs", ecsStack(d, w)},
		{"apprunner", appRunnerStackIf(d, w)},
		{"pipeline", pipelineStack(d, w)},
	} {
		if st.tmpl == nil {
			continue
		}
		yml, js, err := templateFiles(st.dir+"/stack", st.tmpl)
		if err != nil {
			return nil, err
		}
		add(st.dir+"/stack.yaml", yml, validateTemplate)
		if st.dir == "ecs" {
			add(st.dir+"/stack.json", js, validateTemplate)
		}
	}
	bs, err := yaml.Marshal(buildSpec(d))
	if err != nil {
		return nil, err
	}
	add("pipeline/buildspec.yml", bs, validateBuildspec)
	wf, err := yaml.Marshal(githubWorkflow(d))
	if err != nil {
		return nil, err
	}
	add("pipeline/github-actions.yml", wf, validateWorkflow)

	// Kubernetes.
	configs := readConfigFiles(ws, a, w)
	image, pinned := kubeImage(ws, a.ID, d, w)
	kfiles := kubernetesManifests(d, a, image, secrets, configs, w)
	var resources []string
	for _, kf := range kfiles {
		data, err := marshalKube(kf.objects)
		if err != nil {
			return nil, fmt.Errorf("rendering kubernetes/%s: %w", kf.name, err)
		}
		add("kubernetes/"+kf.name, data, validateKubeFile)
		resources = append(resources, kf.name)
	}
	kust, err := kustomization(d, resources, pinned, w)
	if err != nil {
		return nil, err
	}
	add("kubernetes/kustomization.yaml", kust, validateKustomization)

	// Compose.
	cmp, err := composeFile(d, w)
	if err != nil {
		return nil, err
	}
	add("compose.yaml", cmp, validateCompose)

	// READMEs last: they list the warnings of their target.
	pinnedImage := ""
	if pinned {
		pinnedImage = image
	}
	for _, r := range readmes(d, pinnedImage, w) {
		add(r.name, r.data, nil)
	}
	sort.SliceStable(arts, func(i, j int) bool { return arts[i].name < arts[j].name })
	return arts, nil
}

func appRunnerStackIf(d *Deployment, w *warnings) interface{ JSON() ([]byte, error) } {
	if !d.AppRunner.Enabled {
		return nil
	}
	return appRunnerStack(d, w)
}

// analysisWarnings reports what the analysis holds that no artifact
// carries.
func analysisWarnings(d *Deployment, a *discover.Analysis, w *warnings) {
	if d.LoadBalancer.Type == LoadBalancerApplication {
		for _, p := range d.PortMappings {
			if p.Protocol == "udp" {
				w.add("ecs", "portMappings", fmt.Sprintf("%s (udp/%d) cannot be behind an application load balancer; it is reachable on the task's address only (use a network load balancer for UDP)", p.Name, p.ContainerPort))
			}
		}
	}
	if d.LoadBalancer.Type == LoadBalancerNetwork && d.HealthCheck.Protocol == "TCP" {
		w.add("ecs", "loadBalancer.type", fmt.Sprintf("network: nothing says port %d speaks HTTP, so it is behind a network load balancer with TCP checks and no Ingress; if it serves HTTP, set loadBalancer.type application (listener HTTP) and healthCheck.protocol HTTP with a path", d.LoadBalancer.ContainerPort))
	}
	for _, p := range d.PortMappings {
		if d.LoadBalancer.Type != LoadBalancerNone && p.ContainerPort != d.LoadBalancer.ContainerPort {
			w.add("ecs", "portMappings", fmt.Sprintf("%s/%d is not behind the load balancer (only %d is); other services reach it on the task's address", p.Protocol, p.ContainerPort, d.LoadBalancer.ContainerPort))
		}
	}
	for _, p := range a.Observed.Ports {
		found := false
		for _, m := range d.PortMappings {
			if m.ContainerPort == int(p.Port) && strings.HasPrefix(p.Protocol, m.Protocol) {
				found = true
			}
		}
		if !found {
			w.add("all", "observed.ports", fmt.Sprintf("the app listened on %s %s:%d, which portMappings leaves out", p.Protocol, p.Address, p.Port))
		}
	}
	for _, p := range a.ContainerParameters.Ports {
		found := false
		for _, m := range d.PortMappings {
			if m.ContainerPort == p.Port && strings.EqualFold(m.Protocol, p.Protocol) {
				found = true
			}
		}
		if !found {
			w.add("all", "containerParameters.ports", fmt.Sprintf("analysis.json exposes %s/%d, which deployment.json's portMappings leaves out (add it there, or delete deployment.json to derive it again)", p.Protocol, p.Port))
		}
	}
	if len(a.Observed.Dependencies) > 0 {
		var deps []string
		for _, dep := range a.Observed.Dependencies {
			deps = append(deps, fmt.Sprintf("%s %s:%d", dep.Service, dep.Host, dep.Port))
		}
		w.add("all", "observed.dependencies", "the app talks to "+strings.Join(deps, ", ")+"; the artifacts do not create these, make them reachable from the new network")
	}
	if len(a.Observed.Files.Logs) > 0 {
		w.add("all", "observed.files.logs", "the app writes logs to "+strings.Join(a.Observed.Files.Logs, ", ")+"; only stdout/stderr reach CloudWatch or kubectl logs (add a volume to keep the files)")
	}
	if d.Schedule == nil && d.LoadBalancer.Type == LoadBalancerNone && len(d.PortMappings) == 0 {
		w.add("all", "schedule", "the app listens on no port and has no schedule: it runs as a service without a load balancer; set schedule.expression if it is a batch job")
	}
}

// writeArtifacts writes the files, keeps the previous generation in
// .previous when anything changed, and removes files hoist no longer
// writes. It returns the names of the files that changed.
func writeArtifacts(ws discover.Workspace, id string, arts []artifact, logf func(string, ...any)) ([]string, error) {
	dir := DeployDir(ws, id)
	want := map[string][]byte{}
	for _, x := range arts {
		want[x.name] = x.data
	}
	have, err := readTree(dir)
	if err != nil {
		return nil, err
	}
	var changed []string
	for name, data := range want {
		if cur, ok := have[name]; !ok || !bytes.Equal(cur, data) {
			changed = append(changed, name)
		}
	}
	// Files hoist wrote last time and no longer writes go; files someone
	// else put here stay.
	written := readWritten(dir)
	for name := range have {
		if _, ok := want[name]; !ok && written[name] {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		return nil, nil
	}
	// A directory where a file goes would stop the writing half way.
	for _, name := range changed {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%w (nothing was written)", discover.DirInTheWay(p))
		}
	}
	if len(have) > 0 {
		prev := PreviousDir(ws, id)
		tmp := prev + ".tmp"
		if err := os.RemoveAll(tmp); err != nil {
			return nil, err
		}
		for name, data := range have {
			if err := discover.WriteFileAtomic(filepath.Join(tmp, filepath.FromSlash(name)), data, 0o644); err != nil {
				return nil, fmt.Errorf("keeping the previous generation: %w", err)
			}
		}
		if err := os.RemoveAll(prev); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, prev); err != nil {
			return nil, fmt.Errorf("keeping the previous generation: %w", err)
		}
	}
	for _, name := range changed {
		p := filepath.Join(dir, filepath.FromSlash(name))
		data, ok := want[name]
		if !ok {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			logf("removed %s", p)
			continue
		}
		if err := discover.WriteFileAtomic(p, data, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
		logf("wrote %s", p)
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	if err := discover.WriteFileAtomic(filepath.Join(dir, writtenFile), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	removeEmptyDirs(dir)
	return changed, nil
}

// writtenFile lists the files the last generate wrote, so the next one
// removes only its own stale files.
const writtenFile = ".generated"

func readWritten(dir string) map[string]bool {
	out := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(dir, writtenFile))
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out[l] = true
		}
	}
	return out
}

// readTree reads every file under dir except .previous.
func readTree(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if de.IsDir() {
			if rel == ".previous" || strings.HasSuffix(rel, ".previous.tmp") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(de.Name(), ".") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return out, nil
}

func removeEmptyDirs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != ".previous" {
			sub := filepath.Join(dir, e.Name())
			removeEmptyDirs(sub)
			os.Remove(sub) // fails unless empty
		}
	}
}
