package generate

import (
	"fmt"
	"strings"
)

type readme struct {
	name string
	data []byte
}

// readmes writes one README.md per folder: how to deploy by hand, and what
// the target does not express.
// pinnedImage is the pushed image the Kubernetes manifests run (see
// kubeImage), "" when they run deployment.json's.
func readmes(d *Deployment, pinnedImage string, w *warnings) []readme {
	ws := w.sorted()
	section := func(targets ...string) string {
		var b strings.Builder
		for _, x := range ws {
			if inStrings(x.Target, targets...) {
				fmt.Fprintf(&b, "- `%s`: %s\n", x.Field, x.Message)
			}
		}
		if b.Len() == 0 {
			return ""
		}
		return "\n## What this target does not express\n\n" + b.String()
	}
	head := func(title string) string {
		return fmt.Sprintf("# %s: %s\n\nWritten by `hoist generate %s` from `deployment.json` (edit that file and\ngenerate again; hand edits here are checked by `hoist generate --check %s`\nand replaced by the next generate).\n\n", d.ID, title, d.ID, d.ID)
	}
	secretParams := ""
	if len(d.Secrets) > 0 {
		var ps []string
		for i, s := range d.Secrets {
			ps = append(ps, fmt.Sprintf("%s=<value of %s>", secretParam(i), s.SecretRef))
		}
		secretParams = " \\\n    " + strings.Join(ps, " \\\n    ")
	}
	lbParams := ""
	if d.LoadBalancer.Type != LoadBalancerNone && d.Schedule == nil {
		lbParams = " LoadBalancerSubnet1=subnet-c LoadBalancerSubnet2=subnet-d"
	}
	ecsReadme := head("Amazon ECS") + fmt.Sprintf("The image goes to the ECR repository `%s`; the stack creates it.\n\n", d.Registry.RepositoryName) +
		"```sh\n" +
		"# 1. the whole stack (cluster, repository, roles, logs, secrets, service ...)\n" +
		"aws cloudformation deploy --stack-name " + d.Family + " --template-file stack.yaml \\\n" +
		"    --capabilities CAPABILITY_NAMED_IAM \\\n" +
		"    --parameter-overrides VpcId=vpc-... Subnet1=subnet-a Subnet2=subnet-b" + lbParams + secretParams + "\n" +
		"# 2. push the image (the service starts once it is there)\n" +
		"REPO=$(aws cloudformation describe-stacks --stack-name " + d.Family + " --query \"Stacks[0].Outputs[?OutputKey=='RepositoryUri'].OutputValue\" --output text)\n" +
		"aws ecr get-login-password | docker login --username AWS --password-stdin \"${REPO%%/*}\"\n" +
		"docker tag " + d.Image + " \"$REPO:" + imageTag(d.Image) + "\" && docker push \"$REPO:" + imageTag(d.Image) + "\"\n" +
		"```\n\n" +
		"`stack.json` is the same template in JSON. `task-definition.json` is the\n" +
		"RegisterTaskDefinition input on its own, for an existing cluster; fill the\n" +
		"account placeholders first:\n\n" +
		"```sh\n" +
		"export AWS_ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text) AWS_REGION=$(aws configure get region)\n" +
		"envsubst < task-definition.json > /tmp/td.json\n" +
		"aws ecs register-task-definition --cli-input-json file:///tmp/td.json\n" +
		"```\n" + section("ecs", "all")
	arReadme := head("AWS App Runner") +
		"The image must already be in ECR (deploy `../ecs/stack.yaml` or push it).\n\n" +
		"```sh\naws cloudformation deploy --stack-name " + d.Family + "-apprunner --template-file stack.yaml --capabilities CAPABILITY_IAM\n```\n" +
		section("apprunner")
	pipeReadme := head("build and deploy pipeline") +
		"`stack.yaml` creates a CodePipeline that takes the repository holding this\n" +
		"workspace through a CodeStar connection, rebuilds the image with CodeBuild\n" +
		"(`buildspec.yml`, from the Dockerfile and build context `hoist containerize`\n" +
		"wrote) and rolls it out to the ECS service of `../ecs/stack.yaml`.\n\n" +
		"```sh\naws cloudformation deploy --stack-name " + d.Family + "-pipeline --template-file stack.yaml --capabilities CAPABILITY_IAM \\\n" +
		"    --parameter-overrides ConnectionArn=arn:aws:codeconnections:... RepositoryId=owner/repo\n```\n\n" +
		"`github-actions.yml` is the same job for GitHub Actions: it runs `hoist\n" +
		"migrate` non-interactively with an AWS role (`vars.HOIST_DEPLOY_ROLE_ARN`).\n" +
		"Copy it to `.github/workflows/` of the repository.\n" + section("pipeline")
	imageNote := "`kustomization.yaml` maps the image to the ECR repository; change it with\n" +
		"`kustomize edit set image`. "
	if pinnedImage != "" {
		imageNote = "The manifests run the image `hoist push` recorded, pinned by its digest\n" +
			"(`" + pinnedImage + "`);\n`kustomization.yaml` maps no image. "
	}
	storageNote := ""
	if len(sharedVolumes(d)) > 0 {
		storageNote = "\nThe claims in `pvc.yaml` use the StorageClass `" + d.Kubernetes.StorageClassName + "`, which\n"
		if d.Kubernetes.ExistingStorageClass {
			storageNote += "the cluster must already have (`kubernetes.existingStorageClass`).\n"
		} else {
			storageNote += "`storageclass.yaml` defines with this app's parameters (EFS access points\nunder `/" + d.Family + "`); a StorageClass is cluster-wide, so the name must be\nthis app's alone.\n"
		}
	}
	k8sReadme := head("Kubernetes (EKS or any cluster)") +
		"```sh\n" +
		"kubectl apply --server-side -k .          # or: kustomize build . | kubectl apply -f -\n" +
		"kubectl -n " + d.Kubernetes.Namespace + " rollout status deployment/" + d.Family + "\n" +
		"```\n\n" +
		imageNote +
		"`secret.yaml` holds the keys only (set\n" +
		"`kubernetes.includeSecretValues` to write the values, and keep the file\n" +
		"out of git); fill them with:\n\n" +
		"```sh\nkubectl -n " + d.Kubernetes.Namespace + " create secret generic " + d.Family + "-secrets --from-env-file=SECRETS.env --dry-run=client -o yaml | kubectl apply -f -\n```\n" +
		storageNote + section("kubernetes")
	out := []readme{
		{"README.md", []byte(head("deployment artifacts") +
			"| folder | target |\n| --- | --- |\n" +
			"| `ecs/` | Amazon ECS: task definition and CloudFormation stack |\n" +
			"| `apprunner/` | AWS App Runner (when `appRunner.enabled`) |\n" +
			"| `pipeline/` | CodePipeline + CodeBuild, GitHub Actions |\n" +
			"| `kubernetes/` | Kubernetes manifests and kustomization |\n" +
			"| `compose.yaml` | Docker Compose: `docker compose -f compose.yaml up` |\n\n" +
			"`.previous/` holds the generation before the last change, for review.\n" + section("all", "compose"))},
		{"ecs/README.md", []byte(ecsReadme)},
		{"apprunner/README.md", []byte(arReadme)},
		{"pipeline/README.md", []byte(pipeReadme)},
		{"kubernetes/README.md", []byte(k8sReadme)},
	}
	if !d.AppRunner.Enabled {
		out = append(out[:2], out[3:]...)
	}
	return out
}
