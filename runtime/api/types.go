// Package api is the local runtime's model and wire protocol: task
// definitions, services, tasks, events and schedules shaped like Amazon
// ECS's own (camelCase JSON as `aws ecs ... --cli-input-json` takes), and a
// client for the control plane's unix socket. It imports nothing of hoist.
package api

import "time"

// TaskDefinition is an ECS task definition; Revision is assigned by the
// runtime when one is registered.
type TaskDefinition struct {
	Family               string                `json:"family"`
	Revision             int                   `json:"revision,omitempty"`
	NetworkMode          string                `json:"networkMode,omitempty"` // bridge (default); awsvpc is treated as bridge
	Cpu                  string                `json:"cpu,omitempty"`         // task CPU units (1024 = one CPU), a hard limit
	Memory               string                `json:"memory,omitempty"`      // task memory in MiB, a hard limit
	ContainerDefinitions []ContainerDefinition `json:"containerDefinitions"`
	Volumes              []Volume              `json:"volumes,omitempty"`
	RegisteredAt         time.Time             `json:"registeredAt,omitzero"`
}

// ARN names one revision the way ECS writes it in short form.
func (td *TaskDefinition) ARN() string { return TaskDefinitionRef(td.Family, td.Revision) }

// ContainerDefinition is one container of a task. The local runtime runs
// task definitions with one essential container per task; others are
// rejected with a clear error.
type ContainerDefinition struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Essential         *bool             `json:"essential,omitempty"`
	Cpu               int               `json:"cpu,omitempty"`               // CPU shares
	Memory            int               `json:"memory,omitempty"`            // hard limit, MiB
	MemoryReservation int               `json:"memoryReservation,omitempty"` // soft limit, MiB
	PortMappings      []PortMapping     `json:"portMappings,omitempty"`
	EntryPoint        []string          `json:"entryPoint,omitempty"`
	Command           []string          `json:"command,omitempty"`
	WorkingDirectory  string            `json:"workingDirectory,omitempty"`
	Environment       []KeyValuePair    `json:"environment,omitempty"`
	Secrets           []Secret          `json:"secrets,omitempty"`
	User              string            `json:"user,omitempty"`
	HealthCheck       *HealthCheck      `json:"healthCheck,omitempty"`
	MountPoints       []MountPoint      `json:"mountPoints,omitempty"`
	StopTimeout       int               `json:"stopTimeout,omitempty"` // seconds between SIGTERM and SIGKILL
	LinuxParameters   *LinuxParameters  `json:"linuxParameters,omitempty"`
	ReadonlyRootFS    bool              `json:"readonlyRootFilesystem,omitempty"`
	Ulimits           []Ulimit          `json:"ulimits,omitempty"`
	DockerLabels      map[string]string `json:"dockerLabels,omitempty"`
	Privileged        bool              `json:"privileged,omitempty"`
}

// PortMapping: HostPort 0 (or absent) asks for a dynamic host port.
type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // tcp (default) or udp
	Name          string `json:"name,omitempty"`
}

type KeyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Secret names a value in the runtime's secret store: ValueFrom is the
// secret's name, or an ARN whose last part (after "secret:" or "parameter/")
// is the name.
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// HealthCheck is a container health check command: ["CMD", exe, args...]
// or ["CMD-SHELL", "command"] (needs /bin/sh in the image).
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval,omitempty"`    // seconds, default 30
	Timeout     int      `json:"timeout,omitempty"`     // seconds, default 5
	Retries     int      `json:"retries,omitempty"`     // default 3
	StartPeriod int      `json:"startPeriod,omitempty"` // seconds, default 0
	// IntervalMillis etc. are the runtime's extension for tests and quick
	// local loops; they win over the second-granular fields when set.
	IntervalMillis int `json:"intervalMillis,omitempty"`
	TimeoutMillis  int `json:"timeoutMillis,omitempty"`
}

type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// Volume is a named host directory shared by the tasks that mount it (the
// local stand-in for EFS). Host.SourcePath pins it to a directory; without
// it the runtime keeps it under its data dir.
type Volume struct {
	Name string      `json:"name"`
	Host *HostVolume `json:"host,omitempty"`
}

type HostVolume struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

type LinuxParameters struct {
	Capabilities *KernelCapabilities `json:"capabilities,omitempty"`
	InitProcess  bool                `json:"initProcessEnabled,omitempty"`
}

type KernelCapabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

type Ulimit struct {
	Name      string `json:"name"`
	SoftLimit int64  `json:"softLimit"`
	HardLimit int64  `json:"hardLimit"`
}

// Service keeps DesiredCount tasks of one task definition running behind an
// optional load balancer.
type Service struct {
	ServiceName             string                   `json:"serviceName"`
	TaskDefinition          string                   `json:"taskDefinition"` // family:revision (or family: the latest)
	DesiredCount            int                      `json:"desiredCount"`
	DeploymentConfiguration *DeploymentConfiguration `json:"deploymentConfiguration,omitempty"`
	LoadBalancers           []LoadBalancer           `json:"loadBalancers,omitempty"`
	// HealthCheckGracePeriodSeconds: how long after a task starts failing
	// load balancer health checks are not held against it.
	HealthCheckGracePeriodSeconds int          `json:"healthCheckGracePeriodSeconds,omitempty"`
	AutoScaling                   *AutoScaling `json:"autoScaling,omitempty"`

	// Set by the runtime.
	Status       string       `json:"status,omitempty"` // ACTIVE, DRAINING
	RunningCount int          `json:"runningCount"`
	PendingCount int          `json:"pendingCount"`
	Deployments  []Deployment `json:"deployments,omitempty"`
	CreatedAt    time.Time    `json:"createdAt,omitzero"`
	// Endpoints are the load balancer listeners, 127.0.0.1:port.
	Endpoints []string `json:"endpoints,omitempty"`
}

type DeploymentConfiguration struct {
	MinimumHealthyPercent *int                      `json:"minimumHealthyPercent,omitempty"` // default 100
	MaximumPercent        *int                      `json:"maximumPercent,omitempty"`        // default 200
	CircuitBreaker        *DeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
}

type DeploymentCircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// LoadBalancer is a listener on 127.0.0.1 with a target group of the
// service's tasks.
type LoadBalancer struct {
	ContainerName string `json:"containerName"`
	ContainerPort int    `json:"containerPort"`
	// ListenerPort on 127.0.0.1; 0 picks a free one.
	ListenerPort int    `json:"listenerPort,omitempty"`
	Protocol     string `json:"protocol,omitempty"` // HTTP (default) or TCP
	// HealthCheck of the target group.
	HealthCheck *TargetHealthCheck `json:"healthCheck,omitempty"`
	// DeregistrationDelaySeconds: how long in-flight requests of a target
	// being removed may take (connection draining), default 30.
	DeregistrationDelaySeconds *int `json:"deregistrationDelaySeconds,omitempty"`
}

type TargetHealthCheck struct {
	Path                    string `json:"path,omitempty"`    // HTTP path, default "/"; TCP checks connect
	Matcher                 string `json:"matcher,omitempty"` // status codes: "200", "200-399" (default 200-399)
	IntervalMillis          int    `json:"intervalMillis,omitempty"`
	TimeoutMillis           int    `json:"timeoutMillis,omitempty"`
	HealthyThresholdCount   int    `json:"healthyThresholdCount,omitempty"`
	UnhealthyThresholdCount int    `json:"unhealthyThresholdCount,omitempty"`
}

// AutoScaling is Application Auto Scaling for the service: target
// tracking on the tasks' average CPU or memory use, and scheduled actions.
type AutoScaling struct {
	MinCapacity    int                `json:"minCapacity"`
	MaxCapacity    int                `json:"maxCapacity"`
	TargetTracking []TargetTracking   `json:"targetTracking,omitempty"`
	Scheduled      []ScheduledScaling `json:"scheduled,omitempty"`
}

type TargetTracking struct {
	// Metric is ECSServiceAverageCPUUtilization or
	// ECSServiceAverageMemoryUtilization.
	Metric      string  `json:"metric"`
	TargetValue float64 `json:"targetValue"`
	// Cooldowns in seconds (defaults 60 and 300 as in AWS).
	ScaleOutCooldown int `json:"scaleOutCooldown,omitempty"`
	ScaleInCooldown  int `json:"scaleInCooldown,omitempty"`
}

type ScheduledScaling struct {
	Name        string `json:"name"`
	Schedule    string `json:"schedule"` // cron(...), rate(...) or at(...)
	MinCapacity *int   `json:"minCapacity,omitempty"`
	MaxCapacity *int   `json:"maxCapacity,omitempty"`
}

// Deployment is one rollout of a service to a task definition revision.
type Deployment struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`       // PRIMARY, ACTIVE, INACTIVE
	RolloutState   string    `json:"rolloutState"` // IN_PROGRESS, COMPLETED, FAILED
	Reason         string    `json:"rolloutStateReason,omitempty"`
	TaskDefinition string    `json:"taskDefinition"`
	RunningCount   int       `json:"runningCount"`
	FailedTasks    int       `json:"failedTasks"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// Task is one running (or stopped) copy of a task definition.
type Task struct {
	TaskID         string    `json:"taskId"`
	Group          string    `json:"group"` // service:NAME, or family:NAME for standalone tasks
	ServiceName    string    `json:"serviceName,omitempty"`
	DeploymentID   string    `json:"deploymentId,omitempty"`
	TaskDefinition string    `json:"taskDefinition"`
	LastStatus     string    `json:"lastStatus"`    // PROVISIONING, PENDING, RUNNING, DEACTIVATING, STOPPING, STOPPED
	DesiredStatus  string    `json:"desiredStatus"` // RUNNING, STOPPED
	HealthStatus   string    `json:"healthStatus"`  // UNKNOWN, HEALTHY, UNHEALTHY
	StopCode       string    `json:"stopCode,omitempty"`
	StoppedReason  string    `json:"stoppedReason,omitempty"`
	ExitCode       *int      `json:"exitCode,omitempty"`
	OOMKilled      bool      `json:"oomKilled,omitempty"`
	IP             string    `json:"ip,omitempty"`
	Ports          []Binding `json:"ports,omitempty"`
	PID            int       `json:"pid,omitempty"`
	StartedBy      string    `json:"startedBy,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	StartedAt      time.Time `json:"startedAt,omitzero"`
	HealthyAt      time.Time `json:"healthyAt,omitzero"`
	StoppedAt      time.Time `json:"stoppedAt,omitzero"`
	// Netns is the task's network namespace (a bind mount under the
	// state dir).
	Netns string `json:"netns,omitempty"`
}

// Binding is a port mapping as it was made: host port on 127.0.0.1.
type Binding struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

// Task states.
const (
	StatusProvisioning = "PROVISIONING"
	StatusPending      = "PENDING"
	StatusRunning      = "RUNNING"
	StatusDeactivating = "DEACTIVATING"
	StatusStopping     = "STOPPING"
	StatusStopped      = "STOPPED"

	HealthUnknown   = "UNKNOWN"
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
)

// Stop codes, as ECS names them.
const (
	StopEssentialContainerExited  = "EssentialContainerExited"
	StopTaskFailedToStart         = "TaskFailedToStart"
	StopServiceSchedulerInitiated = "ServiceSchedulerInitiated"
	StopUserInitiated             = "UserInitiated"
)

// Event is one entry of the runtime's event log.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// DetailType as EventBridge names it: "ECS Task State Change",
	// "ECS Service Action", "ECS Deployment State Change".
	DetailType string `json:"detailType"`
	Service    string `json:"service,omitempty"`
	TaskID     string `json:"taskId,omitempty"`
	// Task is the task as it was at the change.
	Task    *Task  `json:"task,omitempty"`
	Message string `json:"message"`
}

const (
	EventTaskStateChange       = "ECS Task State Change"
	EventServiceAction         = "ECS Service Action"
	EventDeploymentStateChange = "ECS Deployment State Change"
)

// Schedule runs a task definition on a cron or rate expression, like an
// EventBridge Scheduler schedule with an ECS RunTask target.
type Schedule struct {
	Name           string    `json:"name"`
	Expression     string    `json:"scheduleExpression"` // cron(...) or rate(...)
	TaskDefinition string    `json:"taskDefinition"`
	TaskCount      int       `json:"taskCount,omitempty"`
	Enabled        *bool     `json:"enabled,omitempty"`
	LastRun        time.Time `json:"lastRun,omitzero"`
	NextRun        time.Time `json:"nextRun,omitzero"`
}

// Webhook receives every event as a JSON POST.
type Webhook struct {
	URL string `json:"url"`
	// Delivered is the sequence number of the last event the hook accepted.
	Delivered uint64 `json:"delivered"`
}

// RunTaskInput starts standalone tasks.
type RunTaskInput struct {
	TaskDefinition string `json:"taskDefinition"`
	Count          int    `json:"count,omitempty"`
	StartedBy      string `json:"startedBy,omitempty"`
	// Wait for the tasks to stop and return them as they stopped.
	Wait bool `json:"wait,omitempty"`
}

// Error is the control plane's error response body.
type Error struct {
	Code    string `json:"code"` // InvalidParameter, NotFound, Conflict, Unavailable, Internal
	Message string `json:"message"`
}
