package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

var (
	storageClassGK = schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}
	claimGK        = schema.GroupKind{Kind: "PersistentVolumeClaim"}
)

// betaClassAnnotation is how claims named their class before
// spec.storageClassName; the volume controllers still honour it.
const betaClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// claimClass is the StorageClass a claim names ("" for none or the
// cluster's default).
func claimClass(u *unstructured.Unstructured) string {
	if sc, ok, _ := unstructured.NestedString(u.Object, "spec", "storageClassName"); ok && sc != "" {
		return sc
	}
	return u.GetAnnotations()[betaClassAnnotation]
}

// checkStorageClasses makes sure the StorageClasses the claims name, and
// the manifests do not define, exist before anything is applied: a claim
// of a missing class stays Pending, and nothing in deploy's output would
// say why. That is the class of kubernetes.existingStorageClass. A user
// who may not read StorageClasses (a cluster-wide permission) gets a
// warning instead: the class may well exist. A dry run checks too: the
// server's dry run of a claim does not look for its class.
func (c *cluster) checkStorageClasses(ctx context.Context, ws discover.Workspace, id string, plan []planned) ([]string, error) {
	defined := map[string]bool{}
	for _, p := range plan {
		if p.gvk().GroupKind() == storageClassGK {
			defined[p.obj.GetName()] = true
		}
	}
	claims := map[string][]string{} // class -> claims naming it
	var classes []string
	for _, p := range plan {
		if p.gvk().GroupKind() != claimGK {
			continue
		}
		sc := claimClass(p.obj)
		if sc == "" || defined[sc] {
			continue
		}
		if _, ok := claims[sc]; !ok {
			classes = append(classes, sc)
		}
		claims[sc] = append(claims[sc], p.obj.GetNamespace()+"/"+p.obj.GetName())
	}
	var warnings []string
	for _, sc := range classes {
		_, err := c.typed.StorageV1().StorageClasses().Get(ctx, sc, metav1.GetOptions{})
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("%w: checking the claims' StorageClass: StorageClass %s does not exist on %s (context %s), and %s name it: they would stay Pending; nothing was applied. %s",
				discover.ErrNotFound, sc, c.server, orNone(c.context), strings.Join(claims[sc], ", "), missingClassHint(ws, id, sc))
		case apierrors.IsForbidden(err):
			warnings = append(warnings, fmt.Sprintf("could not check that StorageClass %s, which the claims name, exists: %s (reading StorageClasses is a cluster-wide permission); if it is missing, the claims stay Pending: ask a cluster admin (`kubectl get storageclass %s`)", sc, apiMessage(err), sc))
		default:
			return nil, c.explain("checking StorageClass "+sc+", which the claims name, exists", err)
		}
	}
	return warnings, nil
}

// missingClassHint says what to do about a missing class, after where
// the name came from.
func missingClassHint(ws discover.Workspace, id, sc string) string {
	d, err := generate.LoadDeployment(ws, id)
	if err == nil && d.Kubernetes.ExistingStorageClass && d.Kubernetes.StorageClassName == sc {
		return fmt.Sprintf("deployment.json sets kubernetes.existingStorageClass, so hoist writes no class and uses the cluster's: create StorageClass %s first (`kubectl get storageclass` lists those there are), or set kubernetes.existingStorageClass to false and kubernetes.storageClassName to %s-efs in deployment.json and run `hoist generate %s`, so hoist defines a class of the app's own", sc, d.Family, id)
	}
	return fmt.Sprintf("the manifests in %s define no such class: create StorageClass %s first, or run `hoist generate %s` again", Dir(ws, id), sc, id)
}

// classInUse says whether claims this delete leaves behind still use
// StorageClass sc, and so it must stay: the class is cluster-wide, and
// the same app deployed to another namespace (or anyone else's claim)
// names it too. gone are the claims this delete removed (or, with a dry
// run, would have). Claims already being deleted do not count: they
// need no more provisioning. The check reads every claim's
// spec.storageClassName, not labels: any claim counts, hoist's or not.
// When hoist may not list claims in all namespaces it cannot tell, and
// the class stays.
func (c *cluster) classInUse(ctx context.Context, sc string, gone map[types.UID]bool) (note string, keep bool, err error) {
	list, err := c.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("hoist may not list PersistentVolumeClaims in all namespaces (%s), so it cannot tell whether claims elsewhere still use this class; it stays: remove it with `kubectl delete storageclass %s` when no claim uses it", apiMessage(err), sc), true, nil
	}
	if err != nil {
		return "", false, c.explain("listing the PersistentVolumeClaims of all namespaces, to see whether StorageClass "+sc+" is still used", err)
	}
	var users []string
	for i := range list.Items {
		u := &list.Items[i]
		if gone[u.GetUID()] || u.GetDeletionTimestamp() != nil || claimClass(u) != sc {
			continue
		}
		users = append(users, u.GetNamespace()+"/"+u.GetName())
	}
	if len(users) == 0 {
		return "", false, nil
	}
	sort.Strings(users)
	if len(users) > 5 {
		users = append(users[:5], fmt.Sprintf("%d more", len(users)-5))
	}
	return fmt.Sprintf("still used by PersistentVolumeClaims this delete leaves (%s); a StorageClass is cluster-wide: it goes with the app's --delete in the last namespace that uses it (or, when no claim does, with `kubectl delete storageclass %s`)", strings.Join(users, ", "), sc), true, nil
}
