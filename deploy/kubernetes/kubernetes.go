// Package kubernetes applies the manifests `hoist generate` wrote
// (APP/deploy/kubernetes) to a cluster with server-side apply, waits for
// the rollout, and removes what it applied, found by hoist's labels.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/generate/diff"
)

// FieldManager is the field manager of hoist's server-side applies.
const FieldManager = "hoist"

// The labels generate puts on every object of an app (the Namespace, which
// several apps may share, carries only ManagedByLabel). Delete removes the
// objects that carry both with the app's values, nothing else.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "hoist"
	InstanceLabel  = "app.kubernetes.io/instance"
)

// Actions on an object, in Object.Action. With DryRun they say what would
// have happened.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
	ActionDeleted    = "deleted"
	// ActionSkipped: an object hoist leaves alone (a namespace that
	// exists and is not hoist's).
	ActionSkipped = "skipped"
	// ActionKept: an object --delete does not remove (the namespace).
	ActionKept = "kept"
)

// Rollout outcomes, in Rollout.Outcome.
const (
	RolloutComplete  = "complete"
	RolloutFailed    = "failed"
	RolloutTimedOut  = "timed out"
	RolloutNotWaited = "not waited"
	// RolloutScheduled: a CronJob, which has nothing to roll out; it runs
	// on its schedule.
	RolloutScheduled = "scheduled"
)

// ErrRollout is returned when a workload did not become available in
// time or its rollout failed.
var ErrRollout = errors.New("rollout did not complete")

// Options configures Deploy and Delete.
type Options struct {
	Workspace discover.Workspace
	ID        string
	// Kubeconfig, Context: as kubectl's flags. Empty Kubeconfig means
	// $KUBECONFIG, then ~/.kube/config, then the in-cluster service
	// account; empty Context the kubeconfig's current context.
	Kubeconfig string
	Context    string
	// Namespace replaces the namespace of the manifests (and the name of
	// their Namespace object).
	Namespace string
	// ForceConflicts takes over fields another field manager owns.
	ForceConflicts bool
	// DryRun sends everything with the server's dry run: validated and
	// admitted, nothing stored.
	DryRun bool
	// Wait waits for the rollout (Deploy) or for the objects to be gone
	// (Delete), at most Timeout (default 10 minutes).
	Wait    bool
	Timeout time.Duration
	// Progress receives one line per object and the rollout's progress
	// (nil: discarded).
	Progress io.Writer
	Logf     func(string, ...any)

	// pollInterval is how often a wait looks (default 2 s).
	pollInterval time.Duration
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.pollInterval <= 0 {
		o.pollInterval = 2 * time.Second
	}
}

// Result says what Deploy or Delete did.
type Result struct {
	App       string `json:"app"`
	Cluster   string `json:"cluster"`
	Context   string `json:"context,omitempty"`
	Namespace string `json:"namespace"`
	DryRun    bool   `json:"dryRun,omitempty"`
	Delete    bool   `json:"delete,omitempty"`
	// Images are what the workloads run.
	Images   []string  `json:"images,omitempty"`
	Objects  []Object  `json:"objects"`
	Rollouts []Rollout `json:"rollouts,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Object is one object and what happened to it.
type Object struct {
	// Ref is kubectl's name for it: deployment.apps/NAME.
	Ref        string `json:"ref"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	// File is the manifest it came from (Deploy).
	File   string `json:"file,omitempty"`
	Action string `json:"action"`
	// ResourceVersion is the server's after the action (not with DryRun).
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Note            string `json:"note,omitempty"`
}

// Rollout is a workload's rollout.
type Rollout struct {
	Ref       string `json:"ref"`
	Namespace string `json:"namespace"`
	Outcome   string `json:"outcome"`
	// Replicas are the Deployment's: wanted, updated, ready, available.
	Replicas  int32 `json:"replicas"`
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
	// Message is the last state seen, or why it failed.
	Message string `json:"message,omitempty"`
	// Pods are the pods that were not ready when the wait ended.
	Pods []PodProblem `json:"pods,omitempty"`
}

// ref names an object as kubectl does: kind[.group]/name.
func ref(gvk schema.GroupVersionKind, name string) string {
	k := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		k += "." + gvk.Group
	}
	return k + "/" + name
}

func checkApp(ws discover.Workspace, id string) error {
	if _, err := os.Stat(ws.AppDir(id)); err != nil {
		return fmt.Errorf("%w: no app %q in the workspace %s; run `hoist inventory` to list apps, then `hoist analyze %s` and `hoist generate %s`", discover.ErrNotFound, id, ws.Dir, id, id)
	}
	return nil
}

// planned is a manifest with where it goes.
type planned struct {
	manifest
	mapping    *meta.RESTMapping
	namespaced bool
}

func (p planned) resource(c *cluster) dynamic.ResourceInterface {
	r := c.dyn.Resource(p.mapping.Resource)
	if p.namespaced {
		return r.Namespace(p.obj.GetNamespace())
	}
	return r
}

// Deploy applies APP/deploy/kubernetes to the cluster and, with Wait,
// waits for the Deployments to be available. The Secret gets its values
// from the workspace's secrets file on the way; they are never printed or
// written. A StorageClass the claims name and the manifests do not define
// (kubernetes.existingStorageClass) must exist first. On a failed rollout
// the result comes with the error.
func Deploy(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	ws, id := o.Workspace, o.ID
	if err := checkApp(ws, id); err != nil {
		return nil, err
	}
	ms, warns, err := readManifests(ws, id)
	if err != nil {
		return nil, err
	}
	if err := checkImages(ws, id, ms); err != nil {
		return nil, err
	}
	vals, err := fillSecrets(ws, id, ms)
	if err != nil {
		return nil, err
	}
	mask := diff.NewMasker(vals)
	c, err := connect(ctx, o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	o.Logf("kubernetes: %d objects from %s to %s (context %s)", len(ms), Dir(ws, id), c.server, orNone(c.context))
	res := &Result{App: id, Cluster: c.server, Context: c.context, DryRun: o.DryRun, Warnings: warns, Objects: []Object{}}
	plan, err := c.plan(ms, o.Namespace)
	if err != nil {
		return nil, err
	}
	res.Namespace = planNamespace(plan)
	scWarns, err := c.checkStorageClasses(ctx, ws, id, plan)
	if err != nil {
		return res, err
	}
	res.Warnings = append(res.Warnings, scWarns...)
	for _, p := range plan {
		res.Images = append(res.Images, images(p.obj)...)
	}
	missingNS := map[string]bool{}
	for _, p := range plan {
		obj, err := c.apply(ctx, p, o, missingNS)
		if err != nil {
			// A secret value in the server's message would be printed.
			return res, maskedError{mask.String(err.Error()), err}
		}
		res.Objects = append(res.Objects, obj)
		line := obj.Ref + " " + obj.Action
		if o.DryRun {
			line = "Would have applied " + obj.Ref + " (" + obj.Action + ")"
		}
		if obj.Note != "" {
			line += ": " + obj.Note
		}
		fmt.Fprintln(o.Progress, line)
	}
	if o.DryRun {
		return res, nil
	}
	deadline := time.Now().Add(o.Timeout)
	var failed []string
	for _, p := range plan {
		switch p.obj.GetKind() {
		case "Deployment":
			r := Rollout{Ref: ref(p.gvk(), p.obj.GetName()), Namespace: p.obj.GetNamespace(), Outcome: RolloutNotWaited}
			if o.Wait {
				r = c.waitDeployment(ctx, p.obj.GetNamespace(), p.obj.GetName(), deadline, o)
				if r.Outcome != RolloutComplete {
					failed = append(failed, rolloutError(r))
				}
			}
			res.Rollouts = append(res.Rollouts, r)
		case "CronJob":
			res.Rollouts = append(res.Rollouts, Rollout{Ref: ref(p.gvk(), p.obj.GetName()), Namespace: p.obj.GetNamespace(), Outcome: RolloutScheduled,
				Message: "runs on its schedule (" + nestedString(p.obj, "spec", "schedule") + "); nothing to wait for"})
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%w: %s", ErrRollout, strings.Join(failed, "; "))
	}
	return res, nil
}

func nestedString(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}

// plan maps every manifest to its resource and namespace, in apply order.
func (c *cluster) plan(ms []manifest, namespace string) ([]planned, error) {
	// The manifests' namespace, renamed as a whole by --namespace.
	orig := ""
	for _, m := range ms {
		if ns := m.obj.GetNamespace(); ns != "" && m.obj.GetKind() != "Namespace" {
			orig = ns
			break
		}
	}
	var out []planned
	for _, m := range ms {
		gvk := m.gvk()
		mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				return nil, fmt.Errorf("%w: %s (%s): the cluster %s does not serve %s %s; it may be too old for this manifest, or need an extension installed", discover.ErrInvalid, m.file, m.obj.GetName(), c.server, gvk.GroupVersion(), gvk.Kind)
			}
			return nil, c.explain("looking up "+gvk.Kind, err)
		}
		p := planned{manifest: m, mapping: mapping, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		switch {
		case p.namespaced:
			ns := m.obj.GetNamespace()
			if namespace != "" {
				ns = namespace
			}
			if ns == "" {
				ns = orig
			}
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			m.obj.SetNamespace(ns)
		case gvk.Kind == "Namespace" && gvk.Group == "":
			if namespace != "" && (m.obj.GetName() == orig || orig == "") {
				m.obj.SetName(namespace)
			}
			m.obj.SetNamespace("")
		default:
			m.obj.SetNamespace("")
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return order(out[i].gvk().GroupKind()) < order(out[j].gvk().GroupKind())
	})
	return out, nil
}

func planNamespace(plan []planned) string {
	for _, p := range plan {
		if p.namespaced {
			return p.obj.GetNamespace()
		}
	}
	return ""
}

// apply sends one object with server-side apply and says whether the
// server created, changed or kept it. missingNS collects namespaces a dry
// run would have created, for the objects in them.
func (c *cluster) apply(ctx context.Context, p planned, o Options, missingNS map[string]bool) (Object, error) {
	u := p.obj
	out := Object{Ref: ref(p.gvk(), u.GetName()), APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName(), Namespace: u.GetNamespace(), File: p.file}
	r := p.resource(c)
	isNamespace := u.GetKind() == "Namespace" && p.gvk().Group == ""
	before, err := r.Get(ctx, u.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		before = nil
	case isNamespace && apierrors.IsForbidden(err):
		// A user with rights in the namespace only (a RoleBinding there)
		// may not read Namespace objects; the namespace then exists or
		// the objects in it fail with a clear message.
		out.Action, out.Note = ActionSkipped, "hoist may not read namespaces (a cluster-wide permission); left as it is"
		return out, nil
	case err != nil:
		return out, c.explain("reading "+out.Ref, err)
	}
	if isNamespace && before != nil && before.GetLabels()[ManagedByLabel] != ManagedByValue {
		out.Action, out.Note = ActionSkipped, "exists and is not hoist's: left as it is"
		out.ResourceVersion = before.GetResourceVersion()
		return out, nil
	}
	// A cluster-wide object (a StorageClass) another app or the platform
	// team owns under the same name is theirs: changing it would change
	// how their volumes are provisioned.
	if !p.namespaced && !isNamespace && before != nil {
		l := before.GetLabels()
		if l[ManagedByLabel] != ManagedByValue || l[InstanceLabel] != u.GetLabels()[InstanceLabel] {
			owner := "is not hoist's"
			if l[ManagedByLabel] == ManagedByValue {
				owner = "belongs to hoist's app " + l[InstanceLabel]
			}
			out.Action, out.Note = ActionSkipped, "exists and "+owner+": left as it is (use it, or give this app another name in deployment.json)"
			out.ResourceVersion = before.GetResourceVersion()
			return out, nil
		}
	}
	if o.DryRun && p.namespaced && missingNS[u.GetNamespace()] {
		// The server cannot check an object in a namespace it does not
		// have yet; say so rather than guess.
		out.Action, out.Note = ActionCreated, "namespace "+u.GetNamespace()+" does not exist yet, so the server could not check this object"
		return out, nil
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return out, err
	}
	force := o.ForceConflicts
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force, FieldValidation: metav1.FieldValidationStrict}
	if o.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after, err := r.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
	if err != nil {
		return out, c.applyError(out, p.file, err)
	}
	switch {
	case before == nil:
		out.Action = ActionCreated
		if o.DryRun && isNamespace {
			missingNS[u.GetName()] = true
		}
	case before.GetResourceVersion() == after.GetResourceVersion() && !o.DryRun:
		out.Action = ActionUnchanged
	case sameObject(before, after):
		// The resourceVersion moved because a controller wrote the
		// status in between, or a dry run (which stores nothing) found
		// nothing to change.
		out.Action = ActionUnchanged
	default:
		out.Action = ActionConfigured
	}
	if !o.DryRun {
		out.ResourceVersion = after.GetResourceVersion()
	}
	return out, nil
}

// sameObject compares two versions of an object, leaving out what the
// server or controllers change by themselves: status, resourceVersion and
// the times in managedFields.
func sameObject(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		delete(c, "status")
		if md, ok := c["metadata"].(map[string]any); ok {
			delete(md, "resourceVersion")
			if mfs, ok := md["managedFields"].([]any); ok {
				for _, mf := range mfs {
					if m, ok := mf.(map[string]any); ok {
						delete(m, "time")
						// The status subresource's entries follow the status.
						if m["subresource"] == "status" {
							delete(m, "fieldsV1")
						}
					}
				}
			}
		}
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// applyError says why the server refused an object and what to do.
func (c *cluster) applyError(obj Object, file string, err error) error {
	doing := "applying " + obj.Ref + " (" + file + ")"
	if apierrors.IsConflict(err) {
		var fields []string
		if se, ok := err.(apierrors.APIStatus); ok && se.Status().Details != nil {
			for _, cause := range se.Status().Details.Causes {
				if cause.Type == metav1.CauseTypeFieldManagerConflict {
					fields = append(fields, cause.Message)
				}
			}
		}
		detail := apiMessage(err)
		if len(fields) > 0 {
			detail = strings.Join(fields, "; ")
		}
		return fmt.Errorf("%w: %s: fields another field manager set differ from the manifest: %s; hoist leaves them alone: take them over with --force-conflicts, or change the manifest (deployment.json, then `hoist generate`) to agree", ErrConflict, doing, detail)
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return fmt.Errorf("%w: %s: the server refused it: %s; fix deployment.json (or the manifest) and run `hoist generate` again", discover.ErrInvalid, doing, apiMessage(err))
	}
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s: %s", discover.ErrNotFound, doing, apiMessage(err))
	}
	return c.explain(doing, err)
}

// deleteKinds are the kinds hoist may have applied for an app, besides
// those in the manifests now (a kind a later generation dropped, such as
// an Ingress turned off, is still found).
var deleteKinds = []schema.GroupKind{
	{Kind: "ConfigMap"}, {Kind: "Secret"}, {Kind: "Service"}, {Kind: "ServiceAccount"}, {Kind: "PersistentVolumeClaim"},
	{Group: "apps", Kind: "Deployment"}, {Group: "apps", Kind: "StatefulSet"},
	{Group: "batch", Kind: "CronJob"}, {Group: "batch", Kind: "Job"},
	{Group: "networking.k8s.io", Kind: "Ingress"}, {Group: "networking.k8s.io", Kind: "NetworkPolicy"},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, {Group: "policy", Kind: "PodDisruptionBudget"},
	{Group: "storage.k8s.io", Kind: "StorageClass"},
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
}

// Delete removes what hoist applied for the app: the objects of the
// kinds hoist applies that carry app.kubernetes.io/managed-by=hoist and
// app.kubernetes.io/instance=FAMILY, in the app's namespace (cluster-scoped
// ones anywhere). Objects a controller owns (ReplicaSets, Pods, a
// CronJob's Jobs) go with their owner through the garbage collector. The
// namespace stays: other apps or people may use it. So does the app's
// StorageClass while claims this delete leaves (the app's in another
// namespace) name it, or when hoist may not list claims to tell.
func Delete(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	ws, id := o.Workspace, o.ID
	if err := checkApp(ws, id); err != nil {
		return nil, err
	}
	d, err := generate.LoadDeployment(ws, id)
	if err != nil {
		return nil, fmt.Errorf("finding what to delete (deployment.json names the app's labels and namespace): %w", err)
	}
	ns := d.Kubernetes.Namespace
	if o.Namespace != "" {
		ns = o.Namespace
	}
	kinds := append([]schema.GroupKind{}, deleteKinds...)
	inManifests := map[schema.GroupKind]bool{}
	if ms, _, err := readManifests(ws, id); err == nil {
		for _, m := range ms {
			gk := m.gvk().GroupKind()
			inManifests[gk] = true
			if gk.Kind != "Namespace" && !containsGK(kinds, gk) {
				kinds = append(kinds, gk)
			}
		}
	}
	sort.SliceStable(kinds, func(i, j int) bool { return order(kinds[i]) > order(kinds[j]) })
	c, err := connect(ctx, o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	o.Logf("kubernetes: deleting what is labelled for %s in namespace %s on %s (context %s)", d.Family, ns, c.server, orNone(c.context))
	res := &Result{App: id, Cluster: c.server, Context: c.context, Namespace: ns, DryRun: o.DryRun, Delete: true, Objects: []Object{}}
	selector := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByValue, InstanceLabel: d.Family}).String()
	type gone struct {
		obj Object
		r   dynamic.ResourceInterface
		uid types.UID
	}
	var deleted []gone
	// The claims deleted so far: they come before the StorageClass.
	goneClaims := map[types.UID]bool{}
	kept := 0
	for _, gk := range kinds {
		mapping, err := c.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue // the cluster does not serve it, so hoist applied none
		}
		if err != nil {
			return res, c.explain("looking up "+gk.Kind, err)
		}
		namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
		var r dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
		if namespaced {
			r = c.dyn.Resource(mapping.Resource).Namespace(ns)
		}
		list, err := r.List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if apierrors.IsForbidden(err) && !inManifests[gk] {
				// A kind hoist looks for in case an earlier generation
				// had it; a user with rights in the namespace only may
				// not list cluster-wide ones (StorageClass).
				res.Warnings = append(res.Warnings, fmt.Sprintf("not allowed to list %s, so none were deleted: %s", mapping.Resource.Resource, apiMessage(err)))
				continue
			}
			return res, c.explain("listing "+mapping.Resource.Resource+" labelled "+selector, err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			if metav1.GetControllerOf(u) != nil {
				continue // its owner's deletion takes it
			}
			obj := Object{Ref: ref(mapping.GroupVersionKind, u.GetName()), APIVersion: mapping.GroupVersionKind.GroupVersion().String(), Kind: gk.Kind, Name: u.GetName(), Namespace: u.GetNamespace(), Action: ActionDeleted}
			if gk == storageClassGK {
				// The app's class is shared by its namespaces.
				note, keep, err := c.classInUse(ctx, u.GetName(), goneClaims)
				if err != nil {
					return res, err
				}
				if keep {
					obj.Action, obj.Note = ActionKept, note
					res.Objects = append(res.Objects, obj)
					if o.DryRun {
						fmt.Fprintf(o.Progress, "Would have kept %s: %s\n", obj.Ref, note)
					} else {
						fmt.Fprintf(o.Progress, "%s kept: %s\n", obj.Ref, note)
					}
					kept++
					continue
				}
			}
			policy := metav1.DeletePropagationBackground
			opts := metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: ptr(u.GetUID())}}
			if o.DryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			if err := r.Delete(ctx, u.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
				return res, c.explain("deleting "+obj.Ref, err)
			}
			res.Objects = append(res.Objects, obj)
			if o.DryRun {
				fmt.Fprintf(o.Progress, "Would have deleted %s\n", obj.Ref)
			} else {
				fmt.Fprintf(o.Progress, "%s deleted\n", obj.Ref)
			}
			deleted = append(deleted, gone{obj, r, u.GetUID()})
			if gk == claimGK {
				goneClaims[u.GetUID()] = true
			}
		}
	}
	if nsObj, err := c.typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		note := "not hoist's"
		if nsObj.Labels[ManagedByLabel] == ManagedByValue {
			note = "a namespace may hold other apps' objects; remove it with `kubectl delete namespace " + ns + "` when it is empty"
		}
		res.Objects = append(res.Objects, Object{Ref: "namespace/" + ns, APIVersion: "v1", Kind: "Namespace", Name: ns, Action: ActionKept, Note: note})
	}
	if len(deleted) == 0 && kept == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("nothing labelled %s in namespace %s (or cluster-wide) on %s: nothing to delete", selector, ns, c.server))
	}
	if !o.Wait || o.DryRun {
		return res, nil
	}
	// Wait for finalizers (a claim's protection, foreground deletions).
	deadline := time.Now().Add(o.Timeout)
	for {
		var left []string
		for _, g := range deleted {
			u, err := g.r.Get(ctx, g.obj.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return res, c.explain("checking "+g.obj.Ref+" is gone", err)
			case u.GetUID() != g.uid:
				// Deleted and created again by someone else.
			default:
				s := g.obj.Ref
				if f := u.GetFinalizers(); len(f) > 0 {
					s += " (finalizers " + strings.Join(f, ", ") + ")"
				}
				left = append(left, s)
			}
		}
		if len(left) == 0 {
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("deleted, but still there after %s: %s; the controllers that remove those finalizers may be down (--no-wait does not wait)", o.Timeout, strings.Join(left, ", "))
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.pollInterval):
		}
	}
}

func ptr[T any](v T) *T { return &v }

// maskedError is an error whose message had secret values hidden; it
// still wraps the original for errors.Is.
type maskedError struct {
	msg string
	err error
}

func (e maskedError) Error() string { return e.msg }
func (e maskedError) Unwrap() error { return e.err }

func containsGK(list []schema.GroupKind, gk schema.GroupKind) bool {
	for _, x := range list {
		if x == gk {
			return true
		}
	}
	return false
}
