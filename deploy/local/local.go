// Package local deploys an app to hoist's bundled local runtime: it turns
// APP/deployment.json (and the reviewed APP/deploy/ecs/task-definition.json)
// into the runtime's task definition, service or schedule, puts the app's
// secrets into the runtime's store, and waits for the service to be stable.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
	"github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
)

// Options of one deploy.
type Options struct {
	Workspace discover.Workspace
	ID        string
	Engine    runtime.Config
	// Wait for the deployment to finish (all tasks healthy, old ones
	// gone), up to Timeout (default 10 minutes).
	Wait    bool
	Timeout time.Duration
	Logf    func(string, ...any)
}

// Result is what a deploy did.
type Result struct {
	App            string        `json:"app"`
	TaskDefinition string        `json:"taskDefinition"`
	Service        *api.Service  `json:"service,omitempty"`
	Schedule       *api.Schedule `json:"schedule,omitempty"`
	// Endpoint is the load balancer's URL on 127.0.0.1.
	Endpoint string `json:"endpoint,omitempty"`
	// Ignored lists what the local runtime does not do and left out, so
	// nothing is dropped silently.
	Ignored []string `json:"ignored,omitempty"`
}

// TaskDefinitionFile is where `hoist generate` writes the ECS task
// definition.
func TaskDefinitionFile(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "deploy", "ecs", "task-definition.json")
}

// Plan is the runtime objects an app becomes.
type Plan struct {
	TaskDefinition *api.TaskDefinition
	Service        *api.Service
	Schedule       *api.Schedule
	// Secrets maps the runtime's secret names to workspace secret refs.
	Secrets map[string]string
	Ignored []string
}

// Translate builds the plan from deployment.json and, when the file
// exists, the task definition the user reviewed (tdJSON may be nil).
func Translate(d *generate.Deployment, tdJSON []byte) (*Plan, error) {
	p := &Plan{Secrets: map[string]string{}}
	ignore := func(format string, args ...any) { p.Ignored = append(p.Ignored, fmt.Sprintf(format, args...)) }
	td := &api.TaskDefinition{Family: d.Family, NetworkMode: "bridge"}
	var cd api.ContainerDefinition
	if tdJSON != nil {
		in, err := parseTaskDefinition(tdJSON, ignore)
		if err != nil {
			return nil, err
		}
		if in.Family != "" && in.Family != d.Family {
			return nil, fmt.Errorf("%w: task-definition.json family %q differs from deployment.json's %q; run `hoist generate` again", discover.ErrInvalid, in.Family, d.Family)
		}
		if len(in.ContainerDefinitions) != 1 {
			return nil, fmt.Errorf("%w: task-definition.json has %d containers; the local runtime runs one per task", discover.ErrInvalid, len(in.ContainerDefinitions))
		}
		td.Cpu, td.Memory = in.Cpu, in.Memory
		cd = in.ContainerDefinitions[0]
		if in.NetworkMode == "awsvpc" {
			ignore("networkMode awsvpc: runs as bridge with a dynamic host port per task (each task has its own network namespace)")
		}
	} else {
		cd = api.ContainerDefinition{Name: d.Family, User: d.User, WorkingDirectory: d.WorkingDirectory}
		if d.Cpu > 0 {
			td.Cpu = strconv.Itoa(d.Cpu)
		}
		if d.Memory > 0 {
			td.Memory = strconv.Itoa(d.Memory)
		}
		for _, e := range d.Environment {
			cd.Environment = append(cd.Environment, api.KeyValuePair{Name: e.Name, Value: e.Value})
		}
		for _, u := range d.Ulimits {
			cd.Ulimits = append(cd.Ulimits, api.Ulimit{Name: u.Name, SoftLimit: u.SoftLimit, HardLimit: u.HardLimit})
		}
		if hc := d.HealthCheck; len(hc.Command) > 0 {
			cd.HealthCheck = &api.HealthCheck{Command: hc.Command, Interval: hc.IntervalSeconds, Timeout: hc.TimeoutSeconds, Retries: hc.UnhealthyThreshold, StartPeriod: hc.GracePeriodSeconds}
		}
	}
	// The image is the one in the engine: ECR references are for AWS.
	cd.Image = d.Image
	essential := true
	cd.Essential = &essential
	// Ports: dynamic host ports, so tasks run side by side; a fixed host
	// port only where deployment.json asks for one under bridge mode.
	cd.PortMappings = nil
	for _, pm := range d.PortMappings {
		hp := 0
		if d.NetworkMode == "bridge" {
			hp = pm.HostPort
		}
		cd.PortMappings = append(cd.PortMappings, api.PortMapping{ContainerPort: pm.ContainerPort, HostPort: hp, Protocol: pm.Protocol, Name: pm.Name})
	}
	// Secrets: by their Secrets Manager name, from the workspace's
	// secrets file.
	cd.Secrets = nil
	for _, s := range d.Secrets {
		name := s.SecretsManagerName
		if name == "" {
			name = s.SecretRef
		}
		cd.Secrets = append(cd.Secrets, api.Secret{Name: s.Name, ValueFrom: name})
		p.Secrets[name] = s.SecretRef
	}
	// Volumes: a shared volume is a named directory all the service's
	// tasks mount (EFS's stand-in); an unshared one lives in the task.
	cd.MountPoints = nil
	for _, v := range d.Volumes {
		if !v.Shared {
			ignore("volume %s (not shared): kept in each task's own filesystem, gone when the task stops", v.Name)
			continue
		}
		vn := d.Family + "-" + v.Name
		td.Volumes = append(td.Volumes, api.Volume{Name: vn})
		cd.MountPoints = append(cd.MountPoints, api.MountPoint{SourceVolume: vn, ContainerPath: v.ContainerPath, ReadOnly: v.ReadOnly})
	}
	if d.Logging.Driver != "" {
		ignore("logging %s: task output is kept by the runtime (`hoist runtime logs`)", d.Logging.Driver)
	}
	td.ContainerDefinitions = []api.ContainerDefinition{cd}
	if err := td.Validate(); err != nil {
		if tdJSON != nil {
			// Say which file to fix: a user who edited deployment.json's
			// cpu or memory is looking at the wrong one.
			return nil, fmt.Errorf("%w; cpu, memory, environment, health check, user, ulimits and linux parameters come from deploy/ecs/task-definition.json, image, ports, secrets and volumes from deployment.json: fix the value there, or run `hoist generate` again to write task-definition.json from deployment.json", err)
		}
		return nil, fmt.Errorf("%w; fix it in deployment.json", err)
	}
	p.TaskDefinition = td

	if d.Schedule != nil {
		p.Schedule = &api.Schedule{Name: d.Family, Expression: d.Schedule.Expression, TaskDefinition: d.Family, TaskCount: 1}
		if d.Schedule.Timezone != "" && d.Schedule.Timezone != "UTC" {
			ignore("schedule timezone %s: the local runtime evaluates schedules in UTC, as EventBridge rules do", d.Schedule.Timezone)
		}
		return p, nil
	}
	s := &api.Service{
		ServiceName:    d.Family,
		TaskDefinition: d.Family,
		DesiredCount:   d.DesiredCount,
		DeploymentConfiguration: &api.DeploymentConfiguration{
			MinimumHealthyPercent: ptr(d.DeploymentConfiguration.MinimumHealthyPercent),
			MaximumPercent:        ptr(d.DeploymentConfiguration.MaximumPercent),
			CircuitBreaker:        &api.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		},
		HealthCheckGracePeriodSeconds: d.HealthCheck.GracePeriodSeconds,
	}
	if lb := d.LoadBalancer; lb.Type != generate.LoadBalancerNone && lb.Type != "" && lb.ContainerPort > 0 {
		proto := "HTTP"
		if lb.Type == generate.LoadBalancerNetwork {
			proto = "TCP"
		}
		if lb.ListenerProtocol == "HTTPS" || lb.ListenerProtocol == "TLS" {
			ignore("listener protocol %s: the local load balancer speaks %s on 127.0.0.1 (no certificate)", lb.ListenerProtocol, proto)
		}
		if lb.Scheme == "internet-facing" {
			ignore("load balancer scheme internet-facing: the local load balancer listens on 127.0.0.1 only")
		}
		hc := d.HealthCheck
		thc := &api.TargetHealthCheck{
			Matcher:                 hc.Matcher,
			IntervalMillis:          hc.IntervalSeconds * 1000,
			TimeoutMillis:           hc.TimeoutSeconds * 1000,
			HealthyThresholdCount:   hc.HealthyThreshold,
			UnhealthyThresholdCount: hc.UnhealthyThreshold,
		}
		if strings.EqualFold(hc.Protocol, "HTTP") && proto == "HTTP" {
			thc.Path = hc.Path
		}
		if hc.Port != 0 && hc.Port != lb.ContainerPort {
			ignore("health check port %d: the local load balancer checks the traffic port %d", hc.Port, lb.ContainerPort)
		}
		s.LoadBalancers = []api.LoadBalancer{{
			ContainerName: cd.Name, ContainerPort: lb.ContainerPort, ListenerPort: d.Local.ListenerPort, Protocol: proto,
			HealthCheck: thc, DeregistrationDelaySeconds: ptr(lb.DeregistrationDelaySeconds),
		}}
	}
	if as := d.AutoScaling; as.Enabled {
		s.AutoScaling = &api.AutoScaling{MinCapacity: as.MinCapacity, MaxCapacity: as.MaxCapacity}
		for _, tt := range as.TargetTracking {
			switch tt.Metric {
			case generate.MetricCPU, generate.MetricMemory:
				s.AutoScaling.TargetTracking = append(s.AutoScaling.TargetTracking, api.TargetTracking{Metric: tt.Metric, TargetValue: tt.TargetValue, ScaleInCooldown: tt.ScaleInCooldown, ScaleOutCooldown: tt.ScaleOutCooldown})
			default:
				ignore("target tracking on %s: the local runtime tracks CPU and memory only", tt.Metric)
			}
		}
		for _, st := range as.StepScaling {
			ignore("step scaling policy %s: not run locally (target tracking and scheduled actions are)", st.Name)
		}
		for _, sc := range as.Scheduled {
			s.AutoScaling.Scheduled = append(s.AutoScaling.Scheduled, api.ScheduledScaling{Name: sc.Name, Schedule: sc.Schedule, MinCapacity: ptr(sc.MinCapacity), MaxCapacity: ptr(sc.MaxCapacity)})
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p.Service = s
	return p, nil
}

func ptr[T any](v T) *T { return &v }

// Fields of an ECS task definition the local runtime has no use for; they
// are named in the result instead of being dropped silently.
var awsOnly = map[string]string{
	"executionRoleArn":        "IAM roles do not apply locally",
	"taskRoleArn":             "IAM roles do not apply locally",
	"requiresCompatibilities": "the local runtime is neither Fargate nor EC2",
	"runtimePlatform":         "tasks run on this machine's platform",
	"tags":                    "not kept locally",
	"placementConstraints":    "one machine",
	"ephemeralStorage":        "tasks use the engine's snapshotter",
	"pidMode":                 "each task has its own pid namespace",
	"ipcMode":                 "each task has its own ipc namespace",
}

var containerAWSOnly = map[string]string{
	"logConfiguration":      "task output is kept by the runtime (`hoist runtime logs`)",
	"repositoryCredentials": "images come from the engine's store",
	"systemControls":        "not supported locally",
	"dependsOn":             "one container per task",
	"links":                 "one container per task",
	"firelensConfiguration": "not supported locally",
	"dnsServers":            "tasks use the host's resolv.conf",
	"extraHosts":            "tasks use the host's /etc/hosts",
	"interactive":           "not supported locally",
	"pseudoTerminal":        "not supported locally",
	"restartPolicy":         "the service replaces exited tasks",
	"versionConsistency":    "images come from the engine's store",
}

// Keys of the ECS task definition and container definition the local
// runtime reads.
var (
	tdKnown = map[string]bool{"family": true, "networkMode": true, "cpu": true, "memory": true, "containerDefinitions": true, "volumes": true}
	cdKnown = map[string]bool{"name": true, "image": true, "essential": true, "cpu": true, "memory": true, "memoryReservation": true,
		"portMappings": true, "entryPoint": true, "command": true, "workingDirectory": true, "environment": true, "secrets": true,
		"user": true, "healthCheck": true, "mountPoints": true, "stopTimeout": true, "linuxParameters": true,
		"readonlyRootFilesystem": true, "ulimits": true, "dockerLabels": true, "privileged": true}
)

// parseTaskDefinition reads the ECS JSON; every field the runtime does not
// run is reported, with why.
func parseTaskDefinition(data []byte, ignore func(string, ...any)) (*api.TaskDefinition, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: task-definition.json: %v", discover.ErrInvalid, err)
	}
	for _, k := range sortedKeys(raw) {
		if tdKnown[k] {
			continue
		}
		why, ok := awsOnly[k]
		if !ok {
			why = "not supported by the local runtime"
		}
		ignore("task definition %s: %s", k, why)
		delete(raw, k)
	}
	// Volumes, ports and secrets come from deployment.json (the EFS and
	// ECR details in the file are AWS's).
	delete(raw, "volumes")
	var cds []map[string]json.RawMessage
	if c, ok := raw["containerDefinitions"]; ok {
		if err := json.Unmarshal(c, &cds); err != nil {
			return nil, fmt.Errorf("%w: task-definition.json containerDefinitions: %v", discover.ErrInvalid, err)
		}
		for _, cd := range cds {
			for _, k := range sortedKeys(cd) {
				if cdKnown[k] {
					continue
				}
				why, ok := containerAWSOnly[k]
				if !ok {
					why = "not supported by the local runtime"
				}
				ignore("container %s: %s", k, why)
				delete(cd, k)
			}
			if lp, ok := cd["linuxParameters"]; ok {
				var m map[string]json.RawMessage
				if json.Unmarshal(lp, &m) == nil {
					for _, k := range sortedKeys(m) {
						if k != "capabilities" && k != "initProcessEnabled" {
							ignore("container linuxParameters.%s: not supported by the local runtime", k)
							delete(m, k)
						}
					}
					cd["linuxParameters"], _ = json.Marshal(m)
				}
			}
			for _, k := range []string{"mountPoints", "portMappings", "secrets"} {
				delete(cd, k)
			}
		}
		raw["containerDefinitions"], _ = json.Marshal(cds)
	}
	clean, _ := json.Marshal(raw)
	var td api.TaskDefinition
	if err := json.Unmarshal(clean, &td); err != nil {
		return nil, fmt.Errorf("%w: task-definition.json: %v", discover.ErrInvalid, err)
	}
	return &td, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Deploy registers the app's task definition and creates or updates its
// service (or schedule) in the local runtime, starting the engine if
// needed.
func Deploy(ctx context.Context, o Options) (*Result, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	d, err := generate.LoadDeployment(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	tdJSON, err := os.ReadFile(TaskDefinitionFile(o.Workspace, o.ID))
	if errors.Is(err, fs.ErrNotExist) {
		tdJSON = nil
	} else if err != nil {
		return nil, err
	}
	plan, err := Translate(d, tdJSON)
	if err != nil {
		return nil, err
	}
	for _, ig := range plan.Ignored {
		logf("local runtime: ignoring %s", ig)
	}
	if _, err := runtime.Ensure(ctx, o.Engine, logf); err != nil {
		return nil, err
	}
	if err := ensureImage(ctx, o.Engine, plan.TaskDefinition.ContainerDefinitions[0].Image, logf); err != nil {
		return nil, err
	}
	c := o.Engine.Client()
	if len(plan.Secrets) > 0 {
		vals, err := o.Workspace.ReadSecrets()
		if err != nil {
			return nil, err
		}
		var names []string
		for n := range plan.Secrets {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ref := plan.Secrets[n]
			v, ok := vals[ref]
			if !ok {
				return nil, o.Workspace.MissingSecret(fmt.Sprintf("secret %s (ref %s)", n, ref), o.ID)
			}
			if err := c.PutSecret(ctx, n, v); err != nil {
				return nil, fmt.Errorf("storing secret %s in the local runtime: %w", n, err)
			}
		}
	}
	td, err := c.RegisterTaskDefinition(ctx, plan.TaskDefinition)
	if err != nil {
		return nil, fmt.Errorf("registering task definition %s: %w", plan.TaskDefinition.Family, err)
	}
	res := &Result{App: o.ID, TaskDefinition: td.ARN(), Ignored: plan.Ignored}
	if plan.Schedule != nil {
		plan.Schedule.TaskDefinition = td.ARN()
		sch, err := c.PutSchedule(ctx, plan.Schedule)
		if err != nil {
			return nil, fmt.Errorf("scheduling %s: %w", td.ARN(), err)
		}
		res.Schedule = sch
		return res, nil
	}
	plan.Service.TaskDefinition = td.ARN()
	s, err := c.ApplyService(ctx, plan.Service)
	if err != nil {
		return nil, fmt.Errorf("deploying service %s: %w", plan.Service.ServiceName, err)
	}
	res.Service = s
	if len(s.Endpoints) > 0 {
		res.Endpoint = s.Endpoints[0]
	}
	if !o.Wait {
		return res, nil
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	logf("waiting for %s to reach %d healthy tasks of %s", s.ServiceName, s.DesiredCount, td.ARN())
	s, err = WaitStable(ctx, c, s.ServiceName, timeout)
	if s != nil {
		res.Service = s
	}
	return res, err
}

// ErrRolledBack is returned when the deployment failed and the runtime
// went back to the previous task definition.
var ErrRolledBack = errors.New("deployment failed")

// WaitStable waits until the service's primary deployment completes (or
// fails).
func WaitStable(ctx context.Context, c *api.Client, name string, timeout time.Duration) (*api.Service, error) {
	var s *api.Service
	var target string
	err := api.WaitFor(ctx, timeout, func() (bool, error) {
		var err error
		s, err = c.DescribeService(ctx, name)
		if err != nil {
			return false, err
		}
		if target == "" {
			target = s.Deployments[0].ID
		}
		for _, d := range s.Deployments {
			if d.ID == target && d.RolloutState == "FAILED" {
				return true, nil
			}
		}
		return s.Deployments[0].ID == target && s.Deployments[0].RolloutState == "COMPLETED", nil
	})
	if err != nil {
		return s, fmt.Errorf("service %s did not become stable: %w; see `hoist runtime events --service %s` and `hoist runtime ps --stopped`", name, err, name)
	}
	if s.Deployments[0].ID != target || s.Deployments[0].RolloutState != "COMPLETED" {
		reason := ""
		for _, d := range s.Deployments {
			if d.ID == target {
				reason = d.Reason
			}
		}
		return s, fmt.Errorf("%w: %s (now running %s); see `hoist runtime ps --stopped` for why its tasks stopped", ErrRolledBack, reason, s.TaskDefinition)
	}
	return s, nil
}

// Delete removes the app's service (draining its tasks) or schedule. An
// app that is not deployed (never, or deleted before) is nothing to
// delete, as for the other targets: Delete says so and succeeds.
func Delete(ctx context.Context, o Options) error {
	d, err := generate.LoadDeployment(o.Workspace, o.ID)
	if err != nil {
		return err
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if _, err := runtime.Ensure(ctx, o.Engine, logf); err != nil {
		return err
	}
	c := o.Engine.Client()
	what := "service"
	if d.Schedule != nil {
		what = "schedule"
	}
	notDeployed := func(err error) error {
		if errors.Is(err, api.ErrNotFound) {
			logf("%s %s is not on the local runtime; nothing to delete", what, d.Family)
			return nil
		}
		return err
	}
	if d.Schedule != nil {
		if err := c.DeleteSchedule(ctx, d.Family); err != nil {
			return notDeployed(err)
		}
		logf("deleted schedule %s", d.Family)
		return nil
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.DeleteService(dctx, d.Family); err != nil {
		if dctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("service %s was not drained within %s; it goes on draining (see `hoist runtime ps --service %s`)", d.Family, timeout, d.Family)
		}
		return notDeployed(err)
	}
	logf("deleted service %s (its tasks drained and stopped)", d.Family)
	return nil
}
