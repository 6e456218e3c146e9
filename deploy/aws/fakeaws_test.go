package aws

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAWS is an HTTP server on 127.0.0.1 that answers the calls hoist
// makes in AWS's wire formats (query/XML for CloudFormation and STS, JSON
// 1.1 for ECR, ECS and Secrets Manager) and records every request. It
// keeps just enough state for a deploy to run through; the tests assert
// on what hoist sent, not on what this server does.
type fakeAWS struct {
	t   *testing.T
	URL string

	mu       sync.Mutex
	requests []request
	// throttle: the first N calls of an operation answer Throttling.
	throttle map[string]int
	// deny: operations answered with AccessDenied.
	deny map[string]bool

	stacks     map[string]*fakeStack // by name
	changeSets map[string]*fakeChangeSet
	repos      map[string][]fakeTag
	secrets    map[string]*fakeSecret
	// updateChanges are the changes an UPDATE change set reports; none
	// means "didn't contain changes".
	updateChanges []Change
	// failResource makes the next execution fail at this resource.
	failResource string
	// repoHasImages makes CloudFormation fail to delete the repository.
	repoHasImages bool
	clock         time.Time
	seq           int
}

type request struct {
	Op     string
	Target string
	Auth   string
	Form   url.Values
	JSON   map[string]any
	Body   string
}

type fakeStack struct {
	name, id, status, reason string
	params                   map[string]string
	events                   []fakeEvent // oldest first; visible ones
	pending                  []fakeEvent // to appear, a few per DescribeStackEvents
	final, finalReason       string
	resources                []string
	newRepos                 []string // ECR repositories that exist once the operation completes
}

type fakeEvent struct {
	id, logical, typ, status, reason, token string
	at                                      time.Time
}

type fakeChangeSet struct {
	id, name, stackName, typ, status, reason string
	changes                                  []Change
	described                                int
	resources                                map[string]string // logical -> type
	params                                   map[string]string
	repoNames                                []string
}

type fakeTag struct{ Key, Value string }

type fakeSecret struct {
	value string
	tags  []fakeTag
}

const fakeAccount = "123456789012"

func startFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAWS{
		t: t, URL: "http://" + l.Addr().String(),
		throttle: map[string]int{}, deny: map[string]bool{},
		stacks: map[string]*fakeStack{}, changeSets: map[string]*fakeChangeSet{},
		repos: map[string][]fakeTag{}, secrets: map[string]*fakeSecret{},
		clock: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func (f *fakeAWS) Requests(op string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if op == "" || r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeAWS) Ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Op)
	}
	return out
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := request{Auth: r.Header.Get("Authorization"), Body: string(body)}
	jsonProto := false
	if tgt := r.Header.Get("X-Amz-Target"); tgt != "" {
		jsonProto = true
		req.Target = tgt
		req.Op = tgt[strings.LastIndex(tgt, ".")+1:]
		_ = json.Unmarshal(body, &req.JSON)
	} else {
		req.Form, _ = url.ParseQuery(string(body))
		req.Op = req.Form.Get("Action")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	f.seq++
	if n := f.throttle[req.Op]; n > 0 {
		f.throttle[req.Op] = n - 1
		f.fail(w, jsonProto, 400, "Throttling", "Rate exceeded")
		return
	}
	if f.deny[req.Op] {
		code := "AccessDenied"
		if jsonProto {
			code = "AccessDeniedException"
		}
		f.fail(w, jsonProto, 403, code, "User: arn:aws:iam::123456789012:user/tester is not authorized to perform: "+req.Op)
		return
	}
	if jsonProto {
		f.serveJSON(w, req)
		return
	}
	f.serveQuery(w, req)
}

func (f *fakeAWS) fail(w http.ResponseWriter, jsonProto bool, status int, code, msg string) {
	if jsonProto {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`, code, esc(msg), f.seq)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (f *fakeAWS) xmlOK(w http.ResponseWriter, op, inner string) {
	ns := "http://cloudformation.amazonaws.com/doc/2010-05-15/"
	if op == "GetCallerIdentity" {
		ns = "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></%sResponse>`, op, ns, op, inner, op, f.seq, op)
}

func (f *fakeAWS) tick() time.Time {
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

func (f *fakeAWS) stackByNameOrID(s string) *fakeStack {
	if st, ok := f.stacks[s]; ok {
		return st
	}
	for _, st := range f.stacks {
		if st.id == s {
			return st
		}
	}
	return nil
}

func (f *fakeAWS) serveQuery(w http.ResponseWriter, r request) {
	q := r.Form
	switch r.Op {
	case "GetCallerIdentity":
		f.xmlOK(w, r.Op, `<Arn>arn:aws:iam::123456789012:user/tester</Arn><UserId>AIDATESTER</UserId><Account>`+fakeAccount+`</Account>`)
	case "DescribeStacks":
		st := f.stackByNameOrID(q.Get("StackName"))
		if st != nil {
			// Time passes for whoever only polls the stack's status.
			f.advance(st, 1)
		}
		if st == nil || (st.status == "DELETE_COMPLETE" && q.Get("StackName") == st.name) {
			f.fail(w, false, 400, "ValidationError", "Stack with id "+q.Get("StackName")+" does not exist")
			return
		}
		status := st.status
		if len(st.pending) > 0 || status == "" {
			status = strings.SplitN(st.final, "_", 2)[0] + "_IN_PROGRESS"
			if strings.HasPrefix(st.final, "ROLLBACK") {
				status = "ROLLBACK_IN_PROGRESS"
			}
		}
		var params strings.Builder
		keys := sortedKeys(st.params)
		for _, k := range keys {
			fmt.Fprintf(&params, `<member><ParameterKey>%s</ParameterKey><ParameterValue>%s</ParameterValue></member>`, k, esc(st.params[k]))
		}
		outs := ""
		if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
			outs = `<Outputs><member><OutputKey>ServiceURL</OutputKey><OutputValue>tcp://lb.example:18086</OutputValue></member></Outputs>`
		}
		f.xmlOK(w, r.Op, fmt.Sprintf(`<Stacks><member><StackName>%s</StackName><StackId>%s</StackId><StackStatus>%s</StackStatus><StackStatusReason>%s</StackStatusReason><CreationTime>2026-03-01T11:00:00Z</CreationTime><Parameters>%s</Parameters>%s</member></Stacks>`,
			st.name, st.id, status, esc(st.reasonFor(status)), params.String(), outs))
	case "CreateChangeSet":
		name, typ := q.Get("StackName"), q.Get("ChangeSetType")
		st := f.stacks[name]
		if st != nil && st.status == "DELETE_COMPLETE" {
			st = nil // a deleted stack's name is free again
		}
		if typ == "CREATE" || typ == "IMPORT" {
			if st != nil && st.status != "REVIEW_IN_PROGRESS" {
				f.fail(w, false, 400, "ValidationError", "Stack ["+name+"] already exists and cannot be created again with the changeSet")
				return
			}
			if st == nil {
				st = &fakeStack{name: name, id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + name + "/" + strconv.Itoa(f.seq), status: "REVIEW_IN_PROGRESS", params: map[string]string{}}
				f.stacks[name] = st
				st.events = append(st.events, fakeEvent{id: "ev-review-" + strconv.Itoa(f.seq), logical: name, typ: "AWS::CloudFormation::Stack", status: "REVIEW_IN_PROGRESS", reason: "User Initiated", at: f.tick()})
			}
		} else if st == nil {
			f.fail(w, false, 400, "ValidationError", "Stack ["+name+"] does not exist")
			return
		}
		cs := &fakeChangeSet{id: "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/" + q.Get("ChangeSetName") + "/" + strconv.Itoa(f.seq), name: q.Get("ChangeSetName"), stackName: name, typ: typ, status: "CREATE_PENDING", resources: map[string]string{}, params: map[string]string{}}
		res := templateResources(f.t, q.Get("TemplateBody"))
		if tm, err := parseTemplate([]byte(q.Get("TemplateBody"))); err == nil {
			for _, r := range tm.Resources {
				if n, ok := r.Properties["RepositoryName"].(string); ok && r.Type == "AWS::ECR::Repository" {
					cs.repoNames = append(cs.repoNames, n)
				}
			}
		}
		for _, id := range sortedKeys(res) {
			cs.resources[id] = res[id]
		}
		for i := 1; q.Get(fmt.Sprintf("Parameters.member.%d.ParameterKey", i)) != ""; i++ {
			k := q.Get(fmt.Sprintf("Parameters.member.%d.ParameterKey", i))
			if q.Get(fmt.Sprintf("Parameters.member.%d.UsePreviousValue", i)) == "true" {
				cs.params[k] = st.params[k]
			} else {
				cs.params[k] = q.Get(fmt.Sprintf("Parameters.member.%d.ParameterValue", i))
			}
		}
		switch typ {
		case "CREATE", "IMPORT":
			action := "Add"
			if typ == "IMPORT" {
				action = "Import"
			}
			for _, id := range sortedKeys(res) {
				cs.changes = append(cs.changes, Change{Action: action, LogicalID: id, Type: res[id]})
			}
		default:
			for _, id := range sortedKeys(res) {
				if !contains(st.resources, id) {
					cs.changes = append(cs.changes, Change{Action: "Add", LogicalID: id, Type: res[id]})
				}
			}
			if len(cs.changes) == 0 {
				cs.changes = append(cs.changes, f.updateChanges...)
			}
			if len(cs.changes) == 0 {
				cs.reason = "The submitted information didn't contain changes. Submit different information to create a change set."
			}
		}
		f.changeSets[cs.id] = cs
		f.xmlOK(w, r.Op, fmt.Sprintf(`<Id>%s</Id><StackId>%s</StackId>`, cs.id, st.id))
	case "DescribeChangeSet":
		cs := f.changeSets[q.Get("ChangeSetName")]
		if cs == nil {
			f.fail(w, false, 404, "ChangeSetNotFound", "ChangeSet ["+q.Get("ChangeSetName")+"] does not exist")
			return
		}
		cs.described++
		if cs.described > 1 {
			cs.status = "CREATE_COMPLETE"
			if cs.reason != "" {
				cs.status = "FAILED"
			}
		}
		// Two changes a page.
		start, _ := strconv.Atoi(q.Get("NextToken"))
		var b strings.Builder
		end := start
		if cs.status == "CREATE_COMPLETE" {
			end = min(start+2, len(cs.changes))
			for _, c := range cs.changes[start:end] {
				repl := ""
				if c.Replacement != "" {
					repl = "<Replacement>" + c.Replacement + "</Replacement>"
				}
				fmt.Fprintf(&b, `<member><Type>Resource</Type><ResourceChange><Action>%s</Action><LogicalResourceId>%s</LogicalResourceId><ResourceType>%s</ResourceType>%s</ResourceChange></member>`, c.Action, c.LogicalID, c.Type, repl)
			}
		}
		next := ""
		if end < len(cs.changes) && cs.status == "CREATE_COMPLETE" {
			next = "<NextToken>" + strconv.Itoa(end) + "</NextToken>"
		}
		f.xmlOK(w, r.Op, fmt.Sprintf(`<ChangeSetName>%s</ChangeSetName><ChangeSetId>%s</ChangeSetId><StackName>%s</StackName><Status>%s</Status><StatusReason>%s</StatusReason><ExecutionStatus>AVAILABLE</ExecutionStatus><Changes>%s</Changes>%s`,
			cs.name, cs.id, cs.stackName, cs.status, esc(cs.reason), b.String(), next))
	case "DeleteChangeSet":
		delete(f.changeSets, q.Get("ChangeSetName"))
		f.xmlOK(w, r.Op, "")
	case "ExecuteChangeSet":
		cs := f.changeSets[q.Get("ChangeSetName")]
		if cs == nil {
			f.fail(w, false, 404, "ChangeSetNotFound", "no such change set")
			return
		}
		delete(f.changeSets, cs.id)
		st := f.stacks[cs.stackName]
		st.params = cs.params
		tok := q.Get("ClientRequestToken")
		verb := "UPDATE"
		if cs.typ == "CREATE" {
			verb = "CREATE"
		} else if cs.typ == "IMPORT" {
			verb = "IMPORT"
		}
		ev := func(logical, typ, status, reason string) {
			st.pending = append(st.pending, fakeEvent{logical: logical, typ: typ, status: status, reason: reason, token: tok})
		}
		ev(st.name, "AWS::CloudFormation::Stack", verb+"_IN_PROGRESS", "User Initiated")
		failed, failedName := false, ""
		for _, c := range cs.changes {
			rv := verb
			if c.Action == "Modify" {
				rv = "UPDATE"
			}
			ev(c.LogicalID, c.Type, rv+"_IN_PROGRESS", "")
			if c.LogicalID == f.failResource && !failed {
				failed, failedName = true, c.LogicalID
				ev(c.LogicalID, c.Type, rv+"_FAILED", "Resource handler returned message: \"CannotPullContainerError: pull image manifest has been retried 5 time(s)\"")
				continue
			}
			if failed {
				ev(c.LogicalID, c.Type, rv+"_FAILED", "Resource creation cancelled")
				continue
			}
			ev(c.LogicalID, c.Type, rv+"_COMPLETE", "")
		}
		st.status = ""
		if failed {
			f.failResource = ""
			if verb == "CREATE" {
				st.final, st.finalReason = "ROLLBACK_COMPLETE", "The following resource(s) failed to create: ["+failedName+"]. Rollback requested by user."
				ev(st.name, "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", st.finalReason)
				ev(st.name, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", "")
			} else {
				st.final, st.finalReason = "UPDATE_ROLLBACK_COMPLETE", "The following resource(s) failed to update: ["+failedName+"]."
				ev(st.name, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", st.finalReason)
				ev(st.name, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", "")
			}
		} else {
			st.final = verb + "_COMPLETE"
			st.newRepos = cs.repoNames
			for _, c := range cs.changes {
				if !contains(st.resources, c.LogicalID) {
					st.resources = append(st.resources, c.LogicalID)
				}
			}
			ev(st.name, "AWS::CloudFormation::Stack", st.final, "")
		}
		f.xmlOK(w, r.Op, "")
	case "DescribeStackEvents":
		st := f.stackByNameOrID(q.Get("StackName"))
		if st == nil {
			f.fail(w, false, 400, "ValidationError", "Stack ["+q.Get("StackName")+"] does not exist")
			return
		}
		// Two pending events become visible per call.
		if q.Get("NextToken") == "" {
			f.advance(st, 2)
		}
		// Newest first, three a page.
		start, _ := strconv.Atoi(q.Get("NextToken"))
		var b strings.Builder
		n := len(st.events)
		end := min(start+3, n)
		for i := start; i < end; i++ {
			e := st.events[n-1-i]
			fmt.Fprintf(&b, `<member><EventId>%s</EventId><StackId>%s</StackId><StackName>%s</StackName><LogicalResourceId>%s</LogicalResourceId><ResourceType>%s</ResourceType><Timestamp>%s</Timestamp><ResourceStatus>%s</ResourceStatus><ResourceStatusReason>%s</ResourceStatusReason><ClientRequestToken>%s</ClientRequestToken></member>`,
				e.id, st.id, st.name, e.logical, e.typ, e.at.Format("2006-01-02T15:04:05.000Z"), e.status, esc(e.reason), e.token)
		}
		next := ""
		if end < n {
			next = "<NextToken>" + strconv.Itoa(end) + "</NextToken>"
		}
		f.xmlOK(w, r.Op, "<StackEvents>"+b.String()+"</StackEvents>"+next)
	case "DeleteStack":
		st := f.stackByNameOrID(q.Get("StackName"))
		if st == nil {
			f.xmlOK(w, r.Op, "")
			return
		}
		tok := q.Get("ClientRequestToken")
		retained := map[string]bool{}
		for i := 1; q.Get(fmt.Sprintf("RetainResources.member.%d", i)) != ""; i++ {
			retained[q.Get(fmt.Sprintf("RetainResources.member.%d", i))] = true
		}
		ev := func(logical, typ, status, reason string) {
			st.pending = append(st.pending, fakeEvent{logical: logical, typ: typ, status: status, reason: reason, token: tok})
		}
		ev(st.name, "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", "User Initiated")
		failed := false
		for i := len(st.resources) - 1; i >= 0; i-- {
			id := st.resources[i]
			if retained[id] {
				ev(id, "AWS::ECR::Repository", "DELETE_SKIPPED", "")
				continue
			}
			ev(id, "", "DELETE_IN_PROGRESS", "")
			if id == "Repository" && f.repoHasImages {
				failed = true
				ev(id, "AWS::ECR::Repository", "DELETE_FAILED", "Resource handler returned message: \"The repository with name 'hoist/x' in registry with id '123456789012' cannot be deleted because it still contains images\"")
				continue
			}
			ev(id, "", "DELETE_COMPLETE", "")
		}
		st.status = ""
		if failed {
			st.final, st.finalReason = "DELETE_FAILED", "The following resource(s) failed to delete: [Repository]."
			ev(st.name, "AWS::CloudFormation::Stack", "DELETE_FAILED", st.finalReason)
			st.resources = []string{"Repository"}
		} else {
			st.final, st.finalReason = "DELETE_COMPLETE", ""
			ev(st.name, "AWS::CloudFormation::Stack", "DELETE_COMPLETE", "")
			st.resources = nil
		}
		f.xmlOK(w, r.Op, "")
	default:
		f.fail(w, false, 400, "InvalidAction", "fake AWS does not know "+r.Op)
	}
}

// advance makes n pending events happen.
func (f *fakeAWS) advance(st *fakeStack, n int) {
	for i := 0; i < n && len(st.pending) > 0; i++ {
		e := st.pending[0]
		st.pending = st.pending[1:]
		e.at = f.tick()
		e.id = fmt.Sprintf("ev-%d-%d-%s-%s", f.seq, i, e.logical, e.status)
		st.events = append(st.events, e)
		if len(st.pending) == 0 {
			st.status = st.final
			st.reason = st.finalReason
			for _, name := range st.newRepos {
				f.repos[name] = []fakeTag{{"aws:cloudformation:stack-name", st.name}}
			}
			st.newRepos = nil
		}
	}
}

func (st *fakeStack) reasonFor(status string) string {
	if status == st.status {
		return st.reason
	}
	return ""
}

func (f *fakeAWS) serveJSON(w http.ResponseWriter, r request) {
	str := func(k string) string { s, _ := r.JSON[k].(string); return s }
	ok := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
	}
	repoJSON := func(name string) map[string]any {
		return map[string]any{
			"repositoryArn":  "arn:aws:ecr:eu-west-1:123456789012:repository/" + name,
			"repositoryName": name, "registryId": fakeAccount,
			"repositoryUri": fakeAccount + ".dkr.ecr.eu-west-1.amazonaws.com/" + name,
		}
	}
	switch r.Op {
	// ECR
	case "DescribeRepositories":
		names, _ := r.JSON["repositoryNames"].([]any)
		var out []any
		for _, n := range names {
			if _, exists := f.repos[n.(string)]; !exists {
				f.fail(w, true, 400, "RepositoryNotFoundException", fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", n, fakeAccount))
				return
			}
			out = append(out, repoJSON(n.(string)))
		}
		ok(map[string]any{"repositories": out})
	case "CreateRepository":
		name := str("repositoryName")
		if _, exists := f.repos[name]; exists {
			f.fail(w, true, 400, "RepositoryAlreadyExistsException", "exists")
			return
		}
		var tags []fakeTag
		for _, t := range r.JSON["tags"].([]any) {
			m := t.(map[string]any)
			tags = append(tags, fakeTag{m["Key"].(string), m["Value"].(string)})
		}
		f.repos[name] = tags
		ok(map[string]any{"repository": repoJSON(name)})
	case "PutLifecyclePolicy":
		ok(map[string]any{"registryId": fakeAccount, "repositoryName": str("repositoryName"), "lifecyclePolicyText": str("lifecyclePolicyText")})
	case "ListTagsForResource":
		arn := str("resourceArn")
		name := arn[strings.Index(arn, "repository/")+len("repository/"):]
		var tags []any
		for _, t := range f.repos[name] {
			tags = append(tags, map[string]any{"Key": t.Key, "Value": t.Value})
		}
		ok(map[string]any{"tags": tags})
	case "DeleteRepository":
		delete(f.repos, str("repositoryName"))
		ok(map[string]any{"repository": repoJSON(str("repositoryName"))})
	// ECS
	case "RegisterTaskDefinition":
		fam := str("family")
		ok(map[string]any{"taskDefinition": map[string]any{"taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/" + fam + ":7", "family": fam, "revision": 7}})
	// Secrets Manager
	case "DescribeSecret":
		sc, exists := f.secrets[str("SecretId")]
		if !exists {
			f.fail(w, true, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		var tags []any
		for _, t := range sc.tags {
			tags = append(tags, map[string]any{"Key": t.Key, "Value": t.Value})
		}
		ok(map[string]any{"ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + str("SecretId") + "-AbCdEf", "Name": str("SecretId"), "Tags": tags})
	case "GetSecretValue":
		sc := f.secrets[str("SecretId")]
		ok(map[string]any{"Name": str("SecretId"), "SecretString": sc.value, "VersionId": "v1"})
	case "CreateSecret":
		f.secrets[str("Name")] = &fakeSecret{value: str("SecretString")}
		ok(map[string]any{"ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + str("Name") + "-AbCdEf", "Name": str("Name"), "VersionId": str("ClientRequestToken")})
	case "PutSecretValue":
		f.secrets[str("SecretId")].value = str("SecretString")
		ok(map[string]any{"Name": str("SecretId"), "VersionId": str("ClientRequestToken")})
	default:
		f.fail(w, true, 400, "UnknownOperationException", "fake AWS does not know "+r.Target)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// templateResources reads a template body's resources: logical ID to type.
func templateResources(t *testing.T, body string) map[string]string {
	tm, err := parseTemplate([]byte(body))
	if err != nil {
		t.Errorf("template sent is not a template: %v", err)
		return nil
	}
	out := map[string]string{}
	for id, r := range tm.Resources {
		out[id] = r.Type
	}
	return out
}
