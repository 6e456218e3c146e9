package generate

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/deploy/kubetest"
	"github.com/hoistctl/hoist/discover"
)

// restPath is where the API serves an object.
func restPath(t *testing.T, doc []byte) (string, metav1.TypeMeta) {
	t.Helper()
	var obj struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		t.Fatal(err)
	}
	plural := map[string]string{
		"Namespace": "namespaces", "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services",
		"PersistentVolumeClaim": "persistentvolumeclaims", "Deployment": "deployments", "CronJob": "cronjobs",
		"Ingress": "ingresses", "HorizontalPodAutoscaler": "horizontalpodautoscalers", "StorageClass": "storageclasses",
	}[obj.Kind]
	if plural == "" {
		t.Fatalf("no REST path for kind %q", obj.Kind)
	}
	base := "/apis/" + obj.APIVersion
	if obj.APIVersion == "v1" {
		base = "/api/v1"
	}
	switch obj.Kind {
	case "Namespace", "StorageClass":
		return base + "/" + plural + "/" + obj.Name, obj.TypeMeta
	}
	return base + "/namespaces/" + obj.Namespace + "/" + plural + "/" + obj.Name, obj.TypeMeta
}

// TestKubernetesManifestsApplyToARealAPIServer applies every manifest of
// every golden case to kube-apiserver with server-side apply, dryRun=All
// and fieldValidation=Strict: the server decodes strictly and runs the
// full API validation and admission.
func TestKubernetesManifestsApplyToARealAPIServer(t *testing.T) {
	srv := kubetest.Start(t)
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			ws, id := setupCase(t, name)
			if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
				t.Fatal(err)
			}
			applyAll(t, srv, filepath.Join(DeployDir(ws, id), "kubernetes"))
		})
	}
	// And the defaults of every captured app type.
	for id, a := range capturedAnalyses(t) {
		t.Run("captured/"+id, func(t *testing.T) {
			ws := discover.Workspace{Dir: t.TempDir()}
			data, _ := discover.MarshalJSON(a)
			if err := discover.WriteFileAtomic(ws.AnalysisPath(id), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
				t.Fatal(err)
			}
			applyAll(t, srv, filepath.Join(DeployDir(ws, id), "kubernetes"))
		})
	}

	// The server refuses what hoist's own validation refuses: an unknown
	// field, and a probe port that is not a valid port name.
	t.Run("rejects", func(t *testing.T) {
		ws, id := setupCase(t, "tomcat")
		if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(DeployDir(ws, id), "kubernetes", "deployment.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, from, to, want string }{
			{"unknown field", "      enableServiceLinks: false\n", "      enableServiceLinks: false\n      hostNetwrk: true\n", "hostNetwrk"},
			{"bad port name", "            port: http-18081\n", "            port: HTTP_PORT\n", "HTTP_PORT"},
		} {
			bad := strings.Replace(string(data), c.from, c.to, 1)
			if bad == string(data) {
				t.Fatalf("%s: mutation did not apply", c.name)
			}
			p, _ := restPath(t, []byte(bad))
			if err := srv.ApplyDryRun(p, []byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: the server accepted it or said something else: %v", c.name, err)
			}
			if probs := validateKubeFile("deployment.yaml", []byte(bad)); len(probs) == 0 {
				t.Errorf("%s: hoist's validation accepted what the server refuses", c.name)
			}
		}
	})
}

// applyAll creates the namespace of a kubernetes/ folder and dry-run
// applies every other object in it.
func applyAll(t *testing.T, srv *kubetest.Server, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	sort.Strings(files)
	// The namespace first, for real: namespaced objects need it.
	ns, err := os.ReadFile(filepath.Join(dir, "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := restPath(t, ns)
	if err := srv.Apply(p, ns); err != nil {
		t.Fatalf("namespace.yaml: %v", err)
	}
	applied := 0
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" || base == "namespace.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range splitYAMLDocs(data) {
			p, tm := restPath(t, doc)
			if err := srv.ApplyDryRun(p, doc); err != nil {
				t.Errorf("%s (%s): %v", base, tm.Kind, err)
			}
			applied++
		}
	}
	if applied < 3 {
		t.Fatalf("only %d objects applied", applied)
	}
}
