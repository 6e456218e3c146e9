package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

// awsWorkspace is a workspace with generate's jar-two-ports-secret case
// generated, an image recorded as built and the secret's value.
func awsWorkspace(t *testing.T) (string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "generate", "testdata", "cases", "jar-two-ports-secret", "analysis.json"))
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
	writeImageJSON(t, ws.Dir, a.ID, d.Image, "sha256:"+strings.Repeat("e", 64))
	sec := map[string]string{}
	for _, s := range d.Secrets {
		sec[s.SecretRef] = "cli-test-secret-value"
	}
	b, _ := json.Marshal(sec)
	if err := os.WriteFile(ws.SecretsPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return ws.Dir, a.ID
}

// miniCFN answers just enough CloudFormation and STS, in their XML wire
// format, for a deploy to reach its change set; it records the actions.
type miniCFN struct {
	URL     string
	mu      sync.Mutex
	actions []string
	stack   string // "" none, else its status
}

func startMiniCFN(t *testing.T) *miniCFN {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &miniCFN{URL: "http://" + l.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q, _ := url.ParseQuery(string(body))
		op := q.Get("Action")
		m.mu.Lock()
		defer m.mu.Unlock()
		m.actions = append(m.actions, op)
		ok := func(inner string) {
			fmt.Fprintf(w, `<%sResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><%sResult>%s</%sResult></%sResponse>`, op, op, inner, op, op)
		}
		const sid = "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1"
		switch op {
		case "GetCallerIdentity":
			ok(`<Arn>arn:aws:iam::123456789012:user/cli</Arn><UserId>AIDA</UserId><Account>123456789012</Account>`)
		case "DescribeStacks":
			if m.stack == "" || m.stack == "DELETE_COMPLETE" && q.Get("StackName") != sid {
				w.WriteHeader(400)
				fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id x does not exist</Message></Error></ErrorResponse>`)
				return
			}
			ok(`<Stacks><member><StackName>s</StackName><StackId>` + sid + `</StackId><StackStatus>` + m.stack + `</StackStatus><CreationTime>2026-03-01T11:00:00Z</CreationTime></member></Stacks>`)
		case "CreateChangeSet":
			m.stack = "REVIEW_IN_PROGRESS"
			ok(`<Id>arn:aws:cloudformation:eu-west-1:123456789012:changeSet/c/1</Id><StackId>` + sid + `</StackId>`)
		case "DescribeChangeSet":
			ok(`<Status>CREATE_COMPLETE</Status><Changes><member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>Service</LogicalResourceId><ResourceType>AWS::ECS::Service</ResourceType></ResourceChange></member></Changes>`)
		case "DeleteChangeSet":
			ok("")
		case "DeleteStack":
			m.stack = "DELETE_COMPLETE"
			ok("")
		default:
			w.WriteHeader(400)
			fmt.Fprintf(w, `<ErrorResponse><Error><Code>InvalidAction</Code><Message>%s</Message></Error></ErrorResponse>`, op)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

func (m *miniCFN) Actions() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.actions, " ")
}

func awsCLIEnv(t *testing.T, endpoint string, creds bool) map[string]string {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "HOIST_AWS_REGION": "",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_MAX_ATTEMPTS":            "1",
	}
	if creds {
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIDHOISTCLI", "cli-secret-key"
	}
	return env
}

// TestDeployAWSUsage: flag combinations, missing credentials and region,
// no confirmation possible: exit 2 with what to do; nothing sent to AWS
// for flag errors.
func TestDeployAWSUsage(t *testing.T) {
	ws, id := awsWorkspace(t)
	m := startMiniCFN(t)
	net := []string{"--parameter", "VpcId=vpc-1", "--parameter", "Subnet1=subnet-1", "--parameter", "Subnet2=subnet-2", "--parameter", "LoadBalancerSubnet1=subnet-3", "--parameter", "LoadBalancerSubnet2=subnet-4"}
	for _, tc := range []struct {
		name  string
		args  []string
		creds bool
		code  int
		msg   string
	}{
		{"register-only on apprunner", []string{"--target", "apprunner", "--register-only"}, true, exitUsage, "--target ecs"},
		{"delete-images alone", []string{"--target", "ecs", "--delete-images"}, true, exitUsage, "goes with --delete"},
		{"bad parameter", []string{"--target", "ecs", "--parameter", "VpcId"}, true, exitUsage, "KEY=VALUE"},
		{"register-only and dry-run", []string{"--target", "ecs", "--register-only", "--dry-run"}, true, exitUsage, "cannot be combined"},
		{"no credentials", []string{"--target", "ecs", "--region", "eu-west-1"}, false, exitUsage, "set AWS_PROFILE or pass --profile"},
		{"no region", []string{"--target", "ecs"}, true, exitUsage, "set --region"},
		{"missing parameters", []string{"--target", "ecs", "--region", "eu-west-1"}, true, exitUsage, "--parameter VpcId=vpc-..."},
		{"unknown parameter", append([]string{"--target", "ecs", "--region", "eu-west-1", "--parameter", "Nope=1"}, net...), true, exitUsage, "no parameter Nope"},
		{"nobody to confirm", append([]string{"--target", "ecs", "--region", "eu-west-1"}, net...), true, exitUsage, "pass --yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Actions()
			args := append([]string{"--workspace", ws, "deploy"}, tc.args...)
			_, stderr, code := run(t, awsCLIEnv(t, m.URL, tc.creds), append(args, id)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tc.code, stderr, tc.msg)
			}
			if flagError := len(tc.msg) > 0 && (strings.HasPrefix(tc.name, "register") || strings.Contains(tc.name, "alone") || strings.Contains(tc.name, "bad")); flagError {
				if m.Actions() != before {
					t.Errorf("a flag error reached AWS: %s", strings.TrimPrefix(m.Actions(), before))
				}
			}
			if tc.name == "nobody to confirm" && !strings.HasSuffix(m.Actions(), "DeleteChangeSet DeleteStack DescribeStacks") {
				t.Errorf("the refused change set was not removed: %s", m.Actions())
			}
			if strings.Contains(stderr, "cli-test-secret-value") {
				t.Errorf("a secret's value was printed")
			}
		})
	}
	// Unknown app: not found.
	_, stderr, code := run(t, awsCLIEnv(t, m.URL, true), "--workspace", ws, "deploy", "--target", "ecs", "java-nosuch-0001")
	if code != exitNotFound {
		t.Errorf("unknown app: exit %d: %s", code, stderr)
	}
}

// TestDeployAWSDryRunJSON: --dry-run with --output json prints the change
// set as JSON on stdout, the table on stderr, and changes nothing.
func TestDeployAWSDryRunJSON(t *testing.T) {
	ws, id := awsWorkspace(t)
	m := startMiniCFN(t)
	stdout, stderr, code := run(t, awsCLIEnv(t, m.URL, true), "--workspace", ws, "--output", "json", "deploy", "--target", "ecs", "--region", "eu-west-1", "--dry-run",
		"-p", "VpcId=vpc-1", "-p", "Subnet1=subnet-1", "-p", "Subnet2=subnet-2", "-p", "LoadBalancerSubnet1=subnet-3", "-p", "LoadBalancerSubnet2=subnet-4", id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Status        string `json:"status"`
		ChangeSetType string `json:"changeSetType"`
		Changes       []struct {
			Action, LogicalID string
		} `json:"changes"`
		Parameters map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Status != "dry run" || res.ChangeSetType != "CREATE" || len(res.Changes) != 1 || res.Parameters["VpcId"] != "vpc-1" || res.Parameters["Secret1Value"] != "****" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(stderr, "AWS::ECS::Service") || strings.Contains(stdout+stderr, "cli-test-secret-value") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if a := m.Actions(); strings.Contains(a, "ExecuteChangeSet") || !strings.Contains(a, "DeleteChangeSet") {
		t.Errorf("actions: %s", a)
	}
}
