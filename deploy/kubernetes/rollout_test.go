package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/deploy/kubetest"
)

// TestRolloutWaitReportsPendingPods runs the controller manager and the
// scheduler, so the Deployment really gets a ReplicaSet and Pods; with no
// node (there is no kubelet) they stay Pending, and the wait must fail
// naming them and the scheduler's reason. A pod reaching Ready is not
// exercised anywhere: that needs a kubelet.
func TestRolloutWaitReportsPendingPods(t *testing.T) {
	srv := kubetest.Start(t, kubetest.WithControllers(), kubetest.WithScheduler())
	cs := clientFor(t, srv)
	ctx := context.Background()
	f := newFixture(t, "jar-two-ports-secret", map[string]string{tokenRef: "another-token-value"})
	// No HPA: the Deployment asks for 2 replicas itself.
	f.edit(t, func(d map[string]any) {
		d["autoScaling"].(map[string]any)["enabled"] = false
	})
	var progress bytes.Buffer
	o := Options{Workspace: f.ws, ID: f.id, Kubeconfig: srv.Kubeconfig, Progress: &progress, Wait: true, Timeout: 20 * time.Second, pollInterval: 500 * time.Millisecond}
	start := time.Now()
	res, err := Deploy(ctx, o)
	if !errors.Is(err, ErrRollout) {
		t.Fatalf("want a rollout error, got %v", err)
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("the wait took %s with a 20s timeout", took)
	}
	if res == nil || len(res.Rollouts) != 1 {
		t.Fatalf("result: %+v", res)
	}
	r := res.Rollouts[0]
	if r.Outcome != RolloutTimedOut || r.Replicas != 2 || r.Available != 0 || len(r.Pods) != 2 {
		t.Fatalf("rollout: %+v", r)
	}
	pods, lerr := cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, p := range r.Pods {
		if p.Phase != "Pending" || p.Reason != "Unschedulable" || p.Message == "" {
			t.Errorf("pod %+v, want Pending, Unschedulable with the scheduler's message", p)
		}
		if !strings.Contains(err.Error(), p.Name) {
			t.Errorf("the error does not name pod %s: %v", p.Name, err)
		}
		found := false
		for _, sp := range pods.Items {
			found = found || sp.Name == p.Name
		}
		if !found {
			t.Errorf("pod %s is not in the namespace", p.Name)
		}
	}
	t.Logf("the wait said: %v", err)
	if !strings.Contains(err.Error(), "Unschedulable") || !strings.Contains(err.Error(), "0 of 2 replicas available") {
		t.Errorf("error: %v", err)
	}
	if !strings.Contains(progress.String(), "deployment.apps/"+f.family+": ") {
		t.Errorf("no rollout progress:\n%s", progress.String())
	}

	// A quota that allows no pods: the ReplicaSet cannot create any, and
	// the Deployment's ReplicaFailure condition is what the wait reports.
	const quotaNS = "no-pods-here"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: quotaNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
	if _, err := cs.CoreV1().ResourceQuotas(quotaNS).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	qo := o
	qo.Namespace, qo.Timeout = quotaNS, 15*time.Second
	res, err = Deploy(ctx, qo)
	t.Logf("with the quota: %v", err)
	if !errors.Is(err, ErrRollout) || !strings.Contains(err.Error(), "ReplicaFailure (FailedCreate)") || !strings.Contains(err.Error(), "exceeded quota") {
		t.Errorf("want the ReplicaFailure condition reported, got %v", err)
	}
	if res != nil && actions(res)["namespace/"+quotaNS] != ActionSkipped {
		t.Errorf("the namespace that is not hoist's: %v", actions(res))
	}
	if _, err := Delete(ctx, qo); err != nil {
		t.Fatal(err)
	}

	// --no-wait returns at once, with the rollout not waited for.
	o.Wait = false
	res, err = Deploy(ctx, o)
	if err != nil || res.Rollouts[0].Outcome != RolloutNotWaited {
		t.Errorf("no wait: %+v %v", res, err)
	}

	// Delete with the garbage collector running: the ReplicaSet and the
	// Pods go with the Deployment, which is all hoist deletes itself.
	o.Wait = true
	res, err = Delete(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, ob := range res.Objects {
		if ob.Kind == "ReplicaSet" || ob.Kind == "Pod" {
			t.Errorf("hoist deleted %s itself", ob.Ref)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rs, _ := cs.AppsV1().ReplicaSets(f.ns).List(ctx, metav1.ListOptions{})
		ps, _ := cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{})
		if len(rs.Items) == 0 && len(ps.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d replica sets, %d pods left", len(rs.Items), len(ps.Items))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Pod and Deployment statuses as the scheduler, the kubelet and the
// deployment controller write them (YAML as `kubectl get -o yaml` shows
// them, trimmed to status).
func TestPodProblem(t *testing.T) {
	for _, tc := range []struct {
		name, yaml             string
		ok                     bool
		reason, container, msg string
	}{
		{name: "unschedulable", yaml: `
metadata: {name: web-1}
status:
  phase: Pending
  conditions:
  - type: PodScheduled
    status: "False"
    reason: Unschedulable
    message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.'
`, reason: "Unschedulable", msg: "3 Insufficient memory"},
		{name: "no scheduler", yaml: `
metadata: {name: web-2}
status: {phase: Pending}
`, reason: "NotScheduled", msg: "kube-scheduler"},
		{name: "image pull", yaml: `
metadata: {name: web-3}
spec: {nodeName: node-a}
status:
  phase: Pending
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Ready, status: "False", reason: ContainersNotReady, message: 'containers with unready status: [app]'}
  containerStatuses:
  - name: app
    ready: false
    restartCount: 0
    image: registry.example.com/app:v1
    imageID: ""
    state:
      waiting:
        reason: ImagePullBackOff
        message: Back-off pulling image "registry.example.com/app:v1"
`, reason: "ImagePullBackOff", container: "app", msg: "Back-off pulling image"},
		{name: "crash loop", yaml: `
metadata: {name: web-4}
spec: {nodeName: node-a}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "False", reason: ContainersNotReady}
  containerStatuses:
  - name: app
    ready: false
    restartCount: 5
    image: registry.example.com/app:v1
    imageID: registry.example.com/app@sha256:aa
    lastState:
      terminated: {exitCode: 1, reason: Error, message: 'java.lang.IllegalStateException: no database'}
    state:
      waiting: {reason: CrashLoopBackOff, message: 'back-off 2m40s restarting failed container=app pod=web-4'}
`, reason: "CrashLoopBackOff", container: "app", msg: "Error, exit code 1: java.lang.IllegalStateException: no database"},
		{name: "missing secret key", yaml: `
metadata: {name: web-5}
spec: {nodeName: node-a}
status:
  phase: Pending
  containerStatuses:
  - name: app
    ready: false
    restartCount: 0
    image: x
    imageID: ""
    state:
      waiting: {reason: CreateContainerConfigError, message: 'couldn''t find key TOKEN in Secret shop/app-secrets'}
`, reason: "CreateContainerConfigError", container: "app", msg: "couldn't find key TOKEN"},
		{name: "not ready", yaml: `
metadata: {name: web-6}
spec: {nodeName: node-a}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "False"}
  containerStatuses:
  - name: app
    ready: false
    started: true
    restartCount: 2
    image: x
    imageID: x
    lastState:
      terminated: {exitCode: 137, reason: OOMKilled}
    state:
      running: {startedAt: "2026-01-01T00:00:00Z"}
`, reason: "NotReady", container: "app", msg: "OOMKilled, exit code 137"},
		{name: "evicted", yaml: `
metadata: {name: web-7}
spec: {nodeName: node-a}
status: {phase: Failed, reason: Evicted, message: 'The node was low on resource: memory.'}
`, reason: "Evicted", msg: "low on resource"},
		{name: "ready", yaml: `
metadata: {name: web-8}
spec: {nodeName: node-a}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "True"}
`, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p corev1.Pod
			if err := yaml.UnmarshalStrict([]byte(tc.yaml), &p); err != nil {
				t.Fatal(err)
			}
			pp, ok := podProblem(&p)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tc.ok, pp)
			}
			if tc.ok {
				return
			}
			if pp.Reason != tc.reason || pp.Container != tc.container || !strings.Contains(pp.Message, tc.msg) {
				t.Errorf("got %+v\nwant reason %s, container %q, message with %q", pp, tc.reason, tc.container, tc.msg)
			}
			if !strings.Contains(pp.String(), p.Name) {
				t.Errorf("String() %q does not name the pod", pp.String())
			}
		})
	}
}

func TestDeploymentProgress(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		done       bool
		msg, fail  string
	}{
		{name: "no controller", yaml: `
metadata: {generation: 1}
spec: {replicas: 2}
`, msg: "kube-controller-manager"},
		{name: "new spec not seen", yaml: `
metadata: {generation: 3}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{type: Available, status: "True"}]}
`, msg: "generation 3"},
		{name: "progressing", yaml: `
metadata: {generation: 2}
spec: {replicas: 3}
status: {observedGeneration: 2, replicas: 4, updatedReplicas: 2, availableReplicas: 2}
`, msg: "2 of 3 new replicas updated"},
		{name: "old replicas", yaml: `
metadata: {generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2}
`, msg: "1 old replicas pending termination"},
		{name: "replica failure", yaml: `
metadata: {generation: 1}
spec: {replicas: 1}
status:
  observedGeneration: 1
  conditions:
  - type: ReplicaFailure
    status: "True"
    reason: FailedCreate
    message: 'pods "web-5d8f" is forbidden: exceeded quota: compute, requested: memory=2Gi, used: memory=7Gi, limited: memory=8Gi'
`, msg: "ReplicaFailure (FailedCreate): pods \"web-5d8f\" is forbidden: exceeded quota"},
		{name: "deadline exceeded", yaml: `
metadata: {generation: 4}
spec: {replicas: 2}
status:
  observedGeneration: 4
  replicas: 3
  updatedReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: 'ReplicaSet "web-7c9" has timed out progressing.'}
`, fail: "ProgressDeadlineExceeded: ReplicaSet \"web-7c9\" has timed out progressing."},
		{name: "complete", yaml: `
metadata: {generation: 5}
spec: {replicas: 2}
status: {observedGeneration: 5, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
`, done: true, msg: "2 of 2 replicas available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict([]byte(tc.yaml), &d); err != nil {
				t.Fatal(err)
			}
			done, msg, fail := deploymentProgress(&d)
			if done != tc.done || fail != tc.fail || (tc.msg != "" && !strings.Contains(msg, tc.msg)) {
				t.Errorf("got done %v, %q, failure %q; want done %v, message with %q, failure %q", done, msg, fail, tc.done, tc.msg, tc.fail)
			}
		})
	}
}

func TestRolloutError(t *testing.T) {
	r := Rollout{Ref: "deployment.apps/web", Namespace: "shop", Outcome: RolloutTimedOut, Replicas: 2, Message: "0 of 2 updated replicas available",
		Pods: []PodProblem{{Name: "web-1", Phase: "Pending", Reason: "ImagePullBackOff", Container: "app", Message: "Back-off pulling image"}}}
	want := `deployment.apps/web in namespace shop is not available after the timeout (0 of 2 replicas available; 0 of 2 updated replicas available); pods not ready: web-1: Pending, ImagePullBackOff (container app): Back-off pulling image`
	if got := rolloutError(r); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
