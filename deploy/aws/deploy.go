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

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

func checkTarget(o Options) error {
	switch o.Target {
	case TargetECS, TargetAppRunner:
		return nil
	}
	return fmt.Errorf("%w: target %q: use ecs or apprunner", discover.ErrInvalid, o.Target)
}

// Deploy pushes the app's image to ECR and creates or updates its stack
// through a change set: it shows the changes, asks (or takes Yes), and
// streams the stack's events while CloudFormation applies them.
//
// For ECS the stack owns the ECR repository. A new stack is therefore
// created in two steps once confirmed: first a stack holding only the
// repository (imported when the repository already exists), then the
// image is pushed, then the whole template is applied. App Runner's stack
// only reads the repository: deploy creates it when missing, and creates
// or updates the Secrets Manager secrets that stack expects.
func Deploy(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if err := checkTarget(o); err != nil {
		return nil, err
	}
	a, err := loadApp(o)
	if err != nil {
		return nil, err
	}
	d := a.d
	if o.Target == TargetAppRunner && !d.AppRunner.Enabled {
		o.Logf("appRunner.enabled is false in deployment.json; deploying the App Runner stack that exists")
	}
	// Secret values come from the workspace's secrets file and are only
	// ever sent as NoEcho parameters or Secrets Manager values.
	secretVals, err := o.Workspace.ReadSecrets()
	if err != nil {
		return nil, err
	}
	for _, sc := range d.Secrets {
		if _, ok := secretVals[sc.SecretRef]; !ok {
			return nil, fmt.Errorf("deploying %s: %w", o.ID, o.Workspace.MissingSecret(fmt.Sprintf("secret %s (%s)", sc.SecretRef, sc.Name), o.ID))
		}
	}
	if o.Push == nil && !o.DryRun {
		return nil, errors.New("deploy: no image pusher configured")
	}

	s, err := connect(ctx, o, d.Registry.Region)
	if err != nil {
		return nil, err
	}
	region := s.cfg.Region
	if d.Registry.AccountID != "" && d.Registry.AccountID != s.account {
		return nil, fmt.Errorf("deploying %s: %w: deployment.json's registry.accountId is %s, but the AWS credentials are of account %s; use the other account's profile (--profile) or correct registry.accountId", o.ID, discover.ErrInvalid, d.Registry.AccountID, s.account)
	}
	name := stackName(o, d)
	res := &Result{App: o.ID, Target: o.Target, Account: s.account, Region: region, Stack: name}
	res.Repository = registryHost(s.account, region) + "/" + d.Registry.RepositoryName

	st, err := s.describeStack(ctx, name)
	if err != nil {
		return nil, err
	}
	typ, err := stackState(st, name, o.ID, o.Target)
	if err != nil {
		if st != nil {
			res.StackStatus = string(st.StackStatus)
		}
		return res, err
	}
	newStack := typ == cftypes.ChangeSetTypeCreate
	existedInReview := st != nil // a REVIEW_IN_PROGRESS stack was there before

	_, digestTag := imageTag(a.image, a.digest)
	fixed := map[string]string{}
	if _, ok := a.tmpl.Parameters["ImageTag"]; ok {
		fixed["ImageTag"] = digestTag
	}
	// The ECS stack carries each secret's value in the NoEcho parameter
	// SecretNValue (generate names them by the secret's index).
	stackOwnsSecrets := false
	for i, sc := range d.Secrets {
		p := fmt.Sprintf("Secret%dValue", i+1)
		tp, ok := a.tmpl.Parameters[p]
		if !ok {
			continue
		}
		if !tp.noEcho() || !strings.Contains(tp.Description, sc.SecretRef) {
			return nil, fmt.Errorf("deploying %s: %w: %s's parameter %s is not the NoEcho parameter of secret %s; run `hoist generate %s` again", o.ID, discover.ErrInvalid, a.tmplPath, p, sc.SecretRef, o.ID)
		}
		fixed[p] = secretVals[sc.SecretRef]
		stackOwnsSecrets = true
		res.Secrets = append(res.Secrets, SecretResult{Name: sc.SecretsManagerName, Action: "stack parameter " + p})
	}
	for k := range o.Parameters {
		if _, ok := fixed[k]; ok {
			return nil, fmt.Errorf("%w: --parameter %s: hoist sets it (the image tag or a secret's value from the secrets file)", ErrParameters, k)
		}
	}
	params, err := parameters(a.tmpl, st, fixed, o.Parameters)
	if err != nil {
		return nil, err
	}
	res.Parameters = params.display
	caps := a.tmpl.capabilities()
	for _, c := range caps {
		res.Capabilities = append(res.Capabilities, string(c))
	}
	full := changeSetInput{
		stack: name, typ: typ, body: string(a.body), params: params.list, capabilities: caps,
		description: fmt.Sprintf("hoist deploy %s --target %s (image %s)", o.ID, o.Target, digestTag),
	}
	cs, err := s.createChangeSet(ctx, full)
	if cs != nil {
		res.ChangeSet, res.ChangeSetType, res.StackID = cs.name, string(cs.typ), cs.stackID
	}
	if err != nil {
		if cs != nil && cs.id != "" {
			_ = s.deleteChangeSet(ctx, cs, newStack && !existedInReview)
		}
		return res, err
	}
	res.Changes = cs.changes

	repoLogical := a.tmpl.resourceOfType("AWS::ECR::Repository")
	// Secrets the stack reads but does not own are compared now, so the
	// question (and a dry run) can say what will change.
	var plan []secretPlan
	if !stackOwnsSecrets && len(d.Secrets) > 0 {
		if plan, err = s.planSecrets(ctx, d, secretVals); err != nil {
			_ = s.deleteChangeSet(ctx, cs, newStack && !existedInReview)
			return res, err
		}
	}
	dropped := false
	drop := func() {
		if !dropped {
			dropped = true
			_ = s.deleteChangeSet(ctx, cs, newStack && !existedInReview)
		}
	}
	if cs.empty {
		dropped = true
		if err := s.deleteChangeSet(ctx, cs, false); err != nil {
			return res, err
		}
		fmt.Fprintf(s.out, "Stack %s: nothing to change (the image %s is deployed).\n", name, digestTag)
		res.Status = "nothing to change"
		if st != nil {
			res.StackStatus = string(st.StackStatus)
			res.StackID = sdkaws.ToString(st.StackId)
		}
		res.Outputs = outputs(st)
		if n := secretChanges(plan); n > 0 {
			if o.DryRun {
				res.Secrets = planned(plan)
				return res, nil
			}
			if err := confirm(o, fmt.Sprintf("Create or update %d Secrets Manager secrets of %s in %s?", n, o.ID, region)); err != nil {
				return res, err
			}
			res.Status = "secrets updated"
		}
		if len(plan) > 0 && !o.DryRun {
			res.Secrets, err = s.applySecrets(ctx, d, plan)
		}
		return res, err
	}
	printChanges(s.out, name, cs.typ, cs.changes)
	if len(plan) > 0 {
		res.Secrets = planned(plan)
	}

	if o.DryRun {
		drop()
		res.Status = "dry run"
		res.note("would push %s to %s:%s", a.image, res.Repository, digestTag)
		res.note("the change set was deleted; nothing was changed")
		return res, nil
	}
	q := fmt.Sprintf("Apply these %d changes to stack %s in %s (account %s)?", len(cs.changes), name, region, s.account)
	if n := secretChanges(plan); n > 0 {
		q = fmt.Sprintf("Create or update %d Secrets Manager secrets and apply these %d changes to stack %s in %s (account %s)?", n, len(cs.changes), name, region, s.account)
	}
	if err := confirm(o, q); err != nil {
		drop()
		return res, err
	}

	// The repository, then the image, then the secrets.
	twoStep := repoLogical != "" && newStack
	switch {
	case twoStep:
		// The change set shown cannot run yet (the service needs the
		// image): the repository-only stack goes first, then the same
		// template once the image is in.
		dropped = true
		if err := s.deleteChangeSet(ctx, cs, false); err != nil {
			return res, err
		}
		if err := s.bootstrapRepository(ctx, a, name, repoLogical, res); err != nil {
			return res, err
		}
	case repoLogical != "":
		ok, err := s.repositoryExists(ctx, d.Registry.RepositoryName)
		if err != nil {
			drop()
			return res, err
		}
		if !ok {
			drop()
			return res, fmt.Errorf("deploying %s: stack %s exists but the ECR repository %s does not; delete the stack (`hoist deploy %s --target ecs --delete --yes`) and deploy again", o.ID, name, d.Registry.RepositoryName, o.ID)
		}
	default:
		if err := s.ensureRepository(ctx, o, d, res); err != nil {
			drop()
			return res, err
		}
	}
	if err := s.pushImage(ctx, a, res, digestTag); err != nil {
		drop()
		return res, err
	}
	if len(plan) > 0 {
		if res.Secrets, err = s.applySecrets(ctx, d, plan); err != nil {
			drop()
			return res, err
		}
	}
	if twoStep {
		full.typ = cftypes.ChangeSetTypeUpdate
		if full.params, err = reParameters(a.tmpl, fixed, o.Parameters); err != nil {
			return res, err
		}
		cs, err = s.createChangeSet(ctx, full)
		if cs != nil {
			res.ChangeSet, res.StackID = cs.name, cs.stackID
		}
		if err != nil {
			return res, err
		}
		if cs.empty {
			return res, fmt.Errorf("stack %s: the full template made no change after the repository step; run deploy again", name)
		}
		fmt.Fprintf(s.out, "Applying the rest of stack %s (%d changes).\n", name, len(cs.changes))
	}
	final, err := s.execute(ctx, cs, name, res, !o.NoWait)
	if err != nil || o.NoWait {
		return res, err
	}
	res.Status = "applied"
	res.Outputs = outputs(final)
	return res, nil
}

func planned(plan []secretPlan) []SecretResult {
	var out []SecretResult
	for _, p := range plan {
		r := p.SecretResult
		if r.Action == "create" || r.Action == "update" {
			r.Action = "would " + r.Action
		}
		out = append(out, r)
	}
	return out
}

// reParameters is parameters for the second step of a new ECS stack: the
// user's values are sent again (the stack holds none of them yet).
func reParameters(t *template, fixed, user map[string]string) ([]cftypes.Parameter, error) {
	p, err := parameters(t, nil, fixed, user)
	if err != nil {
		return nil, err
	}
	return p.list, nil
}

func confirm(o Options, question string) error {
	if o.Yes {
		return nil
	}
	if o.Confirm == nil {
		return fmt.Errorf("%w: nobody can be asked (stdin is not a terminal): pass --yes to apply, or --dry-run to only see the change set", ErrNotConfirmed)
	}
	ok, err := o.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: nothing was changed", ErrNotConfirmed)
	}
	return nil
}

func (t *template) resourceOfType(typ string) string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// bootstrapRepository creates the stack with only its ECR repository (as
// the template defines it), importing the repository when it exists
// already (pushed to by hand, or created for App Runner).
func (s *session) bootstrapRepository(ctx context.Context, a *app, stack, logical string, res *Result) error {
	repo, _ := a.tmpl.raw["Resources"].(map[string]any)[logical].(map[string]any)
	name, _ := a.tmpl.Resources[logical].Properties["RepositoryName"].(string)
	if name == "" {
		name = a.d.Registry.RepositoryName
	}
	exists, err := s.repositoryExists(ctx, name)
	if err != nil {
		return err
	}
	r := map[string]any{}
	for k, v := range repo {
		r[k] = v
	}
	in := changeSetInput{stack: stack, typ: cftypes.ChangeSetTypeCreate, description: "hoist: the ECR repository first; the rest of the stack follows once the image is pushed"}
	if exists {
		// An import needs a deletion policy; the next step's template
		// (as generated) sets the stack's own again.
		r["DeletionPolicy"] = "Retain"
		in.typ = cftypes.ChangeSetTypeImport
		in.imports = []cftypes.ResourceToImport{{
			LogicalResourceId:  sdkaws.String(logical),
			ResourceType:       sdkaws.String("AWS::ECR::Repository"),
			ResourceIdentifier: map[string]string{"RepositoryName": name},
		}}
	}
	body, err := json.Marshal(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              fmt.Sprintf("hoist: the ECR repository of %s; `hoist deploy %s --target ecs` applies the rest of the template", a.d.ID, a.d.ID),
		"Resources":                map[string]any{logical: r},
	})
	if err != nil {
		return err
	}
	in.body = string(body)
	verb := "Creating"
	if exists {
		verb = "Importing the existing"
	}
	fmt.Fprintf(s.out, "%s ECR repository %s in stack %s first.\n", verb, name, stack)
	cs, err := s.createChangeSet(ctx, in)
	if err != nil {
		return err
	}
	res.StackID = cs.stackID
	// Waited for even with --no-wait: the image needs the repository.
	_, err = s.execute(ctx, cs, stack, res, true)
	return err
}

func (s *session) repositoryExists(ctx context.Context, name string) (bool, error) {
	_, err := s.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	if err == nil {
		return true, nil
	}
	var nf *ecrtypes.RepositoryNotFoundException
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, apiError("ecr:DescribeRepositories", err)
}

// ensureRepository creates the app's ECR repository when it is missing,
// configured as the ECS stack's would be: scan on push and the lifecycle
// policy (from deploy/ecs/stack.yaml when it is there, else from
// deployment.json's registry).
func (s *session) ensureRepository(ctx context.Context, o Options, d *generate.Deployment, res *Result) error {
	name := d.Registry.RepositoryName
	ok, err := s.repositoryExists(ctx, name)
	if err != nil || ok {
		return err
	}
	scan, policy := d.Registry.ScanOnPush, lifecyclePolicy(d.Registry.KeepImages)
	if body, err := os.ReadFile(filepath.Join(generate.DeployDir(o.Workspace, o.ID), "ecs", "stack.yaml")); err == nil {
		if t, err := parseTemplate(body); err == nil {
			if id := t.resourceOfType("AWS::ECR::Repository"); id != "" {
				props := t.Resources[id].Properties
				if isc, ok := props["ImageScanningConfiguration"].(map[string]any); ok {
					if v, ok := isc["ScanOnPush"].(bool); ok {
						scan = v
					}
				}
				if lp, ok := props["LifecyclePolicy"].(map[string]any); ok {
					if v, ok := lp["LifecyclePolicyText"].(string); ok {
						policy = v
					}
				}
			}
		}
	}
	fmt.Fprintf(s.out, "Creating ECR repository %s (scan on push: %t).\n", name, scan)
	if _, err := s.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             sdkaws.String(name),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: scan},
		Tags: []ecrtypes.Tag{
			{Key: sdkaws.String("hoist:app"), Value: sdkaws.String(d.ID)},
			{Key: sdkaws.String("hoist:managed-by"), Value: sdkaws.String("hoist")},
		},
	}); err != nil && !isCode(err, "RepositoryAlreadyExistsException") {
		return apiError("ecr:CreateRepository "+name, err)
	}
	if _, err := s.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: sdkaws.String(name), LifecyclePolicyText: sdkaws.String(policy)}); err != nil {
		return apiError("ecr:PutLifecyclePolicy "+name, err)
	}
	res.note("created the ECR repository %s outside any stack; `--delete --delete-images` removes it", name)
	return nil
}

// lifecyclePolicy keeps the newest keep images (as the ECS stack's).
func lifecyclePolicy(keep int) string {
	if keep <= 0 {
		keep = 10
	}
	b, _ := json.Marshal(map[string]any{"rules": []any{map[string]any{
		"rulePriority": 1,
		"description":  fmt.Sprintf("keep the newest %d images", keep),
		"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
		"action":       map[string]any{"type": "expire"},
	}}})
	return string(b)
}

// pushImage pushes the image under its digest tag (what the stack uses)
// and its own tag.
func (s *session) pushImage(ctx context.Context, a *app, res *Result, digestTag string) error {
	tag, _ := imageTag(a.image, a.digest)
	ref := res.Repository + ":" + digestTag
	fmt.Fprintf(s.out, "Pushing %s to %s.\n", a.image, ref)
	pr, err := s.o.Push(ctx, ref)
	if err != nil {
		return err
	}
	if pr.Digest != a.digest {
		return fmt.Errorf("pushing %s: ECR serves %s under %s, not the built %s", a.image, pr.Digest, ref, a.digest)
	}
	if _, err := s.o.Push(ctx, res.Repository+":"+tag); err != nil {
		return err
	}
	res.Image, res.Digest = ref, pr.Digest
	return nil
}

// secretPlan is what ensureSecrets will do to one secret.
type secretPlan struct {
	SecretResult
	val, ref, env, owner string
}

// planSecrets compares the Secrets Manager secrets a stack reads but does
// not own (App Runner's) with the secrets file: each is to be created,
// updated, left unchanged, or left to the CloudFormation stack that owns
// it (the ECS stack's). Values are compared, never printed.
func (s *session) planSecrets(ctx context.Context, d *generate.Deployment, vals discover.Secrets) ([]secretPlan, error) {
	var out []secretPlan
	for _, sc := range d.Secrets {
		p := secretPlan{SecretResult: SecretResult{Name: sc.SecretsManagerName}, val: vals[sc.SecretRef], ref: sc.SecretRef, env: sc.Name}
		desc, err := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: sdkaws.String(sc.SecretsManagerName)})
		var nf *smtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			p.Action = "create"
		case err != nil:
			return nil, apiError("secretsmanager:DescribeSecret "+sc.SecretsManagerName, err)
		default:
			for _, t := range desc.Tags {
				if sdkaws.ToString(t.Key) == "aws:cloudformation:stack-name" {
					p.owner = sdkaws.ToString(t.Value)
				}
			}
			cur, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: sdkaws.String(sc.SecretsManagerName)})
			if err != nil {
				return nil, apiError("secretsmanager:GetSecretValue "+sc.SecretsManagerName, err)
			}
			switch {
			case sdkaws.ToString(cur.SecretString) == p.val:
				p.Action = "unchanged"
			case p.owner != "":
				p.Action = "stack-owned"
			default:
				p.Action = "update"
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func secretChanges(plan []secretPlan) int {
	n := 0
	for _, p := range plan {
		if p.Action == "create" || p.Action == "update" {
			n++
		}
	}
	return n
}

// applySecrets carries out a plan.
func (s *session) applySecrets(ctx context.Context, d *generate.Deployment, plan []secretPlan) ([]SecretResult, error) {
	var out []SecretResult
	for _, p := range plan {
		r := p.SecretResult
		switch p.Action {
		case "create":
			if _, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
				Name:               sdkaws.String(p.Name),
				Description:        sdkaws.String(fmt.Sprintf("%s of %s (hoist secret %s)", p.env, d.ID, p.ref)),
				SecretString:       sdkaws.String(p.val),
				ClientRequestToken: sdkaws.String(uuid()),
				Tags: []smtypes.Tag{
					{Key: sdkaws.String("hoist:app"), Value: sdkaws.String(d.ID)},
					{Key: sdkaws.String("hoist:managed-by"), Value: sdkaws.String("hoist")},
				},
			}); err != nil {
				return out, apiError("secretsmanager:CreateSecret "+p.Name, err)
			}
			r.Action = "created"
		case "update":
			if _, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: sdkaws.String(p.Name), SecretString: sdkaws.String(p.val), ClientRequestToken: sdkaws.String(uuid()),
			}); err != nil {
				return out, apiError("secretsmanager:PutSecretValue "+p.Name, err)
			}
			r.Action = "updated"
		case "stack-owned":
			fmt.Fprintf(s.out, "warning: secret %s belongs to stack %s and differs from the secrets file; `hoist deploy %s --target ecs` updates it\n", p.Name, p.owner, d.ID)
		}
		fmt.Fprintf(s.out, "Secret %s: %s.\n", r.Name, r.Action)
		out = append(out, r)
	}
	return out, nil
}

// Delete deletes the app's stack, streaming its events. The ECR
// repository's images are kept unless DeleteImages: CloudFormation cannot
// delete a repository that holds images, so that resource is retained.
func Delete(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if err := checkTarget(o); err != nil {
		return nil, err
	}
	d, err := generate.LoadDeployment(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	s, err := connect(ctx, o, d.Registry.Region)
	if err != nil {
		return nil, err
	}
	name := stackName(o, d)
	res := &Result{App: o.ID, Target: o.Target, Account: s.account, Region: s.cfg.Region, Stack: name}
	res.Repository = registryHost(s.account, s.cfg.Region) + "/" + d.Registry.RepositoryName
	st, err := s.describeStack(ctx, name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		res.Status = "not found"
		fmt.Fprintf(s.out, "Stack %s does not exist in %s; nothing to delete.\n", name, s.cfg.Region)
		if o.DeleteImages && !o.DryRun {
			if err := s.deleteRepository(ctx, o, d, res); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	res.StackID, res.StackStatus = sdkaws.ToString(st.StackId), string(st.StackStatus)
	if status := string(st.StackStatus); strings.HasSuffix(status, "_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS" {
		return res, fmt.Errorf("stack %s is %s: %w: wait until it finishes, then delete it", name, status, ErrStackBusy)
	}
	what := "the ECR repository and its images are kept"
	if o.DeleteImages {
		what = "the ECR repository is deleted WITH ITS IMAGES"
	}
	if o.DryRun {
		res.Status = "dry run"
		res.note("would delete stack %s (%s); %s", name, st.StackStatus, what)
		return res, nil
	}
	if err := confirm(o, fmt.Sprintf("Delete stack %s in %s (account %s)? %s.", name, s.cfg.Region, s.account, what)); err != nil {
		return res, err
	}
	var retain []string
	for attempt := 0; attempt < 2; attempt++ {
		w, err := s.newWatch(ctx, res.StackID)
		if err != nil {
			return res, err
		}
		in := &cloudformation.DeleteStackInput{StackName: sdkaws.String(res.StackID), ClientRequestToken: sdkaws.String(token("hoist-delete")), RetainResources: retain}
		if _, err := s.cfn.DeleteStack(ctx, in); err != nil {
			return res, apiError("cloudformation:DeleteStack "+name, err)
		}
		if o.NoWait {
			res.Status = "started"
			return res, nil
		}
		fin, err := w.wait(ctx, "the deletion")
		res.Events = append(res.Events, w.events...)
		if err != nil {
			return res, err
		}
		res.StackStatus = string(fin.StackStatus)
		if fin.StackStatus == cftypes.StackStatusDeleteComplete {
			break
		}
		f := w.failure(fin)
		// A repository with images cannot be deleted: keep it (and
		// anything else that failed only because of it) and go on.
		retain = nil
		repoFailed := false
		for _, e := range w.events {
			if e.Status == "DELETE_FAILED" {
				retain = append(retain, e.LogicalID)
				if e.Type == "AWS::ECR::Repository" {
					repoFailed = true
				}
			}
		}
		if attempt > 0 || !repoFailed {
			res.Failure, res.Status = f, "failed"
			return res, fmt.Errorf("deleting stack %s: %w: %v", name, ErrStackFailed, f)
		}
		fmt.Fprintf(s.out, "The ECR repository holds images, so CloudFormation could not delete it; deleting the stack again, keeping %s.\n", strings.Join(retain, ", "))
	}
	res.Status = "deleted"
	if o.DeleteImages {
		if err := s.deleteRepository(ctx, o, d, res); err != nil {
			return res, err
		}
	} else if ok, _ := s.repositoryExists(ctx, d.Registry.RepositoryName); ok {
		res.note("kept the ECR repository %s with its images (--delete-images removes them)", d.Registry.RepositoryName)
	}
	if o.Target == TargetAppRunner && len(d.Secrets) > 0 {
		res.note("the Secrets Manager secrets deploy created for App Runner are kept: %s", secretNames(d))
	}
	return res, nil
}

func secretNames(d *generate.Deployment) string {
	var n []string
	for _, s := range d.Secrets {
		n = append(n, s.SecretsManagerName)
	}
	return strings.Join(n, ", ")
}

// deleteRepository deletes the app's ECR repository with its images,
// unless a stack (still) owns it.
func (s *session) deleteRepository(ctx context.Context, o Options, d *generate.Deployment, res *Result) error {
	name := d.Registry.RepositoryName
	out, err := s.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	var nf *ecrtypes.RepositoryNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return apiError("ecr:DescribeRepositories", err)
	}
	if len(out.Repositories) > 0 {
		tags, err := s.ecr.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: out.Repositories[0].RepositoryArn})
		if err != nil {
			return apiError("ecr:ListTagsForResource", err)
		}
		for _, t := range tags.Tags {
			if sdkaws.ToString(t.Key) == "aws:cloudformation:stack-name" && sdkaws.ToString(t.Value) != stackName(o, d) {
				res.note("kept the ECR repository %s: it belongs to stack %s (delete that with --target ecs --delete --delete-images)", name, sdkaws.ToString(t.Value))
				return nil
			}
		}
	}
	if _, err := s.ecr.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: sdkaws.String(name), Force: true}); err != nil {
		return apiError("ecr:DeleteRepository "+name, err)
	}
	fmt.Fprintf(s.out, "Deleted ECR repository %s and its images.\n", name)
	res.note("deleted the ECR repository %s with its images", name)
	return nil
}

// RegisterTaskDefinition registers APP/deploy/ecs/task-definition.json as
// it is, with ${AWS_ACCOUNT_ID} and ${AWS_REGION} filled from STS and the
// region (App2Container's quick start). It pushes nothing and creates no
// role: the image and the roles it names must exist.
func RegisterTaskDefinition(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	td, err := generate.LoadTaskDefinition(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	d, err := generate.LoadDeployment(o.Workspace, o.ID)
	if err != nil {
		return nil, err
	}
	s, err := connect(ctx, o, d.Registry.Region)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(td)
	if err != nil {
		return nil, err
	}
	filled := strings.NewReplacer("${AWS_ACCOUNT_ID}", s.account, "${AWS_REGION}", s.cfg.Region).Replace(string(raw))
	var in ecs.RegisterTaskDefinitionInput
	if err := json.Unmarshal([]byte(filled), &in); err != nil {
		return nil, fmt.Errorf("filling in the task definition: %w", err)
	}
	out, err := s.ecs.RegisterTaskDefinition(ctx, &in)
	if err != nil {
		return nil, apiError("ecs:RegisterTaskDefinition "+sdkaws.ToString(in.Family), err)
	}
	res := &Result{App: o.ID, Target: TargetECS, Account: s.account, Region: s.cfg.Region, Status: "registered"}
	if out.TaskDefinition != nil {
		res.TaskDefinitionArn = sdkaws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	for _, c := range in.ContainerDefinitions {
		res.Image = sdkaws.ToString(c.Image)
	}
	res.note("only the task definition was registered: the image %s and the roles it names must exist (`hoist deploy %s --target ecs` creates them)", res.Image, o.ID)
	return res, nil
}
