package generate

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// kubeKinds are the kinds hoist writes, by apiVersion/kind.
func newKubeObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "storage.k8s.io/v1/StorageClass":
		return &storagev1.StorageClass{}
	}
	return nil
}

// splitYAMLDocs splits a multi-document YAML file at "---" lines.
func splitYAMLDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	flush := func() {
		if len(bytes.TrimSpace(cur)) > 0 {
			docs = append(docs, cur)
		}
		cur = nil
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("---")) {
			flush()
			continue
		}
		cur = append(cur, line...)
	}
	flush()
	return docs
}

// validateKubeFile decodes every object of a manifest strictly (unknown or
// duplicate fields are errors) and checks it against the API's validation
// rules for names, labels, ports, probes and references.
func validateKubeFile(file string, data []byte) []Problem {
	p := &problems{file: file}
	for i, doc := range splitYAMLDocs(data) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			p.add(fmt.Sprintf("document %d", i+1), "fix the YAML", "does not parse: %v", err)
			continue
		}
		obj := newKubeObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			p.add(fmt.Sprintf("document %d", i+1), "hoist writes Namespace, ConfigMap, Secret, Service, PersistentVolumeClaim, Deployment, CronJob, Ingress, HorizontalPodAutoscaler (autoscaling/v2) and StorageClass", "apiVersion %q kind %q is not one hoist checks", tm.APIVersion, tm.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			p.add(fmt.Sprintf("%s (document %d)", tm.Kind, i+1), "remove or correct the field; see kubectl explain", "strict decoding: %v", err)
			continue
		}
		var errs field.ErrorList
		switch o := obj.(type) {
		case *corev1.Namespace:
			errs = append(errs, validateMeta(&o.ObjectMeta, false, true, field.NewPath("metadata"))...)
		case *corev1.ConfigMap:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			for k := range o.Data {
				for _, m := range validation.IsConfigMapKey(k) {
					errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, m))
				}
			}
		case *corev1.Secret:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			for k := range o.StringData {
				for _, m := range validation.IsConfigMapKey(k) {
					errs = append(errs, field.Invalid(field.NewPath("stringData").Key(k), k, m))
				}
			}
		case *corev1.PersistentVolumeClaim:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			if len(o.Spec.AccessModes) == 0 {
				errs = append(errs, field.Required(field.NewPath("spec", "accessModes"), "at least one access mode"))
			}
			if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.Sign() <= 0 {
				errs = append(errs, field.Required(field.NewPath("spec", "resources", "requests", "storage"), "a positive size"))
			}
		case *storagev1.StorageClass:
			errs = append(errs, validateMeta(&o.ObjectMeta, false, false, field.NewPath("metadata"))...)
			for _, m := range validation.IsQualifiedName(o.Provisioner) {
				errs = append(errs, field.Invalid(field.NewPath("provisioner"), o.Provisioner, m))
			}
		case *corev1.Service:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, true, field.NewPath("metadata"))...)
			errs = append(errs, validateService(o)...)
		case *appsv1.Deployment:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			sp := field.NewPath("spec")
			if o.Spec.Replicas != nil && *o.Spec.Replicas < 0 {
				errs = append(errs, field.Invalid(sp.Child("replicas"), *o.Spec.Replicas, "must be 0 or more"))
			}
			errs = append(errs, validateSelector(o.Spec.Selector, o.Spec.Template.Labels, sp)...)
			errs = append(errs, validatePodTemplate(&o.Spec.Template, sp.Child("template"), false)...)
		case *batchv1.CronJob:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			sp := field.NewPath("spec")
			if len(strings.Fields(o.Spec.Schedule)) != 5 {
				errs = append(errs, field.Invalid(sp.Child("schedule"), o.Spec.Schedule, "must have five fields"))
			}
			if len(o.Name) > 52 {
				errs = append(errs, field.TooLong(field.NewPath("metadata", "name"), o.Name, 52))
			}
			errs = append(errs, validatePodTemplate(&o.Spec.JobTemplate.Spec.Template, sp.Child("jobTemplate", "spec", "template"), true)...)
		case *networkingv1.Ingress:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			for ri, r := range o.Spec.Rules {
				rp := field.NewPath("spec", "rules").Index(ri)
				if r.Host != "" {
					for _, m := range validation.IsDNS1123Subdomain(r.Host) {
						errs = append(errs, field.Invalid(rp.Child("host"), r.Host, m))
					}
				}
				if r.HTTP == nil {
					continue
				}
				for pi, hp := range r.HTTP.Paths {
					pp := rp.Child("http", "paths").Index(pi)
					if !strings.HasPrefix(hp.Path, "/") {
						errs = append(errs, field.Invalid(pp.Child("path"), hp.Path, "must be an absolute path"))
					}
					if hp.PathType == nil {
						errs = append(errs, field.Required(pp.Child("pathType"), ""))
					}
					if b := hp.Backend.Service; b == nil {
						errs = append(errs, field.Required(pp.Child("backend", "service"), ""))
					} else if b.Port.Name != "" {
						for _, m := range validation.IsValidPortName(b.Port.Name) {
							errs = append(errs, field.Invalid(pp.Child("backend", "service", "port", "name"), b.Port.Name, m))
						}
					} else {
						for _, m := range validation.IsValidPortNum(int(b.Port.Number)) {
							errs = append(errs, field.Invalid(pp.Child("backend", "service", "port", "number"), b.Port.Number, m))
						}
					}
				}
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			errs = append(errs, validateMeta(&o.ObjectMeta, true, false, field.NewPath("metadata"))...)
			sp := field.NewPath("spec")
			if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas < 1 {
				errs = append(errs, field.Invalid(sp.Child("minReplicas"), *o.Spec.MinReplicas, "must be at least 1"))
			}
			if o.Spec.MaxReplicas < 1 || (o.Spec.MinReplicas != nil && o.Spec.MaxReplicas < *o.Spec.MinReplicas) {
				errs = append(errs, field.Invalid(sp.Child("maxReplicas"), o.Spec.MaxReplicas, "must be at least 1 and minReplicas"))
			}
			for mi, m := range o.Spec.Metrics {
				if m.Type == autoscalingv2.ResourceMetricSourceType && (m.Resource == nil || m.Resource.Target.AverageUtilization == nil || *m.Resource.Target.AverageUtilization < 1) {
					errs = append(errs, field.Invalid(sp.Child("metrics").Index(mi), m.Type, "a Resource metric needs a positive averageUtilization"))
				}
			}
		}
		for _, e := range errs {
			p.add(fmt.Sprintf("%s %s: %s", tm.Kind, nameOf(obj), e.Field), fixFor(e), "%s", e.ErrorBody())
		}
	}
	return p.list
}

func nameOf(obj any) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return ""
}

func fixFor(e *field.Error) string {
	switch {
	case strings.HasSuffix(e.Field, ".name") || strings.Contains(e.Field, "metadata"):
		return "use lower case letters, digits and '-' (see the message)"
	case strings.Contains(e.Field, "Probe"):
		return "give the probe exactly one handler, a port of the container and thresholds of 1 or more"
	case strings.Contains(e.Field, "port"):
		return "use a port number 1-65535 or the name of a container port"
	}
	return "see the message"
}

func validateMeta(m *metav1.ObjectMeta, namespaced, label bool, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := validation.IsDNS1123Subdomain
	if label {
		names = validation.IsDNS1123Label
	}
	if m.Name == "" {
		errs = append(errs, field.Required(fp.Child("name"), ""))
	}
	for _, msg := range names(m.Name) {
		errs = append(errs, field.Invalid(fp.Child("name"), m.Name, msg))
	}
	if namespaced {
		for _, msg := range validation.IsDNS1123Label(m.Namespace) {
			errs = append(errs, field.Invalid(fp.Child("namespace"), m.Namespace, msg))
		}
	}
	errs = append(errs, metavalidation.ValidateLabels(m.Labels, fp.Child("labels"))...)
	for k := range m.Annotations {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(fp.Child("annotations").Key(k), k, msg))
		}
	}
	return errs
}

func validateSelector(sel *metav1.LabelSelector, podLabels map[string]string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return append(errs, field.Required(fp.Child("selector"), "a selector is required"))
	}
	errs = append(errs, metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fp.Child("selector"))...)
	for k, v := range sel.MatchLabels {
		if podLabels[k] != v {
			errs = append(errs, field.Invalid(fp.Child("template", "metadata", "labels"), podLabels, "selector does not match template labels ("+k+")"))
		}
	}
	return errs
}

func validateService(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	fp := field.NewPath("spec", "ports")
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, field.Required(fp, ""))
	}
	seen := map[string]bool{}
	for i, p := range s.Spec.Ports {
		ip := fp.Index(i)
		if len(s.Spec.Ports) > 1 || p.Name != "" {
			for _, m := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(ip.Child("name"), p.Name, m))
			}
		}
		if seen[p.Name] {
			errs = append(errs, field.Duplicate(ip.Child("name"), p.Name))
		}
		seen[p.Name] = true
		for _, m := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(ip.Child("port"), p.Port, m))
		}
		if p.Protocol != corev1.ProtocolTCP && p.Protocol != corev1.ProtocolUDP && p.Protocol != corev1.ProtocolSCTP {
			errs = append(errs, field.NotSupported(ip.Child("protocol"), p.Protocol, []string{"TCP", "UDP", "SCTP"}))
		}
		errs = append(errs, validatePortRef(p.TargetPort.String(), p.TargetPort.IntValue(), p.TargetPort.Type == 1, ip.Child("targetPort"))...)
	}
	errs = append(errs, metavalidation.ValidateLabels(s.Spec.Selector, field.NewPath("spec", "selector"))...)
	return errs
}

func validatePortRef(name string, num int, isName bool, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if isName {
		for _, m := range validation.IsValidPortName(name) {
			errs = append(errs, field.Invalid(fp, name, m))
		}
	} else {
		for _, m := range validation.IsValidPortNum(num) {
			errs = append(errs, field.Invalid(fp, num, m))
		}
	}
	return errs
}

func validatePodTemplate(t *corev1.PodTemplateSpec, fp *field.Path, job bool) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, metavalidation.ValidateLabels(t.Labels, fp.Child("metadata", "labels"))...)
	sp := fp.Child("spec")
	if len(t.Spec.Containers) == 0 {
		errs = append(errs, field.Required(sp.Child("containers"), ""))
	}
	if job && t.Spec.RestartPolicy != corev1.RestartPolicyOnFailure && t.Spec.RestartPolicy != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(sp.Child("restartPolicy"), t.Spec.RestartPolicy, []string{"OnFailure", "Never"}))
	}
	vols := map[string]bool{}
	for i, v := range t.Spec.Volumes {
		for _, m := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(sp.Child("volumes").Index(i).Child("name"), v.Name, m))
		}
		if vols[v.Name] {
			errs = append(errs, field.Duplicate(sp.Child("volumes").Index(i).Child("name"), v.Name))
		}
		vols[v.Name] = true
	}
	for ci, c := range t.Spec.Containers {
		cp := sp.Child("containers").Index(ci)
		for _, m := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(cp.Child("name"), c.Name, m))
		}
		if c.Image == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		}
		ports := map[string]bool{}
		nums := map[int32]bool{}
		for pi, p := range c.Ports {
			pp := cp.Child("ports").Index(pi)
			for _, m := range validation.IsValidPortNum(int(p.ContainerPort)) {
				errs = append(errs, field.Invalid(pp.Child("containerPort"), p.ContainerPort, m))
			}
			if p.Name != "" {
				for _, m := range validation.IsValidPortName(p.Name) {
					errs = append(errs, field.Invalid(pp.Child("name"), p.Name, m))
				}
				if ports[p.Name] {
					errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
				}
				ports[p.Name] = true
			}
			nums[p.ContainerPort] = true
		}
		for ei, e := range c.Env {
			for _, m := range validation.IsEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(cp.Child("env").Index(ei).Child("name"), e.Name, m))
			}
		}
		for mi, m := range c.VolumeMounts {
			if !vols[m.Name] {
				errs = append(errs, field.NotFound(cp.Child("volumeMounts").Index(mi).Child("name"), m.Name))
			}
			if !strings.HasPrefix(m.MountPath, "/") {
				errs = append(errs, field.Invalid(cp.Child("volumeMounts").Index(mi).Child("mountPath"), m.MountPath, "must be absolute"))
			}
		}
		for name, probe := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
			if probe == nil {
				continue
			}
			pp := cp.Child(name)
			if job && name == "readinessProbe" {
				continue
			}
			handlers := 0
			if h := probe.HTTPGet; h != nil {
				handlers++
				errs = append(errs, probePort(h.Port.String(), h.Port.IntValue(), h.Port.Type == 1, ports, nums, pp.Child("httpGet", "port"))...)
				if !strings.HasPrefix(h.Path, "/") {
					errs = append(errs, field.Invalid(pp.Child("httpGet", "path"), h.Path, "must start with /"))
				}
			}
			if h := probe.TCPSocket; h != nil {
				handlers++
				errs = append(errs, probePort(h.Port.String(), h.Port.IntValue(), h.Port.Type == 1, ports, nums, pp.Child("tcpSocket", "port"))...)
			}
			if probe.Exec != nil {
				handlers++
			}
			if probe.GRPC != nil {
				handlers++
			}
			if handlers != 1 {
				errs = append(errs, field.Invalid(pp, handlers, "must have exactly one handler"))
			}
			for fname, v := range map[string]int32{"periodSeconds": probe.PeriodSeconds, "timeoutSeconds": probe.TimeoutSeconds, "successThreshold": probe.SuccessThreshold, "failureThreshold": probe.FailureThreshold} {
				if v < 1 {
					errs = append(errs, field.Invalid(pp.Child(fname), v, "must be at least 1"))
				}
			}
			if name != "readinessProbe" && probe.SuccessThreshold != 1 {
				errs = append(errs, field.Invalid(pp.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
			}
		}
		if l, r := c.Resources.Limits, c.Resources.Requests; l != nil && r != nil {
			for res, q := range r {
				if lim, ok := l[res]; ok && q.Cmp(lim) > 0 {
					errs = append(errs, field.Invalid(cp.Child("resources", "requests").Key(string(res)), q.String(), "must be less than or equal to the limit"))
				}
			}
		}
	}
	if sc := t.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		errs = append(errs, field.Invalid(sp.Child("securityContext", "runAsNonRoot"), true, "runAsUser is 0"))
	}
	return errs
}

func probePort(name string, num int, isName bool, names map[string]bool, nums map[int32]bool, fp *field.Path) field.ErrorList {
	errs := validatePortRef(name, num, isName, fp)
	if isName && !names[name] {
		errs = append(errs, field.NotFound(fp, name))
	}
	return errs
}
