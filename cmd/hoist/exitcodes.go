package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/runtime"
)

// Exit codes, documented in docs/exit-codes.md and `hoist help exit-codes`.
const (
	exitOK          = 0
	exitError       = 1   // anything not listed below
	exitUsage       = 2   // wrong flags or arguments
	exitNotFound    = 3   // unknown app ID, missing workspace file
	exitInvalid     = 4   // a malformed input file (analysis.json, ...)
	exitUnavailable = 5   // a process, daemon or host resource is unreachable
	exitInterrupted = 130 // Ctrl-C or SIGTERM
)

const exitCodesHelp = `hoist exits with:
  0    success
  1    an error not listed below
  2    usage error: unknown flag, missing or extra argument
  3    not found: unknown app ID, or a workspace file an earlier phase writes is missing
  4    invalid input: a file (analysis.json, inventory.json, ...) is malformed; hoist wrote nothing
  5    unavailable: a process vanished, a daemon or host resource cannot be reached
  130  interrupted (Ctrl-C, SIGTERM)
`

// usageError marks errors in how hoist was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "hoist: ") {
		msg = "hoist: " + msg
	}
	fmt.Fprintln(stderr, msg)
	var ue usageError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, discover.ErrNotFound):
		return exitNotFound
	case errors.Is(err, discover.ErrInvalid), errors.Is(err, extract.ErrSecretFound):
		return exitInvalid
	case errors.Is(err, discover.ErrUnavailable), errors.Is(err, runtime.ErrEngineUnavailable), errors.Is(err, runtime.ErrPrerequisite):
		return exitUnavailable
	case isFlagError(msg):
		return exitUsage
	}
	return exitError
}

// isFlagError recognises the flag package's messages, which urfave/cli
// passes through unwrapped.
func isFlagError(msg string) bool {
	for _, s := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
