package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hoistctl/hoist/deploy/kubernetes"
	"github.com/hoistctl/hoist/generate"
)

// kubernetesDeployFlags are the flags of `hoist deploy --target kubernetes`.
func kubernetesDeployFlags() []cli.Flag {
	return []cli.Flag{
		// Not bound to $KUBECONFIG: the loader reads it (a list of files,
		// merged) as kubectl does when --kubeconfig is not given.
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubernetes: kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)"},
		&cli.StringFlag{Name: "context", Usage: "kubernetes: kubeconfig context (default the current context)"},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "kubernetes: namespace for the app's objects instead of the manifests' (kubernetes.namespace in deployment.json)"},
		&cli.BoolFlag{Name: "force-conflicts", Usage: "kubernetes: take over fields another field manager (kubectl edit, a controller) set to other values"},
		&cli.StringFlag{Name: "registry", Usage: "kubernetes: first push the image there (as `hoist push --registry`) and generate again, so the manifests run it pinned by digest"},
	}
}

// deployKubernetes applies APP/deploy/kubernetes to a cluster (or, with
// --delete, removes what hoist applied there).
func deployKubernetes(c *cli.Context, g *globals, id string) error {
	o := kubernetes.Options{
		Workspace: g.workspace, ID: id,
		Kubeconfig: c.String("kubeconfig"), Context: c.String("context"), Namespace: c.String("namespace"),
		ForceConflicts: c.Bool("force-conflicts"), DryRun: c.Bool("dry-run"),
		Wait: !c.Bool("no-wait"), Timeout: c.Duration("timeout"),
		Progress: g.stderr, Logf: g.logf,
	}
	if ns := o.Namespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return usageError{fmt.Sprintf("deploy --namespace %q: %s", ns, strings.Join(errs, "; "))}
		}
	}
	if o.Timeout <= 0 {
		return usageError{fmt.Sprintf("deploy --timeout %s: give a positive duration, for example --timeout 5m", o.Timeout)}
	}
	if reg := c.String("registry"); reg != "" {
		switch {
		case c.Bool("delete"):
			return usageError{"deploy --delete takes no --registry"}
		case c.Bool("dry-run"):
			return usageError{"deploy --dry-run changes nothing, so it pushes nothing: push first (`hoist push " + id + " --registry " + reg + "`, then `hoist generate " + id + "`) or leave out --registry"}
		}
		if err := pushAndGenerate(c, g, id, reg); err != nil {
			return err
		}
	}
	var res *kubernetes.Result
	var err error
	if c.Bool("delete") {
		if o.ForceConflicts {
			return usageError{"deploy --delete takes no --force-conflicts"}
		}
		res, err = kubernetes.Delete(c.Context, o)
	} else {
		res, err = kubernetes.Deploy(c.Context, o)
	}
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(g.stderr, "warning: %s\n", w)
		}
		if rerr := render(g, res, func(w *tabw) { kubernetesTable(w, res) }); rerr != nil {
			return rerr
		}
	}
	// A conflict, a refusal of the cluster's authorization or a failed
	// rollout exit 1; their messages say what to do.
	return err
}

func kubernetesTable(w *tabw, r *kubernetes.Result) {
	fmt.Fprintf(w, "app\t%s\n", r.App)
	fmt.Fprintf(w, "cluster\t%s (context %s)\n", r.Cluster, orDash(r.Context))
	fmt.Fprintf(w, "namespace\t%s\n", orDash(r.Namespace))
	if len(r.Images) > 0 {
		fmt.Fprintf(w, "image\t%s\n", strings.Join(r.Images, ", "))
	}
	verb := ""
	if r.DryRun {
		verb = "would be "
	}
	for _, o := range r.Objects {
		line := verb + o.Action
		if o.Note != "" {
			line += " (" + o.Note + ")"
		}
		fmt.Fprintf(w, "%s\t%s\n", o.Ref, line)
	}
	for _, ro := range r.Rollouts {
		line := ro.Outcome
		if ro.Replicas > 0 || ro.Outcome == kubernetes.RolloutComplete || ro.Outcome == kubernetes.RolloutTimedOut {
			line += fmt.Sprintf(" (%d of %d available)", ro.Available, ro.Replicas)
		}
		fmt.Fprintf(w, "rollout %s\t%s\n", ro.Ref, line)
		for _, p := range ro.Pods {
			fmt.Fprintf(w, "  pod %s\t%s\n", p.Name, strings.TrimPrefix(p.String(), p.Name+": "))
		}
	}
}

// pushAndGenerate is `hoist push APP --registry REF` followed by `hoist
// generate APP`: the Kubernetes manifests then run the pushed image.
func pushAndGenerate(c *cli.Context, g *globals, id, registry string) error {
	pushed, err := pushApp(c, g, id, registry)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "pushed %s (%s)\n", pushed.Reference, pushed.Digest)
	gen, err := generate.Generate(generate.Options{Workspace: g.workspace, ID: id, Logf: g.logf})
	if err != nil {
		return fmt.Errorf("generating %s again after the push: %w", id, err)
	}
	for _, w := range gen.Warnings {
		if w.Target == "kubernetes" && w.Field == "image" {
			fmt.Fprintln(g.stderr, "warning:", w.String())
		}
	}
	fmt.Fprintf(g.stderr, "generated %s again (%d files changed)\n", gen.Dir, len(gen.Changed))
	return nil
}
