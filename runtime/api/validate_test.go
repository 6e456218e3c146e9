package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateTaskDefinition(t *testing.T) {
	ok := TaskDefinition{Family: "web", Memory: "512", Cpu: "0.5 vCPU", ContainerDefinitions: []ContainerDefinition{{
		Name: "web", Image: "hoist.local/web:1", PortMappings: []PortMapping{{ContainerPort: 8080}},
		HealthCheck: &HealthCheck{Command: []string{"CMD-SHELL", "true"}},
		Secrets:     []Secret{{Name: "PW", ValueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db/pw"}},
	}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.CPUUnits() != 512 || ok.MemoryMiB() != 512 {
		t.Errorf("units: cpu %d memory %d", ok.CPUUnits(), ok.MemoryMiB())
	}
	if SecretName(ok.ContainerDefinitions[0].Secrets[0].ValueFrom) != "db/pw" {
		t.Errorf("secret name %q", SecretName(ok.ContainerDefinitions[0].Secrets[0].ValueFrom))
	}
	for _, tc := range []struct {
		mutate func(*TaskDefinition)
		want   string
	}{
		{func(td *TaskDefinition) { td.Family = "../x" }, "family"},
		{func(td *TaskDefinition) { td.NetworkMode = "host" }, "networkMode"},
		{func(td *TaskDefinition) { td.Memory = "lots" }, "memory"},
		{func(td *TaskDefinition) { td.ContainerDefinitions = nil }, "at least one container"},
		{func(td *TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, td.ContainerDefinitions[0])
		}, "one container per task"},
		{func(td *TaskDefinition) { td.ContainerDefinitions[0].Image = "" }, "image"},
		{func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].HostPort = -1 }, "hostPort"},
		{func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].Protocol = "sctp" }, "protocol"},
		{func(td *TaskDefinition) {
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "nope", ContainerPath: "/d"}}
		}, "no volume of that name"},
		{func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "v", Host: &HostVolume{SourcePath: "rel"}}}
		}, "absolute, clean path"},
		{func(td *TaskDefinition) {
			td.ContainerDefinitions[0].LinuxParameters = &LinuxParameters{Capabilities: &KernelCapabilities{Add: []string{"rm -rf"}}}
		}, "not a capability"},
		{func(td *TaskDefinition) { td.ContainerDefinitions[0].Privileged = true }, "privileged"},
		{func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "v", Host: &HostVolume{SourcePath: "/etc"}}}
		}, "system directories"},
		{func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "v", Host: &HostVolume{SourcePath: "/srv/../etc"}}}
		}, "clean path"},
		{func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "v"}}
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "v", ContainerPath: "/proc/sys"}}
		}, "containerPath"},
		{func(td *TaskDefinition) { td.ContainerDefinitions[0].Secrets[0].ValueFrom = "" }, "secret name"},
	} {
		var td TaskDefinition // a deep copy: cases must not share slices
		raw, _ := json.Marshal(ok)
		_ = json.Unmarshal(raw, &td)
		tc.mutate(&td)
		err := td.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
}

func TestValidateService(t *testing.T) {
	s := Service{ServiceName: "web", TaskDefinition: "web:1", DesiredCount: 2}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	hundred := 100
	for _, tc := range []struct {
		mutate func(*Service)
		want   string
	}{
		{func(s *Service) { s.TaskDefinition = "web:0" }, "revision"},
		{func(s *Service) { s.DesiredCount = -1 }, "desiredCount"},
		{func(s *Service) {
			s.DeploymentConfiguration = &DeploymentConfiguration{MinimumHealthyPercent: &hundred, MaximumPercent: &hundred}
		}, "no room"},
		{func(s *Service) { s.LoadBalancers = []LoadBalancer{{ContainerPort: 8080, Protocol: "UDP"}} }, "HTTP or TCP"},
		{func(s *Service) {
			s.LoadBalancers = []LoadBalancer{{ContainerPort: 8080, HealthCheck: &TargetHealthCheck{Matcher: "ok"}}}
		}, "matcher"},
		{func(s *Service) { s.AutoScaling = &AutoScaling{MinCapacity: 3, MaxCapacity: 1} }, "minCapacity"},
		{func(s *Service) {
			s.AutoScaling = &AutoScaling{MaxCapacity: 2, TargetTracking: []TargetTracking{{Metric: "Requests", TargetValue: 50}}}
		}, "metric"},
	} {
		c := s
		tc.mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
	for ref, want := range map[string]string{"web": "web:0", "web:3": "web:3", "arn:aws:ecs:eu-west-1:1:task-definition/web:7": "web:7"} {
		f, r, err := ParseTaskDefinitionRef(ref)
		if err != nil || TaskDefinitionRef(f, r) != want {
			t.Errorf("%s: %s:%d %v", ref, f, r, err)
		}
	}
}

// FuzzTaskDefinition: any JSON either fails to decode, is refused with
// ErrInvalid, or is a definition whose names are safe to use in paths and
// container IDs.
func FuzzTaskDefinition(f *testing.F) {
	f.Add(`{"family":"web","containerDefinitions":[{"name":"web","image":"x","portMappings":[{"containerPort":80}]}]}`)
	f.Add(`{"family":"a","memory":"1 GB","cpu":"2 vCPU","volumes":[{"name":"v"}],"containerDefinitions":[{"name":"c","image":"i","mountPoints":[{"sourceVolume":"v","containerPath":"/d"}]}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var td TaskDefinition
		if json.Unmarshal([]byte(s), &td) != nil {
			return
		}
		err := td.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		for _, n := range []string{td.Family, td.ContainerDefinitions[0].Name} {
			if strings.ContainsAny(n, "/.\x00 ") || n == "" {
				t.Fatalf("accepted unsafe name %q", n)
			}
		}
		_ = td.MemoryMiB()
		_ = td.CPUUnits()
	})
}
