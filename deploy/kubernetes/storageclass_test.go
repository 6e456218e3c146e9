package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hoistctl/hoist/deploy/kubetest"
	"github.com/hoistctl/hoist/discover"
)

const batchTokenRef = "java-generic-5b1c2d3e/env/WORKER_API_TOKEN"

// namespacedRule is what a team's deployer may do in its namespace: the
// kinds hoist applies and deletes, not the Namespace object ("*" would
// cover it) and nothing cluster-wide.
var namespacedRule = rbacv1.PolicyRule{
	APIGroups: []string{"", "apps", "batch", "autoscaling", "networking.k8s.io", "policy", "rbac.authorization.k8s.io"},
	Resources: []string{"configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims", "pods", "deployments", "statefulsets",
		"cronjobs", "jobs", "horizontalpodautoscalers", "ingresses", "networkpolicies", "poddisruptionbudgets", "roles", "rolebindings"},
	Verbs: []string{"*"},
}

// userKubeconfig gives user the rules in namespace ns (and cluster-wide
// the cluster rules, if any), waits until the authorizer applies them, and
// returns a kubeconfig that impersonates user with the admin's
// credentials.
func userKubeconfig(t *testing.T, srv *kubetest.Server, cs kubernetes.Interface, user, ns string, cluster []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{namespacedRule}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	checks := []authzv1.ResourceAttributes{{Namespace: ns, Verb: "delete", Group: "batch", Resource: "cronjobs"}}
	if len(cluster) > 0 {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: cluster}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, authzv1.ResourceAttributes{Verb: cluster[0].Verbs[0], Group: cluster[0].APIGroups[0], Resource: cluster[0].Resources[0]})
	}
	for _, ra := range checks {
		ra := ra
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &ra}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s may still not %s %s: %+v", user, ra.Verb, ra.Resource, sar.Status)
			}
		}
	}
	admin, err := os.ReadFile(srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig-"+user)
	if err := os.WriteFile(kc, []byte(strings.Replace(string(admin), "    client-key: ", "    as: "+user+"\n    client-key: ", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}

// TestDeployChecksTheExistingStorageClass: with kubernetes.existingStorageClass
// the claims name a class hoist does not write; when the cluster lacks it,
// deploy (and its dry run) fails naming the class and what to do, and
// applies nothing; once the class exists it applies; a user who may not
// read StorageClasses gets one warning and the deploy goes on.
func TestDeployChecksTheExistingStorageClass(t *testing.T) {
	srv := kubetest.Start(t)
	cs := clientFor(t, srv)
	ctx := context.Background()
	f := newFixture(t, "batch", map[string]string{batchTokenRef: "batch-token-value"})
	const class = "platform-efs"
	f.edit(t, func(d map[string]any) {
		k := d["kubernetes"].(map[string]any)
		k["existingStorageClass"] = true
		k["storageClassName"] = class
	})
	if _, err := os.Stat(filepath.Join(Dir(f.ws, f.id), "storageclass.yaml")); !os.IsNotExist(err) {
		t.Fatalf("generate wrote storageclass.yaml with existingStorageClass: %v", err)
	}
	var progress bytes.Buffer
	o := Options{Workspace: f.ws, ID: f.id, Kubeconfig: srv.Kubeconfig, Progress: &progress}

	for _, dry := range []bool{true, false} {
		o.DryRun = dry
		progress.Reset()
		res, err := Deploy(ctx, o)
		if !errors.Is(err, discover.ErrNotFound) {
			t.Fatalf("dry run %v: want a missing StorageClass (ErrNotFound), got %v", dry, err)
		}
		for _, want := range []string{"StorageClass " + class + " does not exist", "kubernetes.existingStorageClass", f.family + "-efs", "nothing was applied", f.ns + "/" + f.family + "-spool"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry run %v: no %q in: %v", dry, want, err)
			}
		}
		if res != nil && len(res.Objects) > 0 || progress.Len() > 0 {
			t.Errorf("dry run %v: objects were applied: %+v\n%s", dry, res, progress.String())
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, f.ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("dry run %v: the namespace was created: %v", dry, err)
		}
	}

	o.DryRun = false
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: "efs.csi.aws.com", Parameters: map[string]string{"provisioningMode": "efs-ap", "fileSystemId": "fs-platform"}}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, "\n"); strings.Contains(w, class) {
		t.Errorf("warnings about the class that exists: %s", w)
	}
	pvc, err := cs.CoreV1().PersistentVolumeClaims(f.ns).Get(ctx, f.family+"-spool", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != class {
		t.Errorf("claim's class: %v", pvc.Spec.StorageClassName)
	}

	// A user with rights in the namespace only may not read StorageClasses:
	// warned once, and the deploy goes on.
	o.Kubeconfig = userKubeconfig(t, srv, cs, "team-batch", f.ns, nil)
	res, err = Deploy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var about []string
	for _, w := range res.Warnings {
		if strings.Contains(w, class) {
			about = append(about, w)
		}
	}
	if len(about) != 1 || !strings.Contains(about[0], "could not check") {
		t.Errorf("want one warning that %s could not be checked, got %q", class, res.Warnings)
	}
	if a := actions(res)["persistentvolumeclaim/"+f.family+"-spool"]; a != ActionUnchanged {
		t.Errorf("claim: %s, want unchanged", a)
	}
}

// TestDeleteKeepsAStorageClassOtherNamespacesUse: the app in two
// namespaces shares its cluster-wide StorageClass FAMILY-efs; deleting it
// from one keeps the class (the other's claims use it) and touches
// nothing of the other; a user who may not list claims in all namespaces
// keeps it too; deleting the last one removes it.
func TestDeleteKeepsAStorageClassOtherNamespacesUse(t *testing.T) {
	srv := kubetest.Start(t)
	cs := clientFor(t, srv)
	ctx := context.Background()
	f := newFixture(t, "batch", map[string]string{batchTokenRef: "batch-token-value"})
	class := f.family + "-efs"
	f.edit(t, func(d map[string]any) { d["kubernetes"].(map[string]any)["storageClassName"] = class })
	scRef := "storageclass.storage.k8s.io/" + class
	var progress bytes.Buffer
	opts := func(ns string) Options {
		progress.Reset()
		return Options{Workspace: f.ws, ID: f.id, Kubeconfig: srv.Kubeconfig, Namespace: ns, Progress: &progress}
	}
	for _, ns := range []string{"team-a", "team-b"} {
		res, err := Deploy(ctx, opts(ns))
		if err != nil {
			t.Fatal(err)
		}
		want := ActionCreated
		if ns == "team-b" {
			want = ActionUnchanged
		}
		if a := actions(res)[scRef]; a != want {
			t.Fatalf("%s: storage class %s, want %s", ns, a, want)
		}
	}
	classThere := func(t *testing.T) {
		t.Helper()
		if _, err := cs.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{}); err != nil {
			t.Fatalf("the storage class went: %v", err)
		}
	}
	// team-b's objects, to see they stay as they are.
	snapshot := func() map[string]string {
		out := map[string]string{}
		pvcs, _ := cs.CoreV1().PersistentVolumeClaims("team-b").List(ctx, metav1.ListOptions{})
		for _, x := range pvcs.Items {
			out["pvc/"+x.Name] = x.ResourceVersion + deleting(x.ObjectMeta)
		}
		cjs, _ := cs.BatchV1().CronJobs("team-b").List(ctx, metav1.ListOptions{})
		for _, x := range cjs.Items {
			out["cronjob/"+x.Name] = x.ResourceVersion + deleting(x.ObjectMeta)
		}
		cms, _ := cs.CoreV1().ConfigMaps("team-b").List(ctx, metav1.ListOptions{LabelSelector: InstanceLabel + "=" + f.family})
		for _, x := range cms.Items {
			out["configmap/"+x.Name] = x.ResourceVersion + deleting(x.ObjectMeta)
		}
		secs, _ := cs.CoreV1().Secrets("team-b").List(ctx, metav1.ListOptions{LabelSelector: InstanceLabel + "=" + f.family})
		for _, x := range secs.Items {
			out["secret/"+x.Name] = x.ResourceVersion + deleting(x.ObjectMeta)
		}
		return out
	}
	before := snapshot()
	if len(before) != 4 || before["pvc/"+f.family+"-spool"] == "" {
		t.Fatalf("team-b: %v", before)
	}
	otherClaim := "team-b/" + f.family + "-spool"

	t.Run("dry run", func(t *testing.T) {
		o := opts("team-a")
		o.DryRun = true
		res, err := Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(progress.String(), "Would have kept "+scRef+": ") || !strings.Contains(progress.String(), otherClaim) {
			t.Errorf("progress:\n%s", progress.String())
		}
		if a := actions(res)[scRef]; a != ActionKept {
			t.Errorf("storage class: %s, want kept", a)
		}
	})

	t.Run("delete one namespace", func(t *testing.T) {
		res, err := Delete(ctx, opts("team-a"))
		if err != nil {
			t.Fatal(err)
		}
		note := keptNote(t, res, scRef)
		if !strings.Contains(note, otherClaim) || !strings.Contains(note, "cluster-wide") {
			t.Errorf("the note does not say which claims use it: %q", note)
		}
		if !strings.Contains(progress.String(), scRef+" kept: ") {
			t.Errorf("progress:\n%s", progress.String())
		}
		classThere(t)
		if _, err := cs.BatchV1().CronJobs("team-a").Get(ctx, f.family, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("team-a's cronjob is still there: %v", err)
		}
		if a := actions(res)["cronjob.batch/"+f.family]; a != ActionDeleted {
			t.Errorf("team-a's cronjob: %s", a)
		}
		if after := snapshot(); !maps.Equal(before, after) {
			t.Errorf("team-b's objects changed:\n before %v\n after  %v", before, after)
		}
	})

	t.Run("a user who may not list claims everywhere", func(t *testing.T) {
		// May delete StorageClasses, and claims in team-b only.
		kc := userKubeconfig(t, srv, cs, "team-b-deployer", "team-b", []rbacv1.PolicyRule{{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"delete", "get", "list"}}})
		// Dry runs: team-b's claims are the only ones left, so the admin
		// would delete the class (the claims this delete removes do not
		// count); this user cannot tell, and keeps it.
		o := opts("team-b")
		o.DryRun = true
		res, err := Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if a := actions(res)[scRef]; a != ActionDeleted {
			t.Errorf("admin's dry run: storage class %s, want deleted: %+v", a, res.Objects)
		}
		o = opts("team-b")
		o.DryRun, o.Kubeconfig = true, kc
		res, err = Delete(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		note := keptNote(t, res, scRef)
		if !strings.Contains(note, "may not list PersistentVolumeClaims in all namespaces") || !strings.Contains(note, "kubectl delete storageclass "+class) {
			t.Errorf("note: %q", note)
		}
		if a := actions(res)["cronjob.batch/"+f.family]; a != ActionDeleted {
			t.Errorf("the user's dry run: cronjob %s, want deleted", a)
		}
		classThere(t)
	})

	t.Run("delete the last namespace", func(t *testing.T) {
		res, err := Delete(ctx, opts("team-b"))
		if err != nil {
			t.Fatal(err)
		}
		if a := actions(res)[scRef]; a != ActionDeleted {
			t.Errorf("storage class: %s, want deleted: %+v", a, res.Objects)
		}
		if _, err := cs.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the storage class is still there: %v", err)
		}
	})
}

func deleting(m metav1.ObjectMeta) string {
	if m.DeletionTimestamp != nil {
		return " (deleting)"
	}
	return ""
}

// keptNote checks that the delete kept the object ref and returns its note.
func keptNote(t *testing.T, res *Result, ref string) string {
	t.Helper()
	for _, ob := range res.Objects {
		if ob.Ref == ref {
			if ob.Action != ActionKept {
				t.Errorf("%s: %s, want kept", ref, ob.Action)
			}
			return ob.Note
		}
	}
	t.Errorf("%s is not in the result: %+v", ref, res.Objects)
	return ""
}
