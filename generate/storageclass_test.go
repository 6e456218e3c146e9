package generate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	"sigs.k8s.io/yaml"
)

// withSharedVolume writes the case's default deployment.json with a shared
// volume, after edit, and generates; it returns the kubernetes/ folder and
// the warnings.
func withSharedVolume(t *testing.T, name string, edit func(*Deployment)) (*Deployment, string, []Warning) {
	t.Helper()
	ws, id := setupCase(t, name)
	d, err := deploymentFor(t, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	d.Volumes = append(d.Volumes, Volume{Name: "data", ContainerPath: "/srv/data", Shared: true, SizeGiB: 2})
	if edit != nil {
		edit(d)
	}
	res := generateWith(t, ws, id, d)
	return d, filepath.Join(DeployDir(ws, id), "kubernetes"), res.Warnings
}

func readStorageClass(t *testing.T, dir string) *storagev1.StorageClass {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "storageclass.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sc storagev1.StorageClass
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		t.Fatal(err)
	}
	return &sc
}

func claimClasses(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "pvc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "  storageClassName: "); ok {
			out = append(out, v)
		}
	}
	return out
}

func storageWarnings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		if w.Target == "kubernetes" && (strings.HasPrefix(w.Field, "kubernetes.storageClassName") || w.Field == "kubernetes.efsFileSystemId" || w.Field == "volumes") {
			out = append(out, w.Field+": "+w.Message)
		}
	}
	return out
}

// TestStorageClassIsNamedAfterTheApp: a StorageClass is cluster-wide and
// carries the app's base path and uid, so two apps' defaults must not name
// theirs alike; the claims use the app's own class.
func TestStorageClassIsNamedAfterTheApp(t *testing.T) {
	seen := map[string]string{}
	for _, name := range []string{"tomcat", "jar-two-ports-secret"} {
		d, dir, warns := withSharedVolume(t, name, nil)
		want := d.Family + "-efs"
		if d.Kubernetes.StorageClassName != want {
			t.Errorf("%s: default storageClassName %q, want %q", name, d.Kubernetes.StorageClassName, want)
		}
		sc := readStorageClass(t, dir)
		if sc.Name != want || sc.Parameters["basePath"] != "/"+d.Family || sc.Labels["app.kubernetes.io/instance"] != d.Family {
			t.Errorf("%s: storage class %s, parameters %v, labels %v", name, sc.Name, sc.Parameters, sc.Labels)
		}
		if other, ok := seen[sc.Name]; ok {
			t.Errorf("%s and %s both define the StorageClass %s", other, name, sc.Name)
		}
		seen[sc.Name] = name
		if got := claimClasses(t, dir); len(got) != 1 || got[0] != want {
			t.Errorf("%s: the claims use %v, want [%s]", name, got, want)
		}
		for _, w := range storageWarnings(warns) {
			if strings.HasPrefix(w, "kubernetes.storageClassName") {
				t.Errorf("%s: %s", name, w)
			}
		}
	}
}

// TestExistingStorageClassIsOnlyReferenced: with
// kubernetes.existingStorageClass the claims use the cluster's class and
// no StorageClass is written; the EFS settings that then reach nothing are
// reported.
func TestExistingStorageClassIsOnlyReferenced(t *testing.T) {
	_, dir, warns := withSharedVolume(t, "tomcat", func(d *Deployment) {
		d.Kubernetes.StorageClassName = "efs-sc"
		d.Kubernetes.ExistingStorageClass = true
		d.Kubernetes.EFSFileSystemID = "fs-0123456789abcdef0"
		d.Volumes[len(d.Volumes)-1].FileSystemID = "fs-0fedcba9876543210"
	})
	if _, err := os.Stat(filepath.Join(dir, "storageclass.yaml")); !os.IsNotExist(err) {
		t.Errorf("storageclass.yaml written for an existing class: %v", err)
	}
	kust, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if strings.Contains(string(kust), "storageclass.yaml") {
		t.Errorf("kustomization.yaml lists storageclass.yaml:\n%s", kust)
	}
	if got := claimClasses(t, dir); len(got) != 1 || got[0] != "efs-sc" {
		t.Errorf("the claims use %v, want [efs-sc]", got)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(readme), "`efs-sc`, which\nthe cluster must already have") {
		t.Errorf("README.md does not say the class must exist:\n%s", readme)
	}
	got := strings.Join(storageWarnings(warns), "\n")
	for _, want := range []string{
		"kubernetes.efsFileSystemId: not used: the claims use the cluster's StorageClass efs-sc",
		"volumes: data: fileSystemId fs-0fedcba9876543210 is not used on Kubernetes",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no warning %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "kubernetes.storageClassName") || strings.Contains(got, "EFS_FILE_SYSTEM_ID") {
		t.Errorf("warnings about a class hoist does not write:\n%s", got)
	}
}

// TestLegacyStorageClassNameIsReported: deployment.json files written
// before the class was named after the app hold efs-sc, which every such
// app shares; generate keeps the user's name and says what it means.
func TestLegacyStorageClassNameIsReported(t *testing.T) {
	d, dir, warns := withSharedVolume(t, "tomcat", func(d *Deployment) { d.Kubernetes.StorageClassName = "efs-sc" })
	if sc := readStorageClass(t, dir); sc.Name != "efs-sc" {
		t.Errorf("storage class %s, want the user's efs-sc", sc.Name)
	}
	got := storageWarnings(warns)
	if len(got) != 2 || !strings.Contains(got[1], "kubernetes.storageClassName: efs-sc is the name hoist gave every app's StorageClass") ||
		!strings.Contains(got[1], "Rename it "+d.Family+"-efs") {
		t.Errorf("want the placeholder and the shared name reported, got:\n%s", strings.Join(got, "\n"))
	}
}

// TestDeploymentWithoutExistingStorageClassLoads: files written before the
// field existed still load, and define their class.
func TestDeploymentWithoutExistingStorageClassLoads(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "cases", "batch", "deployment.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "existingStorageClass") {
		t.Fatal("the batch case's deployment.json is meant to predate existingStorageClass")
	}
	d, err := ParseDeployment(data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kubernetes.ExistingStorageClass {
		t.Error("existingStorageClass is on for a file without it")
	}
}
