package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed lets flags follow the arguments, as in
// `hoist push APP --registry REF` or `hoist deploy APP --delete`:
// urfave/cli v2 stops reading flags at the first argument, so the flags of
// the command being run are moved in front of its arguments. Everything
// after "--" is left as it is.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	global := app.Flags
	flags := app.Flags
	cmds := app.Commands
	for {
		// The flags before the next command name stay where they are.
		i := 0
		for i < len(rest) {
			a := rest[i]
			if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
				break
			}
			i++
			if takesValue(flags, a) && !strings.Contains(a, "=") && i < len(rest) {
				i++
			}
		}
		out = append(out, rest[:i]...)
		rest = rest[i:]
		if len(rest) == 0 || rest[0] == "--" {
			return append(out, rest...)
		}
		cmd := findCommand(cmds, rest[0])
		if cmd == nil {
			// Not a command: the arguments of the command reached so far.
			break
		}
		out = append(out, rest[0])
		rest = rest[1:]
		if len(cmd.Subcommands) > 0 {
			flags, cmds = cmd.Flags, cmd.Subcommands
			continue
		}
		flags, cmds = cmd.Flags, nil
	}
	// The command's own flags go in front of its arguments; hoist's global
	// flags (-o, -w, -v, ...) in front of the command names, where
	// urfave/cli reads them.
	var moved, movedGlobal, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		to, fs := &moved, flags
		if !isFlag(flags, a) {
			if lookupFlag(global, a) == nil {
				positional = append(positional, a)
				continue
			}
			to, fs = &movedGlobal, global
		}
		*to = append(*to, a)
		if takesValue(fs, a) && !strings.Contains(a, "=") && i+1 < len(rest) {
			*to = append(*to, rest[i+1])
			i++
		}
	}
	out = append(append([]string{out[0]}, movedGlobal...), out[1:]...)
	out = append(out, moved...)
	return append(out, positional...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// flagName is the name of "-x", "--name" or "--name=value".
func flagName(a string) string {
	a = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(a, '='); i >= 0 {
		a = a[:i]
	}
	return a
}

func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name := flagName(a)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// isFlag says whether a is one of the command's flags (an argument that
// merely starts with "-", such as a negative number, is not moved).
func isFlag(flags []cli.Flag, a string) bool {
	return lookupFlag(flags, a) != nil || flagName(a) == "help" || flagName(a) == "h"
}

// takesValue says whether the flag reads the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	f := lookupFlag(flags, a)
	if f == nil {
		return false
	}
	if dg, ok := f.(cli.DocGenerationFlag); ok {
		return dg.TakesValue()
	}
	return true
}
