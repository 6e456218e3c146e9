package generate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/render"
)

// DeploymentSchemaVersion is the version of deployment.json. It changes only
// when a field changes meaning or is removed.
const DeploymentSchemaVersion = 1

// Deployment is APP/deployment.json: how the app runs once it is a
// container. `hoist generate` writes it from the analysis the first time and
// keeps it afterwards, so it is the user's to edit; every artifact under
// APP/deploy/ and the local runtime are derived from it. Field names follow
// ECS (task definition, service, Application Auto Scaling) so that what a
// platform team reads here is what they will find in AWS.
type Deployment struct {
	SchemaVersion int    `json:"schemaVersion"`
	ID            string `json:"id"`
	// Family is the task definition family; it also names the stack's
	// resources, the Kubernetes objects and the compose service. It must be
	// a valid DNS label (lower case letters, digits, '-', at most 63).
	Family string `json:"family"`
	// Image is the image the local runtime runs (hoist.local/NAME:TAG, as
	// `hoist containerize` builds it). Remote targets push it to
	// Registry.RepositoryName under the same tag.
	Image    string   `json:"image"`
	Registry Registry `json:"registry"`
	// LaunchType is FARGATE or EC2.
	LaunchType string `json:"launchType"`
	// NetworkMode is awsvpc (a network interface per task, ip targets) or
	// bridge (EC2 only; dynamic host ports, instance targets).
	NetworkMode string `json:"networkMode"`
	// Cpu is in CPU units (1024 = one vCPU); Memory in MiB. Under Fargate
	// the pair must be one of Fargate's combinations.
	Cpu    int `json:"cpu"`
	Memory int `json:"memory"`
	// DesiredCount is how many copies of the task the service keeps
	// running (ignored for scheduled apps, which run one task per event).
	DesiredCount            int                     `json:"desiredCount"`
	DeploymentConfiguration DeploymentConfiguration `json:"deploymentConfiguration"`
	// User is uid[:gid] the container runs as: the original process's.
	User             string `json:"user,omitempty"`
	WorkingDirectory string `json:"workingDirectory,omitempty"`
	// PortMappings are the container's ports. HostPort 0 means a dynamic
	// host port under bridge networking (and the container port under
	// awsvpc, where they must be equal).
	PortMappings []PortMapping `json:"portMappings"`
	HealthCheck  HealthCheck   `json:"healthCheck"`
	LoadBalancer LoadBalancer  `json:"loadBalancer"`
	AutoScaling  AutoScaling   `json:"autoScaling"`
	// TaskRole is what the app itself may do in AWS; ExecutionRole is what
	// ECS needs to start it (pull the image, write logs, read the secrets).
	TaskRole      Role    `json:"taskRole"`
	ExecutionRole Role    `json:"executionRole"`
	Logging       Logging `json:"logging"`
	// Environment holds the non-secret variables the container gets.
	Environment []KeyValue `json:"environment"`
	// Secrets are injected from AWS Secrets Manager (Kubernetes: a Secret);
	// their values stay in the workspace's secrets file.
	Secrets []Secret `json:"secrets"`
	Volumes []Volume `json:"volumes"`
	Ulimits []Ulimit `json:"ulimits,omitempty"`
	// Schedule makes the app a scheduled task (batch) instead of a service.
	Schedule      *Schedule     `json:"schedule,omitempty"`
	Notifications Notifications `json:"notifications"`
	Kubernetes    Kubernetes    `json:"kubernetes"`
	AppRunner     AppRunner     `json:"appRunner"`
	Local         Local         `json:"local"`
}

// Registry is where remote targets pull the image from: an ECR repository
// the ECS stack creates. AccountID and Region may stay empty; artifacts
// that need them literally (task-definition.json) then carry
// ${AWS_ACCOUNT_ID} and ${AWS_REGION} for envsubst.
type Registry struct {
	RepositoryName string `json:"repositoryName"`
	AccountID      string `json:"accountId,omitempty"`
	Region         string `json:"region,omitempty"`
	// ScanOnPush and KeepImages configure the ECR repository (lifecycle
	// policy: keep the newest KeepImages images).
	ScanOnPush bool `json:"scanOnPush"`
	KeepImages int  `json:"keepImages"`
}

// DeploymentConfiguration bounds a rolling deployment, as in ECS.
type DeploymentConfiguration struct {
	MinimumHealthyPercent int `json:"minimumHealthyPercent"`
	MaximumPercent        int `json:"maximumPercent"`
}

// PortMapping is one container port.
type PortMapping struct {
	// Name names the port (Kubernetes port name, ECS Service Connect):
	// lower case, at most 15 characters.
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol"` // tcp or udp
	// AppProtocol is http for ports that speak HTTP, empty otherwise.
	AppProtocol string `json:"appProtocol,omitempty"`
}

// HealthCheck says how to tell a task is healthy: the load balancer's target
// group check, the Kubernetes probes and the local runtime's checks.
type HealthCheck struct {
	// Protocol is HTTP (Path is requested) or TCP (a connection is opened).
	Protocol string `json:"protocol"`
	Path     string `json:"path,omitempty"`
	Port     int    `json:"port"`
	// Matcher is the HTTP codes that count as healthy, e.g. 200-399.
	Matcher            string `json:"matcher,omitempty"`
	IntervalSeconds    int    `json:"intervalSeconds"`
	TimeoutSeconds     int    `json:"timeoutSeconds"`
	HealthyThreshold   int    `json:"healthyThreshold"`
	UnhealthyThreshold int    `json:"unhealthyThreshold"`
	// GracePeriodSeconds is how long after start failed checks do not
	// count (ECS healthCheckGracePeriodSeconds, probe initial delay).
	GracePeriodSeconds int `json:"gracePeriodSeconds"`
	// Command is an optional in-container check (ECS container health
	// check, CMD-SHELL form); images built from the host rarely hold curl,
	// so none is set by default.
	Command []string `json:"command,omitempty"`
}

// Load balancer types.
const (
	LoadBalancerApplication = "application"
	LoadBalancerNetwork     = "network"
	LoadBalancerNone        = "none"
)

// LoadBalancer puts the service behind an ALB (default), an NLB, or nothing.
type LoadBalancer struct {
	Type string `json:"type"` // application, network or none
	// ContainerPort is the port traffic goes to; it must be one of
	// PortMappings.
	ContainerPort int `json:"containerPort"`
	// ListenerPort and ListenerProtocol are what clients connect to
	// (HTTP/HTTPS for an ALB, TCP/TLS for an NLB).
	ListenerPort     int    `json:"listenerPort"`
	ListenerProtocol string `json:"listenerProtocol"`
	// CertificateArn is needed for HTTPS and TLS listeners.
	CertificateArn string `json:"certificateArn,omitempty"`
	// Scheme is internet-facing or internal.
	Scheme                     string `json:"scheme"`
	DeregistrationDelaySeconds int    `json:"deregistrationDelaySeconds"`
}

// Predefined metrics of target tracking, as Application Auto Scaling names them.
const (
	MetricCPU             = "ECSServiceAverageCPUUtilization"
	MetricMemory          = "ECSServiceAverageMemoryUtilization"
	MetricRequestsPerTask = "ALBRequestCountPerTarget"
)

// AutoScaling scales the service's desired count between MinCapacity and
// MaxCapacity (Application Auto Scaling; an HPA on Kubernetes).
type AutoScaling struct {
	Enabled        bool             `json:"enabled"`
	MinCapacity    int              `json:"minCapacity"`
	MaxCapacity    int              `json:"maxCapacity"`
	TargetTracking []TargetTracking `json:"targetTracking,omitempty"`
	StepScaling    []StepScaling    `json:"stepScaling,omitempty"`
	Scheduled      []ScheduledScale `json:"scheduledActions,omitempty"`
}

// TargetTracking keeps a metric near TargetValue (percent for CPU and
// memory, requests per task for ALBRequestCountPerTarget).
type TargetTracking struct {
	Metric           string  `json:"metric"`
	TargetValue      float64 `json:"targetValue"`
	ScaleInCooldown  int     `json:"scaleInCooldown"`
	ScaleOutCooldown int     `json:"scaleOutCooldown"`
}

// StepScaling adds or removes tasks by steps when a CloudWatch alarm on the
// service's CPUUtilization or MemoryUtilization fires.
type StepScaling struct {
	Name string `json:"name"`
	// Metric is CPUUtilization or MemoryUtilization (namespace AWS/ECS).
	Metric string `json:"metric"`
	// ComparisonOperator is GreaterThanOrEqualToThreshold,
	// GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold.
	ComparisonOperator string  `json:"comparisonOperator"`
	Threshold          float64 `json:"threshold"`
	EvaluationPeriods  int     `json:"evaluationPeriods"`
	PeriodSeconds      int     `json:"periodSeconds"`
	// AdjustmentType is ChangeInCapacity, PercentChangeInCapacity or
	// ExactCapacity.
	AdjustmentType  string           `json:"adjustmentType"`
	CooldownSeconds int              `json:"cooldownSeconds"`
	Steps           []StepAdjustment `json:"steps"`
}

// StepAdjustment is one step; bounds are relative to the threshold.
type StepAdjustment struct {
	LowerBound        *float64 `json:"lowerBound,omitempty"`
	UpperBound        *float64 `json:"upperBound,omitempty"`
	ScalingAdjustment int      `json:"scalingAdjustment"`
}

// ScheduledScale changes the capacity bounds at given times.
type ScheduledScale struct {
	Name string `json:"name"`
	// Schedule is cron(...), rate(...) or at(...), as Application Auto
	// Scaling takes it.
	Schedule    string `json:"schedule"`
	Timezone    string `json:"timezone,omitempty"`
	MinCapacity int    `json:"minCapacity"`
	MaxCapacity int    `json:"maxCapacity"`
}

// Role is an IAM role. With Arn set the stacks use that role; otherwise
// they create one with only the permissions the app needs plus
// ManagedPolicyArns.
type Role struct {
	Arn               string   `json:"arn,omitempty"`
	ManagedPolicyArns []string `json:"managedPolicyArns,omitempty"`
}

// Logging sends the container's stdout/stderr to CloudWatch Logs.
type Logging struct {
	Driver          string `json:"driver"` // awslogs
	LogGroupName    string `json:"logGroupName"`
	StreamPrefix    string `json:"streamPrefix"`
	RetentionInDays int    `json:"retentionInDays"`
}

// KeyValue is one environment variable.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Secret is an environment variable whose value comes from a secret store.
type Secret struct {
	// Name is the environment variable the container sees. For a secret
	// found in a config file it is SecretEnvName(ref), which the image's
	// start-up renders back into the file.
	Name string `json:"name"`
	// SecretRef is the secret's reference in the workspace's secrets file.
	SecretRef string `json:"secretRef"`
	// SecretsManagerName is the secret's name in AWS Secrets Manager.
	SecretsManagerName string `json:"secretsManagerName"`
}

// Volume is storage mounted into the container.
type Volume struct {
	Name          string `json:"name"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
	// Shared volumes are the same for every task: EFS on ECS, a
	// ReadWriteMany claim on an EFS StorageClass on Kubernetes, a named
	// volume locally. Unshared ones live as long as the task.
	Shared bool `json:"shared"`
	// FileSystemID is an existing EFS file system; empty makes the ECS
	// stack create one.
	FileSystemID string `json:"fileSystemId,omitempty"`
	// SizeGiB is the Kubernetes claim's request.
	SizeGiB int `json:"sizeGiB,omitempty"`
}

// Ulimit is one resource limit the container gets.
type Ulimit struct {
	Name      string `json:"name"`
	SoftLimit int64  `json:"softLimit"`
	HardLimit int64  `json:"hardLimit"`
}

// Schedule runs the app as a task at fixed times instead of as a service.
type Schedule struct {
	// Expression is cron(M H DoM Mon DoW Y) or rate(N unit), as
	// EventBridge takes it. Cron() gives the five-field form.
	Expression string `json:"expression"`
	// Timezone is an IANA zone for the Kubernetes CronJob and the local
	// runtime; EventBridge rules run in UTC, so a zone other than UTC is
	// reported when the ECS stack is written.
	Timezone string `json:"timezone,omitempty"`
}

// Notifications say who hears about the app's tasks.
type Notifications struct {
	// StoppedTasks sends ECS task state changes to STOPPED to an SNS topic.
	StoppedTasks bool `json:"stoppedTasks"`
	// Email subscribes an address to that topic.
	Email string `json:"email,omitempty"`
}

// Kubernetes holds what only the Kubernetes manifests use.
type Kubernetes struct {
	Namespace string `json:"namespace"`
	// Replicas is the Deployment's replica count when autoscaling is off.
	Replicas int `json:"replicas"`
	// ServiceType is ClusterIP, NodePort or LoadBalancer.
	ServiceType string  `json:"serviceType"`
	Ingress     Ingress `json:"ingress"`
	// IncludeSecretValues writes the secret values into secret.yaml (then
	// the file must not be committed). Off by default: keys only.
	IncludeSecretValues bool `json:"includeSecretValues"`
	// StorageClassName is the class of shared volumes' claims. Unless
	// ExistingStorageClass, the manifests define it for the EFS CSI driver
	// with EFSFileSystemID and this app's base path and uid, so it is
	// named after the app (FAMILY-efs): a StorageClass is cluster-wide,
	// and two apps giving theirs one name would share the first one's.
	StorageClassName string `json:"storageClassName"`
	// ExistingStorageClass says the cluster already has the class (the
	// platform team's): the claims use it and no StorageClass is written.
	ExistingStorageClass bool   `json:"existingStorageClass"`
	EFSFileSystemID      string `json:"efsFileSystemId,omitempty"`
}

// legacyStorageClassName is the class name hoist gave every app before
// naming it after the app; deployment.json files written then still hold it.
const legacyStorageClassName = "efs-sc"

// Ingress exposes the service over HTTP.
type Ingress struct {
	Enabled bool `json:"enabled"`
	// ClassName alb uses the AWS Load Balancer Controller annotations (EKS);
	// any other class gets a plain Ingress.
	ClassName string `json:"className"`
	Host      string `json:"host,omitempty"`
	Path      string `json:"path"`
}

// AppRunner holds the App Runner service's settings.
type AppRunner struct {
	Enabled bool `json:"enabled"`
	// Cpu and Memory are App Runner's values: 256..4096 units, 512..12288 MiB.
	Cpu            int `json:"cpu"`
	Memory         int `json:"memory"`
	MinSize        int `json:"minSize"`
	MaxSize        int `json:"maxSize"`
	MaxConcurrency int `json:"maxConcurrency"`
}

// Local is how the bundled local runtime exposes the service.
type Local struct {
	// ListenerAddress and ListenerPort are where the runtime's load
	// balancer listens; the address is always loopback.
	ListenerAddress string `json:"listenerAddress"`
	ListenerPort    int    `json:"listenerPort"`
}

// DeploymentPath is APP/deployment.json.
func DeploymentPath(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "deployment.json")
}

// LoadDeployment reads and checks APP/deployment.json. A missing file is
// discover.ErrNotFound; a malformed or inconsistent one discover.ErrInvalid
// with the line, column or field and what to do.
func LoadDeployment(ws discover.Workspace, id string) (*Deployment, error) {
	name := DeploymentPath(ws, id)
	data, err := discover.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w; run `hoist generate %s` to write it", name, discover.ErrNotFound, id)
		}
		return nil, err
	}
	d, err := ParseDeployment(data)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Problems {
				ve.Problems[i].File = name
			}
			return nil, ve
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// ParseDeployment decodes deployment.json strictly (an unknown field is a
// typo, not something to ignore) and validates it.
func ParseDeployment(data []byte) (*Deployment, error) {
	var d Deployment
	if err := decodeStrict(data, &d); err != nil {
		return nil, fmt.Errorf("%w: %s; fix it by hand, or delete it and run `hoist generate` to write the defaults again", discover.ErrInvalid, err)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// decodeStrict decodes one JSON document, rejecting unknown fields and
// trailing data, and places errors at a line and column.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(discover.DescribeJSONError(data, err, dec.InputOffset()))
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("unexpected data after the JSON document")
	}
	return nil
}

// MarshalDeployment renders deployment.json.
func MarshalDeployment(d *Deployment) ([]byte, error) { return discover.MarshalJSON(d) }

// DefaultDeployment derives deployment.json from an analysis. image is the
// reference `hoist containerize` built (empty: the reference it will build).
func DefaultDeployment(a *discover.Analysis, image string) *Deployment {
	cp := a.ContainerParameters
	if image == "" {
		name, tag := cp.ImageName, cp.ImageTag
		if name == "" {
			name = a.ID
		}
		if tag == "" {
			tag = "latest"
		}
		image = "hoist.local/" + name + ":" + tag
	}
	family := dnsLabel(a.ID)
	repo := cp.ImageName
	if repo == "" {
		repo = a.ID
	}
	d := &Deployment{
		SchemaVersion: DeploymentSchemaVersion,
		ID:            a.ID,
		Family:        family,
		Image:         image,
		Registry:      Registry{RepositoryName: "hoist/" + dnsLabel(repo), ScanOnPush: true, KeepImages: 10},
		LaunchType:    "FARGATE",
		NetworkMode:   "awsvpc",
		Cpu:           1024,
		Memory:        2048,
		DesiredCount:  2,
		DeploymentConfiguration: DeploymentConfiguration{
			MinimumHealthyPercent: 100,
			MaximumPercent:        200,
		},
		User:             cp.User,
		WorkingDirectory: cp.WorkingDir,
		PortMappings:     []PortMapping{},
		Environment:      []KeyValue{},
		Secrets:          []Secret{},
		Volumes:          []Volume{},
		Logging: Logging{
			Driver:          "awslogs",
			LogGroupName:    "/hoist/" + family,
			StreamPrefix:    family,
			RetentionInDays: 30,
		},
		Notifications: Notifications{StoppedTasks: true},
		Kubernetes: Kubernetes{
			Namespace:        family,
			Replicas:         2,
			ServiceType:      "ClusterIP",
			StorageClassName: family + "-efs",
			Ingress:          Ingress{ClassName: "alb", Path: "/"},
		},
		Local: Local{ListenerAddress: "127.0.0.1", ListenerPort: localPort(a.ID)},
	}
	if a.Type.Family() == "java" && a.Observed.Runtime.Kind == "java" {
		// A JVM sized by the host's memory needs more head room than a
		// .NET process; 2 GiB suits both at 1 vCPU.
		d.Memory = 2048
	}

	// Ports: all of them, named after their protocol and number.
	http := map[int]bool{}
	if a.Observed.Server != nil {
		for _, c := range a.Observed.Server.Connectors {
			if c.Port > 0 && !strings.Contains(strings.ToLower(c.Protocol), "ajp") {
				http[c.Port] = true
			}
		}
	}
	if hc := cp.HealthCheck; hc.Path != "" && hc.Port > 0 {
		http[hc.Port] = true
	}
	switch a.Type {
	case discover.TypeTomcat, discover.TypeTomEE, discover.TypeJetty, discover.TypeJBoss, discover.TypeSpringBoot, discover.TypeMonoXSP:
		// Web servers: their main port speaks HTTP.
		if cp.HealthCheck.Port > 0 {
			http[cp.HealthCheck.Port] = true
		}
	}
	for _, e := range a.Observed.Environment {
		switch e.Name {
		case "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "DOTNET_URLS", "URLS", "HTTP_PORTS":
			for _, m := range httpURLPortRe.FindAllStringSubmatch(e.Value, -1) {
				if n, err := strconv.Atoi(m[1]); err == nil {
					http[n] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, p := range cp.Ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		key := proto + strconv.Itoa(p.Port)
		if p.Port <= 0 || seen[key] {
			continue
		}
		seen[key] = true
		pm := PortMapping{Name: portName(proto, p.Port, http[p.Port]), ContainerPort: p.Port, Protocol: proto}
		if proto == "tcp" && http[p.Port] {
			pm.AppProtocol = "http"
		}
		d.PortMappings = append(d.PortMappings, pm)
	}

	// Health check and load balancer on the health check's port, or the
	// first TCP port.
	hcPort := cp.HealthCheck.Port
	if !hasTCPPort(d.PortMappings, hcPort) {
		hcPort = 0
		for _, p := range d.PortMappings {
			if p.Protocol == "tcp" {
				hcPort = p.ContainerPort
				break
			}
		}
	}
	d.HealthCheck = HealthCheck{
		Protocol:           "TCP",
		Port:               hcPort,
		IntervalSeconds:    30,
		TimeoutSeconds:     5,
		HealthyThreshold:   2,
		UnhealthyThreshold: 3,
		GracePeriodSeconds: 120,
	}
	switch {
	case cp.HealthCheck.Path != "" && hcPort == cp.HealthCheck.Port:
		d.HealthCheck.Protocol = "HTTP"
		d.HealthCheck.Path = cp.HealthCheck.Path
		d.HealthCheck.Matcher = "200-399"
	case hcPort != 0 && http[hcPort]:
		// An HTTP server without a known health page: any answer but a
		// server error shows it is up.
		d.HealthCheck.Protocol = "HTTP"
		d.HealthCheck.Path = "/"
		d.HealthCheck.Matcher = "200-499"
	}
	if hcPort == 0 {
		d.LoadBalancer = LoadBalancer{Type: LoadBalancerNone}
		d.DesiredCount = 1
		d.Kubernetes.Replicas = 1
		d.DeploymentConfiguration.MinimumHealthyPercent = 0
	} else {
		d.LoadBalancer = LoadBalancer{
			Type:                       LoadBalancerApplication,
			ContainerPort:              hcPort,
			ListenerPort:               80,
			ListenerProtocol:           "HTTP",
			Scheme:                     "internet-facing",
			DeregistrationDelaySeconds: 30,
		}
		if d.HealthCheck.Protocol == "TCP" {
			// An app that is not known to speak HTTP goes behind an NLB.
			d.LoadBalancer.Type = LoadBalancerNetwork
			d.LoadBalancer.ListenerPort = hcPort
			d.LoadBalancer.ListenerProtocol = "TCP"
		}
		d.AutoScaling = AutoScaling{
			Enabled:     true,
			MinCapacity: 2,
			MaxCapacity: 6,
			TargetTracking: []TargetTracking{
				{Metric: MetricCPU, TargetValue: 60, ScaleInCooldown: 300, ScaleOutCooldown: 60},
			},
		}
		d.Kubernetes.Ingress.Enabled = d.LoadBalancer.Type == LoadBalancerApplication
		d.AppRunner = AppRunner{
			Enabled:        d.HealthCheck.Protocol == "HTTP",
			Cpu:            1024,
			Memory:         2048,
			MinSize:        1,
			MaxSize:        5,
			MaxConcurrency: 100,
		}
	}
	if d.AppRunner.Cpu == 0 {
		d.AppRunner = AppRunner{Cpu: 1024, Memory: 2048, MinSize: 1, MaxSize: 5, MaxConcurrency: 100}
	}

	// Environment: the process's own variables, then the overrides of
	// containerParameters.env.
	type envEntry struct{ value, ref string }
	env := map[string]envEntry{}
	var order []string
	set := func(name string, e envEntry) {
		if _, ok := env[name]; !ok {
			order = append(order, name)
		}
		env[name] = e
	}
	for _, e := range a.Observed.Environment {
		if e.System || e.Name == "" {
			continue
		}
		set(e.Name, envEntry{e.Value, e.SecretRef})
	}
	for _, o := range cp.Env {
		if o.Remove {
			delete(env, o.Name)
			continue
		}
		set(o.Name, envEntry{o.Value, o.SecretRef})
	}
	sort.Strings(order)
	refsAsEnv := map[string]bool{}
	for _, n := range order {
		e, ok := env[n]
		if !ok {
			continue
		}
		if e.ref != "" {
			d.Secrets = append(d.Secrets, Secret{Name: n, SecretRef: e.ref, SecretsManagerName: SecretsManagerName(e.ref)})
			refsAsEnv[e.ref] = true
			continue
		}
		d.Environment = append(d.Environment, KeyValue{Name: n, Value: e.value})
	}
	// Secrets of config files and the command line reach the container as
	// variables too; the image puts them back where they were.
	for _, s := range a.Observed.Secrets {
		if refsAsEnv[s.Ref] || s.Source == "env" {
			continue
		}
		refsAsEnv[s.Ref] = true
		d.Secrets = append(d.Secrets, Secret{Name: SecretEnvName(s.Ref), SecretRef: s.Ref, SecretsManagerName: SecretsManagerName(s.Ref)})
	}
	sort.SliceStable(d.Secrets, func(i, j int) bool { return d.Secrets[i].Name < d.Secrets[j].Name })

	for _, u := range a.Observed.Process.Ulimits {
		if n, ok := ecsUlimitNames[u.Name]; ok {
			d.Ulimits = append(d.Ulimits, Ulimit{Name: n, SoftLimit: u.Soft, HardLimit: u.Hard})
		}
	}
	return d
}

// ecsUlimitNames maps /proc/PID/limits names (as discover records them) to
// the names ECS and Docker use.
var ecsUlimitNames = map[string]string{
	"nofile": "nofile", "nproc": "nproc", "core": "core", "stack": "stack",
	"memlock": "memlock", "cpu": "cpu", "data": "data", "fsize": "fsize",
	"locks": "locks", "msgqueue": "msgqueue", "nice": "nice", "rss": "rss",
	"rtprio": "rtprio", "rttime": "rttime", "sigpending": "sigpending",
	"Max open files": "nofile", "Max processes": "nproc", "Max core file size": "core",
	"Max stack size": "stack", "Max locked memory": "memlock",
}

func hasTCPPort(pms []PortMapping, port int) bool {
	for _, p := range pms {
		if p.Protocol == "tcp" && p.ContainerPort == port && port > 0 {
			return true
		}
	}
	return false
}

// portName is a Kubernetes-valid port name: at most 15 characters.
func portName(proto string, port int, http bool) string {
	prefix := proto
	if http {
		prefix = "http"
	}
	return prefix + "-" + strconv.Itoa(port)
}

// localPort picks the local listener port from the app's ID, so it is the
// same on every run and apps rarely collide; the user may change it.
func localPort(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return 20000 + int(h.Sum32()%10000)
}

// dnsLabel turns s into a DNS label: lower case, [a-z0-9-], at most 63
// characters, starting and ending alphanumeric.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	if out == "" {
		out = "app"
	}
	if out[0] >= '0' && out[0] <= '9' {
		out = "app-" + out
		if len(out) > 63 {
			out = strings.TrimRight(out[:63], "-")
		}
	}
	return out
}

// SecretEnvName is the environment variable a secret reaches the container
// in: the variable's own name for a secret found in the environment
// (APP/env/NAME); for one found in a config file or on the command line the
// HOIST_SECRET_* variable the image's entry point renders back into place
// (render.EnvName).
func SecretEnvName(ref string) string {
	parts := strings.SplitN(ref, "/", 3)
	if len(parts) == 3 && parts[1] == "env" && parts[2] != "" && !strings.Contains(parts[2], "#") {
		return parts[2]
	}
	return render.EnvName(ref)
}

// SecretsManagerName is the name a secret gets in AWS Secrets Manager:
// hoist/ and the reference, with characters Secrets Manager does not allow
// replaced by '-'.
func SecretsManagerName(ref string) string {
	var b strings.Builder
	b.WriteString("hoist/")
	for _, r := range ref {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("/_+=.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 500 {
		s = s[:500]
	}
	// Secrets Manager appends "-" and six random characters to make the
	// ARN; a name that already ends like that makes partial ARNs ambiguous.
	if secretSuffixRe.MatchString(s) {
		s += "_"
	}
	return s
}

// httpURLPortRe finds the ports of http:// URLs (and bare port lists) in
// ASP.NET Core's URL settings.
var httpURLPortRe = regexp.MustCompile(`(?:^|[;,\s])(?:http://[^;,\s]*:)?([0-9]{2,5})(?:/|$|[;,\s])`)

var secretSuffixRe = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

// ParseAnalysis decodes analysis.json strictly, as discover writes it.
func ParseAnalysis(data []byte) (*discover.Analysis, error) {
	var a discover.Analysis
	if err := decodeStrict(data, &a); err != nil {
		return nil, fmt.Errorf("%w: %s; fix it by hand or run `hoist analyze --force` to write it again", discover.ErrInvalid, err)
	}
	if a.ID == "" {
		return nil, fmt.Errorf("%w: field id is empty; run `hoist analyze` to write it again", discover.ErrInvalid)
	}
	if a.SchemaVersion != discover.SchemaVersion {
		return nil, fmt.Errorf("%w: field schemaVersion is %d, this hoist reads %d; run `hoist analyze` again", discover.ErrInvalid, a.SchemaVersion, discover.SchemaVersion)
	}
	if err := a.ContainerParameters.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v; fix it by hand or run `hoist analyze %s --force` to write it again", discover.ErrInvalid, err, a.ID)
	}
	return &a, nil
}
