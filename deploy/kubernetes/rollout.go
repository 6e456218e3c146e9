package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PodProblem is why one pod is not ready.
type PodProblem struct {
	Name  string `json:"name"`
	Phase string `json:"phase"`
	// Reason is the most telling reason: Unschedulable, NotScheduled,
	// ImagePullBackOff, ErrImagePull, CrashLoopBackOff,
	// CreateContainerConfigError, NotReady, Evicted, ...
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Container is the container the reason is about, if any.
	Container string `json:"container,omitempty"`
	Restarts  int32  `json:"restarts,omitempty"`
}

func (p PodProblem) String() string {
	s := p.Name + ": " + p.Phase + ", " + p.Reason
	if p.Container != "" {
		s += " (container " + p.Container + ")"
	}
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s
}

// deploymentProgress reads a Deployment's status as `kubectl rollout
// status` does: done when the controller has seen the current spec and
// every wanted replica is updated and available, with no old ones left.
// failure is set when the controller gave up (ProgressDeadlineExceeded).
func deploymentProgress(d *appsv1.Deployment) (done bool, msg, failure string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	if d.Generation > st.ObservedGeneration {
		if st.ObservedGeneration == 0 && len(st.Conditions) == 0 {
			return false, "no status yet: no deployment controller has acted on it (is kube-controller-manager running?)", ""
		}
		return false, fmt.Sprintf("waiting for the deployment controller to see generation %d", d.Generation), ""
	}
	var notes []string
	for _, c := range st.Conditions {
		switch {
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			return false, "", "ProgressDeadlineExceeded: " + c.Message
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			notes = append(notes, "ReplicaFailure ("+c.Reason+"): "+c.Message)
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		msg = fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		msg = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		msg = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		return true, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want), ""
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return false, msg, ""
}

// podProblem says why a pod is not ready, from what the scheduler and the
// kubelet wrote into its status; ok is true for a ready pod.
func podProblem(p *corev1.Pod) (pp PodProblem, ok bool) {
	pp = PodProblem{Name: p.Name, Phase: string(p.Status.Phase)}
	if pp.Phase == "" {
		pp.Phase = string(corev1.PodPending)
	}
	for _, cs := range p.Status.ContainerStatuses {
		pp.Restarts += cs.RestartCount
	}
	if p.DeletionTimestamp != nil {
		pp.Reason, pp.Message = "Terminating", "being deleted"
		return pp, false
	}
	cond := func(t corev1.PodConditionType) *corev1.PodCondition {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == t {
				return &p.Status.Conditions[i]
			}
		}
		return nil
	}
	if c := cond(corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return pp, true
	}
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		pp.Reason, pp.Message = p.Status.Reason, p.Status.Message
		if pp.Reason == "" {
			pp.Reason = string(p.Status.Phase)
		}
		if t := lastTermination(p.Status.ContainerStatuses); t != nil && pp.Message == "" {
			pp.Container, pp.Message = t.name, t.msg
		}
		return pp, false
	}
	if p.Spec.NodeName == "" {
		if c := cond(corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			pp.Reason, pp.Message = c.Reason, c.Message
			if pp.Reason == "" {
				pp.Reason = "Unschedulable"
			}
			return pp, false
		}
		pp.Reason, pp.Message = "NotScheduled", "no scheduler has placed it on a node yet (is kube-scheduler running, and are there nodes?)"
		return pp, false
	}
	// On a node: the containers say why.
	all := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range all {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" {
			pp.Reason, pp.Container, pp.Message = w.Reason, cs.Name, w.Message
			if w.Reason == "CrashLoopBackOff" {
				if t := cs.LastTerminationState.Terminated; t != nil {
					pp.Message = fmt.Sprintf("last run ended: %s", termination(t))
				}
			}
			return pp, false
		}
	}
	for _, cs := range all {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			pp.Reason, pp.Container, pp.Message = "Terminated", cs.Name, termination(t)
			return pp, false
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && !cs.Ready {
			pp.Reason, pp.Container = "NotReady", cs.Name
			pp.Message = "running, but its readiness probe has not passed yet"
			if cs.Started != nil && !*cs.Started {
				pp.Message = "running, but its startup probe has not passed yet"
			}
			if cs.RestartCount > 0 {
				pp.Message += fmt.Sprintf(" (restarted %d times", cs.RestartCount)
				if t := cs.LastTerminationState.Terminated; t != nil {
					pp.Message += "; last run ended: " + termination(t)
				}
				pp.Message += ")"
			}
			return pp, false
		}
	}
	pp.Reason = "NotReady"
	if c := cond(corev1.PodReady); c != nil && c.Reason != "" {
		pp.Reason, pp.Message = c.Reason, c.Message
	}
	if pp.Message == "" {
		pp.Message = "starting"
	}
	return pp, false
}

func termination(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("%s, exit code %d", orNone(t.Reason), t.ExitCode)
	if t.Signal != 0 {
		s += fmt.Sprintf(", signal %d", t.Signal)
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		s += ": " + m
	}
	return s
}

type termInfo struct{ name, msg string }

func lastTermination(css []corev1.ContainerStatus) *termInfo {
	for _, cs := range css {
		if t := cs.State.Terminated; t != nil {
			return &termInfo{cs.Name, termination(t)}
		}
	}
	return nil
}

// waitDeployment polls the Deployment until it is available, failed, or
// the deadline passes; the pods that are not ready are then listed.
func (c *cluster) waitDeployment(ctx context.Context, ns, name string, deadline time.Time, o Options) Rollout {
	r := Rollout{Ref: ref(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, name), Namespace: ns}
	last := ""
	for {
		d, err := c.typed.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			r.Outcome, r.Message = RolloutFailed, c.explain("reading "+r.Ref, err).Error()
			if ctx.Err() != nil {
				r.Outcome, r.Message = RolloutNotWaited, "interrupted"
			}
			return r
		}
		done, msg, failure := deploymentProgress(d)
		if d.Spec.Replicas != nil {
			r.Replicas = *d.Spec.Replicas
		}
		r.Updated, r.Ready, r.Available = d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas
		if msg != "" && msg != last {
			fmt.Fprintf(o.Progress, "%s: %s\n", r.Ref, msg)
			last = msg
		}
		r.Message = msg
		switch {
		case done:
			r.Outcome = RolloutComplete
			return r
		case failure != "":
			r.Outcome, r.Message = RolloutFailed, failure
		case !time.Now().Before(deadline):
			r.Outcome = RolloutTimedOut
		}
		if r.Outcome != "" {
			r.Pods = c.podProblems(ctx, d)
			return r
		}
		wait := min(o.pollInterval, time.Until(deadline))
		select {
		case <-ctx.Done():
			r.Outcome, r.Message = RolloutNotWaited, "interrupted"
			return r
		case <-time.After(max(wait, 0)):
		}
	}
}

// podProblems lists the Deployment's pods that are not ready.
func (c *cluster) podProblems(ctx context.Context, d *appsv1.Deployment) []PodProblem {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	pods, err := c.typed.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return []PodProblem{{Name: "?", Reason: "ListFailed", Message: err.Error()}}
		}
		return []PodProblem{{Name: "?", Reason: "Forbidden", Message: "hoist may not list pods in " + d.Namespace + ": " + apiMessage(err)}}
	}
	var out []PodProblem
	for i := range pods.Items {
		if pp, ok := podProblem(&pods.Items[i]); !ok {
			out = append(out, pp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// rolloutError is one workload's line in the error of a failed wait.
func rolloutError(r Rollout) string {
	var b strings.Builder
	switch r.Outcome {
	case RolloutTimedOut:
		fmt.Fprintf(&b, "%s in namespace %s is not available after the timeout (%d of %d replicas available", r.Ref, r.Namespace, r.Available, r.Replicas)
		if r.Message != "" {
			b.WriteString("; " + r.Message)
		}
		b.WriteString(")")
	default:
		fmt.Fprintf(&b, "%s in namespace %s: %s", r.Ref, r.Namespace, r.Outcome)
		if r.Message != "" {
			b.WriteString(": " + r.Message)
		}
	}
	if len(r.Pods) == 0 {
		if r.Updated == 0 {
			b.WriteString("; no pods")
		}
		return b.String()
	}
	b.WriteString("; pods not ready: ")
	const show = 5
	for i, p := range r.Pods {
		if i == show {
			fmt.Fprintf(&b, "; and %d more (--output json lists them)", len(r.Pods)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}
