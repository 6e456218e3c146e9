package generate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

func TestGenerateIsDeterministicAndKeepsEdits(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	first := tree(t, ws.AppDir(id))
	res, err := Generate(Options{Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 || res.DeploymentCreated {
		t.Fatalf("second run changed %v (created %v)", res.Changed, res.DeploymentCreated)
	}
	second := tree(t, ws.AppDir(id))
	if len(first) != len(second) {
		t.Fatalf("%d files, then %d", len(first), len(second))
	}
	for p, data := range first {
		if !bytes.Equal(second[p], data) {
			t.Errorf("%s differs between two runs", p)
		}
	}
	if _, err := os.Stat(PreviousDir(ws, id)); !os.IsNotExist(err) {
		t.Errorf("an unchanged generation made .previous: %v", err)
	}

	// A file someone else put into deploy/ is left alone.
	own := filepath.Join(DeployDir(ws, id), "kubernetes", "team-networkpolicy.yaml")
	if err := os.WriteFile(own, []byte("# ours\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A user's edit survives and reaches the artifacts; the generation
	// before it is kept for review.
	dep := DeploymentPath(ws, id)
	data, _ := os.ReadFile(dep)
	edited := bytes.Replace(data, []byte(`"desiredCount": 2,`), []byte(`"desiredCount": 3,`), 1)
	edited = bytes.Replace(edited, []byte(`"enabled": true,
    "minCapacity": 2`), []byte(`"enabled": false,
    "minCapacity": 2`), 1)
	edited = bytes.Replace(edited, []byte(`"replicas": 2,`), []byte(`"replicas": 3,`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("edit did not apply")
	}
	if err := os.WriteFile(dep, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Generate(Options{Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(dep)
	if !bytes.Equal(after, edited) {
		t.Fatal("generate rewrote the edited deployment.json")
	}
	k, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "kubernetes", "deployment.yaml"))
	if !bytes.Contains(k, []byte("replicas: 3")) {
		t.Errorf("the edit did not reach deployment.yaml:\n%s", k)
	}
	if _, err := os.Stat(filepath.Join(DeployDir(ws, id), "kubernetes", "hpa.yaml")); !os.IsNotExist(err) {
		t.Errorf("hpa.yaml left behind after autoscaling was turned off: %v", err)
	}
	prev, err := os.ReadFile(filepath.Join(PreviousDir(ws, id), "kubernetes", "hpa.yaml"))
	if err != nil || !bytes.Equal(prev, first["deploy/kubernetes/hpa.yaml"]) {
		t.Errorf("the previous generation is not in .previous: %v", err)
	}
	st, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "ecs", "stack.json"))
	if !bytes.Contains(st, []byte(`"DesiredCount": 3`)) || bytes.Contains(st, []byte("ScalableTarget")) {
		t.Error("the edit did not reach the ECS stack")
	}
	if !strings.Contains(strings.Join(res.Changed, ","), "kubernetes/hpa.yaml") {
		t.Errorf("changed %v lacks the removed hpa.yaml", res.Changed)
	}
	if data, err := os.ReadFile(own); err != nil || string(data) != "# ours\n" {
		t.Errorf("generate removed or changed a file it did not write: %v", err)
	}
}

func TestMalformedDeploymentWritesNothing(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	before := tree(t, ws.AppDir(id))
	dep := DeploymentPath(ws, id)
	for _, c := range []struct{ from, to, want string }{
		{`"cpu": 1024,`, `"cpu": 1024,,`, "line 13, column 16"},
		{`"launchType": "FARGATE",`, `"launchType": "FARGATE", "launchTyp": "EC2",`, `unknown field "launchTyp"`},
		{`"memory": 2048,`, `"memory": 1234,`, "not a Fargate size"},
		{`"healthyThreshold": 2,`, `"healthyThreshold": 1,`, "healthCheck.healthyThreshold"},
		{`"image": "hoist.local/java-tomcat-409b80f3:latest",`, `"image": "hoist.local/../../Evil:latest",`, "is not an image reference"},
	} {
		bad := bytes.Replace(before["deployment.json"], []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(bad, before["deployment.json"]) {
			t.Fatalf("%s: edit did not apply", c.want)
		}
		if err := os.WriteFile(dep, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Generate(Options{Workspace: ws, ID: id})
		if err == nil || !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("want an ErrInvalid naming %q, got %v", c.want, err)
		}
		now := tree(t, ws.AppDir(id))
		if !bytes.Equal(now["deployment.json"], bad) {
			t.Fatal("the malformed deployment.json was overwritten")
		}
		for p, data := range before {
			if p != "deployment.json" && !bytes.Equal(now[p], data) {
				t.Fatalf("%s changed although the input was refused", p)
			}
		}
	}
}

func TestCheckValidatesHandEdits(t *testing.T) {
	ws, id := setupCase(t, "jar-two-ports-secret")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	res, err := Generate(Options{Workspace: ws, ID: id, Check: true})
	if err != nil || len(res.Changed) != 0 {
		t.Fatalf("fresh workspace: %v, changed %v", err, res.Changed)
	}
	dir := DeployDir(ws, id)
	edit := func(rel, from, to string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out := strings.Replace(string(data), from, to, 1)
		if out == string(data) {
			t.Fatalf("%s: %q not found", rel, from)
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A harmless edit is reported as a difference, not an error.
	edit("kubernetes/deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 60")
	res, err = Generate(Options{Workspace: ws, ID: id, Check: true})
	if err != nil || len(res.Changed) != 1 || res.Changed[0] != "kubernetes/deployment.yaml" {
		t.Fatalf("valid edit: %v, changed %v", err, res.Changed)
	}
	before := tree(t, ws.AppDir(id))
	edit("ecs/stack.yaml", "Type: AWS::ECS::Service", "Type: AWS::ECS::Servce")
	edit("ecs/task-definition.json", `"family": "java-generic-8e8e2b40",`, ``)
	edit("kubernetes/service.yaml", "port: 18086", "port: 0")
	_, err = Generate(Options{Workspace: ws, ID: id, Check: true})
	if !errors.Is(err, discover.ErrInvalid) {
		t.Fatalf("broken edits accepted: %v", err)
	}
	for _, want := range []string{"ecs/stack.yaml", "AWS::ECS::Servce", "task-definition.json", "family", "service.yaml", "spec.ports[0].port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	after := tree(t, ws.AppDir(id))
	for p := range before {
		if p != "deploy/ecs/stack.yaml" && p != "deploy/ecs/task-definition.json" && p != "deploy/kubernetes/service.yaml" && !bytes.Equal(before[p], after[p]) {
			t.Errorf("--check wrote %s", p)
		}
	}
}

func TestUnknownAppListsKnownOnes(t *testing.T) {
	ws := discover.Workspace{Dir: t.TempDir()}
	inv := &discover.Inventory{SchemaVersion: 1, Apps: []discover.App{{ID: "java-tomcat-1"}, {ID: "dotnet-2"}}}
	if err := ws.WriteInventory(inv); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(Options{Workspace: ws, ID: "nope"})
	if !errors.Is(err, discover.ErrNotFound) || !strings.Contains(err.Error(), "java-tomcat-1, dotnet-2") {
		t.Fatalf("got %v", err)
	}
}

func TestCloudFormationValidationFindsErrors(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "ecs", "stack.json"))
	for _, c := range []struct{ from, to, want string }{
		{`"DesiredCount": 2`, `"DesiredCount": "two"`, "Resources.Service.Properties.DesiredCount"},
		{`"LaunchType": "FARGATE"`, `"LaunchTyp": "FARGATE"`, "LaunchTyp"},
		{`"Ref": "Cluster"`, `"Ref": "Clutser"`, "Clutser"},
		{`"AWSTemplateFormatVersion": "2010-09-09"`, `"AWSTemplateFormatVersion": "2011-09-09"`, "AWSTemplateFormatVersion"},
	} {
		bad := strings.Replace(string(data), c.from, c.to, 1)
		if bad == string(data) {
			t.Fatalf("%q not in the template", c.from)
		}
		probs := validateTemplate("stack.json", []byte(bad))
		var all []string
		for _, p := range probs {
			all = append(all, p.String())
		}
		if !strings.Contains(strings.Join(all, "\n"), c.want) {
			t.Errorf("%s: problems %v lack %q", c.to, all, c.want)
		}
	}
}

func TestConfigFilesBecomeAConfigMap(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	// The build context as `hoist containerize` lays it out, with the
	// captured fixture's real config files.
	src := filepath.Join("..", "testdata", "procfs", "tomcat", "root")
	ctx := filepath.Join(ws.AppDir(id), "containerize", "context", "layers", "config", "0_0")
	for _, p := range []string{
		"/srv/fixture/tomcat-base/conf/server.xml",
		"/srv/fixture/tomcat-base/conf/tomcat-users.xml",
	} {
		data, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			t.Skipf("fixture file missing: %v", err)
		}
		if err := discover.WriteFileAtomic(filepath.Join(ctx, p), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Generate(Options{Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "kubernetes", "configmap.yaml"))
	server, _ := os.ReadFile(filepath.Join(src, "/srv/fixture/tomcat-base/conf/server.xml"))
	if !bytes.Contains(cm, []byte("server.xml: |")) || !bytes.Contains(cm, []byte("<Server")) || len(server) == 0 {
		t.Errorf("server.xml not in the ConfigMap:\n%s", cm)
	}
	if bytes.Contains(cm, []byte("tomcat-users.xml")) {
		t.Error("tomcat-users.xml holds a secret but is in the ConfigMap")
	}
	dep, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "kubernetes", "deployment.yaml"))
	if !bytes.Contains(dep, []byte("mountPath: /srv/fixture/tomcat-base/conf/server.xml")) || !bytes.Contains(dep, []byte("subPath: server.xml")) {
		t.Errorf("server.xml not mounted:\n%s", dep)
	}
	var warned bool
	for _, w := range res.Warnings {
		if strings.Contains(w.Message, "tomcat-users.xml holds secrets") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for the config file left in the image: %v", res.Warnings)
	}
	if probs := validateKubeFile("configmap.yaml", cm); len(probs) > 0 {
		t.Error(probs)
	}
}

func TestSecretValuesOnlyWhenAskedFor(t *testing.T) {
	ws, id := setupCase(t, "jar-two-ports-secret")
	secrets := []byte(`{"java-generic-8e8e2b40/env/WORKER_API_TOKEN": "s3cr3t-value"}` + "\n")
	if err := discover.WriteFileAtomic(ws.SecretsPath(), secrets, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	for p, data := range tree(t, ws.AppDir(id)) {
		if bytes.Contains(data, []byte("s3cr3t-value")) {
			t.Errorf("%s holds the secret's value", p)
		}
	}
	dep := DeploymentPath(ws, id)
	data, _ := os.ReadFile(dep)
	data = bytes.Replace(data, []byte(`"includeSecretValues": false`), []byte(`"includeSecretValues": true`), 1)
	if err := os.WriteFile(dep, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	sec, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "kubernetes", "secret.yaml"))
	if !bytes.Contains(sec, []byte("WORKER_API_TOKEN: s3cr3t-value")) {
		t.Errorf("secret.yaml:\n%s", sec)
	}
}

func TestUDPBehindAnALBIsAWarning(t *testing.T) {
	ws, id := setupCase(t, "jar-two-ports-secret")
	a, err := loadAnalysis(ws, id)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultDeployment(a, "")
	d.HealthCheck.Protocol, d.HealthCheck.Path, d.HealthCheck.Matcher = "HTTP", "/", "200-399"
	d.LoadBalancer.Type, d.LoadBalancer.ListenerPort, d.LoadBalancer.ListenerProtocol = LoadBalancerApplication, 80, "HTTP"
	res := generateWith(t, ws, id, d)
	for _, w := range res.Warnings {
		if w.Target == "ecs" && strings.Contains(w.Message, "udp/18087) cannot be behind an application load balancer") {
			readme, _ := os.ReadFile(filepath.Join(DeployDir(ws, id), "ecs", "README.md"))
			if !bytes.Contains(readme, []byte("cannot be behind an application load balancer")) {
				t.Error("the warning is not in ecs/README.md")
			}
			return
		}
	}
	t.Fatalf("no warning for the UDP port: %v", res.Warnings)
}

// Every captured app type generates artifacts that pass every validation.
func TestGenerateEveryCapturedApp(t *testing.T) {
	for id, a := range capturedAnalyses(t) {
		t.Run(id, func(t *testing.T) {
			ws := discover.Workspace{Dir: t.TempDir()}
			data, err := discover.MarshalJSON(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := discover.WriteFileAtomic(ws.AnalysisPath(id), data, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := Generate(Options{Workspace: ws, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Generate(Options{Workspace: ws, ID: id, Check: true}); err != nil {
				t.Fatalf("--check after generate: %v", err)
			}
			if len(res.Files) < 15 {
				t.Errorf("only %d files: %v", len(res.Files), res.Files)
			}
			if _, err := LoadTaskDefinition(ws, id); err != nil {
				t.Errorf("LoadTaskDefinition: %v", err)
			}
		})
	}
}

func TestStaleDeploymentIsReported(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	// The analysis gains a port and containerize builds a new tag.
	a, err := loadAnalysis(ws, id)
	if err != nil {
		t.Fatal(err)
	}
	a.ContainerParameters.Ports = append(a.ContainerParameters.Ports, discover.ExposedPort{Port: 18443, Protocol: "tcp"})
	data, _ := discover.MarshalJSON(a)
	if err := discover.WriteFileAtomic(ws.AnalysisPath(id), data, 0o644); err != nil {
		t.Fatal(err)
	}
	img := []byte(`{"image": "hoist.local/java-tomcat-409b80f3:v2"}`)
	if err := discover.WriteFileAtomic(filepath.Join(ws.AppDir(id), "containerize", "image.json"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Generate(Options{Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	var port, image bool
	for _, w := range res.Warnings {
		port = port || (w.Field == "containerParameters.ports" && strings.Contains(w.Message, "tcp/18443"))
		image = image || (w.Field == "image" && strings.Contains(w.Message, ":v2"))
	}
	if !port || !image {
		t.Fatalf("warnings %v", res.Warnings)
	}
}

func TestMalformedAnalysisIsRefused(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	data, _ := os.ReadFile(ws.AnalysisPath(id))
	bad := bytes.Replace(data, []byte(`"schemaVersion": 1,`), []byte(`"schemaVersion": "one",`), 1)
	if err := os.WriteFile(ws.AnalysisPath(id), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(Options{Workspace: ws, ID: id})
	if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), "line 2, column") || !strings.Contains(err.Error(), "schemaVersion") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(DeploymentPath(ws, id)); !os.IsNotExist(err) {
		t.Error("deployment.json written from a malformed analysis")
	}
	if _, err := os.Stat(DeployDir(ws, id)); !os.IsNotExist(err) {
		t.Error("artifacts written from a malformed analysis")
	}
}

// An analysis.json whose containerParameters a hand edit broke (a port of
// -1) is refused before anything is written; before, generate dropped the
// port from portMappings with a warning and wrote a service with no port.
func TestInvalidContainerParametersAreRefused(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	data, _ := os.ReadFile(ws.AnalysisPath(id))
	bad := bytes.Replace(data, []byte(`"port": 18081,
        "protocol": "tcp"`), []byte(`"port": -1,
        "protocol": "tcp"`), 1)
	if bytes.Equal(bad, data) {
		t.Fatal("edit did not apply")
	}
	if err := os.WriteFile(ws.AnalysisPath(id), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(Options{Workspace: ws, ID: id})
	if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), "containerParameters.ports[0].port: -1 is not a port") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(DeploymentPath(ws, id)); !os.IsNotExist(err) {
		t.Error("deployment.json written from an invalid analysis")
	}
	if _, err := os.Stat(DeployDir(ws, id)); !os.IsNotExist(err) {
		t.Error("artifacts written from an invalid analysis")
	}
}

// A directory where a workspace file belongs (analysis.json,
// deployment.json, an artifact) is invalid input that says what to do,
// and generate writes nothing; before, it was "read X: is a directory"
// (exit 1), and an artifact in the way stopped the writing half way, after
// the files before it had been replaced.
func TestDirectoryInPlaceOfAFile(t *testing.T) {
	ws, id := setupCase(t, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
	dep := DeploymentPath(ws, id)
	data, _ := os.ReadFile(dep)
	edited := bytes.Replace(data, []byte(`"desiredCount": 2,`), []byte(`"desiredCount": 3,`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("edit did not apply")
	}
	if err := os.WriteFile(dep, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	stack := filepath.Join(DeployDir(ws, id), "ecs", "stack.yaml")
	for _, p := range []string{stack, ws.AnalysisPath(id), dep} {
		before := tree(t, ws.AppDir(id))
		saved := p + ".saved"
		if err := os.Rename(p, saved); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, check := range []bool{true, false} {
			_, err := Generate(Options{Workspace: ws, ID: id, Check: check})
			if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), p+" is a directory") || !strings.Contains(err.Error(), "move it out of the way") {
				t.Errorf("%s a directory, check %v: %v", filepath.Base(p), check, err)
			}
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(saved, p); err != nil {
			t.Fatal(err)
		}
		after := tree(t, ws.AppDir(id))
		for name, data := range before {
			if !bytes.Equal(after[name], data) {
				t.Errorf("%s a directory: %s changed", filepath.Base(p), name)
			}
		}
	}
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		t.Fatal(err)
	}
}
