package generate

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hoistctl/hoist/discover"
)

// Problem is one thing wrong with an input or an artifact: the file, the
// field (a JSON path such as portMappings[1].containerPort), what is wrong
// and how to fix it.
type Problem struct {
	File    string `json:"file,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString(" (")
		b.WriteString(p.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError lists every problem found, so one run shows them all.
// It is a discover.ErrInvalid.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].String())
		b.WriteString("; nothing was written")
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems; nothing was written:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return discover.ErrInvalid }

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (p *problems) add(field, fix, format string, args ...any) {
	p.list = append(p.list, Problem{File: p.file, Field: field, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

// fargateMemory lists, for each Fargate CPU value, the memory sizes (MiB)
// Fargate accepts (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size).
var fargateMemory = map[int][]int{
	256:   {512, 1024, 2048},
	512:   steps(1024, 4096, 1024),
	1024:  steps(2048, 8192, 1024),
	2048:  steps(4096, 16384, 1024),
	4096:  steps(8192, 30720, 1024),
	8192:  steps(16384, 61440, 4096),
	16384: steps(32768, 122880, 8192),
}

func steps(from, to, by int) []int {
	var out []int
	for v := from; v <= to; v += by {
		out = append(out, v)
	}
	return out
}

// FargateSizeValid says whether cpu units and memory MiB are a Fargate
// combination.
func FargateSizeValid(cpu, memory int) bool {
	for _, m := range fargateMemory[cpu] {
		if m == memory {
			return true
		}
	}
	return false
}

// fargateFix suggests the nearest valid Fargate size.
func fargateFix(cpu, memory int) string {
	mems, ok := fargateMemory[cpu]
	if !ok {
		return "Fargate cpu is one of 256, 512, 1024, 2048, 4096, 8192, 16384"
	}
	return fmt.Sprintf("with cpu %d Fargate takes memory %d to %d MiB (in steps of %d)", cpu, mems[0], mems[len(mems)-1], stepOf(mems))
}

func stepOf(m []int) int {
	if len(m) < 2 {
		return 0
	}
	return m[1] - m[0]
}

// appRunnerSizes are App Runner's cpu/memory combinations.
var appRunnerSizes = map[int][]int{
	256:  {512, 1024},
	512:  {1024},
	1024: {2048, 3072, 4096},
	2048: {4096, 6144},
	4096: {8192, 10240, 12288},
}

var (
	ecrRepoRe     = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	iamRoleArnRe  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	iamPolicyRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[\w+=,.@/-]+$`)
	logGroupRe    = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	secretNameRe  = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	accountRe     = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	certArnRe     = regexp.MustCompile(`^arn:aws[a-z-]*:(acm|iam):`)
	efsIDRe       = regexp.MustCompile(`^fs-[0-9a-f]{8,40}$`)
	retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
	ulimitNames   = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
)

func inInts(v int, set []int) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

func inStrings(v string, set ...string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Validate checks deployment.json for values no target would accept, and
// says which field and how to fix it.
func (d *Deployment) Validate() error {
	p := &problems{}
	if d.SchemaVersion != DeploymentSchemaVersion {
		p.add("schemaVersion", fmt.Sprintf("set it to %d", DeploymentSchemaVersion), "is %d, this hoist reads version %d", d.SchemaVersion, DeploymentSchemaVersion)
	}
	if d.ID == "" {
		p.add("id", "set it to the app's ID (the workspace directory's name)", "is empty")
	}
	for _, m := range validation.IsDNS1123Label(d.Family) {
		p.add("family", "use lower case letters, digits and '-', at most 63 characters", "%q: %s", d.Family, m)
	}
	if d.Image == "" {
		p.add("image", "set the image reference, e.g. hoist.local/APP:latest", "is empty")
	} else if strings.ContainsAny(d.Image, " \t\n") {
		p.add("image", "remove the blanks", "%q holds blanks", d.Image)
	} else if _, err := reference.ParseNormalizedNamed(d.Image); err != nil {
		p.add("image", "use an image reference such as hoist.local/APP:latest or REGISTRY/REPOSITORY:TAG", "%q is not an image reference: %v", d.Image, err)
	}
	r := d.Registry
	if n := r.RepositoryName; len(n) < 2 || len(n) > 256 || !ecrRepoRe.MatchString(n) {
		p.add("registry.repositoryName", "use lower case letters, digits, '.', '_', '-' and '/' between them, 2 to 256 characters", "%q is not a valid ECR repository name", n)
	}
	if r.AccountID != "" && !accountRe.MatchString(r.AccountID) {
		p.add("registry.accountId", "use the 12-digit AWS account ID, or leave it empty", "%q is not an AWS account ID", r.AccountID)
	}
	if r.Region != "" && !regionRe.MatchString(r.Region) {
		p.add("registry.region", "use a region such as eu-west-1, or leave it empty", "%q is not an AWS region", r.Region)
	}
	if r.KeepImages < 1 || r.KeepImages > 1000 {
		p.add("registry.keepImages", "set 1 to 1000", "is %d", r.KeepImages)
	}

	switch d.LaunchType {
	case "FARGATE":
		if d.NetworkMode != "awsvpc" {
			p.add("networkMode", `use "awsvpc", or launchType "EC2" for bridge networking`, "%q: Fargate supports only awsvpc", d.NetworkMode)
		}
		if !FargateSizeValid(d.Cpu, d.Memory) {
			p.add("cpu/memory", fargateFix(d.Cpu, d.Memory), "cpu %d with memory %d is not a Fargate size", d.Cpu, d.Memory)
		}
	case "EC2":
		if !inStrings(d.NetworkMode, "awsvpc", "bridge") {
			p.add("networkMode", `use "awsvpc" or "bridge"`, "%q is not supported", d.NetworkMode)
		}
		if d.Cpu < 128 || d.Cpu > 196608 {
			p.add("cpu", "set 128 to 196608 CPU units (1024 = 1 vCPU)", "is %d", d.Cpu)
		}
		if d.Memory < 6 || d.Memory > 1048576 {
			p.add("memory", "set the task's memory in MiB (at least 6)", "is %d", d.Memory)
		}
	default:
		p.add("launchType", `use "FARGATE" or "EC2"`, "%q is not a launch type", d.LaunchType)
	}
	if d.DesiredCount < 0 || d.DesiredCount > 1000 {
		p.add("desiredCount", "set 0 to 1000", "is %d", d.DesiredCount)
	}
	dc := d.DeploymentConfiguration
	if dc.MinimumHealthyPercent < 0 || dc.MinimumHealthyPercent > 100 {
		p.add("deploymentConfiguration.minimumHealthyPercent", "set 0 to 100", "is %d", dc.MinimumHealthyPercent)
	}
	if dc.MaximumPercent < 100 || dc.MaximumPercent > 400 || dc.MaximumPercent <= dc.MinimumHealthyPercent {
		p.add("deploymentConfiguration.maximumPercent", "set 100 to 400, above minimumHealthyPercent", "is %d", dc.MaximumPercent)
	}
	if d.User != "" && !validUser(d.User) {
		p.add("user", "use uid, uid:gid, or a user name", "%q is not a user", d.User)
	}
	if d.WorkingDirectory != "" && !path.IsAbs(d.WorkingDirectory) {
		p.add("workingDirectory", "use an absolute path", "%q is relative", d.WorkingDirectory)
	}

	// Ports.
	names := map[string]bool{}
	ports := map[string]bool{}
	for i, pm := range d.PortMappings {
		f := fmt.Sprintf("portMappings[%d]", i)
		for _, m := range validation.IsValidPortName(pm.Name) {
			p.add(f+".name", "use at most 15 lower case letters, digits and '-', with a letter", "%q: %s", pm.Name, m)
		}
		if names[pm.Name] {
			p.add(f+".name", "give every port its own name", "%q is used twice", pm.Name)
		}
		names[pm.Name] = true
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			p.add(f+".containerPort", "set 1 to 65535", "is %d", pm.ContainerPort)
		}
		if pm.HostPort < 0 || pm.HostPort > 65535 {
			p.add(f+".hostPort", "set 0 (dynamic) or 1 to 65535", "is %d", pm.HostPort)
		}
		if d.NetworkMode == "awsvpc" && pm.HostPort != 0 && pm.HostPort != pm.ContainerPort {
			p.add(f+".hostPort", "set it to 0 or to containerPort", "is %d: under awsvpc the host port is the container port", pm.HostPort)
		}
		if !inStrings(pm.Protocol, "tcp", "udp") {
			p.add(f+".protocol", `use "tcp" or "udp"`, "%q is not a protocol", pm.Protocol)
		}
		if !inStrings(pm.AppProtocol, "", "http", "http2", "grpc") {
			p.add(f+".appProtocol", `use "http", "http2", "grpc" or leave it empty`, "%q is not an application protocol", pm.AppProtocol)
		}
		k := pm.Protocol + "/" + strconv.Itoa(pm.ContainerPort)
		if ports[k] {
			p.add(f, "remove the duplicate", "%s is mapped twice", k)
		}
		ports[k] = true
	}

	// Health check.
	hc := d.HealthCheck
	switch hc.Protocol {
	case "HTTP":
		if !strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024 {
			p.add("healthCheck.path", `use a path starting with "/"`, "%q is not an HTTP path", hc.Path)
		}
		if hc.Matcher != "" && !regexp.MustCompile(`^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$`).MatchString(hc.Matcher) {
			p.add("healthCheck.matcher", `use codes such as "200" or "200-399"`, "%q is not a list of HTTP codes", hc.Matcher)
		}
	case "TCP":
		if hc.Path != "" {
			p.add("healthCheck.path", `set protocol "HTTP" to check a path, or remove the path`, "a TCP check has no path")
		}
	default:
		p.add("healthCheck.protocol", `use "HTTP" or "TCP"`, "%q is not a health check protocol", hc.Protocol)
	}
	if hc.Port != 0 && !ports["tcp/"+strconv.Itoa(hc.Port)] {
		p.add("healthCheck.port", "use one of the TCP portMappings", "%d is not a TCP port of the container", hc.Port)
	}
	if hc.Port == 0 && d.LoadBalancer.Type != LoadBalancerNone && d.LoadBalancer.Type != "" {
		p.add("healthCheck.port", "set the port the load balancer checks", "is 0 but a load balancer needs a health check")
	}
	if hc.IntervalSeconds < 5 || hc.IntervalSeconds > 300 {
		p.add("healthCheck.intervalSeconds", "set 5 to 300", "is %d", hc.IntervalSeconds)
	}
	if hc.TimeoutSeconds < 2 || hc.TimeoutSeconds > 120 || hc.TimeoutSeconds >= hc.IntervalSeconds {
		p.add("healthCheck.timeoutSeconds", "set 2 to 120, less than intervalSeconds", "is %d", hc.TimeoutSeconds)
	}
	if hc.HealthyThreshold < 2 || hc.HealthyThreshold > 10 {
		p.add("healthCheck.healthyThreshold", "set 2 to 10", "is %d", hc.HealthyThreshold)
	}
	if hc.UnhealthyThreshold < 2 || hc.UnhealthyThreshold > 10 {
		p.add("healthCheck.unhealthyThreshold", "set 2 to 10", "is %d", hc.UnhealthyThreshold)
	}
	if hc.GracePeriodSeconds < 0 || hc.GracePeriodSeconds > 2147483647 {
		p.add("healthCheck.gracePeriodSeconds", "set 0 or more seconds", "is %d", hc.GracePeriodSeconds)
	}

	// Load balancer.
	lb := d.LoadBalancer
	switch lb.Type {
	case LoadBalancerNone:
	case LoadBalancerApplication, LoadBalancerNetwork:
		proto := "tcp"
		if lb.Type == LoadBalancerNetwork && (lb.ListenerProtocol == "UDP" || lb.ListenerProtocol == "TCP_UDP") {
			proto = "udp"
		}
		if !ports[proto+"/"+strconv.Itoa(lb.ContainerPort)] {
			p.add("loadBalancer.containerPort", "use one of portMappings' containerPort values", "%d is not a %s port of the container", lb.ContainerPort, strings.ToUpper(proto))
		}
		if lb.ListenerPort < 1 || lb.ListenerPort > 65535 {
			p.add("loadBalancer.listenerPort", "set 1 to 65535", "is %d", lb.ListenerPort)
		}
		want := []string{"HTTP", "HTTPS"}
		if lb.Type == LoadBalancerNetwork {
			want = []string{"TCP", "TLS", "UDP", "TCP_UDP"}
		}
		if !inStrings(lb.ListenerProtocol, want...) {
			p.add("loadBalancer.listenerProtocol", "use one of "+strings.Join(want, ", "), "%q is not a listener protocol of an %s load balancer", lb.ListenerProtocol, lb.Type)
		}
		if (lb.ListenerProtocol == "HTTPS" || lb.ListenerProtocol == "TLS") && !certArnRe.MatchString(lb.CertificateArn) {
			p.add("loadBalancer.certificateArn", "set the ARN of an ACM certificate", "%s listeners need a certificate", lb.ListenerProtocol)
		}
		if !inStrings(lb.Scheme, "internet-facing", "internal") {
			p.add("loadBalancer.scheme", `use "internet-facing" or "internal"`, "%q is not a scheme", lb.Scheme)
		}
		if lb.DeregistrationDelaySeconds < 0 || lb.DeregistrationDelaySeconds > 3600 {
			p.add("loadBalancer.deregistrationDelaySeconds", "set 0 to 3600", "is %d", lb.DeregistrationDelaySeconds)
		}
	default:
		p.add("loadBalancer.type", `use "application", "network" or "none"`, "%q is not a load balancer type", lb.Type)
	}

	// Auto scaling.
	as := d.AutoScaling
	if as.Enabled {
		if as.MinCapacity < 0 || as.MaxCapacity < 1 || as.MinCapacity > as.MaxCapacity {
			p.add("autoScaling", "set 0 <= minCapacity <= maxCapacity, maxCapacity at least 1", "minCapacity %d, maxCapacity %d", as.MinCapacity, as.MaxCapacity)
		}
		if len(as.TargetTracking)+len(as.StepScaling)+len(as.Scheduled) == 0 {
			p.add("autoScaling", "add a targetTracking, stepScaling or scheduledActions entry, or set enabled to false", "is enabled without a policy")
		}
		if d.Schedule != nil {
			p.add("autoScaling.enabled", "set it to false: a scheduled task runs once per event", "scales a service, but the app is scheduled")
		}
	}
	for i, t := range as.TargetTracking {
		f := fmt.Sprintf("autoScaling.targetTracking[%d]", i)
		if !inStrings(t.Metric, MetricCPU, MetricMemory, MetricRequestsPerTask) {
			p.add(f+".metric", "use "+MetricCPU+", "+MetricMemory+" or "+MetricRequestsPerTask, "%q is not a predefined metric", t.Metric)
		}
		if t.Metric == MetricRequestsPerTask && lb.Type != LoadBalancerApplication {
			p.add(f+".metric", "scale on CPU or memory, or use an application load balancer", "%s needs an application load balancer", t.Metric)
		}
		if t.TargetValue <= 0 || ((t.Metric == MetricCPU || t.Metric == MetricMemory) && t.TargetValue > 100) {
			p.add(f+".targetValue", "set a positive value (a percentage, at most 100, for CPU and memory)", "is %v", t.TargetValue)
		}
		if t.ScaleInCooldown < 0 || t.ScaleOutCooldown < 0 {
			p.add(f, "set cooldowns of 0 seconds or more", "has a negative cooldown")
		}
	}
	for i, s := range as.StepScaling {
		f := fmt.Sprintf("autoScaling.stepScaling[%d]", i)
		if !validName(s.Name) {
			p.add(f+".name", "use letters, digits and '-', at most 64 characters", "%q is not a policy name", s.Name)
		}
		if !inStrings(s.Metric, "CPUUtilization", "MemoryUtilization") {
			p.add(f+".metric", `use "CPUUtilization" or "MemoryUtilization"`, "%q is not an ECS service metric", s.Metric)
		}
		if !inStrings(s.ComparisonOperator, "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold") {
			p.add(f+".comparisonOperator", "use GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold", "%q is not a comparison", s.ComparisonOperator)
		}
		if s.EvaluationPeriods < 1 {
			p.add(f+".evaluationPeriods", "set 1 or more", "is %d", s.EvaluationPeriods)
		}
		if s.PeriodSeconds != 10 && s.PeriodSeconds != 30 && (s.PeriodSeconds < 60 || s.PeriodSeconds%60 != 0) {
			p.add(f+".periodSeconds", "set 10, 30 or a multiple of 60", "is %d", s.PeriodSeconds)
		}
		if !inStrings(s.AdjustmentType, "ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity") {
			p.add(f+".adjustmentType", "use ChangeInCapacity, PercentChangeInCapacity or ExactCapacity", "%q is not an adjustment type", s.AdjustmentType)
		}
		if s.CooldownSeconds < 0 {
			p.add(f+".cooldownSeconds", "set 0 or more", "is %d", s.CooldownSeconds)
		}
		if len(s.Steps) == 0 {
			p.add(f+".steps", "add at least one step", "is empty")
		}
		for j, st := range s.Steps {
			if st.LowerBound == nil && st.UpperBound == nil && len(s.Steps) > 1 {
				p.add(fmt.Sprintf("%s.steps[%d]", f, j), "bound every step but one", "has neither lowerBound nor upperBound")
			}
			if st.LowerBound != nil && st.UpperBound != nil && *st.LowerBound >= *st.UpperBound {
				p.add(fmt.Sprintf("%s.steps[%d]", f, j), "make lowerBound less than upperBound", "bounds are reversed")
			}
		}
	}
	for i, s := range as.Scheduled {
		f := fmt.Sprintf("autoScaling.scheduledActions[%d]", i)
		if !validName(s.Name) {
			p.add(f+".name", "use letters, digits and '-', at most 64 characters", "%q is not an action name", s.Name)
		}
		if _, _, err := ParseScheduleExpression(s.Schedule, true); err != nil {
			p.add(f+".schedule", "use cron(M H DoM Mon DoW Y), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)", "%v", err)
		}
		if s.MinCapacity < 0 || s.MaxCapacity < s.MinCapacity {
			p.add(f, "set 0 <= minCapacity <= maxCapacity", "minCapacity %d, maxCapacity %d", s.MinCapacity, s.MaxCapacity)
		}
	}

	// Roles, logging.
	for _, r := range []struct {
		f string
		r Role
	}{{"taskRole", d.TaskRole}, {"executionRole", d.ExecutionRole}} {
		if r.r.Arn != "" && !iamRoleArnRe.MatchString(r.r.Arn) {
			p.add(r.f+".arn", "use arn:aws:iam::ACCOUNT:role/NAME, or leave it empty for the stack to create the role", "%q is not a role ARN", r.r.Arn)
		}
		for i, a := range r.r.ManagedPolicyArns {
			if !iamPolicyRe.MatchString(a) {
				p.add(fmt.Sprintf("%s.managedPolicyArns[%d]", r.f, i), "use arn:aws:iam::aws:policy/NAME or arn:aws:iam::ACCOUNT:policy/NAME", "%q is not a policy ARN", a)
			}
		}
	}
	if d.Logging.Driver != "awslogs" {
		p.add("logging.driver", `use "awslogs"`, "%q is not supported", d.Logging.Driver)
	}
	if !logGroupRe.MatchString(d.Logging.LogGroupName) {
		p.add("logging.logGroupName", "use letters, digits and . - _ / #", "%q is not a log group name", d.Logging.LogGroupName)
	}
	if d.Logging.StreamPrefix == "" || strings.ContainsAny(d.Logging.StreamPrefix, ":*") {
		p.add("logging.streamPrefix", "set a prefix without ':' or '*'", "%q is not a stream prefix", d.Logging.StreamPrefix)
	}
	if !inInts(d.Logging.RetentionInDays, retentionDays) {
		p.add("logging.retentionInDays", "use one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...", "%d is not a retention CloudWatch offers", d.Logging.RetentionInDays)
	}

	// Environment and secrets.
	vars := map[string]string{}
	for i, e := range d.Environment {
		f := fmt.Sprintf("environment[%d].name", i)
		if !envNameRe.MatchString(e.Name) {
			p.add(f, "use letters, digits, '_', '.' and '-', not starting with a digit", "%q is not a variable name", e.Name)
		}
		if prev, ok := vars[e.Name]; ok {
			p.add(f, "remove one of them", "%q is also %s", e.Name, prev)
		}
		vars[e.Name] = fmt.Sprintf("environment[%d]", i)
	}
	refs := map[string]bool{}
	for i, s := range d.Secrets {
		f := fmt.Sprintf("secrets[%d]", i)
		if !envNameRe.MatchString(s.Name) {
			p.add(f+".name", "use letters, digits, '_', '.' and '-', not starting with a digit", "%q is not a variable name", s.Name)
		}
		if prev, ok := vars[s.Name]; ok {
			p.add(f+".name", "remove one of them", "%q is also %s", s.Name, prev)
		}
		vars[s.Name] = f
		if s.SecretRef == "" {
			p.add(f+".secretRef", "set the reference of the secret in the workspace's secrets file", "is empty")
		}
		if !secretNameRe.MatchString(s.SecretsManagerName) {
			p.add(f+".secretsManagerName", "use letters, digits and / _ + = . @ -", "%q is not a Secrets Manager name", s.SecretsManagerName)
		}
		if refs[s.SecretsManagerName] {
			p.add(f+".secretsManagerName", "give every secret its own name", "%q is used twice", s.SecretsManagerName)
		}
		refs[s.SecretsManagerName] = true
	}

	// Volumes.
	vnames := map[string]bool{}
	vpaths := map[string]bool{}
	for i, v := range d.Volumes {
		f := fmt.Sprintf("volumes[%d]", i)
		for _, m := range validation.IsDNS1123Label(v.Name) {
			p.add(f+".name", "use lower case letters, digits and '-'", "%q: %s", v.Name, m)
		}
		if vnames[v.Name] {
			p.add(f+".name", "give every volume its own name", "%q is used twice", v.Name)
		}
		vnames[v.Name] = true
		if !path.IsAbs(v.ContainerPath) || path.Clean(v.ContainerPath) != v.ContainerPath || v.ContainerPath == "/" {
			p.add(f+".containerPath", "use a clean absolute path other than /", "%q", v.ContainerPath)
		}
		if vpaths[v.ContainerPath] {
			p.add(f+".containerPath", "mount one volume per path", "%q is mounted twice", v.ContainerPath)
		}
		vpaths[v.ContainerPath] = true
		if v.FileSystemID != "" && !efsIDRe.MatchString(v.FileSystemID) {
			p.add(f+".fileSystemId", "use an EFS file system ID (fs-...), or leave it empty", "%q is not an EFS file system ID", v.FileSystemID)
		}
		if v.FileSystemID != "" && !v.Shared {
			p.add(f+".fileSystemId", "set shared to true, or remove fileSystemId", "an EFS file system is shared storage")
		}
		if v.SizeGiB < 0 {
			p.add(f+".sizeGiB", "set 0 (1 GiB) or more", "is %d", v.SizeGiB)
		}
	}
	for i, u := range d.Ulimits {
		f := fmt.Sprintf("ulimits[%d]", i)
		if !inStrings(u.Name, ulimitNames...) {
			p.add(f+".name", "use one of "+strings.Join(ulimitNames, ", "), "%q is not a ulimit", u.Name)
		}
		if u.SoftLimit < -1 || u.HardLimit < -1 || (u.HardLimit != -1 && u.SoftLimit > u.HardLimit) || (u.HardLimit != -1 && u.SoftLimit == -1) {
			p.add(f, "set softLimit <= hardLimit (-1: unlimited)", "soft %d, hard %d", u.SoftLimit, u.HardLimit)
		}
	}

	if s := d.Schedule; s != nil {
		if _, _, err := ParseScheduleExpression(s.Expression, false); err != nil {
			p.add("schedule.expression", "use cron(M H DoM Mon DoW Y) or rate(N minutes|hours|days), as EventBridge takes them", "%v", err)
		}
		if s.Timezone != "" && !validTimezone(s.Timezone) {
			p.add("schedule.timezone", "use an IANA zone such as Europe/Berlin, or leave it empty for UTC", "%q is not a time zone", s.Timezone)
		}
		if lb.Type != LoadBalancerNone {
			p.add("loadBalancer.type", `set it to "none": a scheduled task is not a service`, "%q with a schedule", lb.Type)
		}
	}
	if e := d.Notifications.Email; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " \t\n")) {
		p.add("notifications.email", "set an e-mail address or leave it empty", "%q is not an e-mail address", e)
	}

	k := d.Kubernetes
	for _, m := range validation.IsDNS1123Label(k.Namespace) {
		p.add("kubernetes.namespace", "use lower case letters, digits and '-', at most 63 characters", "%q: %s", k.Namespace, m)
	}
	if k.Replicas < 0 {
		p.add("kubernetes.replicas", "set 0 or more", "is %d", k.Replicas)
	}
	if !inStrings(k.ServiceType, "ClusterIP", "NodePort", "LoadBalancer") {
		p.add("kubernetes.serviceType", "use ClusterIP, NodePort or LoadBalancer", "%q is not a service type", k.ServiceType)
	}
	for _, m := range validation.IsDNS1123Subdomain(k.StorageClassName) {
		p.add("kubernetes.storageClassName", "use a DNS subdomain such as "+d.Family+"-efs", "%q: %s", k.StorageClassName, m)
	}
	if k.EFSFileSystemID != "" && !efsIDRe.MatchString(k.EFSFileSystemID) {
		p.add("kubernetes.efsFileSystemId", "use an EFS file system ID (fs-...), or leave it empty", "%q is not an EFS file system ID", k.EFSFileSystemID)
	}
	if in := k.Ingress; in.Enabled {
		for _, m := range validation.IsDNS1123Subdomain(in.ClassName) {
			p.add("kubernetes.ingress.className", `use "alb" (AWS Load Balancer Controller) or your controller's class`, "%q: %s", in.ClassName, m)
		}
		if in.Host != "" {
			for _, m := range validation.IsFullyQualifiedDomainName(nil, in.Host) {
				p.add("kubernetes.ingress.host", "use a DNS name such as shop.example.com, or leave it empty", "%q: %s", in.Host, m.Detail)
			}
		}
		if !strings.HasPrefix(in.Path, "/") {
			p.add("kubernetes.ingress.path", `use a path starting with "/"`, "%q", in.Path)
		}
		if lb.Type == LoadBalancerNone || lb.ContainerPort == 0 {
			p.add("kubernetes.ingress.enabled", "set it to false, or configure loadBalancer", "an Ingress needs the service port loadBalancer.containerPort")
		}
	}
	if ar := d.AppRunner; ar.Enabled {
		if !inInts(ar.Memory, appRunnerSizes[ar.Cpu]) {
			p.add("appRunner.cpu/memory", "use 256/512, 256/1024, 512/1024, 1024/2048..4096, 2048/4096 or 6144, 4096/8192..12288", "cpu %d with memory %d is not an App Runner size", ar.Cpu, ar.Memory)
		}
		if ar.MinSize < 1 || ar.MinSize > 25 || ar.MaxSize < ar.MinSize || ar.MaxSize > 25 {
			p.add("appRunner.minSize/maxSize", "set 1 <= minSize <= maxSize <= 25", "minSize %d, maxSize %d", ar.MinSize, ar.MaxSize)
		}
		if ar.MaxConcurrency < 1 || ar.MaxConcurrency > 200 {
			p.add("appRunner.maxConcurrency", "set 1 to 200", "is %d", ar.MaxConcurrency)
		}
		if lb.ContainerPort == 0 {
			p.add("appRunner.enabled", "set it to false: App Runner serves HTTP on one port", "the app has no load-balanced port")
		}
		if d.Schedule != nil {
			p.add("appRunner.enabled", "set it to false: App Runner runs web services, not scheduled tasks", "the app is scheduled")
		}
	}
	if ip := net.ParseIP(d.Local.ListenerAddress); ip == nil || !ip.IsLoopback() {
		p.add("local.listenerAddress", `use "127.0.0.1": the local runtime listens on loopback only`, "%q is not a loopback address", d.Local.ListenerAddress)
	}
	if d.Local.ListenerPort < 1 || d.Local.ListenerPort > 65535 {
		p.add("local.listenerPort", "set 1 to 65535", "is %d", d.Local.ListenerPort)
	}
	return p.err()
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func validName(s string) bool { return nameRe.MatchString(s) }

var userRe = regexp.MustCompile(`^([0-9]+|[a-z_][a-z0-9_.-]*\$?)(:([0-9]+|[a-z_][a-z0-9_.-]*))?$`)

func validUser(s string) bool { return userRe.MatchString(s) }
