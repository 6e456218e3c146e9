// Command hoist-entry is the entry point hoist puts into an image when the
// app's config files or command line held secrets: it renders the secret
// values, passed in environment variables at deploy time, into the files
// and arguments in place of their placeholders, removes those variables
// from the environment and replaces itself with the app (exec), which then
// runs as PID 1 exactly as it would have. It is static and tiny, and needs
// no shell.
//
// Usage (written by containerize into the Dockerfile's ENTRYPOINT):
//
//	/.hoist/entry -- /path/to/java ARGS...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/hoistctl/hoist/extract/render"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "hoist-entry: %v\n", err)
		os.Exit(127)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return fmt.Errorf("no command to run; usage: %s -- COMMAND [ARGS...]", render.EntryPath)
	}
	plan := &render.Plan{}
	data, err := os.ReadFile(render.PlanPath)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, plan); err != nil {
			return fmt.Errorf("%s: %w", render.PlanPath, err)
		}
	}
	lookup := func(ref string) (string, bool) {
		name, ok := plan.Env[ref]
		if !ok {
			name = render.EnvName(ref)
		}
		return os.LookupEnv(name)
	}
	if err := render.Apply(plan, lookup); err != nil {
		return err
	}
	argv, err := render.Args(args, lookup)
	if err != nil {
		return fmt.Errorf("%w: set them from your secret store", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, render.EnvPrefix) {
			env = append(env, kv)
		}
	}
	bin := argv[0]
	if !strings.Contains(bin, "/") {
		if bin, err = exec.LookPath(bin); err != nil {
			return err
		}
	}
	return syscall.Exec(bin, argv, env)
}
