package generate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"sigs.k8s.io/yaml"
)

// TaskDefinition is the content of APP/deploy/ecs/task-definition.json:
// the RegisterTaskDefinition input.
type TaskDefinition = ecs.RegisterTaskDefinitionInput

// composeSpec is the part of the Compose specification hoist writes.
type composeSpec struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]map[string]any `json:"volumes,omitempty"`
}

type composeService struct {
	Image       string            `json:"image"`
	User        string            `json:"user,omitempty"`
	WorkingDir  string            `json:"working_dir,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	EnvFile     []string          `json:"env_file,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Ulimits     map[string]any    `json:"ulimits,omitempty"`
	Healthcheck *composeHealth    `json:"healthcheck,omitempty"`
	Deploy      composeDeploy     `json:"deploy"`
	Restart     string            `json:"restart"`
}

type composeHealth struct {
	Test        []string `json:"test"`
	Interval    string   `json:"interval"`
	Timeout     string   `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod string   `json:"start_period"`
}

type composeDeploy struct {
	Replicas  int                       `json:"replicas"`
	Resources map[string]map[string]any `json:"resources"`
}

// composeFile builds compose.yaml, for people who run Docker Compose.
func composeFile(d *Deployment, w *warnings) ([]byte, error) {
	svc := composeService{
		Image:       d.Image,
		User:        d.User,
		WorkingDir:  d.WorkingDirectory,
		Environment: map[string]string{},
		Restart:     "unless-stopped",
		Deploy: composeDeploy{
			Replicas: 1,
			Resources: map[string]map[string]any{"limits": {
				"cpus":   strconv.FormatFloat(float64(d.Cpu)/1024, 'f', -1, 64),
				"memory": strconv.Itoa(d.Memory) + "M",
			}},
		},
	}
	for _, p := range d.PortMappings {
		// Published on loopback only, like the local runtime.
		svc.Ports = append(svc.Ports, fmt.Sprintf("127.0.0.1::%d/%s", p.ContainerPort, p.Protocol))
	}
	if d.LoadBalancer.Type != LoadBalancerNone {
		for i, p := range d.PortMappings {
			if p.ContainerPort == d.LoadBalancer.ContainerPort {
				svc.Ports[i] = fmt.Sprintf("%s:%d:%d/%s", d.Local.ListenerAddress, d.Local.ListenerPort, p.ContainerPort, p.Protocol)
			}
		}
	}
	for _, e := range d.Environment {
		// Compose interpolates $; double it to keep values literal.
		svc.Environment[e.Name] = strings.ReplaceAll(e.Value, "$", "$$")
	}
	if len(d.Secrets) > 0 {
		svc.EnvFile = []string{d.Family + ".secrets.env"}
		w.add("compose", "secrets", "compose.yaml reads the secrets from "+d.Family+".secrets.env beside it (NAME=value lines); write it from the workspace's secrets file and keep it out of git")
	}
	vols := map[string]map[string]any{}
	for _, v := range d.Volumes {
		m := v.Name + ":" + v.ContainerPath
		if v.ReadOnly {
			m += ":ro"
		}
		svc.Volumes = append(svc.Volumes, m)
		vols[v.Name] = map[string]any{}
	}
	if len(d.Ulimits) > 0 {
		svc.Ulimits = map[string]any{}
		for _, u := range d.Ulimits {
			svc.Ulimits[u.Name] = map[string]int64{"soft": u.SoftLimit, "hard": u.HardLimit}
		}
	}
	if len(d.HealthCheck.Command) > 0 {
		hc := d.HealthCheck
		svc.Healthcheck = &composeHealth{Test: hc.Command, Interval: secs(hc.IntervalSeconds), Timeout: secs(hc.TimeoutSeconds), Retries: hc.UnhealthyThreshold, StartPeriod: secs(hc.GracePeriodSeconds)}
	} else if d.HealthCheck.Port != 0 {
		w.add("compose", "healthCheck", "Compose checks health only with a command inside the image (healthCheck.command); the HTTP/TCP check is not applied")
	}
	if d.DesiredCount > 1 && d.LoadBalancer.Type != LoadBalancerNone {
		w.add("compose", "desiredCount", "Compose runs one replica: the load-balanced port is published once on "+d.Local.ListenerAddress)
	}
	if d.AutoScaling.Enabled {
		w.add("compose", "autoScaling", "Compose does not scale")
	}
	if d.Schedule != nil {
		svc.Restart = "no"
		w.add("compose", "schedule", "Compose has no schedules: `docker compose run "+d.Family+"` runs the job once (run it from cron for "+d.Schedule.Expression+")")
	}
	spec := composeSpec{Name: d.Family, Services: map[string]composeService{d.Family: svc}}
	if len(vols) > 0 {
		spec.Volumes = vols
	}
	return yaml.Marshal(spec)
}

func secs(n int) string { return strconv.Itoa(n) + "s" }

// validateCompose checks compose.yaml decodes into the shape hoist writes.
func validateCompose(file string, data []byte) []Problem {
	p := &problems{file: file}
	var c composeSpec
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		p.add("", "fix the YAML or remove fields hoist does not write", "%v", err)
		return p.list
	}
	if len(c.Services) == 0 {
		p.add("services", "add the app's service", "is empty")
	}
	for name, s := range c.Services {
		if s.Image == "" {
			p.add("services."+name+".image", "set the image", "is empty")
		}
	}
	return p.list
}

// kustomization builds kubernetes/kustomization.yaml.
func kustomization(d *Deployment, resources []string, pinned bool, w *warnings) ([]byte, error) {
	k := map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"namespace":  d.Kubernetes.Namespace,
		"resources":  resources,
	}
	// A pinned image (pushed, by digest) needs no mapping; hoist.local/...
	// is mapped to the ECR repository of the stack.
	if !pinned {
		if d.Registry.AccountID == "" || d.Registry.Region == "" {
			w.add("kubernetes", "registry", "kustomization.yaml maps the image to an ECR URI with ${AWS_ACCOUNT_ID}/${AWS_REGION}: set registry.accountId and registry.region, or run `kustomize edit set image` before `kubectl apply -k`")
		}
		k["images"] = []map[string]string{{
			"name":    imageName(d.Image),
			"newName": fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", d.account(), d.region(), d.Registry.RepositoryName),
			"newTag":  imageTag(d.Image),
		}}
	}
	return yaml.Marshal(k)
}

func imageName(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i]
	}
	return ref
}

func validateKustomization(file string, data []byte) []Problem {
	p := &problems{file: file}
	var k struct {
		APIVersion string              `json:"apiVersion"`
		Kind       string              `json:"kind"`
		Namespace  string              `json:"namespace"`
		Resources  []string            `json:"resources"`
		Images     []map[string]string `json:"images"`
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		p.add("", "fix the YAML", "%v", err)
		return p.list
	}
	if k.Kind != "Kustomization" {
		p.add("kind", `set "Kustomization"`, "is %q", k.Kind)
	}
	if len(k.Resources) == 0 {
		p.add("resources", "list the manifests", "is empty")
	}
	return p.list
}

// validateBuildspec checks buildspec.yml has CodeBuild's shape.
func validateBuildspec(file string, data []byte) []Problem {
	p := &problems{file: file}
	var b buildspec
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		p.add("", "fix the YAML", "%v", err)
		return p.list
	}
	if b.Version != "0.2" {
		p.add("version", `set "0.2"`, "is %q", b.Version)
	}
	for name, ph := range b.Phases {
		if !inStrings(name, "install", "pre_build", "build", "post_build") {
			p.add("phases."+name, "use install, pre_build, build or post_build", "is not a CodeBuild phase")
		}
		if len(ph.Commands) == 0 {
			p.add("phases."+name+".commands", "add commands or remove the phase", "is empty")
		}
	}
	return p.list
}

// validateWorkflow checks the GitHub Actions workflow's shape.
func validateWorkflow(file string, data []byte) []Problem {
	p := &problems{file: file}
	var wf workflow
	if err := yaml.UnmarshalStrict(data, &wf); err != nil {
		p.add("", "fix the YAML", "%v", err)
		return p.list
	}
	if len(wf.Jobs) == 0 {
		p.add("jobs", "add a job", "is empty")
	}
	for name, j := range wf.Jobs {
		if j.RunsOn == "" {
			p.add("jobs."+name+".runs-on", "set a runner such as ubuntu-latest", "is empty")
		}
		for i, s := range j.Steps {
			if (s.Uses == "") == (s.Run == "") {
				p.add(fmt.Sprintf("jobs.%s.steps[%d]", name, i), "give the step either uses or run", "has both or neither")
			}
		}
	}
	return p.list
}
