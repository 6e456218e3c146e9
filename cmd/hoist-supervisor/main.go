// Command hoist-supervisor is hoist's engine supervisor: it runs hoist's
// containerd and buildkitd, restarting either when it dies, and the local
// runtime's control plane and load balancers. hoist starts it on demand
// (the first command that needs the engine) with the engine's settings in
// HOIST_ENGINE_* and HOIST_RUNTIME_* variables; it is not meant to be run by
// hand. It is the runtime's packages alone, so the process that lives as
// long as the engine maps only the code it runs; `hoist runtime serve` runs
// the same code from the hoist binary when this one is not installed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hoistctl/hoist/runtime"
)

// exitPrereq tells the keeper not to start a supervisor again that cannot
// run on this machine at all (hoist's exit status for an unavailable
// resource).
const exitPrereq = 5

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "hoist-supervisor takes no arguments: hoist starts it with the engine's settings in its environment (see `hoist runtime --help`)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runtime.Supervise(ctx, runtime.ConfigFromEnv(), os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hoist-supervisor: %v\n", err)
		if errors.Is(err, runtime.ErrPrerequisite) {
			os.Exit(exitPrereq)
		}
		os.Exit(1)
	}
}
