package generate

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apprunner"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

// Warning is a field of analysis.json or deployment.json that a target
// cannot express; generation goes on, and the warning says what happens
// instead.
type Warning struct {
	Target  string `json:"target"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (w Warning) String() string { return w.Target + ": " + w.Field + ": " + w.Message }

type warnings struct{ list []Warning }

func (w *warnings) add(target, field, msg string) {
	w.list = append(w.list, Warning{Target: target, Field: field, Message: msg})
}

// sorted returns the warnings in a stable order without duplicates.
func (w *warnings) sorted() []Warning {
	seen := map[Warning]bool{}
	var out []Warning
	for _, x := range w.list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// appRunnerStack builds apprunner/stack.yaml: one App Runner service from
// the ECR image, on the load-balanced port.
func appRunnerStack(d *Deployment, w *warnings) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Description = fmt.Sprintf("hoist: %s on AWS App Runner. Written by `hoist generate %s` from deployment.json; the image must be in the ECR repository %s (deploy ecs/stack.yaml or push it first).", d.ID, d.ID, d.Registry.RepositoryName)
	t.Parameters["ImageTag"] = cloudformation.Parameter{Type: "String", Default: imageTag(d.Image), Description: cloudformation.String("Tag of the image in ECR")}
	ar := d.AppRunner
	port := d.LoadBalancer.ContainerPort

	for _, p := range d.PortMappings {
		if p.ContainerPort != port || p.Protocol != "tcp" {
			w.add("apprunner", "portMappings", fmt.Sprintf("App Runner serves one HTTP port (%d); %s/%d is not reachable there", port, p.Protocol, p.ContainerPort))
		}
	}
	if len(d.Volumes) > 0 {
		w.add("apprunner", "volumes", "App Runner has no volumes; the app's files there are lost when an instance stops")
	}
	if len(d.Ulimits) > 0 {
		w.add("apprunner", "ulimits", "App Runner does not set ulimits")
	}
	if d.User != "" {
		w.add("apprunner", "user", "App Runner runs the image's USER; user "+d.User+" is not set separately")
	}
	if d.HealthCheck.GracePeriodSeconds > 0 {
		w.add("apprunner", "healthCheck.gracePeriodSeconds", "App Runner has no grace period; the health check applies from the start")
	}
	if d.HealthCheck.Port != 0 && d.HealthCheck.Port != port {
		w.add("apprunner", "healthCheck.port", "App Runner checks the service port "+strconv.Itoa(port))
	}
	if d.LoadBalancer.ListenerProtocol == "HTTP" || d.LoadBalancer.Type == LoadBalancerNetwork {
		w.add("apprunner", "loadBalancer", "App Runner serves HTTPS on its own domain; loadBalancer settings do not apply")
	}
	if !d.AutoScaling.Enabled && d.DesiredCount != ar.MinSize {
		w.add("apprunner", "desiredCount", fmt.Sprintf("App Runner keeps appRunner.minSize (%d) instances warm and scales up to maxSize (%d); desiredCount %d does not apply", ar.MinSize, ar.MaxSize, d.DesiredCount))
	}
	if d.Notifications.StoppedTasks {
		w.add("apprunner", "notifications.stoppedTasks", "App Runner sends service events to EventBridge itself; no stopped-task topic is wired")
	}
	if d.AutoScaling.Enabled {
		w.add("apprunner", "autoScaling", fmt.Sprintf("App Runner scales on concurrent requests (appRunner.maxConcurrency %d, %d..%d instances), not on autoScaling's policies", ar.MaxConcurrency, ar.MinSize, ar.MaxSize))
	}

	t.Resources["AccessRole"] = &iam.Role{
		AssumeRolePolicyDocument: assumeRole("build.apprunner.amazonaws.com"),
		ManagedPolicyArns:        []string{"arn:aws:iam::aws:policy/service-role/AWSAppRunnerServicePolicyForECRAccess"},
		Tags:                     hoistTags(d),
	}
	instanceRole := &iam.Role{
		AssumeRolePolicyDocument: assumeRole("tasks.apprunner.amazonaws.com"),
		ManagedPolicyArns:        d.TaskRole.ManagedPolicyArns,
		Tags:                     hoistTags(d),
	}
	img := &apprunner.Service_ImageConfiguration{Port: cloudformation.String(strconv.Itoa(port))}
	for _, e := range d.Environment {
		img.RuntimeEnvironmentVariables = append(img.RuntimeEnvironmentVariables, apprunner.Service_KeyValuePair{Name: cloudformation.String(e.Name), Value: cloudformation.String(e.Value)})
	}
	var secretArns []string
	for _, s := range d.Secrets {
		arn := cloudformation.Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:" + s.SecretsManagerName)
		secretArns = append(secretArns, cloudformation.Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"+s.SecretsManagerName+"-*"))
		img.RuntimeEnvironmentSecrets = append(img.RuntimeEnvironmentSecrets, apprunner.Service_KeyValuePair{Name: cloudformation.String(s.Name), Value: cloudformation.String(arn)})
	}
	if len(secretArns) > 0 {
		instanceRole.Policies = []iam.Role_Policy{{PolicyName: "read-secrets", PolicyDocument: policy{Version: "2012-10-17", Statement: []policyStatement{{
			Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: secretArns,
		}}}}}
		w.add("apprunner", "secrets", "App Runner reads the secrets the ECS stack creates (same Secrets Manager names); deploy that stack first or create them")
	}
	t.Resources["InstanceRole"] = instanceRole
	t.Resources["AutoScaling"] = &apprunner.AutoScalingConfiguration{
		AutoScalingConfigurationName: cloudformation.String(trimName(d.Family, 32)),
		MaxConcurrency:               cloudformation.Int(ar.MaxConcurrency),
		MinSize:                      cloudformation.Int(ar.MinSize),
		MaxSize:                      cloudformation.Int(ar.MaxSize),
		Tags:                         hoistTags(d),
	}
	hc := &apprunner.Service_HealthCheckConfiguration{
		Protocol:           cloudformation.String(d.HealthCheck.Protocol),
		Interval:           cloudformation.Int(min(max(d.HealthCheck.IntervalSeconds, 1), 20)),
		Timeout:            cloudformation.Int(min(max(d.HealthCheck.TimeoutSeconds, 1), 20)),
		HealthyThreshold:   cloudformation.Int(min(max(d.HealthCheck.HealthyThreshold, 1), 20)),
		UnhealthyThreshold: cloudformation.Int(min(max(d.HealthCheck.UnhealthyThreshold, 1), 20)),
	}
	if d.HealthCheck.IntervalSeconds > 20 || d.HealthCheck.TimeoutSeconds > 20 {
		w.add("apprunner", "healthCheck.intervalSeconds", "App Runner allows at most 20 seconds for interval and timeout; capped at 20")
	}
	if d.HealthCheck.Protocol == "HTTP" {
		hc.Path = cloudformation.String(d.HealthCheck.Path)
	}
	t.Resources["Service"] = &apprunner.Service{
		ServiceName: cloudformation.String(trimName(d.Family, 40)),
		SourceConfiguration: &apprunner.Service_SourceConfiguration{
			AuthenticationConfiguration: &apprunner.Service_AuthenticationConfiguration{AccessRoleArn: cloudformation.GetAttPtr("AccessRole", "Arn")},
			AutoDeploymentsEnabled:      cloudformation.Bool(true),
			ImageRepository: &apprunner.Service_ImageRepository{
				ImageIdentifier:     cloudformation.Sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + d.Registry.RepositoryName + ":${ImageTag}"),
				ImageRepositoryType: "ECR",
				ImageConfiguration:  img,
			},
		},
		InstanceConfiguration: &apprunner.Service_InstanceConfiguration{
			Cpu:             cloudformation.String(strconv.Itoa(ar.Cpu)),
			Memory:          cloudformation.String(strconv.Itoa(ar.Memory)),
			InstanceRoleArn: cloudformation.GetAttPtr("InstanceRole", "Arn"),
		},
		HealthCheckConfiguration:    hc,
		AutoScalingConfigurationArn: cloudformation.RefPtr("AutoScaling"),
		Tags:                        hoistTags(d),
	}
	t.Outputs["ServiceURL"] = cloudformation.Output{Value: cloudformation.Sub("https://${Service.ServiceUrl}"), Description: cloudformation.String("Where the app answers")}
	return t
}
