package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/deploy/kubetest"
	"github.com/hoistctl/hoist/deploy/registry"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

// kubeWorkspace is a workspace with the generic jar fixture analysed,
// built and pushed (image.json and push.json as containerize and push
// write them) and generated through the CLI.
func kubeWorkspace(t *testing.T, pushed bool) (ws, id string) {
	t.Helper()
	ws = t.TempDir()
	id = "java-generic-8e8e2b40"
	data, err := os.ReadFile(filepath.Join("..", "..", "generate", "testdata", "cases", "jar-two-ports-secret", "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(ws, id, "containerize")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(ws, id, "analysis.json"), string(data), 0o644)
	write(filepath.Join(ws, "secrets.json"), `{"`+id+`/env/WORKER_API_TOKEN": "cli-test-token-value"}`, 0o600)
	const dg = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
	write(filepath.Join(cdir, "image.json"), `{"image": "hoist.local/`+id+`:latest", "digest": "`+dg+`"}`, 0o644)
	if pushed {
		write(filepath.Join(cdir, "push.json"), `{"reference": "registry.example.com/`+id+`:latest", "digest": "`+dg+`", "registry": "registry.example.com", "image": "hoist.local/`+id+`:latest"}`, 0o644)
	}
	if _, errOut, code := run(t, nil, "--workspace", ws, "generate", id); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	return ws, id
}

type kubeResult struct {
	Namespace string `json:"namespace"`
	Objects   []struct {
		Ref, Action, Namespace string
	} `json:"objects"`
	Rollouts []struct {
		Ref, Outcome string
	} `json:"rollouts"`
}

// TestDeployKubernetesCommand drives `hoist deploy --target kubernetes`
// against a real kube-apiserver: JSON and table output, kubeconfig from
// the flag and from $KUBECONFIG, --context, --namespace, --dry-run,
// --delete, and the exit codes of what a user gets wrong.
func TestDeployKubernetesCommand(t *testing.T) {
	srv := kubetest.Start(t)
	ws, id := kubeWorkspace(t, true)
	kc, err := os.ReadFile(srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"--workspace", ws}
	deploy := func(env map[string]string, args ...string) (string, string, int) {
		t.Helper()
		// --output is a global flag: it goes before the command.
		global := append([]string{}, base...)
		var rest []string
		for i := 0; i < len(args); i++ {
			if args[i] == "-o" {
				global = append(global, "-o", args[i+1])
				i++
				continue
			}
			rest = append(rest, args[i])
		}
		return run(t, env, append(append(global, "deploy", "--target", "kubernetes"), append(rest, id)...)...)
	}
	noSecret := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "cli-test-token-value") {
			t.Errorf("%s shows the secret value:\n%s", what, s)
		}
	}

	t.Run("bad input", func(t *testing.T) {
		unreachable := strings.Replace(string(kc), srv.URL, "https://127.0.0.1:1", 1)
		forbidden := strings.Replace(string(kc), "    client-key: ", "    as: someone-without-rights\n    client-key: ", 1)
		for _, tc := range []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"zero timeout", []string{"--kubeconfig", srv.Kubeconfig, "--timeout", "0s"}, exitUsage, "positive duration"},
			{"bad namespace", []string{"--kubeconfig", srv.Kubeconfig, "-n", "Team_A"}, exitUsage, "--namespace \"Team_A\""},
			{"delete with force", []string{"--kubeconfig", srv.Kubeconfig, "--delete", "--force-conflicts"}, exitUsage, "--force-conflicts"},
			{"missing kubeconfig", []string{"--kubeconfig", filepath.Join(dir, "nope")}, exitNotFound, "--kubeconfig"},
			{"malformed kubeconfig", []string{"--kubeconfig", kubeconfig("bad", "apiVersion: v1\nkind: Config\nclusters: {{{\n")}, exitInvalid, "kubectl config view"},
			{"unknown context", []string{"--kubeconfig", srv.Kubeconfig, "--context", "prod"}, exitNotFound, "its contexts: hoist-test"},
			{"unreachable", []string{"--kubeconfig", kubeconfig("unreachable", unreachable)}, exitUnavailable, "kubectl cluster-info"},
			{"forbidden", []string{"--kubeconfig", kubeconfig("forbidden", forbidden)}, exitError, "kubectl auth can-i"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stdout, stderr, code := deploy(nil, tc.args...)
				t.Logf("%s", stderr)
				if code != tc.code || !strings.Contains(stderr, tc.msg) {
					t.Errorf("exit %d, want %d; stderr %q, want %q", code, tc.code, stderr, tc.msg)
				}
				noSecret("stdout", stdout)
				noSecret("stderr", stderr)
			})
		}
		// Not pushed: the image is hoist.local/..., which no cluster pulls.
		ws2, id2 := kubeWorkspace(t, false)
		_, stderr, code := run(t, nil, "--workspace", ws2, "deploy", "--target", "k8s", "--kubeconfig", srv.Kubeconfig, id2)
		if code != exitNotFound || !strings.Contains(stderr, "hoist push "+id2+" --registry REF") {
			t.Errorf("hoist.local image: exit %d: %s", code, stderr)
		}
	})

	t.Run("deploy, again, dry run, delete", func(t *testing.T) {
		stdout, stderr, code := deploy(nil, "--kubeconfig", srv.Kubeconfig, "--no-wait", "-o", "json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var res kubeResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		if len(res.Objects) != 6 || res.Namespace != id || len(res.Rollouts) != 1 || res.Rollouts[0].Outcome != "not waited" {
			t.Errorf("result: %+v", res)
		}
		for _, o := range res.Objects {
			if o.Action != "created" {
				t.Errorf("%s: %s", o.Ref, o.Action)
			}
		}
		if !strings.Contains(stderr, "deployment.apps/"+id+" created\n") {
			t.Errorf("progress on stderr:\n%s", stderr)
		}
		noSecret("stdout", stdout)
		noSecret("stderr", stderr)

		// Again, the kubeconfig from $KUBECONFIG and the context named:
		// the table, every object unchanged.
		stdout, stderr, code = deploy(map[string]string{"KUBECONFIG": srv.Kubeconfig}, "--context", "hoist-test", "--no-wait")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		t.Logf("table:\n%s", stdout)
		if strings.Count(stdout, " unchanged\n") != 6 || !strings.Contains(stdout, "registry.example.com/"+id+":latest@sha256:") || !strings.Contains(stdout, "context hoist-test") {
			t.Errorf("table:\n%s", stdout)
		}

		// A dry run into another namespace: the server is asked, nothing
		// is created.
		stdout, stderr, code = deploy(nil, "--kubeconfig", srv.Kubeconfig, "--dry-run", "-n", "staging")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		t.Logf("dry run:\n%s%s", stderr, stdout)
		if strings.Count(stderr, "Would have applied ") != 6 || !strings.Contains(stdout, "namespace/staging") || !strings.Contains(stdout, "would be created") {
			t.Errorf("dry run:\nstdout %s\nstderr %s", stdout, stderr)
		}
		if _, err := srv.Get("/api/v1/namespaces/staging"); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("the dry run created namespace staging: %v", err)
		}

		// Delete, as YAML.
		stdout, stderr, code = deploy(nil, "--kubeconfig", srv.Kubeconfig, "--delete", "-o", "yaml")
		if code != exitOK {
			t.Fatalf("delete: exit %d: %s", code, stderr)
		}
		if strings.Count(stdout, "action: deleted") != 5 || !strings.Contains(stdout, "action: kept") || strings.Count(stderr, " deleted\n") != 5 {
			t.Errorf("delete:\nstdout %s\nstderr %s", stdout, stderr)
		}
		if _, err := srv.Get("/apis/apps/v1/namespaces/" + id + "/deployments/" + id); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("the deployment is still there: %v", err)
		}
	})
}

// TestDeployKubernetesRegistry: deploy --registry pushes the image the
// engine built to a registry on loopback, generates again, and the
// Deployment on the API server runs the pushed reference pinned by the
// built digest.
func TestDeployKubernetesRegistry(t *testing.T) {
	cfg := enginetest.Start(t)
	srv := kubetest.Start(t)
	ctx := context.Background()
	ws, id := kubeWorkspace(t, false)

	// The engine's image, as `hoist containerize` would have built it.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app.txt /app.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("deployed by the kubernetes CLI test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "hoist.local/" + id + ":latest"
	built, err := buildkit.Build(ctx, buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: image, SourceDateEpoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	writeImageJSON(t, ws, id, image, built.Digest)
	_ = registry.SetLibraryLogLevel("error")
	reg, err := registry.Start(ctx, registry.Options{Addr: "127.0.0.1:0", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Stop(context.Background()) })

	args := []string{"--workspace", ws, "--engine-data-dir", cfg.DataDir, "--engine-state-dir", cfg.StateDir, "--engine-namespace", cfg.Namespace,
		"--engine-bin-dir", cfg.BinDir, "--runtime-bridge", cfg.Bridge, "--runtime-subnet", cfg.Subnet,
		"deploy", "--target", "kubernetes", "--kubeconfig", srv.Kubeconfig, "--no-wait"}
	env := map[string]string{"DOCKER_CONFIG": t.TempDir()}

	// Without --registry: refused, saying what to do.
	if _, stderr, code := run(t, env, append(args, id)...); code != exitNotFound || !strings.Contains(stderr, "--registry REF") {
		t.Fatalf("hoist.local image: exit %d: %s", code, stderr)
	}
	// --registry with --dry-run would push: refused.
	if _, stderr, code := run(t, env, append(args, "--dry-run", "--registry", reg.Addr+"/team/app", id)...); code != exitUsage {
		t.Errorf("dry run with --registry: exit %d: %s", code, stderr)
	}

	stdout, stderr, code := run(t, env, append(args, "--registry", reg.Addr+"/team/app", id)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := reg.Addr + "/team/app:latest@" + built.Digest
	if !strings.Contains(stderr, "pushed "+reg.Addr+"/team/app:latest") || !strings.Contains(stdout, want) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	body, err := srv.Get("/apis/apps/v1/namespaces/" + id + "/deployments/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Image string } `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &dep); err != nil || len(dep.Spec.Template.Spec.Containers) != 1 || dep.Spec.Template.Spec.Containers[0].Image != want {
		t.Errorf("the deployment runs %+v, want %s (%v)", dep.Spec.Template.Spec.Containers, want, err)
	}
	manifest, _ := os.ReadFile(filepath.Join(ws, id, "deploy", "kubernetes", "deployment.yaml"))
	if !strings.Contains(string(manifest), "image: "+want+"\n") {
		t.Errorf("deployment.yaml was not generated again:\n%s", manifest)
	}
}
