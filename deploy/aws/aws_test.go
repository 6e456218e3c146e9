package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/generate"
)

// testApp is a workspace holding what `hoist generate` writes for one of
// generate's golden cases, a built image and the secrets' values.
type testApp struct {
	ws      discover.Workspace
	id      string
	d       *generate.Deployment
	digest  string
	secrets map[string]string // ref -> value
}

func setupApp(t *testing.T, name string) *testApp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "generate", "testdata", "cases", name, "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := generate.ParseAnalysis(data)
	if err != nil {
		t.Fatal(err)
	}
	ws := discover.Workspace{Dir: t.TempDir()}
	if err := discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate.Generate(generate.Options{Workspace: ws, ID: a.ID}); err != nil {
		t.Fatal(err)
	}
	d, err := generate.LoadDeployment(ws, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	app := &testApp{ws: ws, id: a.ID, d: d, secrets: map[string]string{}}
	app.build(t, "sha256:"+strings.Repeat("ab", 32))
	for i, s := range d.Secrets {
		app.secrets[s.SecretRef] = "s3cr3t-value-" + string(rune('A'+i)) + "-do-not-print"
	}
	sec, _ := json.Marshal(app.secrets)
	if err := os.WriteFile(ws.SecretsPath(), sec, 0o600); err != nil {
		t.Fatal(err)
	}
	return app
}

// build records a (new) built image, as containerize does.
func (a *testApp) build(t *testing.T, digest string) {
	t.Helper()
	a.digest = digest
	data, _ := json.Marshal(containerize.Result{Image: a.d.Image, Digest: digest})
	if err := os.MkdirAll(containerize.Dir(a.ws, a.id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(containerize.Dir(a.ws, a.id), "image.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// awsTestEnv gives the SDK static dummy credentials and nothing of this
// machine's AWS configuration.
func awsTestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDHOISTTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hoist-test-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// pusher records the references deploy pushes to.
type pusher struct {
	mu     sync.Mutex
	refs   []string
	digest string
}

func (p *pusher) push(ctx context.Context, ref string) (*push.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs = append(p.refs, ref)
	return &push.Result{Reference: ref, Digest: p.digest, Registry: ref[:strings.Index(ref, "/")]}, nil
}

func (p *pusher) Refs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refs...)
}

func testOptions(t *testing.T, f *fakeAWS, a *testApp, target string, progress *bytes.Buffer) (Options, *pusher) {
	awsTestEnv(t)
	p := &pusher{digest: a.digest}
	return Options{
		Workspace: a.ws, ID: a.id, Target: target, Region: "eu-west-1",
		Push: p.push, Progress: progress, Logf: t.Logf, Timeout: time.Minute,
		endpoint: f.URL, pollInterval: time.Millisecond,
		backoff: retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil }),
	}, p
}

var networkParams = map[string]string{
	"VpcId": "vpc-0a1b2c3d", "Subnet1": "subnet-0001", "Subnet2": "subnet-0002",
	"LoadBalancerSubnet1": "subnet-0101", "LoadBalancerSubnet2": "subnet-0102",
}

func formParams(r request) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		k := r.Form.Get("Parameters.member." + itoa(i) + ".ParameterKey")
		if k == "" {
			return out
		}
		if r.Form.Get("Parameters.member."+itoa(i)+".UsePreviousValue") == "true" {
			out[k] = "(previous)"
			continue
		}
		out[k] = r.Form.Get("Parameters.member." + itoa(i) + ".ParameterValue")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployECSNewStack: a first deploy asks for the parameters the
// template has no default for, then creates the stack in two steps (the
// repository, the image, the rest) with the generated template, the
// secret's value as its NoEcho parameter and CAPABILITY_NAMED_IAM.
func TestDeployECSNewStack(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	var progress bytes.Buffer
	o, p := testOptions(t, f, a, TargetECS, &progress)
	o.Yes = true

	// Without the network parameters nothing is created.
	_, err := Deploy(context.Background(), o)
	if !errors.Is(err, ErrParameters) || !strings.Contains(err.Error(), "VpcId") || !strings.Contains(err.Error(), "--parameter Subnet1=subnet-...") {
		t.Fatalf("missing parameters: %v", err)
	}
	if n := len(f.Requests("CreateChangeSet")); n != 0 {
		t.Fatalf("%d change sets created without parameters", n)
	}

	o.Parameters = networkParams
	res, err := Deploy(context.Background(), o)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, progress.String())
	}
	if res.Status != "applied" || res.StackStatus != "UPDATE_COMPLETE" || res.Outputs["ServiceURL"] == "" {
		t.Errorf("result: status %q, stack %q, outputs %v", res.Status, res.StackStatus, res.Outputs)
	}
	stack := "hoist-" + a.d.Family
	body := readFile(t, filepath.Join(generate.DeployDir(a.ws, a.id), "ecs", "stack.yaml"))
	ccs := f.Requests("CreateChangeSet")
	if len(ccs) != 3 {
		t.Fatalf("%d CreateChangeSet calls, want 3 (shown, repository, rest)", len(ccs))
	}
	wantTypes := []string{"CREATE", "CREATE", "UPDATE"}
	_, digestTag := imageTag(a.d.Image, a.digest)
	for i, r := range ccs {
		q := r.Form
		if q.Get("ChangeSetType") != wantTypes[i] || q.Get("StackName") != stack {
			t.Errorf("change set %d: type %s stack %s, want %s %s", i, q.Get("ChangeSetType"), q.Get("StackName"), wantTypes[i], stack)
		}
		if tok := q.Get("ClientToken"); tok == "" || tok != q.Get("ChangeSetName") {
			t.Errorf("change set %d: client token %q (name %q)", i, tok, q.Get("ChangeSetName"))
		}
		if i == 1 {
			continue
		}
		if q.Get("TemplateBody") != body {
			t.Errorf("change set %d: the template body is not the generated stack.yaml", i)
		}
		if q.Get("Capabilities.member.1") != "CAPABILITY_NAMED_IAM" {
			t.Errorf("change set %d: capabilities %q", i, q.Get("Capabilities.member.1"))
		}
		ps := formParams(r)
		for k, v := range networkParams {
			if ps[k] != v {
				t.Errorf("change set %d: parameter %s=%q, want %q", i, k, ps[k], v)
			}
		}
		if ps["ImageTag"] != digestTag || !strings.HasSuffix(digestTag, "-abababababab") {
			t.Errorf("change set %d: ImageTag %q, want %q", i, ps["ImageTag"], digestTag)
		}
		if ps["Secret1Value"] != a.secrets[a.d.Secrets[0].SecretRef] {
			t.Errorf("change set %d: Secret1Value is not the secrets file's value", i)
		}
		if _, sent := ps["AssignPublicIp"]; sent {
			t.Errorf("change set %d: AssignPublicIp sent though it has a default", i)
		}
	}
	// The repository step holds the repository alone, as generated.
	boot, err := parseTemplate([]byte(ccs[1].Form.Get("TemplateBody")))
	if err != nil || len(boot.Resources) != 1 || boot.Resources["Repository"].Type != "AWS::ECR::Repository" || boot.Resources["Repository"].Properties["RepositoryName"] != a.d.Registry.RepositoryName {
		t.Errorf("repository step template: %v %+v", err, boot)
	}
	// The image went to ECR between the steps, under its digest tag and
	// its own tag.
	repo := fakeAccount + ".dkr.ecr.eu-west-1.amazonaws.com/" + a.d.Registry.RepositoryName
	if refs := p.Refs(); len(refs) != 2 || refs[0] != repo+":"+digestTag || refs[1] != repo+":latest" {
		t.Errorf("pushed %v", refs)
	}
	ops := strings.Join(f.Ops(), " ")
	iBoot := strings.Index(ops, "ExecuteChangeSet")
	iLast := strings.LastIndex(ops, "CreateChangeSet")
	if iBoot < 0 || iLast < iBoot {
		t.Errorf("order of calls: %s", ops)
	}
	exs := f.Requests("ExecuteChangeSet")
	if len(exs) != 2 {
		t.Fatalf("%d ExecuteChangeSet calls, want 2", len(exs))
	}
	for _, r := range exs {
		if r.Form.Get("ClientRequestToken") == "" {
			t.Errorf("ExecuteChangeSet without a ClientRequestToken")
		}
	}
	if len(f.Requests("DeleteChangeSet")) != 1 {
		t.Errorf("the change set shown was not deleted before the repository step")
	}
	// Every request signed with the dummy credentials, for eu-west-1.
	for _, r := range f.Requests("") {
		if !strings.Contains(r.Auth, "Credential=AKIDHOISTTEST/") || !strings.Contains(r.Auth, "/eu-west-1/") {
			t.Errorf("%s not signed for eu-west-1: %q", r.Op, r.Auth)
		}
	}

	// Events: each once, oldest first, and only this deploy's.
	if len(res.Events) == 0 {
		t.Fatal("no events streamed")
	}
	seen := map[string]bool{}
	for i, e := range res.Events {
		key := e.LogicalID + e.Status + e.Time.String()
		if seen[key] {
			t.Errorf("event shown twice: %+v", e)
		}
		seen[key] = true
		if i > 0 && e.Time.Before(res.Events[i-1].Time) {
			t.Errorf("event %d (%s) older than the one before", i, e.Time)
		}
		if e.Status == "REVIEW_IN_PROGRESS" {
			t.Errorf("an event from before the deploy was shown: %+v", e)
		}
	}
	out := progress.String()
	if i, j := strings.Index(out, "CREATE_IN_PROGRESS"), strings.Index(out, "UPDATE_COMPLETE"); i < 0 || j < i {
		t.Errorf("progress does not stream the events in order:\n%s", out)
	}
	if !strings.Contains(out, "ACTION") || !strings.Contains(out, "Add") || !strings.Contains(out, "AWS::ECS::Service") {
		t.Errorf("no change table:\n%s", out)
	}
	js, _ := json.Marshal(res)
	for _, v := range a.secrets {
		if strings.Contains(out, v) || strings.Contains(string(js), v) {
			t.Errorf("a secret's value was printed")
		}
	}
	if res.Parameters["Secret1Value"] != "****" {
		t.Errorf("secret parameter shown as %q", res.Parameters["Secret1Value"])
	}

	// The same image again: nothing to change, and the change set goes.
	progress.Reset()
	res, err = Deploy(context.Background(), o)
	if err != nil || res.Status != "nothing to change" {
		t.Fatalf("second deploy: %v %+v", err, res)
	}
	if n := len(f.Requests("ExecuteChangeSet")); n != 2 {
		t.Errorf("a change set without changes was executed")
	}
	if n := len(f.Requests("DeleteChangeSet")); n != 2 {
		t.Errorf("the empty change set was not deleted (%d deletes)", n)
	}
	if len(p.Refs()) != 2 {
		t.Errorf("the unchanged image was pushed again")
	}

	// A new image: an UPDATE with the new tag and the previous network.
	a.build(t, "sha256:"+strings.Repeat("cd", 32))
	p.digest = a.digest
	f.updateChanges = []Change{{Action: "Modify", LogicalID: "TaskDefinition", Type: "AWS::ECS::TaskDefinition", Replacement: "True"}, {Action: "Modify", LogicalID: "Service", Type: "AWS::ECS::Service", Replacement: "False"}}
	o.Parameters = nil
	res, err = Deploy(context.Background(), o)
	if err != nil || res.Status != "applied" {
		t.Fatalf("update: %v %+v\n%s", err, res, progress.String())
	}
	last := f.Requests("CreateChangeSet")
	ps := formParams(last[len(last)-1])
	if last[len(last)-1].Form.Get("ChangeSetType") != "UPDATE" || ps["VpcId"] != "(previous)" || ps["ImageTag"] != "latest-cdcdcdcdcdcd" {
		t.Errorf("update parameters: %v", ps)
	}
	if len(res.Changes) != 2 || res.Changes[0].Replacement != "True" || !strings.Contains(progress.String(), "True") {
		t.Errorf("changes %+v\n%s", res.Changes, progress.String())
	}
}

// TestDeployFailure: the first failed resource's reason (not the
// cancelled ones after it) and the rollback state are reported.
func TestDeployFailure(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	var progress bytes.Buffer
	o, _ := testOptions(t, f, a, TargetECS, &progress)
	o.Yes, o.Parameters = true, networkParams
	f.failResource = "Service"
	res, err := Deploy(context.Background(), o)
	if !errors.Is(err, ErrStackFailed) {
		t.Fatalf("want ErrStackFailed, got %v", err)
	}
	fl := res.Failure
	if fl == nil || fl.Resource != "Service" || fl.Type != "AWS::ECS::Service" || !strings.Contains(fl.Reason, "CannotPullContainerError") {
		t.Fatalf("failure %+v", fl)
	}
	if fl.StackStatus != "UPDATE_ROLLBACK_COMPLETE" || !strings.Contains(fl.StackStatusReason, "Service") {
		t.Errorf("rollback state %+v", fl)
	}
	if !strings.Contains(err.Error(), "CannotPullContainerError") || !strings.Contains(err.Error(), "UPDATE_ROLLBACK_COMPLETE") {
		t.Errorf("error does not say why: %v", err)
	}
	if res.Status != "failed" {
		t.Errorf("status %q", res.Status)
	}
}

// TestDeployDryRun: the change set is created, shown and deleted, with
// the empty stack it made; nothing is pushed or executed.
func TestDeployDryRun(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	var progress bytes.Buffer
	o, p := testOptions(t, f, a, TargetECS, &progress)
	o.DryRun, o.Parameters = true, networkParams
	res, err := Deploy(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "dry run" || len(res.Changes) == 0 || res.ChangeSetType != "CREATE" {
		t.Errorf("result %+v", res)
	}
	if n := len(f.Requests("ExecuteChangeSet")); n != 0 {
		t.Errorf("dry run executed %d change sets", n)
	}
	if len(p.Refs()) != 0 || len(f.Requests("CreateRepository")) != 0 {
		t.Errorf("dry run pushed or created a repository")
	}
	if len(f.Requests("DeleteChangeSet")) != 1 || len(f.Requests("DeleteStack")) != 1 {
		t.Errorf("dry run left the change set or the review stack: %v", f.Ops())
	}
	if !strings.Contains(progress.String(), "AWS::ECR::Repository") {
		t.Errorf("change table not printed:\n%s", progress.String())
	}
}

// TestRetriesAndTokens: a Throttling answer is retried by the SDK's
// standard retryer with the same idempotency token.
func TestRetriesAndTokens(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	var progress bytes.Buffer
	o, _ := testOptions(t, f, a, TargetECS, &progress)
	o.Yes, o.Parameters = true, networkParams
	f.throttle["CreateChangeSet"] = 1
	f.throttle["ExecuteChangeSet"] = 2
	f.throttle["DescribeStackEvents"] = 1
	f.throttle["GetCallerIdentity"] = 1
	if _, err := Deploy(context.Background(), o); err != nil {
		t.Fatalf("deploy with throttling: %v", err)
	}
	ccs := f.Requests("CreateChangeSet")
	if len(ccs) != 4 || ccs[0].Form.Get("ClientToken") == "" || ccs[0].Form.Get("ClientToken") != ccs[1].Form.Get("ClientToken") || ccs[0].Form.Get("ChangeSetName") != ccs[1].Form.Get("ChangeSetName") {
		t.Errorf("throttled CreateChangeSet not retried with the same token: %d calls", len(ccs))
	}
	if ccs[1].Form.Get("ClientToken") == ccs[2].Form.Get("ClientToken") {
		t.Errorf("two change sets share a token")
	}
	exs := f.Requests("ExecuteChangeSet")
	if len(exs) != 4 {
		t.Fatalf("%d ExecuteChangeSet calls, want 2 throttled + 2", len(exs))
	}
	if tok := exs[0].Form.Get("ClientRequestToken"); tok == "" || exs[1].Form.Get("ClientRequestToken") != tok || exs[2].Form.Get("ClientRequestToken") != tok {
		t.Errorf("ExecuteChangeSet retried with different tokens")
	}
}

// TestStackStates: stacks CloudFormation cannot update are refused with
// what to do, before any change set.
func TestStackStates(t *testing.T) {
	for status, want := range map[string]error{
		"ROLLBACK_COMPLETE":  ErrMustDelete,
		"UPDATE_IN_PROGRESS": ErrStackBusy,
		"DELETE_FAILED":      ErrMustDelete,
	} {
		t.Run(status, func(t *testing.T) {
			f := startFakeAWS(t)
			a := setupApp(t, "jar-two-ports-secret")
			o, _ := testOptions(t, f, a, TargetECS, &bytes.Buffer{})
			o.Yes, o.Parameters = true, networkParams
			name := "hoist-" + a.d.Family
			f.stacks[name] = &fakeStack{name: name, id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + name + "/1", status: status, final: status}
			_, err := Deploy(context.Background(), o)
			if !errors.Is(err, want) {
				t.Fatalf("want %v, got %v", want, err)
			}
			if status == "ROLLBACK_COMPLETE" && !strings.Contains(err.Error(), "--delete") {
				t.Errorf("does not say to delete: %v", err)
			}
			if len(f.Requests("CreateChangeSet")) != 0 {
				t.Errorf("a change set was created")
			}
		})
	}
}

// TestErrors: credentials, region, access denied, confirmation.
func TestErrors(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	o, _ := testOptions(t, f, a, TargetECS, &bytes.Buffer{})
	o.Parameters = networkParams

	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "AWS_PROFILE") || !strings.Contains(err.Error(), "--profile") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no region", func(t *testing.T) {
		o := o
		o.Region = ""
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "--region") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		o := o
		o.Profile = "nosuchprofile"
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "nosuchprofile") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		f.deny["CreateChangeSet"] = true
		defer delete(f.deny, "CreateChangeSet")
		o := o
		o.Yes = true
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "cloudformation:CreateChangeSet") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("nobody to ask", func(t *testing.T) {
		before := len(f.Requests("DeleteStack"))
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrNotConfirmed) || !strings.Contains(err.Error(), "--yes") {
			t.Errorf("got %v", err)
		}
		if len(f.Requests("ExecuteChangeSet")) != 0 || len(f.Requests("DeleteStack")) != before+1 {
			t.Errorf("unconfirmed deploy changed something or left its review stack: %v", f.Ops())
		}
	})
	t.Run("answered no", func(t *testing.T) {
		o := o
		var asked string
		o.Confirm = func(q string) (bool, error) { asked = q; return false, nil }
		_, err := Deploy(context.Background(), o)
		if !errors.Is(err, ErrNotConfirmed) || !strings.Contains(asked, "hoist-"+a.d.Family) || !strings.Contains(asked, "eu-west-1") {
			t.Errorf("got %v after %q", err, asked)
		}
		if len(f.Requests("ExecuteChangeSet")) != 0 {
			t.Errorf("executed after no")
		}
	})
}

// TestRegisterOnly: the task definition as generated, with the account
// (from STS) and the region filled in.
func TestRegisterOnly(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "jar-two-ports-secret")
	o, _ := testOptions(t, f, a, TargetECS, &bytes.Buffer{})
	res, err := RegisterTaskDefinition(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	regs := f.Requests("RegisterTaskDefinition")
	if len(regs) != 1 || len(f.Requests("GetCallerIdentity")) != 1 {
		t.Fatalf("calls: %v", f.Ops())
	}
	body := regs[0].Body
	if strings.Contains(body, "${") {
		t.Errorf("placeholders left: %s", body)
	}
	cd := regs[0].JSON["containerDefinitions"].([]any)[0].(map[string]any)
	wantImage := fakeAccount + ".dkr.ecr.eu-west-1.amazonaws.com/" + a.d.Registry.RepositoryName + ":latest"
	if cd["image"] != wantImage || regs[0].JSON["family"] != a.d.Family {
		t.Errorf("image %v family %v", cd["image"], regs[0].JSON["family"])
	}
	if lo := cd["logConfiguration"].(map[string]any)["options"].(map[string]any); lo["awslogs-region"] != "eu-west-1" {
		t.Errorf("log region %v", lo["awslogs-region"])
	}
	if !strings.Contains(body, "arn:aws:iam::"+fakeAccount+":role/") {
		t.Errorf("role ARNs without the account: %s", body)
	}
	// Everything else as in the file.
	want := strings.NewReplacer("${AWS_ACCOUNT_ID}", fakeAccount, "${AWS_REGION}", "eu-west-1").Replace(readFile(t, generate.TaskDefinitionPath(a.ws, a.id)))
	var wantJS, gotJS any
	_ = json.Unmarshal([]byte(want), &wantJS)
	_ = json.Unmarshal([]byte(body), &gotJS)
	wb, _ := json.Marshal(wantJS)
	gb, _ := json.Marshal(gotJS)
	if string(wb) != string(gb) {
		t.Errorf("registered task definition differs from the file:\n got %s\nwant %s", gb, wb)
	}
	if res.TaskDefinitionArn != "arn:aws:ecs:eu-west-1:123456789012:task-definition/"+a.d.Family+":7" || res.Status != "registered" {
		t.Errorf("result %+v", res)
	}
}

// TestDelete: the stack goes with its events streamed; a repository with
// images is kept (the delete is retried retaining it) unless
// DeleteImages.
func TestDelete(t *testing.T) {
	for _, images := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep images", true: "delete images"}[images], func(t *testing.T) {
			f := startFakeAWS(t)
			a := setupApp(t, "jar-two-ports-secret")
			var progress bytes.Buffer
			o, _ := testOptions(t, f, a, TargetECS, &progress)
			o.Yes, o.DeleteImages = true, images
			name := "hoist-" + a.d.Family
			f.stacks[name] = &fakeStack{name: name, id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + name + "/1", status: "UPDATE_COMPLETE", final: "UPDATE_COMPLETE", resources: []string{"Repository", "LogGroup", "Service"}}
			f.repos[a.d.Registry.RepositoryName] = []fakeTag{{"aws:cloudformation:stack-name", name}}
			f.repoHasImages = true
			res, err := Delete(context.Background(), o)
			if err != nil {
				t.Fatalf("%v\n%s", err, progress.String())
			}
			ds := f.Requests("DeleteStack")
			if len(ds) != 2 || ds[0].Form.Get("RetainResources.member.1") != "" || ds[1].Form.Get("RetainResources.member.1") != "Repository" {
				t.Fatalf("DeleteStack calls: %+v", ds)
			}
			if ds[0].Form.Get("ClientRequestToken") == "" || ds[0].Form.Get("ClientRequestToken") == ds[1].Form.Get("ClientRequestToken") {
				t.Errorf("delete tokens: %q %q", ds[0].Form.Get("ClientRequestToken"), ds[1].Form.Get("ClientRequestToken"))
			}
			if res.Status != "deleted" || res.StackStatus != "DELETE_COMPLETE" {
				t.Errorf("result %+v", res)
			}
			dr := f.Requests("DeleteRepository")
			if images != (len(dr) == 1) {
				t.Errorf("DeleteRepository calls: %d with DeleteImages %t", len(dr), images)
			}
			if images && dr[0].JSON["force"] != true {
				t.Errorf("repository deleted without force: %v", dr[0].JSON)
			}
			if !images && !strings.Contains(strings.Join(res.Notes, "\n"), "kept the ECR repository") {
				t.Errorf("notes %v", res.Notes)
			}
			if !strings.Contains(progress.String(), "DELETE_FAILED") || !strings.Contains(progress.String(), "DELETE_COMPLETE") {
				t.Errorf("events not streamed:\n%s", progress.String())
			}
		})
	}
}

// TestDeployAppRunner: the repository is created on demand (scan on push,
// lifecycle policy from the ECS stack), the secrets App Runner reads are
// created or updated from the secrets file, and the App Runner template
// needs CAPABILITY_IAM.
func TestDeployAppRunner(t *testing.T) {
	f := startFakeAWS(t)
	a := setupApp(t, "tomcat")
	if len(a.d.Secrets) != 3 {
		t.Fatalf("the tomcat case has %d secrets, want 3", len(a.d.Secrets))
	}
	var progress bytes.Buffer
	o, p := testOptions(t, f, a, TargetAppRunner, &progress)
	s0, s1 := a.d.Secrets[0], a.d.Secrets[1]
	f.secrets[s0.SecretsManagerName] = &fakeSecret{value: a.secrets[s0.SecretRef]}
	f.secrets[s1.SecretsManagerName] = &fakeSecret{value: "an old value"}

	// Not confirmed: nothing created.
	if _, err := Deploy(context.Background(), o); !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("want ErrNotConfirmed, got %v", err)
	}
	if len(f.Requests("CreateRepository"))+len(f.Requests("CreateSecret"))+len(f.Requests("PutSecretValue"))+len(p.Refs()) != 0 {
		t.Fatalf("changed things before confirmation: %v", f.Ops())
	}

	o.Yes = true
	res, err := Deploy(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	cr := f.Requests("CreateRepository")
	if len(cr) != 1 || cr[0].JSON["repositoryName"] != a.d.Registry.RepositoryName || cr[0].JSON["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != true {
		t.Fatalf("CreateRepository: %+v", cr)
	}
	lp := f.Requests("PutLifecyclePolicy")
	if len(lp) != 1 || !strings.Contains(lp[0].JSON["lifecyclePolicyText"].(string), "imageCountMoreThan") {
		t.Errorf("lifecycle policy: %+v", lp)
	}
	got := map[string]string{}
	for _, s := range res.Secrets {
		got[s.Name] = s.Action
	}
	if got[s0.SecretsManagerName] != "unchanged" || got[s1.SecretsManagerName] != "updated" || got[a.d.Secrets[2].SecretsManagerName] != "created" {
		t.Errorf("secrets %v", got)
	}
	cs := f.Requests("CreateSecret")
	if len(cs) != 1 || cs[0].JSON["ClientRequestToken"] == nil || cs[0].JSON["SecretString"] != a.secrets[a.d.Secrets[2].SecretRef] {
		t.Errorf("CreateSecret %+v", cs)
	}
	if ps := f.Requests("PutSecretValue"); len(ps) != 1 || ps[0].JSON["ClientRequestToken"] == nil {
		t.Errorf("PutSecretValue %+v", ps)
	}
	// One change set refused, one applied.
	ccs := f.Requests("CreateChangeSet")
	if len(ccs) != 2 {
		t.Fatalf("%d change sets, want 2", len(ccs))
	}
	ccs = ccs[1:]
	if q := ccs[0].Form; q.Get("ChangeSetType") != "CREATE" || q.Get("Capabilities.member.1") != "CAPABILITY_IAM" || q.Get("StackName") != "hoist-"+a.d.Family+"-apprunner" {
		t.Fatalf("change set %s %s %s", q.Get("ChangeSetType"), q.Get("Capabilities.member.1"), q.Get("StackName"))
	}
	if ccs[0].Form.Get("TemplateBody") != readFile(t, filepath.Join(generate.DeployDir(a.ws, a.id), "apprunner", "stack.yaml")) {
		t.Errorf("template body is not the generated apprunner/stack.yaml")
	}
	ops := strings.Join(f.Ops(), " ")
	if strings.Index(ops, "CreateRepository") > strings.Index(ops, "ExecuteChangeSet") || strings.Index(ops, "CreateSecret") > strings.Index(ops, "ExecuteChangeSet") {
		t.Errorf("the repository and secrets must exist before the stack runs: %s", ops)
	}
	if len(p.Refs()) != 2 || res.Status != "applied" {
		t.Errorf("pushed %v, status %q", p.Refs(), res.Status)
	}
	for _, v := range a.secrets {
		if strings.Contains(progress.String(), v) {
			t.Errorf("a secret's value was printed")
		}
	}
}
