package generate

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/discover"
)

// kubeFile is one manifest: its file name under kubernetes/ and its objects.
type kubeFile struct {
	name    string
	objects []runtime.Object
}

// configFileData is a config file's content for the config ConfigMap.
type configFileData struct {
	path string
	data []byte
}

func kubeLabels(d *Deployment) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       d.Family,
		"app.kubernetes.io/instance":   d.Family,
		"app.kubernetes.io/version":    labelValue(imageTag(d.Image)),
		"app.kubernetes.io/component":  component(d),
		"app.kubernetes.io/part-of":    d.Family,
		"app.kubernetes.io/managed-by": "hoist",
	}
}

func selectorLabels(d *Deployment) map[string]string {
	return map[string]string{"app.kubernetes.io/name": d.Family, "app.kubernetes.io/instance": d.Family}
}

func component(d *Deployment) string {
	if d.Schedule != nil {
		return "batch"
	}
	return "server"
}

// labelValue makes s a valid label value (63 characters of [A-Za-z0-9._-],
// alphanumeric at both ends).
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "._-")
}

func meta(d *Deployment, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: d.Kubernetes.Namespace, Labels: kubeLabels(d)}
}

// millicores turns ECS CPU units into a Kubernetes quantity.
func millicores(units int) resource.Quantity {
	return *resource.NewMilliQuantity(int64(units)*1000/1024, resource.DecimalSI)
}

func mebibytes(mib int) resource.Quantity {
	return *resource.NewQuantity(int64(mib)*1024*1024, resource.BinarySI)
}

// kubernetesManifests builds the manifests. image is what the pods run
// (see kubeImage). configs are the app's config files whose content is
// known (from the build context) and holds no secret.
func kubernetesManifests(d *Deployment, a *discover.Analysis, image string, secrets discover.Secrets, configs []configFileData, w *warnings) []kubeFile {
	k := d.Kubernetes
	var files []kubeFile
	files = append(files, kubeFile{"namespace.yaml", []runtime.Object{&corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: k.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "hoist"}},
	}}})

	// Environment: a ConfigMap; secrets: a Secret with the keys (values
	// only when asked for).
	envCM := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta(d, d.Family+"-env"), Data: map[string]string{}}
	for _, e := range d.Environment {
		envCM.Data[e.Name] = e.Value
	}
	cms := []runtime.Object{envCM}
	var cfgCM *corev1.ConfigMap
	cfgKeys := map[string]string{} // path -> key
	if len(configs) > 0 {
		cfgCM = &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta(d, d.Family+"-config"), Data: map[string]string{}}
		used := map[string]bool{}
		for _, c := range configs {
			key := configKey(c.path, used)
			cfgKeys[c.path] = key
			cfgCM.Data[key] = string(c.data)
		}
		cms = append(cms, cfgCM)
	}
	files = append(files, kubeFile{"configmap.yaml", cms})
	if len(d.Secrets) > 0 {
		if k.IncludeSecretValues {
			w.add("kubernetes", "kubernetes.includeSecretValues", "secret.yaml (and deploy/.previous/) hold secret values: add */deploy/kubernetes/secret.yaml and */deploy/.previous/ to the workspace's .gitignore, or turn the option off")
		}
		sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(d, d.Family+"-secrets"), Type: corev1.SecretTypeOpaque, StringData: map[string]string{}}
		for _, s := range d.Secrets {
			v := ""
			if k.IncludeSecretValues {
				v = secrets[s.SecretRef]
				if _, ok := secrets[s.SecretRef]; !ok {
					w.add("kubernetes", "secrets", fmt.Sprintf("%s: no value in the workspace's secrets file; secret.yaml has an empty value", s.SecretRef))
				}
			}
			sec.StringData[s.Name] = v
		}
		files = append(files, kubeFile{"secret.yaml", []runtime.Object{sec}})
	}

	// Storage.
	shared := sharedVolumes(d)
	switch {
	case len(shared) == 0:
	case k.ExistingStorageClass:
		// The cluster's class decides the file system and the access
		// points; nothing of deployment.json's reaches it.
		if k.EFSFileSystemID != "" {
			w.add("kubernetes", "kubernetes.efsFileSystemId", fmt.Sprintf("not used: the claims use the cluster's StorageClass %s (kubernetes.existingStorageClass), whose parameters name the file system", k.StorageClassName))
		}
		for _, v := range shared {
			if v.FileSystemID != "" {
				w.add("kubernetes", "volumes", fmt.Sprintf("%s: fileSystemId %s is not used on Kubernetes: the claim gets its file system from the cluster's StorageClass %s (kubernetes.existingStorageClass)", v.Name, v.FileSystemID, k.StorageClassName))
			}
		}
	default:
		if k.StorageClassName == legacyStorageClassName {
			w.add("kubernetes", "kubernetes.storageClassName", fmt.Sprintf("%s is the name hoist gave every app's StorageClass before it named them after the app; a StorageClass is cluster-wide: where another app's or the platform's %s exists, deploy leaves it as it is and this app's claims get its file system, base path and uid. Rename it %s-efs, or set kubernetes.existingStorageClass to use the cluster's class on purpose", k.StorageClassName, k.StorageClassName, d.Family))
		}
		fsID := k.EFSFileSystemID
		if fsID == "" {
			for _, v := range shared {
				if v.FileSystemID != "" {
					fsID = v.FileSystemID
					break
				}
			}
		}
		if fsID == "" {
			fsID = "${EFS_FILE_SYSTEM_ID}"
			w.add("kubernetes", "kubernetes.efsFileSystemId", "not set: storageclass.yaml carries ${EFS_FILE_SYSTEM_ID}; set the field (or replace the placeholder) before applying")
		}
		params := map[string]string{"provisioningMode": "efs-ap", "fileSystemId": fsID, "directoryPerms": "750", "basePath": "/" + d.Family}
		if d.User != "" {
			// The access points the driver creates own their directory
			// as the app's user, like the ECS stack's.
			uid, gid := numericUser(d.User)
			params["uid"], params["gid"] = uid, gid
		}
		reclaim := corev1.PersistentVolumeReclaimRetain
		binding := storagev1.VolumeBindingImmediate
		files = append(files, kubeFile{"storageclass.yaml", []runtime.Object{&storagev1.StorageClass{
			TypeMeta:          metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"},
			ObjectMeta:        metav1.ObjectMeta{Name: k.StorageClassName, Labels: kubeLabels(d)},
			Provisioner:       "efs.csi.aws.com",
			Parameters:        params,
			ReclaimPolicy:     &reclaim,
			VolumeBindingMode: &binding,
		}}})
	}
	if len(shared) > 0 {
		var pvcs []runtime.Object
		sc := k.StorageClassName
		for _, v := range shared {
			size := v.SizeGiB
			if size == 0 {
				size = 1
			}
			mode := corev1.ReadWriteMany
			if v.ReadOnly {
				mode = corev1.ReadOnlyMany
			}
			pvcs = append(pvcs, &corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: meta(d, d.Family+"-"+v.Name),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
					StorageClassName: &sc,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(size)<<30, resource.BinarySI)}},
				},
			})
		}
		files = append(files, kubeFile{"pvc.yaml", pvcs})
	}

	if d.TaskRole.Arn != "" || len(d.TaskRole.ManagedPolicyArns) > 0 {
		w.add("kubernetes", "taskRole", "pods get AWS permissions through IRSA or EKS Pod Identity: bind the task role to a ServiceAccount and set it in deployment.yaml (not generated)")
	}
	if d.Notifications.StoppedTasks {
		w.add("kubernetes", "notifications.stoppedTasks", "Kubernetes reports stopped pods as events (kubectl get events); no SNS topic is wired")
	}
	w.add("kubernetes", "logging", "container logs stay on the node (kubectl logs) unless a log agent such as Fluent Bit ships them to "+d.Logging.LogGroupName)
	pod := podTemplate(d, a, image, envCM.Name, cfgCM, cfgKeys, w)
	if d.Schedule != nil {
		cron, notes, err := d.Schedule.Cron()
		for _, n := range notes {
			w.add("kubernetes", "schedule.expression", n)
		}
		if err != nil {
			// Validate has refused such expressions already.
			w.add("kubernetes", "schedule.expression", err.Error())
		}
		pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		cj := &batchv1.CronJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
			ObjectMeta: meta(d, d.Family),
			Spec: batchv1.CronJobSpec{
				Schedule:                   cron,
				ConcurrencyPolicy:          batchv1.ForbidConcurrent,
				SuccessfulJobsHistoryLimit: ptr(int32(3)),
				FailedJobsHistoryLimit:     ptr(int32(3)),
				JobTemplate: batchv1.JobTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: kubeLabels(d)},
					Spec:       batchv1.JobSpec{BackoffLimit: ptr(int32(2)), Template: pod},
				},
			},
		}
		if tz := d.Schedule.Timezone; tz != "" {
			cj.Spec.TimeZone = &tz
		}
		files = append(files, kubeFile{"cronjob.yaml", []runtime.Object{cj}})
	} else {
		replicas := int32(k.Replicas)
		dep := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta(d, d.Family),
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(d)},
				Template: pod,
				Strategy: appsv1.DeploymentStrategy{
					Type: appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{
						MaxUnavailable: ptr(intstr.FromString(strconv.Itoa(100-d.DeploymentConfiguration.MinimumHealthyPercent) + "%")),
						MaxSurge:       ptr(intstr.FromString(strconv.Itoa(d.DeploymentConfiguration.MaximumPercent-100) + "%")),
					},
				},
			},
		}
		if !d.AutoScaling.Enabled {
			dep.Spec.Replicas = &replicas
		}
		files = append(files, kubeFile{"deployment.yaml", []runtime.Object{dep}})
		if len(d.PortMappings) > 0 {
			svc := &corev1.Service{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: meta(d, d.Family),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(k.ServiceType), Selector: selectorLabels(d)},
			}
			for _, p := range d.PortMappings {
				sp := corev1.ServicePort{Name: p.Name, Port: int32(p.ContainerPort), TargetPort: intstr.FromString(p.Name), Protocol: corev1.Protocol(strings.ToUpper(p.Protocol))}
				if p.AppProtocol != "" {
					sp.AppProtocol = &p.AppProtocol
				}
				svc.Spec.Ports = append(svc.Spec.Ports, sp)
			}
			files = append(files, kubeFile{"service.yaml", []runtime.Object{svc}})
		}
		if k.Ingress.Enabled {
			files = append(files, kubeFile{"ingress.yaml", []runtime.Object{ingress(d, w)}})
		}
		if d.AutoScaling.Enabled {
			if hpa := autoscaler(d, w); hpa != nil {
				files = append(files, kubeFile{"hpa.yaml", []runtime.Object{hpa}})
			}
		}
	}
	return files
}

func ptr[T any](v T) *T { return &v }

// configKey is a ConfigMap key for a config file: its base name, made
// unique.
func configKey(p string, used map[string]bool) string {
	base := path.Base(p)
	var b strings.Builder
	for _, r := range base {
		if r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	key := strings.TrimLeft(b.String(), ".")
	if key == "" {
		key = "config"
	}
	k := key
	for i := 2; used[k]; i++ {
		k = strconv.Itoa(i) + "-" + key
	}
	used[k] = true
	return k
}

func podTemplate(d *Deployment, a *discover.Analysis, image, envCM string, cfgCM *corev1.ConfigMap, cfgKeys map[string]string, w *warnings) corev1.PodTemplateSpec {
	c := corev1.Container{
		Name:            d.Family,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		WorkingDir:      d.WorkingDirectory,
		EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: envCM}}}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: millicores(d.Cpu), corev1.ResourceMemory: mebibytes(d.Memory)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: millicores(d.Cpu), corev1.ResourceMemory: mebibytes(d.Memory)},
		},
	}
	for _, s := range d.Secrets {
		c.Env = append(c.Env, corev1.EnvVar{Name: s.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: d.Family + "-secrets"}, Key: s.Name,
		}}})
	}
	for _, p := range d.PortMappings {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.ContainerPort), Protocol: corev1.Protocol(strings.ToUpper(p.Protocol))})
	}
	hc := d.HealthCheck
	if hc.Port != 0 && d.Schedule == nil {
		handler := corev1.ProbeHandler{}
		portName := portMappingFor(d, hc.Port).Name
		port := intstr.FromString(portName)
		if portName == "" {
			port = intstr.FromInt32(int32(hc.Port))
		}
		if hc.Protocol == "HTTP" {
			handler.HTTPGet = &corev1.HTTPGetAction{Path: hc.Path, Port: port, Scheme: corev1.URISchemeHTTP}
			if hc.Matcher != "" && hc.Matcher != "200-399" {
				w.add("kubernetes", "healthCheck.matcher", "probes count 200-399 as healthy; "+hc.Matcher+" is not expressible")
			}
		} else {
			handler.TCPSocket = &corev1.TCPSocketAction{Port: port}
		}
		probe := func(success int32) *corev1.Probe {
			return &corev1.Probe{ProbeHandler: handler, PeriodSeconds: int32(hc.IntervalSeconds), TimeoutSeconds: int32(hc.TimeoutSeconds), SuccessThreshold: success, FailureThreshold: int32(hc.UnhealthyThreshold)}
		}
		c.ReadinessProbe = probe(int32(hc.HealthyThreshold))
		c.LivenessProbe = probe(1)
		if hc.GracePeriodSeconds > 0 {
			// The grace period: the startup probe may fail for that long
			// before liveness takes over.
			sp := probe(1)
			sp.PeriodSeconds = 10
			sp.FailureThreshold = int32((hc.GracePeriodSeconds + 9) / 10)
			if sp.FailureThreshold < 1 {
				sp.FailureThreshold = 1
			}
			c.StartupProbe = sp
		}
	}
	if len(hc.Command) > 0 {
		w.add("kubernetes", "healthCheck.command", "the probes use the HTTP/TCP check; the in-container command is ECS only")
	}
	var vols []corev1.Volume
	for _, v := range d.Volumes {
		vol := corev1.Volume{Name: v.Name}
		if v.Shared {
			vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: d.Family + "-" + v.Name, ReadOnly: v.ReadOnly}
		} else {
			vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
		vols = append(vols, vol)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: v.ContainerPath, ReadOnly: v.ReadOnly})
	}
	if cfgCM != nil {
		vols = append(vols, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cfgCM.Name}}}})
		paths := make([]string, 0, len(cfgKeys))
		for p := range cfgKeys {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: p, SubPath: cfgKeys[p], ReadOnly: true})
		}
	}
	if len(d.Ulimits) > 0 {
		names := make([]string, 0, len(d.Ulimits))
		for _, u := range d.Ulimits {
			names = append(names, u.Name)
		}
		w.add("kubernetes", "ulimits", "Kubernetes has no per-container ulimits ("+strings.Join(names, ", ")+"); the node's container runtime defaults apply")
	}
	psc := &corev1.PodSecurityContext{}
	if d.User != "" {
		uid, gid, hasGid := strings.Cut(d.User, ":")
		if u, err := strconv.ParseInt(uid, 10, 64); err == nil {
			psc.RunAsUser = &u
			nonRoot := u != 0
			psc.RunAsNonRoot = &nonRoot
			if !hasGid {
				gid = uid
			}
		} else {
			w.add("kubernetes", "user", fmt.Sprintf("%q is a name; runAsUser takes a number, so the image's USER applies", d.User))
		}
		if g, err := strconv.ParseInt(gid, 10, 64); err == nil {
			psc.RunAsGroup = &g
			if len(d.Volumes) > 0 {
				psc.FSGroup = &g
			}
		}
	}
	psc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false)}
	grace := int64(30)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: kubeLabels(d)},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			Volumes:                       vols,
			SecurityContext:               psc,
			TerminationGracePeriodSeconds: &grace,
			EnableServiceLinks:            ptr(false),
		},
	}
}

func ingress(d *Deployment, w *warnings) *networkingv1.Ingress {
	in := d.Kubernetes.Ingress
	lbPort := portMappingFor(d, d.LoadBalancer.ContainerPort)
	pt := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta(d, d.Family),
		Spec: networkingv1.IngressSpec{
			IngressClassName: &in.ClassName,
			Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: in.Path, PathType: &pt,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: d.Family, Port: networkingv1.ServiceBackendPort{Name: lbPort.Name}}},
				}}}},
			}},
		},
	}
	if lbPort.Protocol == "udp" {
		w.add("kubernetes", "loadBalancer.containerPort", "an Ingress routes HTTP; the UDP port is reachable through the Service only")
	}
	if in.ClassName == "alb" {
		hc := d.HealthCheck
		lb := d.LoadBalancer
		ann := map[string]string{
			"alb.ingress.kubernetes.io/scheme":                       lb.Scheme,
			"alb.ingress.kubernetes.io/target-type":                  "ip",
			"alb.ingress.kubernetes.io/healthcheck-protocol":         hc.Protocol,
			"alb.ingress.kubernetes.io/healthcheck-interval-seconds": strconv.Itoa(hc.IntervalSeconds),
			"alb.ingress.kubernetes.io/healthcheck-timeout-seconds":  strconv.Itoa(hc.TimeoutSeconds),
			"alb.ingress.kubernetes.io/healthy-threshold-count":      strconv.Itoa(hc.HealthyThreshold),
			"alb.ingress.kubernetes.io/unhealthy-threshold-count":    strconv.Itoa(hc.UnhealthyThreshold),
			"alb.ingress.kubernetes.io/target-group-attributes":      "deregistration_delay.timeout_seconds=" + strconv.Itoa(lb.DeregistrationDelaySeconds),
		}
		if hc.Protocol == "HTTP" {
			ann["alb.ingress.kubernetes.io/healthcheck-path"] = hc.Path
			ann["alb.ingress.kubernetes.io/success-codes"] = hc.Matcher
		}
		listen := "HTTP"
		if lb.ListenerProtocol == "HTTPS" {
			listen = "HTTPS"
			ann["alb.ingress.kubernetes.io/certificate-arn"] = lb.CertificateArn
		}
		lp, _ := json.Marshal([]map[string]int{{listen: lb.ListenerPort}})
		ann["alb.ingress.kubernetes.io/listen-ports"] = string(lp)
		ing.Annotations = ann
	} else if d.LoadBalancer.Type == LoadBalancerNetwork {
		w.add("kubernetes", "loadBalancer.type", "network: an Ingress is HTTP; set kubernetes.serviceType LoadBalancer for a network load balancer")
	}
	return ing
}

func autoscaler(d *Deployment, w *warnings) *autoscalingv2.HorizontalPodAutoscaler {
	as := d.AutoScaling
	minR := int32(max(as.MinCapacity, 1))
	if as.MinCapacity == 0 {
		w.add("kubernetes", "autoScaling.minCapacity", "an HPA keeps at least 1 replica")
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: meta(d, d.Family),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Family},
			MinReplicas:    &minR,
			MaxReplicas:    int32(as.MaxCapacity),
		},
	}
	scaleIn, scaleOut := -1, -1
	for _, t := range as.TargetTracking {
		var res corev1.ResourceName
		switch t.Metric {
		case MetricCPU:
			res = corev1.ResourceCPU
		case MetricMemory:
			res = corev1.ResourceMemory
		default:
			w.add("kubernetes", "autoScaling.targetTracking", t.Metric+" needs an external metrics adapter; the HPA does not scale on it")
			continue
		}
		hpa.Spec.Metrics = append(hpa.Spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: res, Target: autoscalingv2.MetricTarget{
				Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(t.TargetValue)),
			}},
		})
		if t.TargetValue != float64(int32(t.TargetValue)) {
			w.add("kubernetes", "autoScaling.targetTracking.targetValue", fmt.Sprintf("%v rounded down to a whole percentage", t.TargetValue))
		}
		scaleIn = max(scaleIn, t.ScaleInCooldown)
		scaleOut = max(scaleOut, t.ScaleOutCooldown)
	}
	if len(as.StepScaling) > 0 {
		w.add("kubernetes", "autoScaling.stepScaling", "an HPA has no step scaling; only target tracking on CPU and memory carries over")
	}
	if len(as.Scheduled) > 0 {
		w.add("kubernetes", "autoScaling.scheduledActions", "an HPA has no scheduled actions (KEDA's cron scaler does this)")
	}
	if len(hpa.Spec.Metrics) == 0 {
		w.add("kubernetes", "autoScaling", "no policy an HPA can express; no hpa.yaml is written and the Deployment runs kubernetes.replicas")
		return nil
	}
	if scaleIn >= 0 {
		hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(min(scaleIn, 3600)))},
			ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(min(scaleOut, 3600)))},
		}
	}
	return hpa
}

// marshalKube renders objects as YAML documents, without the empty status
// and the fields the server fills.
func marshalKube(objs []runtime.Object) ([]byte, error) {
	var out []byte
	for i, o := range objs {
		js, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			return nil, err
		}
		prune(m)
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, y...)
	}
	return out, nil
}

// prune drops empty status objects, null creation timestamps and empty
// strategy/resources objects.
func prune(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch s := sub.(type) {
			case nil:
				delete(x, k)
				continue
			case map[string]any:
				prune(s)
				if len(s) == 0 && (k == "status" || k == "resources" || k == "metadata" || k == "strategy") {
					delete(x, k)
				}
			case []any:
				for _, e := range s {
					prune(e)
				}
			}
		}
	case []any:
		for _, e := range x {
			prune(e)
		}
	}
}

// readConfigFiles collects the content of the app's config files from the
// build context `hoist containerize` wrote, leaving out those holding
// secrets (they stay in the image, where the entry point renders them)
// and those inside archives.
func readConfigFiles(ws discover.Workspace, a *discover.Analysis, w *warnings) []configFileData {
	if len(a.Observed.ConfigFiles) == 0 {
		return nil
	}
	ctx := filepath.Join(ws.AppDir(a.ID), "containerize", "context", "layers")
	if _, err := os.Stat(ctx); err != nil {
		w.add("kubernetes", "observed.configFiles", "the config files stay in the image: run `hoist containerize "+a.ID+"` and generate again to get them as a ConfigMap")
		return nil
	}
	var out []configFileData
	for _, cf := range a.Observed.ConfigFiles {
		if strings.Contains(cf.Path, "!") {
			continue
		}
		if len(cf.SecretRefs) > 0 {
			w.add("kubernetes", "observed.configFiles", cf.Path+" holds secrets: it stays in the image, where hoist's entry point renders them, and is not in the ConfigMap")
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(ctx, "*", "*", filepath.FromSlash(cf.Path)))
		sort.Strings(matches)
		if len(matches) == 0 {
			w.add("kubernetes", "observed.configFiles", cf.Path+" is not in the build context; it is not in the ConfigMap")
			continue
		}
		data, err := os.ReadFile(matches[0])
		if err != nil || len(data) > 512<<10 {
			w.add("kubernetes", "observed.configFiles", cf.Path+" is unreadable or larger than 512 KiB; it stays in the image")
			continue
		}
		out = append(out, configFileData{path: cf.Path, data: data})
	}
	return out
}
