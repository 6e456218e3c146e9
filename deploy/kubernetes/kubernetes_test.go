package kubernetes

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/hoistctl/hoist/deploy/kubetest"
	"github.com/hoistctl/hoist/discover"
)

const tokenRef = "java-generic-8e8e2b40/env/WORKER_API_TOKEN"

func clientFor(t *testing.T, srv *kubetest.Server) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// actions maps each object's ref to its action.
func actions(res *Result) map[string]string {
	out := map[string]string{}
	for _, o := range res.Objects {
		out[o.Ref] = o.Action
	}
	return out
}

func versions(res *Result) map[string]string {
	out := map[string]string{}
	for _, o := range res.Objects {
		out[o.Ref] = o.ResourceVersion
	}
	return out
}

// TestDeployToARealAPIServer takes an app generated from a golden case
// through apply, a no-op re-apply, a change, dry runs, a field conflict and
// delete against kube-apiserver (no controllers: nothing rolls out here;
// see TestRolloutWaitReportsPendingPods).
func TestDeployToARealAPIServer(t *testing.T) {
	srv := kubetest.Start(t)
	cs := clientFor(t, srv)
	ctx := context.Background()
	const token = "s3cr3t-worker-token-1"
	f := newFixture(t, "jar-two-ports-secret", map[string]string{tokenRef: token})
	var progress bytes.Buffer
	opts := func() Options {
		progress.Reset()
		return Options{Workspace: f.ws, ID: f.id, Kubeconfig: srv.Kubeconfig, Progress: &progress}
	}
	wantRefs := []string{
		"namespace/" + f.ns,
		"configmap/" + f.family + "-env",
		"secret/" + f.family + "-secrets",
		"deployment.apps/" + f.family,
		"service/" + f.family,
		"horizontalpodautoscaler.autoscaling/" + f.family,
	}
	noSecret := func(t *testing.T, what string, s string) {
		t.Helper()
		if strings.Contains(s, token) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(token))) {
			t.Errorf("%s shows the secret value:\n%s", what, s)
		}
	}

	t.Run("dry run creates nothing", func(t *testing.T) {
		o := opts()
		o.DryRun = true
		res, err := Deploy(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, ob := range res.Objects {
			refs = append(refs, ob.Ref)
			if ob.Action != ActionCreated {
				t.Errorf("%s: %s, want created", ob.Ref, ob.Action)
			}
		}
		if strings.Join(refs, " ") != strings.Join(wantRefs, " ") {
			t.Errorf("objects, in order:\n got %v\nwant %v", refs, wantRefs)
		}
		if n := strings.Count(progress.String(), "Would have applied "); n != len(wantRefs) {
			t.Errorf("%d 'Would have applied' lines, want %d:\n%s", n, len(wantRefs), progress.String())
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, f.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the dry run created the namespace: %v", err)
		}
	})

	var first *Result
	t.Run("apply", func(t *testing.T) {
		res, err := Deploy(ctx, opts())
		if err != nil {
			t.Fatal(err)
		}
		first = res
		for _, r := range wantRefs {
			if actions(res)[r] != ActionCreated {
				t.Errorf("%s: %q, want created (%v)", r, actions(res)[r], actions(res))
			}
		}
		lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
		if len(lines) != len(wantRefs) || lines[0] != "namespace/"+f.ns+" created" {
			t.Errorf("progress, one line per object:\n%s", progress.String())
		}
		if len(res.Rollouts) != 1 || res.Rollouts[0].Outcome != RolloutNotWaited {
			t.Errorf("rollouts: %+v", res.Rollouts)
		}
		// The Secret holds the value from the secrets file; the
		// Deployment the pushed image.
		sec, err := cs.CoreV1().Secrets(f.ns).Get(ctx, f.family+"-secrets", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Data["WORKER_API_TOKEN"]) != token {
			t.Errorf("secret data: %q", sec.Data)
		}
		dep, err := cs.AppsV1().Deployments(f.ns).Get(ctx, f.family, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != f.image {
			t.Errorf("image %s, want %s", img, f.image)
		}
		for _, mf := range dep.ManagedFields {
			if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply {
				t.Errorf("managed fields: %s %s", mf.Manager, mf.Operation)
			}
		}
		js, _ := json.Marshal(res)
		noSecret(t, "the result", string(js))
		noSecret(t, "the progress", progress.String())
		// Nothing was written into the workspace with the value.
		filepath.Walk(f.ws.Dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() || p == f.ws.SecretsPath() {
				return err
			}
			data, _ := os.ReadFile(p)
			noSecret(t, p, string(data))
			return nil
		})
	})
	if first == nil {
		t.FailNow()
	}

	t.Run("re-apply is a no-op", func(t *testing.T) {
		res, err := Deploy(ctx, opts())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range wantRefs {
			if actions(res)[r] != ActionUnchanged {
				t.Errorf("%s: %q, want unchanged", r, actions(res)[r])
			}
			if v := versions(res)[r]; v == "" || v != versions(first)[r] {
				t.Errorf("%s: resourceVersion %s, was %s", r, v, versions(first)[r])
			}
		}
		// And the server agrees.
		dep, _ := cs.AppsV1().Deployments(f.ns).Get(ctx, f.family, metav1.GetOptions{})
		if dep.ResourceVersion != versions(first)["deployment.apps/"+f.family] {
			t.Errorf("deployment's resourceVersion moved: %s", dep.ResourceVersion)
		}
	})

	var changed *Result
	t.Run("a change configures only what changed", func(t *testing.T) {
		f.edit(t, func(d map[string]any) {
			d["environment"] = append(d["environment"].([]any), map[string]any{"name": "FEATURE_X", "value": "on"})
		})
		// A new value in the secrets file reaches the Secret.
		f.writeSecrets(t, map[string]string{tokenRef: token + "-rotated"})
		res, err := Deploy(ctx, opts())
		if err != nil {
			t.Fatal(err)
		}
		changed = res
		want := map[string]string{}
		for _, r := range wantRefs {
			want[r] = ActionUnchanged
		}
		want["configmap/"+f.family+"-env"] = ActionConfigured
		want["secret/"+f.family+"-secrets"] = ActionConfigured
		for r, a := range want {
			if got := actions(res)[r]; got != a {
				t.Errorf("%s: %s, want %s", r, got, a)
			}
		}
		cm, _ := cs.CoreV1().ConfigMaps(f.ns).Get(ctx, f.family+"-env", metav1.GetOptions{})
		sec, _ := cs.CoreV1().Secrets(f.ns).Get(ctx, f.family+"-secrets", metav1.GetOptions{})
		if cm.Data["FEATURE_X"] != "on" || string(sec.Data["WORKER_API_TOKEN"]) != token+"-rotated" {
			t.Errorf("configmap %v, secret changed: %v", cm.Data, string(sec.Data["WORKER_API_TOKEN"]) == token+"-rotated")
		}
		f.writeSecrets(t, map[string]string{tokenRef: token})
	})

	t.Run("dry run of a change changes nothing", func(t *testing.T) {
		f.edit(t, func(d map[string]any) {
			d["autoScaling"].(map[string]any)["maxCapacity"] = 9
		})
		o := opts()
		o.DryRun = true
		res, err := Deploy(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		hpaRef := "horizontalpodautoscaler.autoscaling/" + f.family
		if a := actions(res)[hpaRef]; a != ActionConfigured {
			t.Errorf("hpa: %s, want configured", a)
		}
		// The secret goes back to the first value: configured too.
		if a := actions(res)["secret/"+f.family+"-secrets"]; a != ActionConfigured {
			t.Errorf("secret: %s, want configured", a)
		}
		if a := actions(res)["deployment.apps/"+f.family]; a != ActionUnchanged {
			t.Errorf("deployment: %s, want unchanged", a)
		}
		if !strings.Contains(progress.String(), "Would have applied "+hpaRef+" (configured)") {
			t.Errorf("progress:\n%s", progress.String())
		}
		hpa, _ := cs.AutoscalingV2().HorizontalPodAutoscalers(f.ns).Get(ctx, f.family, metav1.GetOptions{})
		if hpa.Spec.MaxReplicas != 6 || hpa.ResourceVersion != versions(changed)[hpaRef] {
			t.Errorf("the dry run changed the HPA: max %d, resourceVersion %s (was %s)", hpa.Spec.MaxReplicas, hpa.ResourceVersion, versions(changed)[hpaRef])
		}
		sec, _ := cs.CoreV1().Secrets(f.ns).Get(ctx, f.family+"-secrets", metav1.GetOptions{})
		if string(sec.Data["WORKER_API_TOKEN"]) != token+"-rotated" {
			t.Errorf("the dry run changed the secret")
		}
		noSecret(t, "the dry run's progress", progress.String())
	})

	t.Run("field conflict", func(t *testing.T) {
		// Someone else scales the HPA with an apply of their own.
		other := []byte(`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"` + f.family + `","namespace":"` + f.ns + `"},"spec":{"maxReplicas":12,"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"` + f.family + `"}}}`)
		force := true
		if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(f.ns).Patch(ctx, f.family, types.ApplyPatchType, other, metav1.PatchOptions{FieldManager: "ops-team", Force: &force}); err != nil {
			t.Fatal(err)
		}
		_, err := Deploy(ctx, opts())
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "ops-team") || !strings.Contains(err.Error(), "--force-conflicts") {
			t.Fatalf("want a conflict naming ops-team and --force-conflicts, got %v", err)
		}
		o := opts()
		o.ForceConflicts = true
		res, err := Deploy(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		hpa, _ := cs.AutoscalingV2().HorizontalPodAutoscalers(f.ns).Get(ctx, f.family, metav1.GetOptions{})
		if actions(res)["horizontalpodautoscaler.autoscaling/"+f.family] != ActionConfigured || hpa.Spec.MaxReplicas != 9 {
			t.Errorf("forced apply: %v, maxReplicas %d", actions(res), hpa.Spec.MaxReplicas)
		}
	})

	t.Run("rollout wait without a controller", func(t *testing.T) {
		o := opts()
		o.Wait, o.Timeout, o.pollInterval = true, 2*time.Second, 200*time.Millisecond
		res, err := Deploy(ctx, o)
		if !errors.Is(err, ErrRollout) || !strings.Contains(err.Error(), "kube-controller-manager") {
			t.Fatalf("want a rollout error saying no controller acted, got %v", err)
		}
		if res == nil || len(res.Rollouts) != 1 || res.Rollouts[0].Outcome != RolloutTimedOut {
			t.Errorf("result: %+v", res)
		}
	})

	t.Run("a user with rights in the namespace only", func(t *testing.T) {
		// (The aggregated "admin" ClusterRole gets its rules from
		// kube-controller-manager, which this cluster does not run.)
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: f.ns},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{"", "apps", "batch", "autoscaling", "networking.k8s.io", "policy", "rbac.authorization.k8s.io"},
				// Not "*": that would cover the namespace object itself.
				Resources: []string{"configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims", "pods", "deployments", "statefulsets",
					"cronjobs", "jobs", "horizontalpodautoscalers", "ingresses", "networkpolicies", "poddisruptionbudgets", "roles", "rolebindings"},
				Verbs: []string{"*"},
			}},
		}
		if _, err := cs.RbacV1().Roles(f.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "team-dev-deployer", Namespace: f.ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "team-dev"}},
		}
		if _, err := cs.RbacV1().RoleBindings(f.ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		admin, err := os.ReadFile(srv.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kc, []byte(strings.Replace(string(admin), "    client-key: ", "    as: team-dev\n    client-key: ", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.Kubeconfig = kc
		var res *Result
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			// The authorizer sees the new binding within moments.
			if res, err = Deploy(ctx, o); !errors.Is(err, ErrForbidden) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range wantRefs {
			want := ActionUnchanged
			if strings.HasPrefix(r, "namespace/") {
				want = ActionSkipped
			}
			if a := actions(res)[r]; a != want {
				t.Errorf("%s: %s, want %s", r, a, want)
			}
		}
		// A dry-run delete: what is in the namespace, and a warning for
		// the cluster-wide kind the user may not list.
		o.DryRun = true
		res, err = Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Objects); n != len(wantRefs)-1 {
			t.Errorf("%d objects, want %d: %+v", n, len(wantRefs)-1, res.Objects)
		}
		if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "storageclasses") {
			t.Errorf("warnings: %s", w)
		}
	})

	t.Run("delete removes hoist's objects only", func(t *testing.T) {
		foreign := []*corev1.ConfigMap{
			// Same name pattern, no labels.
			{ObjectMeta: metav1.ObjectMeta{Name: f.family + "-env-copy"}},
			// The app's instance label, but another manager.
			{ObjectMeta: metav1.ObjectMeta{Name: f.family + "-helm", Labels: map[string]string{InstanceLabel: f.family, ManagedByLabel: "Helm"}}},
			// hoist's, but another app.
			{ObjectMeta: metav1.ObjectMeta{Name: "other-app-env", Labels: map[string]string{InstanceLabel: "other-app", ManagedByLabel: ManagedByValue}}},
		}
		for _, cm := range foreign {
			if _, err := cs.CoreV1().ConfigMaps(f.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		o := opts()
		o.DryRun = true
		res, err := Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(progress.String(), "Would have deleted "); n != len(wantRefs)-1 {
			t.Errorf("dry run: %d objects, want %d:\n%s", n, len(wantRefs)-1, progress.String())
		}
		if _, err := cs.AppsV1().Deployments(f.ns).Get(ctx, f.family, metav1.GetOptions{}); err != nil {
			t.Fatalf("the dry run deleted the deployment: %v", err)
		}

		o = opts()
		o.Wait = true
		res, err = Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var deleted []string
		for _, ob := range res.Objects {
			if ob.Action == ActionDeleted {
				deleted = append(deleted, ob.Ref)
			}
		}
		sort.Strings(deleted)
		want := append([]string{}, wantRefs[1:]...)
		sort.Strings(want)
		if strings.Join(deleted, " ") != strings.Join(want, " ") {
			t.Errorf("deleted %v, want %v", deleted, want)
		}
		if a := actions(res)["namespace/"+f.ns]; a != ActionKept {
			t.Errorf("namespace: %q, want kept", a)
		}
		cms, err := cs.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		left := map[string]bool{}
		for _, cm := range cms.Items {
			left[cm.Name] = true
		}
		for _, cm := range foreign {
			if !left[cm.Name] {
				t.Errorf("foreign configmap %s was deleted", cm.Name)
			}
		}
		if left[f.family+"-env"] {
			t.Errorf("hoist's configmap is still there")
		}
		for _, get := range []func() error{
			func() error {
				_, err := cs.AppsV1().Deployments(f.ns).Get(ctx, f.family, metav1.GetOptions{})
				return err
			},
			func() error { _, err := cs.CoreV1().Services(f.ns).Get(ctx, f.family, metav1.GetOptions{}); return err },
			func() error {
				_, err := cs.CoreV1().Secrets(f.ns).Get(ctx, f.family+"-secrets", metav1.GetOptions{})
				return err
			},
			func() error {
				_, err := cs.AutoscalingV2().HorizontalPodAutoscalers(f.ns).Get(ctx, f.family, metav1.GetOptions{})
				return err
			},
		} {
			if err := get(); !apierrors.IsNotFound(err) {
				t.Errorf("still there: %v", err)
			}
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, f.ns, metav1.GetOptions{}); err != nil {
			t.Errorf("the namespace went: %v", err)
		}
		// Deleting again finds nothing and says so.
		res, err = Delete(ctx, opts())
		if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "nothing to delete") {
			t.Errorf("second delete: %+v %v", res, err)
		}
	})
}

// TestDeployRefusesWhatAClusterCannotRun: a hoist.local image and a
// missing secret value are found before anything is sent.
func TestDeployRefusesWhatAClusterCannotRun(t *testing.T) {
	f := newFixture(t, "jar-two-ports-secret", map[string]string{tokenRef: "a-token-value"})
	// The cluster is never reached: the kubeconfig points nowhere.
	nowhere := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(nowhere, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{Workspace: f.ws, ID: f.id, Kubeconfig: nowhere}

	// Unreachable.
	_, err := Deploy(context.Background(), o)
	if !errors.Is(err, discover.ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}

	// Missing secret value.
	f.writeSecrets(t, map[string]string{})
	_, err = Deploy(context.Background(), o)
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), tokenRef) {
		t.Errorf("missing secret: %v", err)
	}
	f.writeSecrets(t, map[string]string{tokenRef: "a-token-value"})

	// Not pushed: the manifests run hoist.local/...
	if err := os.Remove(filepath.Join(f.ws.AppDir(f.id), "containerize", "push.json")); err != nil {
		t.Fatal(err)
	}
	f.generate(t)
	_, err = Deploy(context.Background(), o)
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist push "+f.id+" --registry REF") || !strings.Contains(err.Error(), "hoist generate "+f.id) {
		t.Errorf("hoist.local image: %v", err)
	}
	// Pushed after the generation: generate is what is missing.
	rec := `{"reference":"registry.example.com/x:latest","digest":"` + testDigest + `","registry":"registry.example.com","image":"hoist.local/` + f.id + `:latest"}`
	if err := os.WriteFile(filepath.Join(f.ws.AppDir(f.id), "containerize", "push.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Deploy(context.Background(), o)
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "run `hoist generate "+f.id+"`") {
		t.Errorf("pushed, not generated: %v", err)
	}

	// No manifests at all.
	if err := os.RemoveAll(Dir(f.ws, f.id)); err != nil {
		t.Fatal(err)
	}
	_, err = Deploy(context.Background(), o)
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist generate") {
		t.Errorf("no manifests: %v", err)
	}
	// No app.
	o.ID = "java-nosuch-00000000"
	if _, err := Deploy(context.Background(), o); !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "hoist inventory") {
		t.Errorf("no app: %v", err)
	}
}

// TestDeployScheduledAppWithStorage: the batch case (a CronJob, a
// StorageClass and claims): the cluster-scoped StorageClass is applied and
// deleted by its labels, the CronJob has nothing to wait for, and a claim
// whose protection finalizer nobody removes (no controller manager here)
// makes a waiting delete fail saying so.
func TestDeployScheduledAppWithStorage(t *testing.T) {
	srv := kubetest.Start(t)
	cs := clientFor(t, srv)
	ctx := context.Background()
	f := newFixture(t, "batch", map[string]string{"java-generic-5b1c2d3e/env/WORKER_API_TOKEN": "batch-token-value"})
	o := Options{Workspace: f.ws, ID: f.id, Kubeconfig: srv.Kubeconfig, Wait: true, Timeout: 5 * time.Second, pollInterval: 200 * time.Millisecond}

	// The platform team's class of the same name is left alone.
	theirs := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "efs-sc"}, Provisioner: "efs.csi.aws.com", Parameters: map[string]string{"provisioningMode": "efs-ap", "fileSystemId": "fs-platform"}}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(res)["storageclass.storage.k8s.io/efs-sc"]; a != ActionSkipped {
		t.Errorf("their storage class: %s, want skipped", a)
	}
	if sc, _ := cs.StorageV1().StorageClasses().Get(ctx, "efs-sc", metav1.GetOptions{}); sc.Parameters["fileSystemId"] != "fs-platform" || len(sc.Labels) != 0 {
		t.Errorf("their storage class changed: %+v", sc)
	}
	if err := cs.StorageV1().StorageClasses().Delete(ctx, "efs-sc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	res, err = Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, ob := range res.Objects {
		refs = append(refs, ob.Ref+" "+ob.Action)
	}
	got := strings.Join(refs, "\n")
	for _, want := range []string{"namespace/" + f.ns + " unchanged", "storageclass.storage.k8s.io/efs-sc created", "cronjob.batch/" + f.family + " unchanged", "persistentvolumeclaim/" + f.family + "-"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	// The order: namespace, storage class, config and secret, claims,
	// the CronJob.
	if !strings.HasPrefix(refs[0], "namespace/") || !strings.HasPrefix(refs[1], "storageclass.") || !strings.HasPrefix(refs[len(refs)-1], "cronjob.") {
		t.Errorf("order:\n%s", got)
	}
	if len(res.Rollouts) != 1 || res.Rollouts[0].Outcome != RolloutScheduled || !strings.Contains(res.Rollouts[0].Message, "30 2 * * 1-5") {
		t.Errorf("rollouts: %+v", res.Rollouts)
	}
	res, err = Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, ob := range res.Objects {
		if ob.Action != ActionUnchanged {
			t.Errorf("re-apply: %s %s %s", ob.Ref, ob.Action, ob.Note)
		}
	}

	res, err = Delete(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "kubernetes.io/pvc-protection") {
		t.Fatalf("want the claim's finalizer reported, got %v", err)
	}
	if _, err := cs.StorageV1().StorageClasses().Get(ctx, "efs-sc", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the storage class is still there: %v", err)
	}
	if _, err := cs.BatchV1().CronJobs(f.ns).Get(ctx, f.family, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cronjob is still there: %v", err)
	}
}
