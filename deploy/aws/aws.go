// Package aws deploys an app to AWS from the artifacts `hoist generate`
// wrote: the image to Amazon ECR, the ECS or App Runner CloudFormation stack
// through a reviewed change set, or only the ECS task definition; and it
// deletes what it deployed. It re-derives nothing: the templates and the
// task definition are sent as generated.
package aws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

// Targets.
const (
	TargetECS       = "ecs"
	TargetAppRunner = "apprunner"
)

// Errors a caller may want to tell apart (exit codes, hints).
var (
	// ErrNoCredentials: the SDK found no credentials, or AWS rejected them.
	ErrNoCredentials = errors.New("no usable AWS credentials")
	// ErrNoRegion: neither --region, AWS_REGION, the profile nor
	// deployment.json's registry.region names a region.
	ErrNoRegion = errors.New("no AWS region")
	// ErrAccessDenied: the identity may not make a call hoist needs.
	ErrAccessDenied = errors.New("access denied")
	// ErrStackBusy: the stack is in a *_IN_PROGRESS state.
	ErrStackBusy = errors.New("the stack is busy")
	// ErrMustDelete: the stack is in a state CloudFormation cannot update
	// (ROLLBACK_COMPLETE, DELETE_FAILED, ...).
	ErrMustDelete = errors.New("the stack must be deleted first")
	// ErrNotConfirmed: nobody confirmed the change (no --yes, no TTY, or
	// the answer was no).
	ErrNotConfirmed = errors.New("not confirmed")
	// ErrStackFailed: the stack operation failed (and rolled back).
	ErrStackFailed = errors.New("the stack operation failed")
	// ErrParameters: a template parameter is missing or unknown.
	ErrParameters = errors.New("stack parameters")
)

// Options configures Deploy, Delete and RegisterTaskDefinition.
type Options struct {
	Workspace discover.Workspace
	ID        string
	// Target is TargetECS or TargetAppRunner.
	Target string
	// Profile is the shared-config profile (empty: AWS_PROFILE or the
	// default chain); Region overrides the profile's and AWS_REGION.
	Profile string
	Region  string
	// StackName defaults to hoist-FAMILY (ECS) and hoist-FAMILY-apprunner.
	StackName string
	// Parameters are template parameters the user gave (--parameter K=V).
	Parameters map[string]string
	// Yes applies without asking. Otherwise Confirm is asked; a nil
	// Confirm (nobody to ask) refuses with ErrNotConfirmed.
	Yes     bool
	Confirm func(question string) (bool, error)
	// DryRun creates and prints the change set, then deletes it.
	DryRun bool
	// NoWait returns once the change set (or deletion) has started.
	NoWait bool
	// Timeout bounds each wait for a stack operation (default 30 minutes).
	Timeout time.Duration
	// DeleteImages makes Delete remove the ECR repository with its images.
	DeleteImages bool
	// Push pushes the app's image (APP/containerize/image.json) to ref,
	// REGISTRY/REPOSITORY:TAG; the CLI passes one that starts the engine.
	Push func(ctx context.Context, ref string) (*push.Result, error)
	// Progress receives the change table and the stack events.
	Progress io.Writer
	Logf     func(string, ...any)

	// Test hooks: the endpoint every client talks to, how often stack
	// state is polled, and the retryer's backoff.
	endpoint     string
	pollInterval time.Duration
	backoff      retry.BackoffDelayer
}

// Change is one row of a change set.
type Change struct {
	Action      string `json:"action"`
	LogicalID   string `json:"logicalId"`
	Type        string `json:"type"`
	Replacement string `json:"replacement,omitempty"`
	PhysicalID  string `json:"physicalId,omitempty"`
}

// Event is one stack event, as streamed.
type Event struct {
	Time      time.Time `json:"time"`
	LogicalID string    `json:"logicalId"`
	Type      string    `json:"type"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
}

// Failure says why a stack operation failed.
type Failure struct {
	// Resource is the first resource that failed, with its reason.
	Resource string `json:"resource,omitempty"`
	Type     string `json:"type,omitempty"`
	Status   string `json:"status,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// StackStatus is where the stack ended (ROLLBACK_COMPLETE,
	// UPDATE_ROLLBACK_COMPLETE, ...), with CloudFormation's reason.
	StackStatus       string `json:"stackStatus"`
	StackStatusReason string `json:"stackStatusReason,omitempty"`
}

// SecretResult is what happened to one Secrets Manager secret.
type SecretResult struct {
	Name   string `json:"name"`
	Action string `json:"action"` // created, updated, unchanged, stack-owned, stack parameter
}

// Result says what a deploy, delete or registration did.
type Result struct {
	App     string `json:"app"`
	Target  string `json:"target"`
	Account string `json:"account"`
	Region  string `json:"region"`
	Stack   string `json:"stack,omitempty"`
	StackID string `json:"stackId,omitempty"`
	// Status: applied, nothing to change, dry run, started, deleted,
	// not found, registered, failed.
	Status        string            `json:"status"`
	StackStatus   string            `json:"stackStatus,omitempty"`
	ChangeSet     string            `json:"changeSet,omitempty"`
	ChangeSetType string            `json:"changeSetType,omitempty"`
	Changes       []Change          `json:"changes,omitempty"`
	Parameters    map[string]string `json:"parameters,omitempty"`
	Capabilities  []string          `json:"capabilities,omitempty"`
	// Image is where the image went (REGISTRY/REPO:TAG) and its digest.
	Image      string            `json:"image,omitempty"`
	Digest     string            `json:"digest,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Secrets    []SecretResult    `json:"secrets,omitempty"`
	Events     []Event           `json:"events,omitempty"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	Failure    *Failure          `json:"failure,omitempty"`
	// TaskDefinitionArn is the revision --register-only registered.
	TaskDefinitionArn string   `json:"taskDefinitionArn,omitempty"`
	Notes             []string `json:"notes,omitempty"`
}

func (r *Result) note(f string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(f, a...)) }

// session holds the clients of one run.
type session struct {
	o       Options
	cfg     sdkaws.Config
	account string
	arn     string
	cfn     *cloudformation.Client
	ecr     *ecr.Client
	ecs     *ecs.Client
	sm      *secretsmanager.Client
	out     io.Writer
	logf    func(string, ...any)
	poll    time.Duration
}

func (o *Options) defaults() {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.pollInterval <= 0 {
		o.pollInterval = 5 * time.Second
	}
}

// defaultMaxAttempts is how often a call is tried when neither
// AWS_MAX_ATTEMPTS nor the profile says: deploys call DescribeStackEvents
// often and throttling is to be expected.
const defaultMaxAttempts = 8

// connect loads the AWS configuration, checks credentials and region and
// asks STS who the caller is. fallbackRegion is deployment.json's.
func connect(ctx context.Context, o Options, fallbackRegion string) (*session, error) {
	var lo []func(*awsconfig.LoadOptions) error
	if o.Profile != "" {
		lo = append(lo, awsconfig.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		lo = append(lo, awsconfig.WithRegion(o.Region))
	}
	if o.endpoint != "" {
		lo = append(lo, awsconfig.WithBaseEndpoint(o.endpoint))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		if o.Profile != "" {
			return nil, fmt.Errorf("loading the AWS configuration (profile %q): %w: %v; check the profile's name in ~/.aws/config, or set AWS_PROFILE", o.Profile, ErrNoCredentials, err)
		}
		return nil, fmt.Errorf("loading the AWS configuration: %w: %v", ErrNoCredentials, err)
	}
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: set --region (or AWS_REGION, or region in the profile, or registry.region in deployment.json)", ErrNoRegion)
	}
	attempts := cfg.RetryMaxAttempts
	if attempts <= 0 {
		attempts = defaultMaxAttempts
	}
	mode := cfg.RetryMode
	cfg.Retryer = func() sdkaws.Retryer {
		// The SDK's standard retryer: throttling (Throttling,
		// ThrottlingException, TooManyRequestsException, ...), 5xx and
		// connection errors are retried with jittered backoff.
		r := retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			if o.backoff != nil {
				so.Backoff = o.backoff
			}
		})
		if mode == sdkaws.RetryModeAdaptive {
			return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
				ao.StandardOptions = append(ao.StandardOptions, func(so *retry.StandardOptions) { so.MaxAttempts = attempts })
			})
		}
		return r
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v; set AWS_PROFILE or pass --profile (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), and --region", ErrNoCredentials, rootCause(err))
	}
	s := &session{
		o: o, cfg: cfg,
		cfn:  cloudformation.NewFromConfig(cfg),
		ecr:  ecr.NewFromConfig(cfg),
		ecs:  ecs.NewFromConfig(cfg),
		sm:   secretsmanager.NewFromConfig(cfg),
		out:  o.Progress,
		logf: o.Logf,
		poll: o.pollInterval,
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, apiError("sts:GetCallerIdentity", err)
	}
	s.account, s.arn = sdkaws.ToString(id.Account), sdkaws.ToString(id.Arn)
	o.Logf("AWS account %s, region %s, identity %s", s.account, cfg.Region, s.arn)
	return s, nil
}

// apiError wraps an AWS error with what hoist was doing and what to do.
func apiError(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthorizationError":
			return fmt.Errorf("%s: %w: %s; give the AWS identity permission for %s (docs/aws.md lists what deploy calls), or use another with --profile", op, ErrAccessDenied, ae.ErrorMessage(), op)
		case "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidSignatureException", "IncompleteSignature":
			return fmt.Errorf("%s: %w: AWS rejected the credentials (%s: %s); refresh them (aws sso login, new access keys) or set AWS_PROFILE / pass --profile", op, ErrNoCredentials, ae.ErrorCode(), ae.ErrorMessage())
		}
		return fmt.Errorf("%s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %v; check the network (and HTTPS_PROXY)", op, discover.ErrUnavailable, err)
}

// isCode says whether err is an AWS error with one of codes.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func errMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// token is a fresh idempotency token: the same one is sent on every retry
// of a call because it is set on the input, once.
func token(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// uuid is a random version 4 UUID (Secrets Manager's version tokens).
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// registryHost is the account's ECR registry in region.
func registryHost(account, region string) string {
	host := account + ".dkr.ecr." + region + ".amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		host += ".cn"
	}
	return host
}

// app is what deploy reads from the workspace.
type app struct {
	d        *generate.Deployment
	tmplPath string
	body     []byte
	tmpl     *template
	image    string // hoist.local/NAME:TAG
	digest   string // sha256:...
}

// loadApp reads deployment.json, the target's template and image.json.
func loadApp(o Options) (*app, error) {
	if _, err := os.Stat(o.Workspace.AppDir(o.ID)); err != nil {
		return nil, fmt.Errorf("deploying %s: %w: no app %q in the workspace %s; run `hoist inventory` to list apps", o.ID, discover.ErrNotFound, o.ID, o.Workspace.Dir)
	}
	d, err := generate.LoadDeployment(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	a := &app{d: d}
	a.tmplPath = filepath.Join(generate.DeployDir(o.Workspace, o.ID), o.Target, "stack.yaml")
	a.body, err = os.ReadFile(a.tmplPath)
	if errors.Is(err, os.ErrNotExist) {
		hint := fmt.Sprintf("run `hoist generate %s`", o.ID)
		if o.Target == TargetAppRunner {
			hint = fmt.Sprintf("App Runner is off for this app (appRunner.enabled in deployment.json; it needs an HTTP health check): set it and run `hoist generate %s`", o.ID)
		}
		return nil, fmt.Errorf("deploying %s to %s: %w: no %s; %s", o.ID, o.Target, discover.ErrNotFound, a.tmplPath, hint)
	}
	if err != nil {
		return nil, err
	}
	if len(a.body) > maxTemplateBody {
		return nil, fmt.Errorf("deploying %s: %s is %d bytes, CloudFormation takes at most %d in a request (a larger template must be uploaded to S3, which hoist does not do yet); deploy it with `aws cloudformation deploy --s3-bucket ...`", o.ID, a.tmplPath, len(a.body), maxTemplateBody)
	}
	if a.tmpl, err = parseTemplate(a.body); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; run `hoist generate %s` again", discover.ErrInvalid, a.tmplPath, err, o.ID)
	}
	a.image, a.digest, err = builtImage(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// maxTemplateBody is CloudFormation's limit for TemplateBody.
const maxTemplateBody = 51200

// stackName is the stack's default name.
func stackName(o Options, d *generate.Deployment) string {
	if o.StackName != "" {
		return o.StackName
	}
	if o.Target == TargetAppRunner {
		return "hoist-" + d.Family + "-apprunner"
	}
	return "hoist-" + d.Family
}
