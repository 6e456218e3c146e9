package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/runtime/api"
)

// analysis is a real analysis from discover's captured fixtures.
func analysis(t *testing.T) *discover.Analysis {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/procfs/*/golden/*.analysis.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := generate.ParseAnalysis(data)
		if err == nil {
			return a
		}
	}
	t.Skip("no captured analysis")
	return nil
}

// deployment is a valid deployment.json for the runtime's test web app.
func deployment(t *testing.T, image, family string, listener int) *generate.Deployment {
	t.Helper()
	a := analysis(t)
	d := generate.DefaultDeployment(a, image)
	d.Family = family
	d.Cpu, d.Memory = 256, 512
	d.User, d.WorkingDirectory = "", ""
	d.DesiredCount = 3
	d.PortMappings = []generate.PortMapping{{Name: "http", ContainerPort: 8080, Protocol: "tcp", AppProtocol: "http"}}
	d.HealthCheck = generate.HealthCheck{Protocol: "HTTP", Path: "/health", Port: 8080, Matcher: "200", IntervalSeconds: 5, TimeoutSeconds: 2, HealthyThreshold: 2, UnhealthyThreshold: 2}
	d.LoadBalancer = generate.LoadBalancer{Type: generate.LoadBalancerApplication, ContainerPort: 8080, ListenerPort: 80, ListenerProtocol: "HTTP", Scheme: "internal", DeregistrationDelaySeconds: 5}
	d.Local.ListenerPort = listener
	d.Environment = []generate.KeyValue{{Name: "REV", Value: "one"}}
	d.Secrets = []generate.Secret{{Name: "DB_PASSWORD", SecretRef: a.ID + "/env/DB_PASSWORD", SecretsManagerName: family + "/DB_PASSWORD"}}
	d.Volumes = []generate.Volume{{Name: "data", ContainerPath: "/data", Shared: true}, {Name: "scratch", ContainerPath: "/scratch"}}
	d.AutoScaling = generate.AutoScaling{Enabled: true, MinCapacity: 2, MaxCapacity: 4,
		TargetTracking: []generate.TargetTracking{{Metric: generate.MetricCPU, TargetValue: 70, ScaleInCooldown: 300, ScaleOutCooldown: 60}, {Metric: generate.MetricRequestsPerTask, TargetValue: 100}}}
	d.Ulimits = nil
	if err := d.Validate(); err != nil {
		t.Fatalf("test deployment does not validate: %v", err)
	}
	return d
}

func TestTranslate(t *testing.T) {
	d := deployment(t, "hoist.local/webdeploy:1", "webdeploy", 23456)
	tdJSON, err := os.ReadFile("testdata/task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	tdJSON = []byte(strings.ReplaceAll(string(tdJSON), "FAMILY", d.Family))
	for _, tc := range []struct {
		name string
		td   []byte
		rev  string
	}{{"deployment.json only", nil, "one"}, {"with task-definition.json", tdJSON, "from-task-definition"}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Translate(d, tc.td)
			if err != nil {
				t.Fatal(err)
			}
			td, s := p.TaskDefinition, p.Service
			cd := td.ContainerDefinitions[0]
			if td.Family != "webdeploy" || cd.Image != "hoist.local/webdeploy:1" || td.NetworkMode != "bridge" {
				t.Errorf("task definition: family %s image %s network %s", td.Family, cd.Image, td.NetworkMode)
			}
			if len(cd.PortMappings) != 1 || cd.PortMappings[0].HostPort != 0 || cd.PortMappings[0].ContainerPort != 8080 {
				t.Errorf("ports %+v: want 8080 on a dynamic host port", cd.PortMappings)
			}
			if len(cd.Environment) != 1 || cd.Environment[0].Value != tc.rev {
				t.Errorf("environment %+v", cd.Environment)
			}
			if len(cd.Secrets) != 1 || cd.Secrets[0].ValueFrom != "webdeploy/DB_PASSWORD" || p.Secrets["webdeploy/DB_PASSWORD"] == "" {
				t.Errorf("secrets %+v %v", cd.Secrets, p.Secrets)
			}
			if len(td.Volumes) != 1 || td.Volumes[0].Name != "webdeploy-data" || len(cd.MountPoints) != 1 || cd.MountPoints[0].ContainerPath != "/data" {
				t.Errorf("volumes %+v mounts %+v", td.Volumes, cd.MountPoints)
			}
			lb := s.LoadBalancers[0]
			if s.DesiredCount != 3 || lb.ListenerPort != 23456 || lb.Protocol != "HTTP" || lb.HealthCheck.Path != "/health" || lb.HealthCheck.IntervalMillis != 5000 {
				t.Errorf("service %+v lb %+v hc %+v", s, lb, lb.HealthCheck)
			}
			if s.AutoScaling == nil || s.AutoScaling.MinCapacity != 2 || len(s.AutoScaling.TargetTracking) != 1 || s.AutoScaling.TargetTracking[0].Metric != api.MetricCPU {
				t.Errorf("auto scaling %+v", s.AutoScaling)
			}
			if cb := s.DeploymentConfiguration.CircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
				t.Errorf("circuit breaker %+v", cb)
			}
			all := strings.Join(p.Ignored, "\n")
			wants := []string{"ALBRequestCountPerTarget", "scratch", "awslogs"}
			if tc.td != nil {
				wants = append(wants, "executionRoleArn", "taskRoleArn", "requiresCompatibilities", "runtimePlatform", "logConfiguration", "sharedMemorySize", "awsvpc")
				if td.Cpu != "512" || td.Memory != "256" || cd.StopTimeout != 5 || cd.LinuxParameters == nil || !cd.LinuxParameters.InitProcess {
					t.Errorf("task definition fields not taken from the file: %+v", td)
				}
			}
			for _, w := range wants {
				if !strings.Contains(all, w) {
					t.Errorf("ignored fields lack %q:\n%s", w, all)
				}
			}
		})
	}
	// A scheduled app becomes a schedule.
	d.Schedule = &generate.Schedule{Expression: "rate(5 minutes)", Timezone: "Europe/Berlin"}
	p, err := Translate(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Service != nil || p.Schedule == nil || p.Schedule.Expression != "rate(5 minutes)" || !strings.Contains(strings.Join(p.Ignored, "\n"), "Europe/Berlin") {
		t.Errorf("scheduled app: %+v %+v %v", p.Service, p.Schedule, p.Ignored)
	}
	// A task definition of another app is refused.
	d.Schedule = nil
	if _, err := Translate(d, []byte(strings.ReplaceAll(string(tdJSON), "webdeploy", "other"))); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("foreign task definition: %v", err)
	}
	if _, err := Translate(d, []byte("{not json")); err == nil {
		t.Errorf("malformed task definition accepted")
	}
}
