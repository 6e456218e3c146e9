package api

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// ErrInvalid marks a request the runtime refuses; the message says which
// field and why.
var ErrInvalid = errors.New("invalid")

// ErrNotFound marks an unknown service, task, task definition or secret.
var ErrNotFound = errors.New("not found")

// ErrConflict marks a request that collides with what exists (a port in
// use, a service being deleted).
var ErrConflict = errors.New("conflict")

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$`)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// TaskDefinitionRef is "family:revision".
func TaskDefinitionRef(family string, revision int) string {
	return family + ":" + strconv.Itoa(revision)
}

// ParseTaskDefinitionRef accepts family, family:revision, or an ECS ARN
// ending in task-definition/family:revision; revision 0 means the latest.
func ParseTaskDefinitionRef(ref string) (family string, revision int, err error) {
	if i := strings.LastIndex(ref, "task-definition/"); i >= 0 {
		ref = ref[i+len("task-definition/"):]
	}
	family, rev, ok := strings.Cut(ref, ":")
	if ok {
		revision, err = strconv.Atoi(rev)
		if err != nil || revision < 1 {
			return "", 0, invalid("task definition %q: revision %q is not a positive number", ref, rev)
		}
	}
	if !nameRE.MatchString(family) {
		return "", 0, invalid("task definition %q: family must be letters, digits, '-' and '_'", ref)
	}
	return family, revision, nil
}

// SecretName is the store name a Secret's valueFrom refers to.
func SecretName(valueFrom string) string {
	for _, marker := range []string{":secret:", ":parameter/", ":parameter"} {
		if i := strings.LastIndex(valueFrom, marker); i >= 0 {
			valueFrom = valueFrom[i+len(marker):]
			break
		}
	}
	return valueFrom
}

// ValidSecretName says whether a name can be stored.
func ValidSecretName(n string) error {
	if n == "" || len(n) > 512 || strings.ContainsAny(n, "\x00\n\r") {
		return invalid("secret name %q: use 1-512 printable characters", n)
	}
	return nil
}

// Essential reports the ECS default (true) when unset.
func (c *ContainerDefinition) IsEssential() bool { return c.Essential == nil || *c.Essential }

var capRE = regexp.MustCompile(`^(CAP_)?[A-Z_]{2,32}$`)

// Validate checks a task definition before it is registered.
func (td *TaskDefinition) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !nameRE.MatchString(td.Family) {
		add("family %q: use letters, digits, '-' and '_' (up to 255)", td.Family)
	}
	switch td.NetworkMode {
	case "", "bridge", "awsvpc":
	default:
		add("networkMode %q: the local runtime runs bridge (and awsvpc as bridge)", td.NetworkMode)
	}
	if td.Cpu != "" {
		if n, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(td.Cpu), " vcpu"), 64); err != nil || n <= 0 {
			add("cpu %q: CPU units (1024 = one CPU) or \"N vCPU\"", td.Cpu)
		}
	}
	if td.Memory != "" {
		if _, err := parseMemory(td.Memory); err != nil {
			add("memory %q: %v", td.Memory, err)
		}
	}
	vols := map[string]bool{}
	for i, v := range td.Volumes {
		if !nameRE.MatchString(v.Name) {
			add("volumes[%d].name %q: use letters, digits, '-' and '_'", i, v.Name)
		}
		if vols[v.Name] {
			add("volumes[%d].name %q: defined twice", i, v.Name)
		}
		vols[v.Name] = true
		if v.Host != nil && v.Host.SourcePath != "" {
			sp := v.Host.SourcePath
			switch {
			case !path.IsAbs(sp) || path.Clean(sp) != sp:
				add("volumes[%d].host.sourcePath %q: must be an absolute, clean path", i, sp)
			case sp == "/" || underAny(sp, "/proc", "/sys", "/dev", "/boot", "/etc", "/run", "/var/lib/hoist"):
				add("volumes[%d].host.sourcePath %q: the host's system directories are not shared with tasks; use a directory of the app's own", i, sp)
			}
		}
	}
	switch len(td.ContainerDefinitions) {
	case 0:
		add("containerDefinitions: at least one container is needed")
	case 1:
	default:
		add("containerDefinitions: %d containers; the local runtime runs one container per task (sidecars are not supported yet)", len(td.ContainerDefinitions))
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("containerDefinitions[%d]", i)
		if !nameRE.MatchString(c.Name) {
			add("%s.name %q: use letters, digits, '-' and '_'", p, c.Name)
		}
		if c.Image == "" || strings.ContainsAny(c.Image, " \t\n") {
			add("%s.image %q: an image reference is needed", p, c.Image)
		}
		if !c.IsEssential() {
			add("%s.essential: the only container of a task must be essential", p)
		}
		if c.Memory < 0 || c.MemoryReservation < 0 || c.Cpu < 0 {
			add("%s: cpu and memory must not be negative", p)
		}
		if c.Memory > 0 && c.Memory < 6 {
			add("%s.memory %d MiB: at least 6 MiB", p, c.Memory)
		}
		seen := map[string]bool{}
		for j, pm := range c.PortMappings {
			if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
				add("%s.portMappings[%d].containerPort %d: 1-65535", p, j, pm.ContainerPort)
			}
			if pm.HostPort < 0 || pm.HostPort > 65535 {
				add("%s.portMappings[%d].hostPort %d: 0 (dynamic) or 1-65535", p, j, pm.HostPort)
			}
			proto := strings.ToLower(pm.Protocol)
			if proto != "" && proto != "tcp" && proto != "udp" {
				add("%s.portMappings[%d].protocol %q: tcp or udp", p, j, pm.Protocol)
			}
			k := fmt.Sprint(pm.ContainerPort, proto)
			if seen[k] {
				add("%s.portMappings[%d]: container port %d mapped twice", p, j, pm.ContainerPort)
			}
			seen[k] = true
		}
		for j, e := range c.Environment {
			if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
				add("%s.environment[%d].name %q: invalid variable name", p, j, e.Name)
			}
		}
		for j, s := range c.Secrets {
			if s.Name == "" || strings.ContainsAny(s.Name, "=\x00") {
				add("%s.secrets[%d].name %q: invalid variable name", p, j, s.Name)
			}
			if err := ValidSecretName(SecretName(s.ValueFrom)); err != nil {
				add("%s.secrets[%d].valueFrom: %v", p, j, err)
			}
		}
		if hc := c.HealthCheck; hc != nil {
			if len(hc.Command) < 2 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL") {
				add("%s.healthCheck.command %q: [\"CMD\", exe, args...] or [\"CMD-SHELL\", command]", p, hc.Command)
			}
			if hc.Interval < 0 || hc.Timeout < 0 || hc.Retries < 0 || hc.StartPeriod < 0 || hc.IntervalMillis < 0 || hc.TimeoutMillis < 0 {
				add("%s.healthCheck: interval, timeout, retries and startPeriod must not be negative", p)
			}
		}
		for j, m := range c.MountPoints {
			if !vols[m.SourceVolume] {
				add("%s.mountPoints[%d].sourceVolume %q: no volume of that name in volumes", p, j, m.SourceVolume)
			}
			if !path.IsAbs(m.ContainerPath) || path.Clean(m.ContainerPath) == "/" || underAny(path.Clean(m.ContainerPath), "/proc", "/sys", "/dev") {
				add("%s.mountPoints[%d].containerPath %q: an absolute path other than /, /proc, /sys and /dev", p, j, m.ContainerPath)
			}
		}
		if lp := c.LinuxParameters; lp != nil && lp.Capabilities != nil {
			for _, cp := range append(append([]string{}, lp.Capabilities.Add...), lp.Capabilities.Drop...) {
				if !capRE.MatchString(cp) && cp != "ALL" {
					add("%s.linuxParameters.capabilities: %q is not a capability name", p, cp)
				}
			}
		}
		if c.Privileged {
			add("%s.privileged: not supported by the local runtime", p)
		}
		if c.StopTimeout < 0 || c.StopTimeout > 120 {
			add("%s.stopTimeout %d: 0-120 seconds", p, c.StopTimeout)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w task definition %q: %w", ErrInvalid, td.Family, errors.Join(errs...))
	}
	return nil
}

// parseMemory reads MiB ("512") or "N GB".
func parseMemory(s string) (int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "gb"):
		mult, s = 1024, strings.TrimSpace(strings.TrimSuffix(s, "gb"))
	case strings.HasSuffix(s, "mb"), strings.HasSuffix(s, "mib"):
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(s, "mib"), "mb"))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 6 {
		return 0, errors.New("MiB (at least 6) or \"N GB\"")
	}
	return int(f * mult), nil
}

// MemoryMiB is the task-level memory limit, 0 when unset.
func (td *TaskDefinition) MemoryMiB() int {
	n, _ := parseMemory(td.Memory)
	if td.Memory == "" {
		return 0
	}
	return n
}

// CPUUnits is the task-level CPU limit in units, 0 when unset.
func (td *TaskDefinition) CPUUnits() int {
	if td.Cpu == "" {
		return 0
	}
	s := strings.ToLower(td.Cpu)
	if strings.HasSuffix(s, "vcpu") {
		f, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "vcpu")), 64)
		return int(f * 1024)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return int(f)
}

// MinHealthy and MaxPercent give the deployment limits with ECS defaults.
func (s *Service) MinHealthy() int {
	if s.DeploymentConfiguration != nil && s.DeploymentConfiguration.MinimumHealthyPercent != nil {
		return *s.DeploymentConfiguration.MinimumHealthyPercent
	}
	return 100
}

func (s *Service) MaxPercent() int {
	if s.DeploymentConfiguration != nil && s.DeploymentConfiguration.MaximumPercent != nil {
		return *s.DeploymentConfiguration.MaximumPercent
	}
	return 200
}

// Validate checks a service before it is created or updated.
func (s *Service) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !nameRE.MatchString(s.ServiceName) {
		add("serviceName %q: use letters, digits, '-' and '_'", s.ServiceName)
	}
	if _, _, err := ParseTaskDefinitionRef(s.TaskDefinition); err != nil {
		add("taskDefinition: %v", err)
	}
	if s.DesiredCount < 0 || s.DesiredCount > 1000 {
		add("desiredCount %d: 0-1000", s.DesiredCount)
	}
	minH, maxP := s.MinHealthy(), s.MaxPercent()
	if minH < 0 || minH > 100 {
		add("deploymentConfiguration.minimumHealthyPercent %d: 0-100", minH)
	}
	if maxP < 100 || maxP > 400 {
		add("deploymentConfiguration.maximumPercent %d: 100-400", maxP)
	}
	if minH == 100 && maxP == 100 {
		add("deploymentConfiguration: minimumHealthyPercent 100 with maximumPercent 100 leaves no room to replace a task; lower one or raise the other")
	}
	if s.HealthCheckGracePeriodSeconds < 0 {
		add("healthCheckGracePeriodSeconds must not be negative")
	}
	if len(s.LoadBalancers) > 1 {
		add("loadBalancers: one load balancer per service")
	}
	for i, lb := range s.LoadBalancers {
		if lb.ContainerPort < 1 || lb.ContainerPort > 65535 {
			add("loadBalancers[%d].containerPort %d: 1-65535", i, lb.ContainerPort)
		}
		if lb.ListenerPort < 0 || lb.ListenerPort > 65535 {
			add("loadBalancers[%d].listenerPort %d: 0 (any free port) or 1-65535", i, lb.ListenerPort)
		}
		switch strings.ToUpper(lb.Protocol) {
		case "", "HTTP", "TCP":
		default:
			add("loadBalancers[%d].protocol %q: HTTP or TCP", i, lb.Protocol)
		}
		if hc := lb.HealthCheck; hc != nil {
			if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
				add("loadBalancers[%d].healthCheck.path %q: must start with /", i, hc.Path)
			}
			if _, _, err := ParseMatcher(hc.Matcher); err != nil {
				add("loadBalancers[%d].healthCheck.matcher: %v", i, err)
			}
			if hc.IntervalMillis < 0 || hc.TimeoutMillis < 0 || hc.HealthyThresholdCount < 0 || hc.UnhealthyThresholdCount < 0 {
				add("loadBalancers[%d].healthCheck: values must not be negative", i)
			}
		}
		if d := lb.DeregistrationDelaySeconds; d != nil && (*d < 0 || *d > 3600) {
			add("loadBalancers[%d].deregistrationDelaySeconds %d: 0-3600", i, *d)
		}
	}
	if as := s.AutoScaling; as != nil {
		if as.MinCapacity < 0 || as.MaxCapacity < as.MinCapacity || as.MaxCapacity > 1000 {
			add("autoScaling: need 0 <= minCapacity (%d) <= maxCapacity (%d) <= 1000", as.MinCapacity, as.MaxCapacity)
		}
		for i, tt := range as.TargetTracking {
			switch tt.Metric {
			case MetricCPU, MetricMemory:
			default:
				add("autoScaling.targetTracking[%d].metric %q: %s or %s", i, tt.Metric, MetricCPU, MetricMemory)
			}
			if tt.TargetValue <= 0 || tt.TargetValue > 100 {
				add("autoScaling.targetTracking[%d].targetValue %v: a percentage above 0 up to 100", i, tt.TargetValue)
			}
			if tt.ScaleInCooldown < 0 || tt.ScaleOutCooldown < 0 {
				add("autoScaling.targetTracking[%d]: cooldowns must not be negative", i)
			}
		}
		for i, sc := range as.Scheduled {
			if sc.Schedule == "" {
				add("autoScaling.scheduled[%d].schedule: a cron(), rate() or at() expression is needed", i)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w service %q: %w", ErrInvalid, s.ServiceName, errors.Join(errs...))
	}
	return nil
}

// Target tracking metrics.
const (
	MetricCPU    = "ECSServiceAverageCPUUtilization"
	MetricMemory = "ECSServiceAverageMemoryUtilization"
)

// ParseMatcher reads an ALB success code matcher ("200", "200-299");
// empty means 200-399.
func ParseMatcher(m string) (lo, hi int, err error) {
	if m == "" {
		return 200, 399, nil
	}
	a, b, found := strings.Cut(m, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi = lo
	var err2 error
	if found {
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	if err1 != nil || err2 != nil || lo < 100 || hi > 599 || hi < lo {
		return 0, 0, fmt.Errorf("%q: a status code or a range such as 200-299", m)
	}
	return lo, hi, nil
}

// underAny says whether p is one of dirs or inside one.
func underAny(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
