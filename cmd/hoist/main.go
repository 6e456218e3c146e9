// Command hoist moves running Java and .NET applications into containers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	// The exit code is decided before stop(), which cancels ctx.
	code := exitCode(ctx, err, os.Stderr)
	stop()
	os.Exit(code)
}
