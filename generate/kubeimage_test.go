package generate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
)

// TestKubernetesImageFromPushRecord: after `hoist push`, the Kubernetes
// manifests run the pushed reference pinned by digest (and kustomization.yaml
// maps nothing); a record of another image or an older build is reported
// and not used.
func TestKubernetesImageFromPushRecord(t *testing.T) {
	const built = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const other = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	for _, tc := range []struct {
		name       string
		rec        *push.Record // nil: no push.json
		builtImage string       // "" = the case's image
		builtDig   string
		want       string // the container's image; "" = deployment.json's
		warn       string
	}{
		{name: "not pushed"},
		{name: "pushed", rec: &push.Record{Reference: "127.0.0.1:5000/team/app:latest", Digest: built, Registry: "127.0.0.1:5000"}, builtDig: built,
			want: "127.0.0.1:5000/team/app:latest@" + built},
		{name: "pushed by digest", rec: &push.Record{Reference: "registry.example.com/app@" + built, Digest: built, Registry: "registry.example.com"},
			want: "registry.example.com/app@" + built},
		{name: "another image pushed", rec: &push.Record{Reference: "127.0.0.1:5000/team/app:v1", Digest: built, Image: "hoist.local/other:v1"},
			warn: "records a push of hoist.local/other:v1"},
		{name: "rebuilt since the push", rec: &push.Record{Reference: "127.0.0.1:5000/team/app:latest", Digest: built}, builtDig: other,
			warn: "push again"},
		{name: "bad digest", rec: &push.Record{Reference: "127.0.0.1:5000/team/app:latest", Digest: "sha256:nothex"},
			warn: "digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, id := setupCase(t, "tomcat")
			d, err := deploymentFor(t, ws, id)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(ws.AppDir(id), "containerize")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.builtDig != "" {
				img := tc.builtImage
				if img == "" {
					img = d.Image
				}
				if err := os.WriteFile(filepath.Join(dir, "image.json"), []byte(`{"image":"`+img+`","digest":"`+tc.builtDig+`"}`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.rec != nil {
				r := *tc.rec
				if r.Image == "" {
					r.Image = d.Image
				}
				data, _ := discover.MarshalJSON(r)
				if err := os.WriteFile(push.RecordPath(ws, id), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Generate(Options{Workspace: ws, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			kdir := filepath.Join(DeployDir(ws, id), "kubernetes")
			dep, _ := os.ReadFile(filepath.Join(kdir, "deployment.yaml"))
			kust, _ := os.ReadFile(filepath.Join(kdir, "kustomization.yaml"))
			want := tc.want
			if want == "" {
				want = d.Image
			}
			if !strings.Contains(string(dep), "        image: "+want+"\n") {
				t.Errorf("deployment.yaml does not run %s:\n%s", want, grepLines(string(dep), "image:"))
			}
			readme, _ := os.ReadFile(filepath.Join(kdir, "README.md"))
			if pinned := tc.want != ""; pinned == strings.Contains(string(kust), "images:") ||
				pinned != strings.Contains(string(readme), "pinned by its digest\n(`"+tc.want+"`)") {
				t.Errorf("kustomization.yaml (pinned %v):\n%s\nREADME.md:\n%s", pinned, kust, readme)
			}
			var warned []string
			for _, w := range res.Warnings {
				if w.Field == "image" && w.Target == "kubernetes" {
					warned = append(warned, w.Message)
				}
			}
			switch {
			case tc.warn == "" && len(warned) > 0:
				t.Errorf("unexpected warnings: %q", warned)
			case tc.warn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.warn)):
				t.Errorf("warnings %q, want one saying %q", warned, tc.warn)
			}
		})
	}
}

// deploymentFor is the deployment generate would use for a case.
func deploymentFor(t *testing.T, ws discover.Workspace, id string) (*Deployment, error) {
	t.Helper()
	if d, err := LoadDeployment(ws, id); err == nil {
		return d, nil
	}
	a, err := loadAnalysis(ws, id)
	if err != nil {
		return nil, err
	}
	return DefaultDeployment(a, builtImage(ws, id)), nil
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPushRecordChangesOnlyKubernetes: the AWS targets run the ECR image
// under the tag of deployment.json's image whether or not `hoist push`
// ran; a push record changes the Kubernetes manifests and their README
// only (docs/generate.md, "The image each target runs").
func TestPushRecordChangesOnlyKubernetes(t *testing.T) {
	const dig = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	before := tree(t, DeployDir(ws, id))
	d, err := LoadDeployment(ws, id)
	if err != nil {
		t.Fatal(err)
	}
	ecr := "${AWS_ACCOUNT_ID}.dkr.ecr.${AWS_REGION}.amazonaws.com/" + d.Registry.RepositoryName + ":" + imageTag(d.Image)
	for file, want := range map[string]string{
		"ecs/task-definition.json": `"image": "` + ecr + `"`,
		"ecs/stack.yaml":           "${Repository.RepositoryUri}:${ImageTag}",
		"apprunner/stack.yaml":     "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + d.Registry.RepositoryName + ":${ImageTag}",
		"compose.yaml":             "image: " + d.Image + "\n",
	} {
		if !strings.Contains(string(before[file]), want) {
			t.Errorf("%s does not run %s:\n%s", file, want, grepLines(string(before[file]), "mage"))
		}
	}

	rec, _ := discover.MarshalJSON(push.Record{Image: d.Image, Reference: "registry.example.com/team/app:v7", Digest: dig, Registry: "registry.example.com"})
	if err := os.MkdirAll(filepath.Dir(push.RecordPath(ws, id)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(push.RecordPath(ws, id), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	after := tree(t, DeployDir(ws, id))
	for p, data := range after {
		kube := strings.HasPrefix(p, "kubernetes/")
		switch {
		case strings.HasPrefix(p, ".previous/") || p == ".generated":
		case kube && p == "kubernetes/deployment.yaml":
			if !strings.Contains(string(data), "image: registry.example.com/team/app:v7@"+dig+"\n") {
				t.Errorf("%s does not run the pushed image:\n%s", p, grepLines(string(data), "image:"))
			}
		case !kube && string(data) != string(before[p]):
			t.Errorf("%s changed with a push record:\n%s", p, firstDiff(string(before[p]), string(data)))
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !strings.HasPrefix(p, "kubernetes/") {
			t.Errorf("%s is gone after a push record", p)
		}
	}
}
