package kubernetes

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

// manifest is one object read from APP/deploy/kubernetes.
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifest) gvk() schema.GroupVersionKind { return m.obj.GroupVersionKind() }

// Dir is APP/deploy/kubernetes.
func Dir(ws discover.Workspace, id string) string {
	return filepath.Join(generate.DeployDir(ws, id), "kubernetes")
}

// kustomizeFields are the kustomization.yaml fields hoist understands:
// generate writes them. images only maps hoist.local/..., which deploy
// refuses anyway (see checkImages); namespace is what the objects carry.
var kustomizeFields = map[string]bool{"apiVersion": true, "kind": true, "resources": true, "namespace": true, "images": true}

// readManifests reads the objects of the files kustomization.yaml lists
// (every *.yaml but kustomization.yaml when there is none), in file order.
// Fields of kustomization.yaml hoist does not apply are returned as
// warnings.
func readManifests(ws discover.Workspace, id string) ([]manifest, []string, error) {
	dir := Dir(ws, id)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: no Kubernetes manifests at %s; run `hoist generate %s` first", discover.ErrNotFound, dir, id)
		}
		return nil, nil, err
	}
	var files, warnings []string
	kpath := filepath.Join(dir, "kustomization.yaml")
	if data, err := os.ReadFile(kpath); err == nil {
		var k map[string]any
		if err := yaml.Unmarshal(data, &k); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v; fix it or run `hoist generate %s` again", discover.ErrInvalid, kpath, err, id)
		}
		var other []string
		for f := range k {
			if !kustomizeFields[f] {
				other = append(other, f)
			}
		}
		if len(other) > 0 {
			sort.Strings(other)
			warnings = append(warnings, fmt.Sprintf("kustomization.yaml: %s not applied: hoist deploy applies the listed files as they are (use `kubectl apply -k %s` for kustomize's transformations)", strings.Join(other, ", "), dir))
		}
		res, _ := k["resources"].([]any)
		for _, r := range res {
			s, ok := r.(string)
			if !ok || s == "" || strings.Contains(s, "://") || filepath.IsAbs(s) || strings.HasPrefix(filepath.Clean(s), "..") {
				return nil, nil, fmt.Errorf("%w: %s: resource %v: hoist deploy applies files of this folder only; list them by name or use `kubectl apply -k`", discover.ErrInvalid, kpath, r)
			}
			if fi, err := os.Stat(filepath.Join(dir, s)); err == nil && fi.IsDir() {
				return nil, nil, fmt.Errorf("%w: %s: resource %s is a directory (a kustomize base); hoist deploy applies files only: use `kubectl apply -k %s`", discover.ErrInvalid, kpath, s, dir)
			}
			files = append(files, s)
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("%w: %s lists no resources; run `hoist generate %s` again", discover.ErrInvalid, kpath, id)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		m, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		sort.Strings(m)
		for _, f := range m {
			files = append(files, filepath.Base(f))
		}
	} else {
		return nil, nil, err
	}

	var out []manifest
	for _, f := range files {
		p := filepath.Join(dir, f)
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("%w: %s is listed in kustomization.yaml but missing; run `hoist generate %s` again", discover.ErrNotFound, p, id)
			}
			return nil, nil, err
		}
		for i, doc := range splitDocs(data) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s (document %d): %v; fix it or run `hoist generate %s` again", discover.ErrInvalid, p, i+1, err, id)
			}
			if strings.TrimSpace(string(js)) == "null" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				return nil, nil, fmt.Errorf("%w: %s (document %d): %v; fix it or run `hoist generate %s` again", discover.ErrInvalid, p, i+1, err, id)
			}
			if u.GetName() == "" {
				return nil, nil, fmt.Errorf("%w: %s (document %d, %s): no metadata.name", discover.ErrInvalid, p, i+1, u.GetKind())
			}
			out = append(out, manifest{file: f, obj: u})
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%w: no objects in %s; run `hoist generate %s` again", discover.ErrInvalid, dir, id)
	}
	return out, warnings, nil
}

// splitDocs splits a multi-document YAML file at "---" lines.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur []string
	flush := func() {
		if s := strings.Join(cur, ""); strings.TrimSpace(s) != "" {
			docs = append(docs, []byte(s))
		}
		cur = nil
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		t := strings.TrimRight(line, "\r\n")
		if t == "---" || strings.HasPrefix(t, "--- ") {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// order is the position of a kind in the apply order: what others refer
// to first (namespace, storage class, config, secrets, service account,
// claims), then workloads, then what routes or scales them.
func order(gk schema.GroupKind) int {
	switch gk.Kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition", "StorageClass", "PriorityClass", "ClusterRole":
		return 1
	case "ResourceQuota", "LimitRange":
		return 2
	case "ConfigMap", "Secret":
		return 3
	case "ServiceAccount":
		return 4
	case "Role", "RoleBinding", "ClusterRoleBinding":
		return 5
	case "PersistentVolume", "PersistentVolumeClaim":
		return 6
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod":
		return 7
	case "Service":
		return 8
	case "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy":
		return 9
	}
	return 10
}

func sortForApply(ms []manifest) {
	sort.SliceStable(ms, func(i, j int) bool {
		return order(ms[i].gvk().GroupKind()) < order(ms[j].gvk().GroupKind())
	})
}

// podSpecPath is where a workload kind keeps its pod spec.
func podSpecPath(kind string) []string {
	switch kind {
	case "Pod":
		return []string{"spec"}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	return nil
}

// images lists the images of a workload's containers.
func images(u *unstructured.Unstructured) []string {
	path := podSpecPath(u.GetKind())
	if path == nil {
		return nil
	}
	var out []string
	for _, field := range []string{"initContainers", "containers"} {
		cs, _, _ := unstructured.NestedSlice(u.Object, append(append([]string{}, path...), field)...)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, ok := m["image"].(string); ok {
					out = append(out, img)
				}
			}
		}
	}
	return out
}

// checkImages refuses an image only hoist's engine holds: a cluster
// cannot pull hoist.local/...
func checkImages(ws discover.Workspace, id string, ms []manifest) error {
	for _, m := range ms {
		for _, img := range images(m.obj) {
			if !strings.HasPrefix(img, generate.LocalImagePrefix) {
				continue
			}
			what := fmt.Sprintf("%s (%s %s) runs %s, which only hoist's local engine holds: a cluster cannot pull it", filepath.Join(Dir(ws, id), m.file), m.obj.GetKind(), m.obj.GetName(), img)
			if rec, err := push.ReadRecord(ws, id); err == nil {
				return fmt.Errorf("%w: %s; %s records a push (%s), but the manifests predate it or it is of another build: run `hoist generate %s` (push again first if `hoist containerize` ran since: `hoist push %s --registry REF`)", discover.ErrNotFound, what, push.RecordPath(ws, id), rec.Reference, id, id)
			}
			return fmt.Errorf("%w: %s; push the image to a registry the cluster can pull from, then generate again: `hoist push %s --registry REF` and `hoist generate %s` (or `hoist deploy %s --target kubernetes --registry REF`, which does both first)", discover.ErrNotFound, what, id, id, id)
		}
	}
	return nil
}

// fillSecrets puts the values of the workspace's secrets file into the
// Secret objects, whose keys generate wrote with empty values (or, with
// kubernetes.includeSecretValues, the values of generate time). deployment.json
// maps each key to its reference in the secrets file. The values travel
// in data (base64), as the API stores them, so a re-apply of the same
// values is a no-op. The returned values are for masking messages.
func fillSecrets(ws discover.Workspace, id string, ms []manifest) (discover.Secrets, error) {
	var secretObjs []*unstructured.Unstructured
	for _, m := range ms {
		if m.obj.GetKind() == "Secret" && m.obj.GroupVersionKind().Group == "" {
			secretObjs = append(secretObjs, m.obj)
		}
	}
	used := discover.Secrets{}
	if len(secretObjs) == 0 {
		return used, nil
	}
	d, err := generate.LoadDeployment(ws, id)
	if err != nil {
		return nil, fmt.Errorf("reading the secret references: %w", err)
	}
	refs := map[string]string{} // key -> ref
	for _, s := range d.Secrets {
		refs[s.Name] = s.SecretRef
	}
	vals, err := ws.ReadSecrets()
	if err != nil {
		return nil, err
	}
	for _, u := range secretObjs {
		data := map[string]any{}
		if existing, ok, _ := unstructured.NestedMap(u.Object, "data"); ok {
			for k, v := range existing {
				data[k] = v
			}
		}
		sd, _, _ := unstructured.NestedStringMap(u.Object, "stringData")
		for k, v := range sd {
			if ref, ok := refs[k]; ok && u.GetName() == d.Family+"-secrets" {
				val, has := vals[ref]
				if !has {
					return nil, ws.MissingSecret(fmt.Sprintf("secret %s (ref %s) of Secret %s", k, ref, u.GetName()), id)
				}
				v = val
				used[ref] = val
			}
			data[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		unstructured.RemoveNestedField(u.Object, "stringData")
		if len(data) > 0 {
			if err := unstructured.SetNestedMap(u.Object, data, "data"); err != nil {
				return nil, err
			}
		}
	}
	return used, nil
}
