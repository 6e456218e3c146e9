package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/containerize"
)

// template is what deploy needs to know of a generated template.
type template struct {
	Parameters map[string]templateParam    `json:"Parameters"`
	Resources  map[string]templateResource `json:"Resources"`
	raw        map[string]any
}

type templateParam struct {
	Type        string `json:"Type"`
	Default     any    `json:"Default"`
	NoEcho      any    `json:"NoEcho"`
	Description string `json:"Description"`
}

type templateResource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

func parseTemplate(body []byte) (*template, error) {
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, err
	}
	var t template
	if err := json.Unmarshal(js, &t); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(js, &t.raw); err != nil {
		return nil, err
	}
	if len(t.Resources) == 0 {
		return nil, errors.New("no Resources")
	}
	return &t, nil
}

func (p templateParam) noEcho() bool {
	switch v := p.NoEcho.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// capabilities are what the template's IAM resources need: a named IAM
// resource needs CAPABILITY_NAMED_IAM, any other CAPABILITY_IAM.
func (t *template) capabilities() []cftypes.Capability {
	iam, named := false, false
	for _, r := range t.Resources {
		if !strings.HasPrefix(r.Type, "AWS::IAM::") {
			continue
		}
		iam = true
		for _, k := range []string{"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"} {
			if _, ok := r.Properties[k]; ok {
				named = true
			}
		}
	}
	switch {
	case named:
		return []cftypes.Capability{cftypes.CapabilityCapabilityNamedIam}
	case iam:
		return []cftypes.Capability{cftypes.CapabilityCapabilityIam}
	}
	return nil
}

// builtImage reads APP/containerize/image.json.
func builtImage(ws discover.Workspace, id string) (image, digest string, err error) {
	p := filepath.Join(containerize.Dir(ws, id), "image.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("deploying %s: %w: no image was built (no %s); run `hoist containerize %s` first", id, discover.ErrNotFound, p, id)
	}
	if err != nil {
		return "", "", err
	}
	var r containerize.Result
	if err := json.Unmarshal(data, &r); err != nil || r.Image == "" || !strings.HasPrefix(r.Digest, "sha256:") {
		return "", "", fmt.Errorf("deploying %s: %w: %s names no image and digest; run `hoist containerize %s` again", id, discover.ErrInvalid, p, id)
	}
	return r.Image, r.Digest, nil
}

// imageTag is the tag the stack's ImageTag parameter gets: the image's own
// tag and the first 12 hex digits of its digest. Every distinct image gets
// a tag of its own, so the task definition (and the App Runner service)
// changes exactly when the image does, and deploying the same image again
// changes nothing.
func imageTag(image, digest string) (tag, digestTag string) {
	tag = "latest"
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		tag = image[i+1:]
	}
	hexd := strings.TrimPrefix(digest, "sha256:")
	if len(hexd) > 12 {
		hexd = hexd[:12]
	}
	base := tag
	if len(base) > 115 {
		base = base[:115]
	}
	return tag, base + "-" + hexd
}

// stackState classifies an existing stack; nil means it does not exist.
// It returns the change set type to use, or an error saying what to do.
func stackState(st *cftypes.Stack, name, id, target string) (cftypes.ChangeSetType, error) {
	if st == nil {
		return cftypes.ChangeSetTypeCreate, nil
	}
	status := string(st.StackStatus)
	del := fmt.Sprintf("`hoist deploy %s --target %s --delete --yes`", id, target)
	switch {
	case status == "REVIEW_IN_PROGRESS":
		// Created by a change set that was never executed: still new.
		return cftypes.ChangeSetTypeCreate, nil
	case status == "ROLLBACK_COMPLETE" || status == "ROLLBACK_FAILED":
		return "", fmt.Errorf("stack %s is %s: its first creation failed and was rolled back, and CloudFormation cannot update such a stack: %w: delete it with %s and deploy again", name, status, ErrMustDelete, del)
	case status == "DELETE_FAILED":
		return "", fmt.Errorf("stack %s is DELETE_FAILED (%s): %w: delete it again with %s", name, sdkaws.ToString(st.StackStatusReason), ErrMustDelete, del)
	case status == "UPDATE_ROLLBACK_FAILED":
		return "", fmt.Errorf("stack %s is UPDATE_ROLLBACK_FAILED (%s): %w: fix the resource named in its events, then `aws cloudformation continue-update-rollback --stack-name %s`, and deploy again", name, sdkaws.ToString(st.StackStatusReason), ErrStackBusy, name)
	case strings.HasSuffix(status, "_IN_PROGRESS"):
		since := ""
		if st.LastUpdatedTime != nil {
			since = " since " + st.LastUpdatedTime.UTC().Format(time.RFC3339)
		} else if st.CreationTime != nil {
			since = " since " + st.CreationTime.UTC().Format(time.RFC3339)
		}
		return "", fmt.Errorf("stack %s is %s%s: %w: wait until it finishes and deploy again (watch it with `aws cloudformation describe-stack-events --stack-name %s`)", name, status, since, ErrStackBusy, name)
	}
	return cftypes.ChangeSetTypeUpdate, nil
}

// describeStack returns the stack, or nil when there is none.
func (s *session) describeStack(ctx context.Context, name string) (*cftypes.Stack, error) {
	out, err := s.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
	if err != nil {
		if isCode(err, "ValidationError") && strings.Contains(errMessage(err), "does not exist") {
			return nil, nil
		}
		return nil, apiError("cloudformation:DescribeStacks", err)
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// paramInput is the parameters of a change set, and their display.
type paramInput struct {
	list    []cftypes.Parameter
	display map[string]string
}

// parameters builds the change set's parameters: fixed ones (ImageTag,
// secret values) first, then what the user gave, then the stack's previous
// values, then the template's defaults. A parameter with none of these is
// an error naming it.
func parameters(t *template, st *cftypes.Stack, fixed, user map[string]string) (*paramInput, error) {
	var unknown []string
	for k := range user {
		if _, ok := t.Parameters[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	names := make([]string, 0, len(t.Parameters))
	for k := range t.Parameters {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%w: the template has no parameter %s; it has %s", ErrParameters, strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	prev := map[string]bool{}
	if st != nil && st.StackStatus != "REVIEW_IN_PROGRESS" {
		for _, p := range st.Parameters {
			prev[sdkaws.ToString(p.ParameterKey)] = true
		}
	}
	pi := &paramInput{display: map[string]string{}}
	var missing []string
	for _, k := range names {
		p := t.Parameters[k]
		show := func(v string) {
			if p.noEcho() {
				v = "****"
			}
			pi.display[k] = v
		}
		if v, ok := fixed[k]; ok {
			pi.list = append(pi.list, cftypes.Parameter{ParameterKey: sdkaws.String(k), ParameterValue: sdkaws.String(v)})
			show(v)
			continue
		}
		if v, ok := user[k]; ok {
			pi.list = append(pi.list, cftypes.Parameter{ParameterKey: sdkaws.String(k), ParameterValue: sdkaws.String(v)})
			show(v)
			continue
		}
		if prev[k] {
			pi.list = append(pi.list, cftypes.Parameter{ParameterKey: sdkaws.String(k), UsePreviousValue: sdkaws.Bool(true)})
			pi.display[k] = "(previous value)"
			continue
		}
		if p.Default != nil {
			show(fmt.Sprint(p.Default) + " (default)")
			continue
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		var ex []string
		for _, k := range missing {
			ex = append(ex, "--parameter "+k+"="+example(t.Parameters[k].Type))
		}
		return nil, fmt.Errorf("%w: the stack needs %s, which have no default: pass %s", ErrParameters, strings.Join(missing, ", "), strings.Join(ex, " "))
	}
	return pi, nil
}

func example(typ string) string {
	switch typ {
	case "AWS::EC2::VPC::Id":
		return "vpc-..."
	case "AWS::EC2::Subnet::Id":
		return "subnet-..."
	}
	return "VALUE"
}

// changeSet is one created change set.
type changeSet struct {
	id, name, stackID string
	typ               cftypes.ChangeSetType
	changes           []Change
	empty             bool // "didn't contain changes"
}

type changeSetInput struct {
	stack        string
	typ          cftypes.ChangeSetType
	body         string
	params       []cftypes.Parameter
	capabilities []cftypes.Capability
	imports      []cftypes.ResourceToImport
	description  string
}

// createChangeSet creates a change set, waits until CloudFormation has
// computed it and reads its changes.
func (s *session) createChangeSet(ctx context.Context, in changeSetInput) (*changeSet, error) {
	name := token("hoist")
	out, err := s.cfn.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName:         sdkaws.String(in.stack),
		ChangeSetName:     sdkaws.String(name),
		ChangeSetType:     in.typ,
		TemplateBody:      sdkaws.String(in.body),
		Parameters:        in.params,
		Capabilities:      in.capabilities,
		ResourcesToImport: in.imports,
		Description:       sdkaws.String(in.description),
		// The same token on every retry: a retried call does not make a
		// second change set.
		ClientToken: sdkaws.String(name),
		Tags:        []cftypes.Tag{{Key: sdkaws.String("hoist:managed-by"), Value: sdkaws.String("hoist")}},
	})
	if err != nil {
		if isCode(err, "InsufficientCapabilitiesException") {
			return nil, fmt.Errorf("cloudformation:CreateChangeSet for %s: %s (hoist sent %v)", in.stack, errMessage(err), in.capabilities)
		}
		return nil, apiError("cloudformation:CreateChangeSet for "+in.stack, err)
	}
	cs := &changeSet{id: sdkaws.ToString(out.Id), name: name, stackID: sdkaws.ToString(out.StackId), typ: in.typ}
	s.logf("change set %s (%s) created for %s", name, in.typ, in.stack)
	deadline := time.Now().Add(s.o.Timeout)
	for {
		d, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: sdkaws.String(cs.id)})
		if err != nil {
			return cs, apiError("cloudformation:DescribeChangeSet", err)
		}
		switch d.Status {
		case cftypes.ChangeSetStatusCreateComplete:
			cs.changes = appendChanges(nil, d.Changes)
			next := d.NextToken
			for next != nil {
				p, err := s.cfn.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: sdkaws.String(cs.id), NextToken: next})
				if err != nil {
					return cs, apiError("cloudformation:DescribeChangeSet", err)
				}
				cs.changes = appendChanges(cs.changes, p.Changes)
				next = p.NextToken
			}
			return cs, nil
		case cftypes.ChangeSetStatusFailed:
			reason := sdkaws.ToString(d.StatusReason)
			if strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed") {
				cs.empty = true
				return cs, nil
			}
			return cs, fmt.Errorf("change set %s for stack %s failed: %s", name, in.stack, reason)
		}
		if time.Now().After(deadline) {
			return cs, fmt.Errorf("change set %s for stack %s is still %s after %s", name, in.stack, d.Status, s.o.Timeout)
		}
		if err := sleep(ctx, s.poll); err != nil {
			return cs, err
		}
	}
}

func appendChanges(dst []Change, cs []cftypes.Change) []Change {
	for _, c := range cs {
		rc := c.ResourceChange
		if rc == nil {
			continue
		}
		ch := Change{Action: string(rc.Action), LogicalID: sdkaws.ToString(rc.LogicalResourceId), Type: sdkaws.ToString(rc.ResourceType), PhysicalID: sdkaws.ToString(rc.PhysicalResourceId)}
		if rc.Action == cftypes.ChangeActionModify {
			ch.Replacement = string(rc.Replacement)
		}
		dst = append(dst, ch)
	}
	return dst
}

// deleteChangeSet removes a change set hoist will not execute; a change
// set of a stack it created stays a REVIEW_IN_PROGRESS stack, which goes
// too.
func (s *session) deleteChangeSet(ctx context.Context, cs *changeSet, newStack bool) error {
	if _, err := s.cfn.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: sdkaws.String(cs.id)}); err != nil {
		return apiError("cloudformation:DeleteChangeSet", err)
	}
	if newStack && cs.stackID != "" {
		if _, err := s.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: sdkaws.String(cs.stackID), ClientRequestToken: sdkaws.String(token("hoist-delete"))}); err != nil {
			return apiError("cloudformation:DeleteStack (the empty stack the change set made)", err)
		}
		// Waited for, so that a deploy right after does not find the
		// stack DELETE_IN_PROGRESS.
		deadline := time.Now().Add(s.o.Timeout)
		for {
			st, err := s.describeStack(ctx, cs.stackID)
			if err != nil {
				return err
			}
			if st == nil || st.StackStatus == cftypes.StackStatusDeleteComplete {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the empty stack %s is still %s after %s", sdkaws.ToString(st.StackName), st.StackStatus, s.o.Timeout)
			}
			if err := sleep(ctx, s.poll); err != nil {
				return err
			}
		}
	}
	return nil
}

// printChanges writes the change table.
func printChanges(w interface{ Write([]byte) (int, error) }, stack string, typ cftypes.ChangeSetType, changes []Change) {
	fmt.Fprintf(w, "Change set for stack %s (%s): %d changes\n", stack, typ, len(changes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tLOGICAL ID\tTYPE\tREPLACEMENT")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Action, c.LogicalID, c.Type, orDash(c.Replacement))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// watch streams a stack's new events until the stack leaves every
// *_IN_PROGRESS state, and returns the events and the final stack.
type watch struct {
	s        *session
	stackID  string
	boundary string // the newest event before the operation began
	seen     map[string]bool
	events   []Event
	raw      []cftypes.StackEvent
}

// newWatch remembers the stack's newest event, so that only events after
// it are shown.
func (s *session) newWatch(ctx context.Context, stackID string) (*watch, error) {
	w := &watch{s: s, stackID: stackID, seen: map[string]bool{}}
	out, err := s.cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: sdkaws.String(stackID)})
	if err != nil {
		return nil, apiError("cloudformation:DescribeStackEvents", err)
	}
	if len(out.StackEvents) > 0 {
		w.boundary = sdkaws.ToString(out.StackEvents[0].EventId)
	}
	return w, nil
}

// poll reads the events newer than the last seen (DescribeStackEvents
// lists the newest first, a page at a time) and prints them oldest first.
func (w *watch) poll(ctx context.Context) error {
	var fresh []cftypes.StackEvent
	var next *string
	for {
		out, err := w.s.cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: sdkaws.String(w.stackID), NextToken: next})
		if err != nil {
			return apiError("cloudformation:DescribeStackEvents", err)
		}
		done := false
		for _, e := range out.StackEvents {
			id := sdkaws.ToString(e.EventId)
			if id == w.boundary || w.seen[id] {
				done = true
				break
			}
			fresh = append(fresh, e)
		}
		if done || out.NextToken == nil {
			break
		}
		next = out.NextToken
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		e := fresh[i]
		w.seen[sdkaws.ToString(e.EventId)] = true
		ev := Event{LogicalID: sdkaws.ToString(e.LogicalResourceId), Type: sdkaws.ToString(e.ResourceType), Status: string(e.ResourceStatus), Reason: sdkaws.ToString(e.ResourceStatusReason)}
		if e.Timestamp != nil {
			ev.Time = e.Timestamp.UTC()
		}
		w.events = append(w.events, ev)
		w.raw = append(w.raw, e)
		line := fmt.Sprintf("%s  %-28s %-28s %s", ev.Time.Format("15:04:05"), ev.Status, ev.LogicalID, ev.Type)
		if ev.Reason != "" {
			line += "  " + ev.Reason
		}
		fmt.Fprintln(w.s.out, line)
	}
	return nil
}

// wait polls until the stack is in a final state, or the timeout.
func (w *watch) wait(ctx context.Context, what string) (*cftypes.Stack, error) {
	deadline := time.Now().Add(w.s.o.Timeout)
	for {
		if err := w.poll(ctx); err != nil {
			return nil, err
		}
		out, err := w.s.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: sdkaws.String(w.stackID)})
		if err != nil {
			return nil, apiError("cloudformation:DescribeStacks", err)
		}
		if len(out.Stacks) == 0 {
			return nil, fmt.Errorf("stack %s vanished while waiting for %s", w.stackID, what)
		}
		st := out.Stacks[0]
		status := string(st.StackStatus)
		if !strings.HasSuffix(status, "_IN_PROGRESS") {
			if err := w.poll(ctx); err != nil {
				return nil, err
			}
			return &st, nil
		}
		if time.Now().After(deadline) {
			return &st, fmt.Errorf("stack %s is still %s after %s (--timeout); CloudFormation goes on: watch it with `aws cloudformation describe-stack-events --stack-name %s`", sdkaws.ToString(st.StackName), status, w.s.o.Timeout, sdkaws.ToString(st.StackName))
		}
		if err := sleep(ctx, w.s.poll); err != nil {
			return nil, err
		}
	}
}

// failure finds the first resource that failed in the watched operation:
// CloudFormation reports the cause first and cancels the rest ("Resource
// creation cancelled"), so the first failure with another reason wins.
func (w *watch) failure(st *cftypes.Stack) *Failure {
	f := &Failure{StackStatus: string(st.StackStatus), StackStatusReason: sdkaws.ToString(st.StackStatusReason)}
	var first *Event
	for i := range w.events {
		e := &w.events[i]
		if !strings.HasSuffix(e.Status, "_FAILED") || e.LogicalID == sdkaws.ToString(st.StackName) && e.Type == "AWS::CloudFormation::Stack" {
			continue
		}
		if first == nil {
			first = e
		}
		if !strings.Contains(e.Reason, "cancelled") {
			first = e
			break
		}
	}
	if first != nil {
		f.Resource, f.Type, f.Status, f.Reason = first.LogicalID, first.Type, first.Status, first.Reason
	}
	return f
}

func (f *Failure) Error() string {
	msg := "stack " + f.StackStatus
	if f.Resource != "" {
		msg = fmt.Sprintf("%s %s %s: %s; stack %s", f.Resource, f.Type, f.Status, orDash(f.Reason), f.StackStatus)
	}
	if f.StackStatusReason != "" {
		msg += " (" + f.StackStatusReason + ")"
	}
	return msg
}

func succeeded(status string) bool {
	switch status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE":
		return true
	}
	return false
}

// execute runs a change set and, when wait, streams its events until
// it ends. A failure is returned as ErrStackFailed with the first failed
// resource in res.Failure.
func (s *session) execute(ctx context.Context, cs *changeSet, stack string, res *Result, wait bool) (*cftypes.Stack, error) {
	w, err := s.newWatch(ctx, cs.stackID)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfn.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{
		ChangeSetName:      sdkaws.String(cs.id),
		ClientRequestToken: sdkaws.String(token("hoist-exec")),
	}); err != nil {
		return nil, apiError("cloudformation:ExecuteChangeSet on "+stack, err)
	}
	if !wait {
		res.Status = "started"
		return nil, nil
	}
	st, err := w.wait(ctx, "the change set")
	res.Events = append(res.Events, w.events...)
	if err != nil {
		return st, err
	}
	res.StackStatus = string(st.StackStatus)
	if !succeeded(string(st.StackStatus)) {
		res.Failure = w.failure(st)
		res.Status = "failed"
		return st, fmt.Errorf("deploying stack %s: %w: %v", stack, ErrStackFailed, res.Failure)
	}
	return st, nil
}

func outputs(st *cftypes.Stack) map[string]string {
	if st == nil || len(st.Outputs) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, o := range st.Outputs {
		m[sdkaws.ToString(o.OutputKey)] = sdkaws.ToString(o.OutputValue)
	}
	return m
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
