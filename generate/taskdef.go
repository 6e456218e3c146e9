package generate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/hoistctl/hoist/discover"
)

// Placeholders for values only known in the target account; the task
// definition's README says to fill them with envsubst.
const (
	accountPlaceholder = "${AWS_ACCOUNT_ID}"
	regionPlaceholder  = "${AWS_REGION}"
)

func (d *Deployment) account() string {
	if d.Registry.AccountID != "" {
		return d.Registry.AccountID
	}
	return accountPlaceholder
}

func (d *Deployment) region() string {
	if d.Registry.Region != "" {
		return d.Registry.Region
	}
	return regionPlaceholder
}

// executionRoleName and taskRoleName are the names the ECS stack gives the
// roles it creates, so task-definition.json can point at them.
func (d *Deployment) executionRoleName() string { return trimName(d.Family+"-execution", 64) }
func (d *Deployment) taskRoleName() string      { return trimName(d.Family+"-task", 64) }

func trimName(s string, n int) string {
	if len(s) > n {
		s = strings.TrimRight(s[:n], "-")
	}
	return s
}

// TaskDefinitionInput builds the RegisterTaskDefinition input for the
// deployment, with literal ARNs (placeholders where the account or region
// is unknown).
func TaskDefinitionInput(d *Deployment) *ecs.RegisterTaskDefinitionInput {
	acct, region := d.account(), d.region()
	image := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s:%s", acct, region, d.Registry.RepositoryName, imageTag(d.Image))
	c := ecstypes.ContainerDefinition{
		Name:      aws.String(d.Family),
		Image:     aws.String(image),
		Essential: aws.Bool(true),
		LogConfiguration: &ecstypes.LogConfiguration{
			LogDriver: ecstypes.LogDriverAwslogs,
			Options: map[string]string{
				"awslogs-group":         d.Logging.LogGroupName,
				"awslogs-region":        region,
				"awslogs-stream-prefix": d.Logging.StreamPrefix,
			},
		},
	}
	if d.User != "" {
		c.User = aws.String(d.User)
	}
	if d.WorkingDirectory != "" {
		c.WorkingDirectory = aws.String(d.WorkingDirectory)
	}
	for _, p := range d.PortMappings {
		pm := ecstypes.PortMapping{
			Name:          aws.String(p.Name),
			ContainerPort: aws.Int32(int32(p.ContainerPort)),
			Protocol:      ecstypes.TransportProtocol(p.Protocol),
		}
		switch {
		case d.NetworkMode == "awsvpc":
			pm.HostPort = aws.Int32(int32(p.ContainerPort))
		default:
			pm.HostPort = aws.Int32(int32(p.HostPort))
		}
		if p.AppProtocol != "" && p.Protocol == "tcp" {
			pm.AppProtocol = ecstypes.ApplicationProtocol(p.AppProtocol)
		}
		c.PortMappings = append(c.PortMappings, pm)
	}
	for _, e := range d.Environment {
		c.Environment = append(c.Environment, ecstypes.KeyValuePair{Name: aws.String(e.Name), Value: aws.String(e.Value)})
	}
	for _, s := range d.Secrets {
		c.Secrets = append(c.Secrets, ecstypes.Secret{
			Name:      aws.String(s.Name),
			ValueFrom: aws.String(fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", region, acct, s.SecretsManagerName)),
		})
	}
	if len(d.HealthCheck.Command) > 0 {
		c.HealthCheck = &ecstypes.HealthCheck{
			Command:     d.HealthCheck.Command,
			Interval:    aws.Int32(int32(d.HealthCheck.IntervalSeconds)),
			Timeout:     aws.Int32(int32(d.HealthCheck.TimeoutSeconds)),
			Retries:     aws.Int32(int32(d.HealthCheck.UnhealthyThreshold)),
			StartPeriod: aws.Int32(int32(min(d.HealthCheck.GracePeriodSeconds, 300))),
		}
	}
	for _, u := range d.Ulimits {
		c.Ulimits = append(c.Ulimits, ecstypes.Ulimit{Name: ecstypes.UlimitName(u.Name), SoftLimit: clampInt32(u.SoftLimit), HardLimit: clampInt32(u.HardLimit)})
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(d.Family),
		Cpu:                     aws.String(strconv.Itoa(d.Cpu)),
		Memory:                  aws.String(strconv.Itoa(d.Memory)),
		NetworkMode:             ecstypes.NetworkMode(d.NetworkMode),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.Compatibility(d.LaunchType)},
		RuntimePlatform: &ecstypes.RuntimePlatform{
			CpuArchitecture:       ecstypes.CPUArchitectureX8664,
			OperatingSystemFamily: ecstypes.OSFamilyLinux,
		},
		ExecutionRoleArn: aws.String(roleArn(d.ExecutionRole, acct, d.executionRoleName())),
		TaskRoleArn:      aws.String(roleArn(d.TaskRole, acct, d.taskRoleName())),
	}
	for _, v := range d.Volumes {
		vol := ecstypes.Volume{Name: aws.String(v.Name)}
		if v.Shared {
			fsID := v.FileSystemID
			if fsID == "" {
				fsID = "${EFS_FILE_SYSTEM_ID}"
			}
			vol.EfsVolumeConfiguration = &ecstypes.EFSVolumeConfiguration{
				FileSystemId:      aws.String(fsID),
				TransitEncryption: ecstypes.EFSTransitEncryptionEnabled,
				AuthorizationConfig: &ecstypes.EFSAuthorizationConfig{
					Iam: ecstypes.EFSAuthorizationConfigIAMEnabled,
				},
			}
		}
		in.Volumes = append(in.Volumes, vol)
		c.MountPoints = append(c.MountPoints, ecstypes.MountPoint{SourceVolume: aws.String(v.Name), ContainerPath: aws.String(v.ContainerPath), ReadOnly: aws.Bool(v.ReadOnly)})
	}
	in.ContainerDefinitions = []ecstypes.ContainerDefinition{c}
	return in
}

func roleArn(r Role, acct, name string) string {
	if r.Arn != "" {
		return r.Arn
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", acct, name)
}

func clampInt32(v int64) int32 {
	switch {
	case v > 1<<31-1:
		return 1<<31 - 1
	case v < -1<<31:
		return -1 << 31
	}
	return int32(v)
}

// imageTag is the tag of an image reference (latest when it has none).
func imageTag(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return "latest"
}

// errStop ends an SDK call after validation and serialization, before it
// resolves an endpoint or signs anything: hoist generate talks to no server.
var errStop = errors.New("stop before sending")

// serializeTaskDefinition runs the SDK's own input validation and request
// serializer on in and returns the request body: exactly the JSON
// RegisterTaskDefinition takes, which is what
// `aws ecs register-task-definition --cli-input-json` reads.
func serializeTaskDefinition(in *ecs.RegisterTaskDefinitionInput) ([]byte, error) {
	client := ecs.New(ecs.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}})
	var body []byte
	capture := middleware.BuildMiddlewareFunc("hoistCapture", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		req, ok := in.Request.(*smithyhttp.Request)
		if !ok {
			return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
		}
		if s := req.GetStream(); s != nil {
			b, err := io.ReadAll(s)
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			body = b
		}
		return middleware.BuildOutput{}, middleware.Metadata{}, errStop
	})
	_, err := client.RegisterTaskDefinition(context.Background(), in, func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(capture, middleware.After)
		})
		o.Retryer = aws.NopRetryer{}
	})
	if !errors.Is(err, errStop) {
		var ip smithy.InvalidParamsError
		if errors.As(err, &ip) {
			return nil, &sdkInvalid{ip}
		}
		if err == nil {
			err = errors.New("the SDK call was not stopped")
		}
		return nil, err
	}
	// The serializer walks maps (log options) in Go's random order: the
	// file's keys are sorted so equal input gives equal bytes.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var canon any
	if err := dec.Decode(&canon); err != nil {
		return nil, fmt.Errorf("reading the serialized task definition: %w", err)
	}
	return discover.MarshalJSON(canon)
}

type sdkInvalid struct{ err smithy.InvalidParamsError }

func (e *sdkInvalid) Error() string { return e.err.Error() }

// validateTaskDefinition checks task-definition.json as a user may have
// edited it: it must decode into RegisterTaskDefinitionInput (strictly),
// pass the SDK's validation and, under Fargate, use a Fargate size.
func validateTaskDefinition(file string, data []byte) []Problem {
	p := &problems{file: file}
	var in ecs.RegisterTaskDefinitionInput
	if err := decodeStrict(data, &in); err != nil {
		p.add("", "fix the JSON; the shape is aws ecs register-task-definition --generate-cli-skeleton", "%v", err)
		return p.list
	}
	checkTaskDefinition(p, &in)
	return p.list
}

func checkTaskDefinition(p *problems, in *ecs.RegisterTaskDefinitionInput) {
	if _, err := serializeTaskDefinition(in); err != nil {
		var si *sdkInvalid
		if errors.As(err, &si) {
			for _, e := range si.err.Errs() {
				var ip smithy.InvalidParamError
				if errors.As(e, &ip) {
					p.add(lowerFirstPath(ip.Field()), "set it: RegisterTaskDefinition requires it", "%s", ip.Error())
				} else {
					p.add("", "", "%v", e)
				}
			}
		} else {
			p.add("", "", "the AWS SDK rejects it: %v", err)
		}
	}
	fargate := false
	for _, c := range in.RequiresCompatibilities {
		if c == ecstypes.CompatibilityFargate {
			fargate = true
		}
	}
	if fargate {
		cpu, err1 := strconv.Atoi(aws.ToString(in.Cpu))
		mem, err2 := strconv.Atoi(aws.ToString(in.Memory))
		switch {
		case err1 != nil || err2 != nil:
			p.add("cpu/memory", "Fargate needs task-level cpu and memory as numbers, e.g. \"1024\" and \"2048\"", "%q/%q", aws.ToString(in.Cpu), aws.ToString(in.Memory))
		case !FargateSizeValid(cpu, mem):
			p.add("cpu/memory", fargateFix(cpu, mem), "cpu %d with memory %d is not a Fargate size", cpu, mem)
		}
		if in.NetworkMode != ecstypes.NetworkModeAwsvpc {
			p.add("networkMode", `set "awsvpc"`, "Fargate supports only awsvpc, got %q", in.NetworkMode)
		}
	}
	for i, c := range in.ContainerDefinitions {
		for j, pm := range c.PortMappings {
			if pm.ContainerPort != nil && (*pm.ContainerPort < 1 || *pm.ContainerPort > 65535) {
				p.add(fmt.Sprintf("containerDefinitions[%d].portMappings[%d].containerPort", i, j), "set 1 to 65535", "is %d", *pm.ContainerPort)
			}
		}
	}
}

// lowerFirstPath turns the SDK's field path (ContainerDefinitions[0].Name)
// into the JSON file's (containerDefinitions[0].name).
func lowerFirstPath(s string) string {
	parts := strings.Split(s, ".")
	for i, part := range parts {
		if part != "" {
			parts[i] = strings.ToLower(part[:1]) + part[1:]
		}
	}
	return strings.Join(parts, ".")
}
