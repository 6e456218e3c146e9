package generate

import (
	"fmt"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/codebuild"
	"github.com/awslabs/goformation/v7/cloudformation/codepipeline"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/s3"
)

// pipelineStack builds pipeline/stack.yaml: a CodePipeline that takes the
// workspace's repository from GitHub (through a CodeStar connection),
// rebuilds the image with CodeBuild (buildspec.yml) and rolls it out to the
// ECS service.
func pipelineStack(d *Deployment, w *warnings) *cloudformation.Template {
	t := cloudformation.NewTemplate()
	t.Description = fmt.Sprintf("hoist: build and deploy pipeline for %s (CodePipeline + CodeBuild). Written by `hoist generate %s`; deploy ecs/stack.yaml first.", d.ID, d.ID)
	t.Parameters["ConnectionArn"] = cloudformation.Parameter{Type: "String", Description: cloudformation.String("ARN of a CodeStar connection to GitHub (or Bitbucket, GitLab)")}
	t.Parameters["RepositoryId"] = cloudformation.Parameter{Type: "String", Description: cloudformation.String("owner/name of the repository holding the hoist workspace")}
	t.Parameters["Branch"] = cloudformation.Parameter{Type: "String", Default: "main", Description: cloudformation.String("Branch to build")}
	t.Parameters["WorkspacePath"] = cloudformation.Parameter{Type: "String", Default: "hoist-workspace", Description: cloudformation.String("Path of the hoist workspace in the repository")}

	t.Resources["ArtifactBucket"] = &s3.Bucket{
		PublicAccessBlockConfiguration: &s3.Bucket_PublicAccessBlockConfiguration{
			BlockPublicAcls: cloudformation.Bool(true), BlockPublicPolicy: cloudformation.Bool(true),
			IgnorePublicAcls: cloudformation.Bool(true), RestrictPublicBuckets: cloudformation.Bool(true),
		},
		BucketEncryption: &s3.Bucket_BucketEncryption{ServerSideEncryptionConfiguration: []s3.Bucket_ServerSideEncryptionRule{{
			ServerSideEncryptionByDefault: &s3.Bucket_ServerSideEncryptionByDefault{SSEAlgorithm: "AES256"},
		}}},
		Tags: hoistTags(d),
	}
	bucketObjects := cloudformation.Sub("${ArtifactBucket.Arn}/*")
	repoArn := cloudformation.Sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/" + d.Registry.RepositoryName)
	buildStmts := []policyStatement{
		{Effect: "Allow", Action: []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, Resource: cloudformation.Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/codebuild/" + d.Family + "-image*")},
		{Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject"}, Resource: bucketObjects},
		{Effect: "Allow", Action: []string{"ecr:GetAuthorizationToken"}, Resource: "*"},
		{Effect: "Allow", Action: []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}, Resource: repoArn},
	}
	if d.Schedule != nil {
		// No service to update: the build registers a new task definition
		// revision, which the schedule rule runs from then on.
		buildStmts = append(buildStmts,
			policyStatement{Effect: "Allow", Action: []string{"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"}, Resource: "*"},
			policyStatement{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{
				cloudformation.Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + d.executionRoleName()),
				cloudformation.Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + d.taskRoleName()),
			}},
		)
		w.add("pipeline", "schedule", "a scheduled app has no ECS service to deploy to: the build registers a new task definition revision; point the schedule rule at it (or update ecs/stack.yaml with the new ImageTag)")
	}
	t.Resources["BuildRole"] = &iam.Role{
		AssumeRolePolicyDocument: assumeRole("codebuild.amazonaws.com"),
		Policies:                 []iam.Role_Policy{{PolicyName: "build-image", PolicyDocument: policy{Version: "2012-10-17", Statement: buildStmts}}},
		Tags:                     hoistTags(d),
	}
	t.Resources["Build"] = &codebuild.Project{
		Name:        cloudformation.String(d.Family + "-image"),
		Description: cloudformation.String("Rebuilds the image of " + d.ID + " from the workspace's Dockerfile and pushes it to ECR"),
		ServiceRole: cloudformation.GetAtt("BuildRole", "Arn"),
		Source:      &codebuild.Project_Source{Type: "CODEPIPELINE", BuildSpec: cloudformation.SubPtr("${WorkspacePath}/" + d.ID + "/deploy/pipeline/buildspec.yml")},
		Artifacts:   &codebuild.Project_Artifacts{Type: "CODEPIPELINE"},
		Environment: &codebuild.Project_Environment{
			Type: "LINUX_CONTAINER", ComputeType: "BUILD_GENERAL1_MEDIUM", Image: "aws/codebuild/standard:7.0",
			PrivilegedMode: cloudformation.Bool(true),
			EnvironmentVariables: []codebuild.Project_EnvironmentVariable{
				{Name: "REPOSITORY_URI", Value: cloudformation.Sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + d.Registry.RepositoryName)},
				{Name: "APP_DIR", Value: cloudformation.Sub("${WorkspacePath}/" + d.ID)},
				{Name: "CONTAINER_NAME", Value: d.Family},
			},
		},
		TimeoutInMinutes: cloudformation.Int(60),
		Tags:             hoistTags(d),
	}
	pipeStmts := []policyStatement{
		{Effect: "Allow", Action: []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketVersioning", "s3:PutObject"}, Resource: []string{bucketObjects, cloudformation.GetAtt("ArtifactBucket", "Arn")}},
		{Effect: "Allow", Action: []string{"codestar-connections:UseConnection", "codeconnections:UseConnection"}, Resource: cloudformation.Ref("ConnectionArn")},
		{Effect: "Allow", Action: []string{"codebuild:StartBuild", "codebuild:BatchGetBuilds"}, Resource: cloudformation.GetAtt("Build", "Arn")},
	}
	stages := []codepipeline.Pipeline_StageDeclaration{
		{Name: "Source", Actions: []codepipeline.Pipeline_ActionDeclaration{{
			Name:            "Workspace",
			ActionTypeId:    &codepipeline.Pipeline_ActionTypeId{Category: "Source", Owner: "AWS", Provider: "CodeStarSourceConnection", Version: "1"},
			Configuration:   map[string]any{"ConnectionArn": cloudformation.Ref("ConnectionArn"), "FullRepositoryId": cloudformation.Ref("RepositoryId"), "BranchName": cloudformation.Ref("Branch"), "DetectChanges": "true"},
			OutputArtifacts: []codepipeline.Pipeline_OutputArtifact{{Name: "Source"}},
		}}},
		{Name: "Build", Actions: []codepipeline.Pipeline_ActionDeclaration{{
			Name:            "Image",
			ActionTypeId:    &codepipeline.Pipeline_ActionTypeId{Category: "Build", Owner: "AWS", Provider: "CodeBuild", Version: "1"},
			Configuration:   map[string]any{"ProjectName": cloudformation.Ref("Build")},
			InputArtifacts:  []codepipeline.Pipeline_InputArtifact{{Name: "Source"}},
			OutputArtifacts: []codepipeline.Pipeline_OutputArtifact{{Name: "Image"}},
		}}},
	}
	if d.Schedule == nil {
		pipeStmts = append(pipeStmts,
			policyStatement{Effect: "Allow", Action: []string{"ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:RegisterTaskDefinition", "ecs:TagResource", "ecs:UpdateService"}, Resource: "*"},
			policyStatement{Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: "*", Condition: map[string]any{"StringEqualsIfExists": map[string]any{"iam:PassedToService": []string{"ecs-tasks.amazonaws.com"}}}},
		)
		stages = append(stages, codepipeline.Pipeline_StageDeclaration{Name: "Deploy", Actions: []codepipeline.Pipeline_ActionDeclaration{{
			Name:           "Service",
			ActionTypeId:   &codepipeline.Pipeline_ActionTypeId{Category: "Deploy", Owner: "AWS", Provider: "ECS", Version: "1"},
			Configuration:  map[string]any{"ClusterName": d.Family, "ServiceName": d.Family, "FileName": "imagedefinitions.json"},
			InputArtifacts: []codepipeline.Pipeline_InputArtifact{{Name: "Image"}},
		}}})
	}
	t.Resources["PipelineRole"] = &iam.Role{
		AssumeRolePolicyDocument: assumeRole("codepipeline.amazonaws.com"),
		Policies:                 []iam.Role_Policy{{PolicyName: "pipeline", PolicyDocument: policy{Version: "2012-10-17", Statement: pipeStmts}}},
		Tags:                     hoistTags(d),
	}
	t.Resources["Pipeline"] = &codepipeline.Pipeline{
		Name:          cloudformation.String(d.Family),
		PipelineType:  cloudformation.String("V2"),
		RoleArn:       cloudformation.GetAtt("PipelineRole", "Arn"),
		ArtifactStore: &codepipeline.Pipeline_ArtifactStore{Type: "S3", Location: cloudformation.Ref("ArtifactBucket")},
		Stages:        stages,
		Tags:          hoistTags(d),
	}
	t.Outputs["PipelineName"] = cloudformation.Output{Value: cloudformation.Ref("Pipeline"), Description: cloudformation.String("The pipeline")}
	return t
}

// buildspec is CodeBuild's buildspec.yml.
type buildspec struct {
	Version   string                    `json:"version"`
	Env       map[string]map[string]any `json:"env,omitempty"`
	Phases    map[string]buildPhase     `json:"phases"`
	Artifacts map[string]any            `json:"artifacts,omitempty"`
}

type buildPhase struct {
	Commands []string `json:"commands"`
}

func buildSpec(d *Deployment) buildspec {
	tag := imageTag(d.Image)
	b := buildspec{
		Version: "0.2",
		Env:     map[string]map[string]any{"variables": {"IMAGE_TAG": tag}},
		Phases: map[string]buildPhase{
			"pre_build": {Commands: []string{
				`aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"`,
				`IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:-$IMAGE_TAG}"`,
			}},
			"build": {Commands: []string{
				// The workspace holds the Dockerfile and the layered build
				// context `hoist containerize` wrote.
				`docker build --file "$APP_DIR/containerize/Dockerfile" --tag "$REPOSITORY_URI:$IMAGE_TAG" "$APP_DIR/containerize/context"`,
			}},
			"post_build": {Commands: []string{
				`docker push "$REPOSITORY_URI:$IMAGE_TAG"`,
				`printf '[{"name":"%s","imageUri":"%s"}]' "$CONTAINER_NAME" "$REPOSITORY_URI:$IMAGE_TAG" > imagedefinitions.json`,
			}},
		},
		Artifacts: map[string]any{"files": []string{"imagedefinitions.json"}},
	}
	if d.Schedule != nil {
		pb := b.Phases["post_build"]
		pb.Commands = append(pb.Commands,
			`export AWS_ACCOUNT_ID="$(aws sts get-caller-identity --query Account --output text)" EFS_FILE_SYSTEM_ID="${EFS_FILE_SYSTEM_ID:-}"`,
			`envsubst < "$APP_DIR/deploy/ecs/task-definition.json" | sed "s#:`+tag+`\"#:$IMAGE_TAG\"#" > task-definition.json`,
			`aws ecs register-task-definition --cli-input-json file://task-definition.json`,
		)
		b.Phases["post_build"] = pb
	}
	return b
}

// workflow is a GitHub Actions workflow.
type workflow struct {
	Name        string                 `json:"name"`
	On          map[string]any         `json:"on"`
	Permissions map[string]string      `json:"permissions"`
	Concurrency map[string]any         `json:"concurrency"`
	Jobs        map[string]workflowJob `json:"jobs"`
}

type workflowJob struct {
	RunsOn string            `json:"runs-on"`
	Env    map[string]string `json:"env,omitempty"`
	Steps  []workflowStep    `json:"steps"`
}

type workflowStep struct {
	Name string            `json:"name"`
	Uses string            `json:"uses,omitempty"`
	With map[string]string `json:"with,omitempty"`
	Run  string            `json:"run,omitempty"`
}

func githubWorkflow(d *Deployment) workflow {
	region := d.Registry.Region
	if region == "" {
		region = "${{ vars.AWS_REGION }}"
	}
	return workflow{
		Name: "hoist " + d.ID,
		On: map[string]any{
			"push":              map[string]any{"branches": []string{"main"}, "paths": []string{"hoist-workspace/" + d.ID + "/**"}},
			"workflow_dispatch": map[string]any{},
		},
		Permissions: map[string]string{"contents": "read", "id-token": "write"},
		Concurrency: map[string]any{"group": "hoist-" + d.ID, "cancel-in-progress": false},
		Jobs: map[string]workflowJob{"migrate": {
			RunsOn: "ubuntu-latest",
			Env:    map[string]string{"HOIST_WORKSPACE": "hoist-workspace", "AWS_REGION": region},
			Steps: []workflowStep{
				{Name: "Check out the workspace", Uses: "actions/checkout@v4"},
				{Name: "Set up Go", Uses: "actions/setup-go@v5", With: map[string]string{"go-version": "stable"}},
				{Name: "Install hoist", Run: "go install github.com/hoistctl/hoist/cmd/hoist@latest"},
				{Name: "AWS credentials", Uses: "aws-actions/configure-aws-credentials@v4", With: map[string]string{"role-to-assume": "${{ vars.HOIST_DEPLOY_ROLE_ARN }}", "aws-region": region}},
				{Name: "Validate the deployment artifacts", Run: "hoist generate --check " + d.ID},
				{Name: "Migrate " + d.ID, Run: strings.Join([]string{"hoist --output json migrate " + d.ID}, "\n")},
			},
		}},
	}
}
