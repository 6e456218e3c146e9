package generate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/applicationautoscaling"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
	"github.com/awslabs/goformation/v7/cloudformation/ec2"
	"github.com/awslabs/goformation/v7/cloudformation/ecr"
	"github.com/awslabs/goformation/v7/cloudformation/ecs"
	"github.com/awslabs/goformation/v7/cloudformation/efs"
	elb "github.com/awslabs/goformation/v7/cloudformation/elasticloadbalancingv2"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/secretsmanager"
	"github.com/awslabs/goformation/v7/cloudformation/sns"
	"github.com/awslabs/goformation/v7/cloudformation/tags"
)

// policy is an IAM policy document.
type policy struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal,omitempty"`
	Action    []string       `json:"Action"`
	Resource  any            `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func assumeRole(service string) policy {
	return policy{Version: "2012-10-17", Statement: []policyStatement{{
		Effect:    "Allow",
		Principal: map[string]any{"Service": []string{service}},
		Action:    []string{"sts:AssumeRole"},
	}}}
}

// secretParam is the NoEcho parameter carrying one secret's value into the
// stack, so the template itself holds no value.
func secretParam(i int) string { return "Secret" + strconv.Itoa(i+1) + "Value" }
func secretRes(i int) string   { return "Secret" + strconv.Itoa(i+1) }

func hoistTags(d *Deployment) []tags.Tag {
	return []tags.Tag{{Key: "hoist:app", Value: d.ID}, {Key: "hoist:managed-by", Value: "hoist"}}
}

// ecsStack builds ecs/stack.yaml: everything the app needs in an AWS
// account with a VPC.
func ecsStack(d *Deployment, w *warnings) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Description = fmt.Sprintf("hoist: %s on Amazon ECS (%s, %s networking). Written by `hoist generate %s` from deployment.json; edit that file and generate again.", d.ID, d.LaunchType, d.NetworkMode, d.ID)
	scheduled := d.Schedule != nil
	hasLB := d.LoadBalancer.Type != LoadBalancerNone && !scheduled
	shared := sharedVolumes(d)

	t.Parameters["VpcId"] = cloudformation.Parameter{Type: "AWS::EC2::VPC::Id", Description: cloudformation.String("VPC to run the app in")}
	// Two subnets each, as parameters of their own: a List parameter cannot
	// go where CloudFormation wants a list of Refs.
	for i := 1; i <= 2; i++ {
		t.Parameters["Subnet"+strconv.Itoa(i)] = cloudformation.Parameter{Type: "AWS::EC2::Subnet::Id", Description: cloudformation.String(fmt.Sprintf("Subnet %d of the tasks (in its own availability zone; private with a NAT gateway, or public with AssignPublicIp ENABLED)", i))}
	}
	t.Parameters["AssignPublicIp"] = cloudformation.Parameter{Type: "String", Default: "DISABLED", AllowedValues: []any{"ENABLED", "DISABLED"}, Description: cloudformation.String("Give each task a public IP (needed in public subnets without NAT to pull the image)")}
	t.Parameters["ImageTag"] = cloudformation.Parameter{Type: "String", Default: imageTag(d.Image), Description: cloudformation.String("Tag of the image in the ECR repository")}
	if hasLB {
		for i := 1; i <= 2; i++ {
			t.Parameters["LoadBalancerSubnet"+strconv.Itoa(i)] = cloudformation.Parameter{Type: "AWS::EC2::Subnet::Id", Description: cloudformation.String(fmt.Sprintf("Subnet %d of the load balancer (public for internet-facing)", i))}
		}
		t.Parameters["AllowedCidr"] = cloudformation.Parameter{Type: "String", Default: "0.0.0.0/0", AllowedPattern: cloudformation.String(`^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$`), Description: cloudformation.String("Clients allowed to reach the load balancer")}
	}
	for i, s := range d.Secrets {
		t.Parameters[secretParam(i)] = cloudformation.Parameter{Type: "String", NoEcho: cloudformation.Bool(true), Description: cloudformation.String(fmt.Sprintf("Value of %s (workspace secret %s)", s.Name, s.SecretRef))}
	}
	if d.Notifications.Email != "" {
		t.Parameters["NotificationEmail"] = cloudformation.Parameter{Type: "String", Default: d.Notifications.Email, Description: cloudformation.String("Address told when a task stops")}
	}

	t.Resources["Cluster"] = &ecs.Cluster{
		ClusterName:     cloudformation.String(d.Family),
		ClusterSettings: []ecs.Cluster_ClusterSettings{{Name: cloudformation.String("containerInsights"), Value: cloudformation.String("enabled")}},
		Tags:            hoistTags(d),
	}
	if d.LaunchType == "EC2" {
		w.add("ecs", "launchType", "EC2: the stack creates the cluster but no container instances; register EC2 instances (ECS-optimized AMI) or a capacity provider with cluster "+d.Family+", and give them ServiceSecurityGroup (it admits the load balancer on the ports the tasks use)")
	}
	t.Resources["Repository"] = &ecr.Repository{
		RepositoryName:             cloudformation.String(d.Registry.RepositoryName),
		ImageScanningConfiguration: &ecr.Repository_ImageScanningConfiguration{ScanOnPush: cloudformation.Bool(d.Registry.ScanOnPush)},
		LifecyclePolicy:            &ecr.Repository_LifecyclePolicy{LifecyclePolicyText: cloudformation.String(lifecyclePolicy(d.Registry.KeepImages))},
		Tags:                       hoistTags(d),
	}
	t.Resources["LogGroup"] = &logs.LogGroup{
		LogGroupName:    cloudformation.String(d.Logging.LogGroupName),
		RetentionInDays: cloudformation.Int(d.Logging.RetentionInDays),
	}
	for i, s := range d.Secrets {
		t.Resources[secretRes(i)] = &secretsmanager.Secret{
			Name:         cloudformation.String(s.SecretsManagerName),
			Description:  cloudformation.String(fmt.Sprintf("%s of %s (hoist secret %s)", s.Name, d.ID, s.SecretRef)),
			SecretString: cloudformation.RefPtr(secretParam(i)),
			Tags:         hoistTags(d),
		}
	}

	// Roles: the execution role may pull this repository's images, write
	// to this log group and read these secrets, nothing else.
	execArn, taskArn := d.ExecutionRole.Arn, d.TaskRole.Arn
	if execArn == "" {
		stmts := []policyStatement{
			{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: "*"},
			{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: cloudformation.GetAtt("Repository", "Arn")},
			{Effect: "Allow", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: cloudformation.GetAtt("LogGroup", "Arn")},
		}
		if len(d.Secrets) > 0 {
			var arns []string
			for i := range d.Secrets {
				arns = append(arns, cloudformation.Ref(secretRes(i)))
			}
			stmts = append(stmts, policyStatement{Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue"}, Resource: arns})
		}
		t.Resources["ExecutionRole"] = &iam.Role{
			RoleName:                 cloudformation.String(d.executionRoleName()),
			AssumeRolePolicyDocument: assumeRole("ecs-tasks.amazonaws.com"),
			Policies:                 []iam.Role_Policy{{PolicyName: "pull-log-secrets", PolicyDocument: policy{Version: "2012-10-17", Statement: stmts}}},
			ManagedPolicyArns:        d.ExecutionRole.ManagedPolicyArns,
			Tags:                     hoistTags(d),
		}
		execArn = cloudformation.GetAtt("ExecutionRole", "Arn")
	}
	if taskArn == "" {
		role := &iam.Role{
			RoleName:                 cloudformation.String(d.taskRoleName()),
			AssumeRolePolicyDocument: assumeRole("ecs-tasks.amazonaws.com"),
			ManagedPolicyArns:        d.TaskRole.ManagedPolicyArns,
			Tags:                     hoistTags(d),
		}
		if len(shared) > 0 {
			var fsArns []string
			for _, v := range shared {
				fsArns = append(fsArns, efsArn(v))
			}
			role.Policies = []iam.Role_Policy{{PolicyName: "efs-mount", PolicyDocument: policy{Version: "2012-10-17", Statement: []policyStatement{{
				Effect: "Allow", Action: []string{"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"}, Resource: fsArns,
			}}}}}
		}
		t.Resources["TaskRole"] = role
		taskArn = cloudformation.GetAtt("TaskRole", "Arn")
	}

	// Security groups.
	lbPort := d.LoadBalancer.ContainerPort
	svcSG := &ec2.SecurityGroup{
		GroupDescription: fmt.Sprintf("%s tasks", d.Family),
		VpcId:            cloudformation.RefPtr("VpcId"),
		Tags:             hoistTags(d),
	}
	t.Resources["ServiceSecurityGroup"] = svcSG
	if hasLB {
		lbPortMapping := portMappingFor(d, lbPort)
		fromPort, toPort := lbPort, lbPort
		if d.NetworkMode == "bridge" && lbPortMapping.HostPort == 0 {
			// Dynamic host ports: the ephemeral range.
			fromPort, toPort = 32768, 65535
		}
		ipProto := "tcp"
		if lbPortMapping.Protocol == "udp" {
			ipProto = "udp"
		}
		if d.LoadBalancer.Type == LoadBalancerApplication {
			t.Resources["LoadBalancerSecurityGroup"] = &ec2.SecurityGroup{
				GroupDescription: fmt.Sprintf("%s load balancer", d.Family),
				VpcId:            cloudformation.RefPtr("VpcId"),
				SecurityGroupIngress: []ec2.SecurityGroup_Ingress{{
					IpProtocol: "tcp", FromPort: cloudformation.Int(d.LoadBalancer.ListenerPort), ToPort: cloudformation.Int(d.LoadBalancer.ListenerPort),
					CidrIp: cloudformation.RefPtr("AllowedCidr"), Description: cloudformation.String("clients"),
				}},
				Tags: hoistTags(d),
			}
			svcSG.SecurityGroupIngress = []ec2.SecurityGroup_Ingress{{
				IpProtocol: ipProto, FromPort: cloudformation.Int(fromPort), ToPort: cloudformation.Int(toPort),
				SourceSecurityGroupId: cloudformation.RefPtr("LoadBalancerSecurityGroup"), Description: cloudformation.String("load balancer"),
			}}
		} else {
			// An NLB keeps the client's address: the tasks admit the clients.
			svcSG.SecurityGroupIngress = []ec2.SecurityGroup_Ingress{{
				IpProtocol: ipProto, FromPort: cloudformation.Int(fromPort), ToPort: cloudformation.Int(toPort),
				CidrIp: cloudformation.RefPtr("AllowedCidr"), Description: cloudformation.String("clients through the network load balancer"),
			}}
		}
	}

	// EFS for shared volumes the user did not point at a file system.
	createsEFS := false
	for _, v := range shared {
		if v.FileSystemID == "" {
			createsEFS = true
		}
	}
	if createsEFS {
		t.Resources["FileSystem"] = &efs.FileSystem{
			Encrypted:      cloudformation.Bool(true),
			FileSystemTags: []efs.FileSystem_ElasticFileSystemTag{{Key: "Name", Value: d.Family}, {Key: "hoist:app", Value: d.ID}},
		}
		t.Resources["FileSystemSecurityGroup"] = &ec2.SecurityGroup{
			GroupDescription: fmt.Sprintf("%s EFS mount targets", d.Family),
			VpcId:            cloudformation.RefPtr("VpcId"),
			SecurityGroupIngress: []ec2.SecurityGroup_Ingress{{
				IpProtocol: "tcp", FromPort: cloudformation.Int(2049), ToPort: cloudformation.Int(2049),
				SourceSecurityGroupId: cloudformation.RefPtr("ServiceSecurityGroup"), Description: cloudformation.String("NFS from the tasks"),
			}},
			Tags: hoistTags(d),
		}
		for i := 0; i < 2; i++ {
			t.Resources["MountTarget"+strconv.Itoa(i+1)] = &efs.MountTarget{
				FileSystemId:   cloudformation.Ref("FileSystem"),
				SubnetId:       cloudformation.Ref("Subnet" + strconv.Itoa(i+1)),
				SecurityGroups: []string{cloudformation.Ref("FileSystemSecurityGroup")},
			}
		}
		w.add("ecs", "volumes", "the EFS file system gets mount targets in Subnet1 and Subnet2; add more by hand for more availability zones")
	}
	uid, gid := numericUser(d.User)
	for i, v := range shared {
		ap := &efs.AccessPoint{
			FileSystemId: fileSystemRef(v),
			RootDirectory: &efs.AccessPoint_RootDirectory{
				Path:         cloudformation.String("/" + d.Family + "/" + v.Name),
				CreationInfo: &efs.AccessPoint_CreationInfo{OwnerUid: uid, OwnerGid: gid, Permissions: "750"},
			},
			PosixUser:       &efs.AccessPoint_PosixUser{Uid: uid, Gid: gid},
			AccessPointTags: []efs.AccessPoint_AccessPointTag{{Key: cloudformation.String("Name"), Value: cloudformation.String(d.Family + "-" + v.Name)}},
		}
		t.Resources[accessPointRes(i)] = ap
	}

	// The task definition.
	c := ecs.TaskDefinition_ContainerDefinition{
		Name:      d.Family,
		Image:     cloudformation.Sub("${Repository.RepositoryUri}:${ImageTag}"),
		Essential: cloudformation.Bool(true),
		LogConfiguration: &ecs.TaskDefinition_LogConfiguration{
			LogDriver: "awslogs",
			Options: map[string]string{
				"awslogs-group":         cloudformation.Ref("LogGroup"),
				"awslogs-region":        cloudformation.Ref("AWS::Region"),
				"awslogs-stream-prefix": d.Logging.StreamPrefix,
			},
		},
	}
	if d.User != "" {
		c.User = cloudformation.String(d.User)
	}
	if d.WorkingDirectory != "" {
		c.WorkingDirectory = cloudformation.String(d.WorkingDirectory)
	}
	for _, p := range d.PortMappings {
		pm := ecs.TaskDefinition_PortMapping{Name: cloudformation.String(p.Name), ContainerPort: cloudformation.Int(p.ContainerPort), Protocol: cloudformation.String(p.Protocol)}
		if d.NetworkMode == "awsvpc" {
			pm.HostPort = cloudformation.Int(p.ContainerPort)
		} else {
			pm.HostPort = cloudformation.Int(p.HostPort)
		}
		if p.AppProtocol != "" && p.Protocol == "tcp" {
			pm.AppProtocol = cloudformation.String(p.AppProtocol)
		}
		c.PortMappings = append(c.PortMappings, pm)
	}
	for _, e := range d.Environment {
		c.Environment = append(c.Environment, ecs.TaskDefinition_KeyValuePair{Name: cloudformation.String(e.Name), Value: cloudformation.String(e.Value)})
	}
	for i, s := range d.Secrets {
		c.Secrets = append(c.Secrets, ecs.TaskDefinition_Secret{Name: s.Name, ValueFrom: cloudformation.Ref(secretRes(i))})
	}
	if hc := d.HealthCheck; len(hc.Command) > 0 {
		c.HealthCheck = &ecs.TaskDefinition_HealthCheck{
			Command: hc.Command, Interval: cloudformation.Int(hc.IntervalSeconds), Timeout: cloudformation.Int(hc.TimeoutSeconds),
			Retries: cloudformation.Int(hc.UnhealthyThreshold), StartPeriod: cloudformation.Int(min(hc.GracePeriodSeconds, 300)),
		}
	}
	for _, u := range d.Ulimits {
		c.Ulimits = append(c.Ulimits, ecs.TaskDefinition_Ulimit{Name: u.Name, SoftLimit: int(clampInt32(u.SoftLimit)), HardLimit: int(clampInt32(u.HardLimit))})
	}
	td := &ecs.TaskDefinition{
		Family:                  cloudformation.String(d.Family),
		Cpu:                     cloudformation.String(strconv.Itoa(d.Cpu)),
		Memory:                  cloudformation.String(strconv.Itoa(d.Memory)),
		NetworkMode:             cloudformation.String(d.NetworkMode),
		RequiresCompatibilities: []string{d.LaunchType},
		RuntimePlatform:         &ecs.TaskDefinition_RuntimePlatform{CpuArchitecture: cloudformation.String("X86_64"), OperatingSystemFamily: cloudformation.String("LINUX")},
		ExecutionRoleArn:        cloudformation.String(execArn),
		TaskRoleArn:             cloudformation.String(taskArn),
		Tags:                    hoistTags(d),
	}
	for i, v := range d.Volumes {
		vol := ecs.TaskDefinition_Volume{Name: cloudformation.String(v.Name)}
		if v.Shared {
			vol.EFSVolumeConfiguration = &ecs.TaskDefinition_EFSVolumeConfiguration{
				FilesystemId:        fileSystemRef(v),
				TransitEncryption:   cloudformation.String("ENABLED"),
				AuthorizationConfig: &ecs.TaskDefinition_AuthorizationConfig{AccessPointId: cloudformation.RefPtr(accessPointRes(sharedIndex(d, i))), IAM: cloudformation.String("ENABLED")},
			}
		}
		td.Volumes = append(td.Volumes, vol)
		c.MountPoints = append(c.MountPoints, ecs.TaskDefinition_MountPoint{SourceVolume: cloudformation.String(v.Name), ContainerPath: cloudformation.String(v.ContainerPath), ReadOnly: cloudformation.Bool(v.ReadOnly)})
	}
	td.ContainerDefinitions = []ecs.TaskDefinition_ContainerDefinition{c}
	t.Resources["TaskDefinition"] = td

	awsvpc := func() *ecs.Service_NetworkConfiguration {
		if d.NetworkMode != "awsvpc" {
			return nil
		}
		return &ecs.Service_NetworkConfiguration{AwsvpcConfiguration: &ecs.Service_AwsVpcConfiguration{
			AssignPublicIp: cloudformation.RefPtr("AssignPublicIp"),
			SecurityGroups: []string{cloudformation.Ref("ServiceSecurityGroup")},
			Subnets:        taskSubnets(),
		}}
	}

	if scheduled {
		scheduleRule(t, d, w)
	} else {
		// Load balancer.
		if hasLB {
			loadBalancer(t, d)
		}
		svc := &ecs.Service{
			ServiceName:    cloudformation.String(d.Family),
			Cluster:        cloudformation.RefPtr("Cluster"),
			TaskDefinition: cloudformation.RefPtr("TaskDefinition"),
			DesiredCount:   cloudformation.Int(d.DesiredCount),
			LaunchType:     cloudformation.String(d.LaunchType),
			DeploymentConfiguration: &ecs.Service_DeploymentConfiguration{
				MinimumHealthyPercent:    cloudformation.Int(d.DeploymentConfiguration.MinimumHealthyPercent),
				MaximumPercent:           cloudformation.Int(d.DeploymentConfiguration.MaximumPercent),
				DeploymentCircuitBreaker: &ecs.Service_DeploymentCircuitBreaker{Enable: true, Rollback: true},
			},
			NetworkConfiguration: awsvpc(),
			PropagateTags:        cloudformation.String("SERVICE"),
			Tags:                 hoistTags(d),
		}
		if hasLB {
			svc.HealthCheckGracePeriodSeconds = cloudformation.Int(d.HealthCheck.GracePeriodSeconds)
			svc.LoadBalancers = []ecs.Service_LoadBalancer{{
				ContainerName:  cloudformation.String(d.Family),
				ContainerPort:  cloudformation.Int(lbPort),
				TargetGroupArn: cloudformation.RefPtr("TargetGroup"),
			}}
			svc.AWSCloudFormationDependsOn = []string{"Listener"}
		} else if d.HealthCheck.GracePeriodSeconds > 0 && len(d.HealthCheck.Command) == 0 && len(d.PortMappings) > 0 {
			w.add("ecs", "healthCheck", "without a load balancer and without healthCheck.command, ECS does not check the app's health; the HTTP/TCP check applies to Kubernetes and the local runtime only")
		}
		if d.LaunchType == "FARGATE" {
			svc.PlatformVersion = cloudformation.String("LATEST")
		}
		t.Resources["Service"] = svc
		if d.AutoScaling.Enabled {
			autoScaling(t, d, w)
		}
	}

	if d.Notifications.StoppedTasks {
		t.Resources["TaskEventsTopic"] = &sns.Topic{
			TopicName:   cloudformation.String(d.Family + "-task-events"),
			DisplayName: cloudformation.String(d.Family + " stopped tasks"),
			Tags:        hoistTags(d),
		}
		if d.Notifications.Email != "" {
			t.Resources["TaskEventsEmail"] = &sns.Subscription{TopicArn: cloudformation.Ref("TaskEventsTopic"), Protocol: "email", Endpoint: cloudformation.RefPtr("NotificationEmail")}
		}
		t.Resources["TaskEventsTopicPolicy"] = &sns.TopicPolicy{
			Topics: []string{cloudformation.Ref("TaskEventsTopic")},
			PolicyDocument: policy{Version: "2012-10-17", Statement: []policyStatement{{
				Effect: "Allow", Principal: map[string]any{"Service": []string{"events.amazonaws.com"}},
				Action: []string{"sns:Publish"}, Resource: cloudformation.Ref("TaskEventsTopic"),
			}}},
		}
		t.Resources["TaskStoppedRule"] = &events.Rule{
			Description: cloudformation.String(fmt.Sprintf("Tasks of %s that stopped", d.Family)),
			EventPattern: map[string]any{
				"source":      []string{"aws.ecs"},
				"detail-type": []string{"ECS Task State Change"},
				"detail": map[string]any{
					"clusterArn": []string{cloudformation.GetAtt("Cluster", "Arn")},
					"lastStatus": []string{"STOPPED"},
				},
			},
			State:   cloudformation.String("ENABLED"),
			Targets: []events.Rule_Target{{Id: "topic", Arn: cloudformation.Ref("TaskEventsTopic")}},
		}
	}

	t.Outputs["ClusterName"] = cloudformation.Output{Value: cloudformation.Ref("Cluster"), Description: cloudformation.String("ECS cluster")}
	t.Outputs["RepositoryUri"] = cloudformation.Output{Value: cloudformation.GetAtt("Repository", "RepositoryUri"), Description: cloudformation.String("Push the image here (docker push URI:TAG)")}
	t.Outputs["LogGroupName"] = cloudformation.Output{Value: cloudformation.Ref("LogGroup"), Description: cloudformation.String("The app's logs")}
	t.Outputs["TaskDefinitionArn"] = cloudformation.Output{Value: cloudformation.Ref("TaskDefinition"), Description: cloudformation.String("Task definition revision")}
	if !scheduled {
		t.Outputs["ServiceName"] = cloudformation.Output{Value: cloudformation.GetAtt("Service", "Name"), Description: cloudformation.String("ECS service")}
	}
	if hasLB {
		scheme := "http"
		switch d.LoadBalancer.ListenerProtocol {
		case "HTTPS":
			scheme = "https"
		case "TCP", "TLS", "UDP", "TCP_UDP":
			scheme = strings.ToLower(d.LoadBalancer.ListenerProtocol)
		}
		path := ""
		if d.LoadBalancer.Type == LoadBalancerApplication {
			path = "/"
		}
		t.Outputs["ServiceURL"] = cloudformation.Output{
			Value:       cloudformation.Sub(fmt.Sprintf("%s://${LoadBalancer.DNSName}:%d%s", scheme, d.LoadBalancer.ListenerPort, path)),
			Description: cloudformation.String("Where the app answers"),
		}
	}
	if d.Notifications.StoppedTasks {
		t.Outputs["TaskEventsTopicArn"] = cloudformation.Output{Value: cloudformation.Ref("TaskEventsTopic"), Description: cloudformation.String("SNS topic told when a task stops")}
	}
	return t
}

func loadBalancer(t *cloudformation.Template, d *Deployment) {
	lb := d.LoadBalancer
	pm := portMappingFor(d, lb.ContainerPort)
	lbRes := &elb.LoadBalancer{
		Type:    cloudformation.String(lb.Type),
		Scheme:  cloudformation.String(lb.Scheme),
		Subnets: []string{cloudformation.Ref("LoadBalancerSubnet1"), cloudformation.Ref("LoadBalancerSubnet2")},
		Tags:    hoistTags(d),
	}
	if lb.Type == LoadBalancerApplication {
		lbRes.SecurityGroups = []string{cloudformation.Ref("LoadBalancerSecurityGroup")}
	}
	t.Resources["LoadBalancer"] = lbRes
	hc := d.HealthCheck
	tg := &elb.TargetGroup{
		VpcId:                      cloudformation.RefPtr("VpcId"),
		Port:                       cloudformation.Int(lb.ContainerPort),
		HealthCheckEnabled:         cloudformation.Bool(true),
		HealthCheckIntervalSeconds: cloudformation.Int(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  cloudformation.Int(hc.TimeoutSeconds),
		HealthyThresholdCount:      cloudformation.Int(hc.HealthyThreshold),
		UnhealthyThresholdCount:    cloudformation.Int(hc.UnhealthyThreshold),
		HealthCheckPort:            cloudformation.String("traffic-port"),
		TargetGroupAttributes: []elb.TargetGroup_TargetGroupAttribute{{
			Key: cloudformation.String("deregistration_delay.timeout_seconds"), Value: cloudformation.String(strconv.Itoa(lb.DeregistrationDelaySeconds)),
		}},
		Tags: hoistTags(d),
	}
	if hc.Port != 0 && hc.Port != lb.ContainerPort {
		if d.NetworkMode == "awsvpc" {
			tg.HealthCheckPort = cloudformation.String(strconv.Itoa(hc.Port))
		}
	}
	if d.NetworkMode == "awsvpc" {
		tg.TargetType = cloudformation.String("ip")
	} else {
		tg.TargetType = cloudformation.String("instance")
	}
	if lb.Type == LoadBalancerApplication {
		tg.Protocol = cloudformation.String("HTTP")
		tg.HealthCheckProtocol = cloudformation.String(hc.Protocol)
		if hc.Protocol == "HTTP" {
			tg.HealthCheckPath = cloudformation.String(hc.Path)
			tg.Matcher = &elb.TargetGroup_Matcher{HttpCode: cloudformation.String(hc.Matcher)}
		}
	} else {
		proto := "TCP"
		if pm.Protocol == "udp" {
			proto = "UDP"
		}
		if lb.ListenerProtocol == "TCP_UDP" {
			proto = "TCP_UDP"
		}
		tg.Protocol = cloudformation.String(proto)
		tg.HealthCheckProtocol = cloudformation.String(hc.Protocol)
		if hc.Protocol == "HTTP" {
			tg.HealthCheckPath = cloudformation.String(hc.Path)
		}
	}
	t.Resources["TargetGroup"] = tg
	l := &elb.Listener{
		LoadBalancerArn: cloudformation.Ref("LoadBalancer"),
		Port:            cloudformation.Int(lb.ListenerPort),
		Protocol:        cloudformation.String(lb.ListenerProtocol),
		DefaultActions:  []elb.Listener_Action{{Type: "forward", TargetGroupArn: cloudformation.RefPtr("TargetGroup")}},
	}
	if lb.CertificateArn != "" {
		l.Certificates = []elb.Listener_Certificate{{CertificateArn: cloudformation.String(lb.CertificateArn)}}
	}
	t.Resources["Listener"] = l
}

func autoScaling(t *cloudformation.Template, d *Deployment, w *warnings) {
	as := d.AutoScaling
	st := &applicationautoscaling.ScalableTarget{
		MinCapacity:       as.MinCapacity,
		MaxCapacity:       as.MaxCapacity,
		ResourceId:        cloudformation.Sub("service/${Cluster}/${Service.Name}"),
		ScalableDimension: "ecs:service:DesiredCount",
		ServiceNamespace:  "ecs",
	}
	for _, s := range as.Scheduled {
		a := applicationautoscaling.ScalableTarget_ScheduledAction{
			ScheduledActionName:  s.Name,
			Schedule:             s.Schedule,
			ScalableTargetAction: &applicationautoscaling.ScalableTarget_ScalableTargetAction{MinCapacity: cloudformation.Int(s.MinCapacity), MaxCapacity: cloudformation.Int(s.MaxCapacity)},
		}
		if s.Timezone != "" {
			a.Timezone = cloudformation.String(s.Timezone)
		}
		st.ScheduledActions = append(st.ScheduledActions, a)
	}
	t.Resources["ScalableTarget"] = st
	if d.DesiredCount < as.MinCapacity || d.DesiredCount > as.MaxCapacity {
		w.add("ecs", "desiredCount", fmt.Sprintf("%d is outside autoScaling's %d..%d; Application Auto Scaling moves it into the range", d.DesiredCount, as.MinCapacity, as.MaxCapacity))
	}
	for i, tt := range as.TargetTracking {
		spec := &applicationautoscaling.ScalingPolicy_PredefinedMetricSpecification{PredefinedMetricType: tt.Metric}
		if tt.Metric == MetricRequestsPerTask {
			spec.ResourceLabel = cloudformation.SubPtr("${LoadBalancer.LoadBalancerFullName}/${TargetGroup.TargetGroupFullName}")
		}
		t.Resources["TargetTrackingPolicy"+strconv.Itoa(i+1)] = &applicationautoscaling.ScalingPolicy{
			PolicyName:      fmt.Sprintf("%s-%s", d.Family, metricShort(tt.Metric)),
			PolicyType:      "TargetTrackingScaling",
			ScalingTargetId: cloudformation.RefPtr("ScalableTarget"),
			TargetTrackingScalingPolicyConfiguration: &applicationautoscaling.ScalingPolicy_TargetTrackingScalingPolicyConfiguration{
				PredefinedMetricSpecification: spec,
				TargetValue:                   tt.TargetValue,
				ScaleInCooldown:               cloudformation.Int(tt.ScaleInCooldown),
				ScaleOutCooldown:              cloudformation.Int(tt.ScaleOutCooldown),
			},
		}
	}
	for i, s := range as.StepScaling {
		name := "StepPolicy" + strconv.Itoa(i+1)
		var adj []applicationautoscaling.ScalingPolicy_StepAdjustment
		for _, st := range s.Steps {
			adj = append(adj, applicationautoscaling.ScalingPolicy_StepAdjustment{MetricIntervalLowerBound: st.LowerBound, MetricIntervalUpperBound: st.UpperBound, ScalingAdjustment: st.ScalingAdjustment})
		}
		t.Resources[name] = &applicationautoscaling.ScalingPolicy{
			PolicyName:      d.Family + "-" + s.Name,
			PolicyType:      "StepScaling",
			ScalingTargetId: cloudformation.RefPtr("ScalableTarget"),
			StepScalingPolicyConfiguration: &applicationautoscaling.ScalingPolicy_StepScalingPolicyConfiguration{
				AdjustmentType:        cloudformation.String(s.AdjustmentType),
				Cooldown:              cloudformation.Int(s.CooldownSeconds),
				MetricAggregationType: cloudformation.String("Average"),
				StepAdjustments:       adj,
			},
		}
		t.Resources["StepAlarm"+strconv.Itoa(i+1)] = &cloudwatch.Alarm{
			AlarmDescription:   cloudformation.String(fmt.Sprintf("%s of %s (step scaling %s)", s.Metric, d.Family, s.Name)),
			Namespace:          cloudformation.String("AWS/ECS"),
			MetricName:         cloudformation.String(s.Metric),
			Dimensions:         []cloudwatch.Alarm_Dimension{{Name: "ClusterName", Value: cloudformation.Ref("Cluster")}, {Name: "ServiceName", Value: cloudformation.GetAtt("Service", "Name")}},
			Statistic:          cloudformation.String("Average"),
			Period:             cloudformation.Int(s.PeriodSeconds),
			EvaluationPeriods:  s.EvaluationPeriods,
			Threshold:          cloudformation.Float64(s.Threshold),
			ComparisonOperator: s.ComparisonOperator,
			AlarmActions:       []string{cloudformation.Ref(name)},
		}
	}
}

func metricShort(m string) string {
	switch m {
	case MetricCPU:
		return "cpu"
	case MetricMemory:
		return "memory"
	}
	return "requests"
}

func scheduleRule(t *cloudformation.Template, d *Deployment, w *warnings) {
	if d.Schedule.Timezone != "" && d.Schedule.Timezone != "UTC" && d.Schedule.Timezone != "Etc/UTC" {
		w.add("ecs", "schedule.timezone", fmt.Sprintf("EventBridge rules run in UTC: %s is not applied on ECS (use an EventBridge Scheduler schedule, or shift the hours)", d.Schedule.Timezone))
	}
	if d.DesiredCount > 1 {
		w.add("ecs", "desiredCount", "a scheduled app runs one task per event; desiredCount is not used")
	}
	passRoles := []string{}
	for _, r := range []struct{ arn, res string }{{d.ExecutionRole.Arn, "ExecutionRole"}, {d.TaskRole.Arn, "TaskRole"}} {
		if r.arn != "" {
			passRoles = append(passRoles, r.arn)
		} else {
			passRoles = append(passRoles, cloudformation.GetAtt(r.res, "Arn"))
		}
	}
	t.Resources["ScheduleRole"] = &iam.Role{
		AssumeRolePolicyDocument: assumeRole("events.amazonaws.com"),
		Policies: []iam.Role_Policy{{PolicyName: "run-task", PolicyDocument: policy{Version: "2012-10-17", Statement: []policyStatement{
			{Effect: "Allow", Action: []string{"ecs:RunTask"}, Resource: cloudformation.Ref("TaskDefinition"), Condition: map[string]any{"ArnLike": map[string]any{"ecs:cluster": cloudformation.GetAtt("Cluster", "Arn")}}},
			{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: passRoles},
		}}}},
		Tags: hoistTags(d),
	}
	ep := &events.Rule_EcsParameters{
		TaskDefinitionArn: cloudformation.Ref("TaskDefinition"),
		TaskCount:         cloudformation.Int(1),
		LaunchType:        cloudformation.String(d.LaunchType),
	}
	if d.NetworkMode == "awsvpc" {
		ep.NetworkConfiguration = &events.Rule_NetworkConfiguration{AwsVpcConfiguration: &events.Rule_AwsVpcConfiguration{
			AssignPublicIp: cloudformation.RefPtr("AssignPublicIp"),
			SecurityGroups: []string{cloudformation.Ref("ServiceSecurityGroup")},
			Subnets:        taskSubnets(),
		}}
	}
	if d.LaunchType == "FARGATE" {
		ep.PlatformVersion = cloudformation.String("LATEST")
	}
	t.Resources["ScheduleRule"] = &events.Rule{
		Description:        cloudformation.String(fmt.Sprintf("Runs %s on %s", d.Family, d.Schedule.Expression)),
		ScheduleExpression: cloudformation.String(d.Schedule.Expression),
		State:              cloudformation.String("ENABLED"),
		Targets: []events.Rule_Target{{
			Id: "task", Arn: cloudformation.GetAtt("Cluster", "Arn"), RoleArn: cloudformation.GetAttPtr("ScheduleRole", "Arn"), EcsParameters: ep,
		}},
	}
}

func taskSubnets() []string {
	return []string{cloudformation.Ref("Subnet1"), cloudformation.Ref("Subnet2")}
}

func lifecyclePolicy(keep int) string {
	p := map[string]any{"rules": []any{map[string]any{
		"rulePriority": 1,
		"description":  fmt.Sprintf("keep the newest %d images", keep),
		"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
		"action":       map[string]any{"type": "expire"},
	}}}
	b, _ := json.Marshal(p)
	return string(b)
}

func sharedVolumes(d *Deployment) []Volume {
	var out []Volume
	for _, v := range d.Volumes {
		if v.Shared {
			out = append(out, v)
		}
	}
	return out
}

// sharedIndex is the index among shared volumes of d.Volumes[i].
func sharedIndex(d *Deployment, i int) int {
	n := 0
	for j := 0; j < i; j++ {
		if d.Volumes[j].Shared {
			n++
		}
	}
	return n
}

func accessPointRes(i int) string { return "AccessPoint" + strconv.Itoa(i+1) }

func fileSystemRef(v Volume) string {
	if v.FileSystemID != "" {
		return v.FileSystemID
	}
	return cloudformation.Ref("FileSystem")
}

func efsArn(v Volume) string {
	if v.FileSystemID != "" {
		return cloudformation.Sub("arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/" + v.FileSystemID)
	}
	return cloudformation.GetAtt("FileSystem", "Arn")
}

func portMappingFor(d *Deployment, port int) PortMapping {
	for _, p := range d.PortMappings {
		if p.ContainerPort == port && p.Protocol == "tcp" {
			return p
		}
	}
	for _, p := range d.PortMappings {
		if p.ContainerPort == port {
			return p
		}
	}
	return PortMapping{ContainerPort: port, Protocol: "tcp"}
}

// numericUser splits uid:gid; names (which EFS access points cannot take)
// become 1000, reported by the caller.
func numericUser(u string) (string, string) {
	uid, gid, ok := strings.Cut(u, ":")
	if _, err := strconv.Atoi(uid); err != nil {
		uid = "1000"
	}
	if !ok {
		gid = uid
	}
	if _, err := strconv.Atoi(gid); err != nil {
		gid = uid
	}
	return uid, gid
}
