package discover

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// JavaCommand is a java launcher command line taken apart.
type JavaCommand struct {
	Launcher   string
	Options    []string // every JVM option in order, -D included
	Properties []KV     // the -D system properties, in order
	Classpath  []string
	MainClass  string
	Jar        string
	Module     string // -m module[/class]
	ModulePath []string
	Args       []string // arguments to the application
	ArgFiles   []string // @argfiles, which the launcher expands
}

// Prop returns the last value of a system property (the JVM keeps the last).
func (c *JavaCommand) Prop(key string) (string, bool) {
	for i := len(c.Properties) - 1; i >= 0; i-- {
		if c.Properties[i].Key == key {
			return c.Properties[i].Value, true
		}
	}
	return "", false
}

// javaOptsWithArg are launcher options whose value is the next argument.
var javaOptsWithArg = map[string]bool{
	"-cp": true, "-classpath": true, "--class-path": true,
	"-p": true, "--module-path": true, "--upgrade-module-path": true,
	"--add-modules": true, "--limit-modules": true, "--add-reads": true,
	"--add-exports": true, "--add-opens": true, "--patch-module": true,
	"--source": true, "--enable-native-access": true,
}

// ParseJavaCommand parses argv of a java process the way the launcher does.
// It never fails on odd input: what it cannot place ends up in Options.
func ParseJavaCommand(argv []string) (JavaCommand, error) {
	var c JavaCommand
	if len(argv) == 0 {
		return c, fmt.Errorf("parsing java command line: empty")
	}
	c.Launcher = argv[0]
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-jar":
			if i+1 >= len(argv) {
				return c, fmt.Errorf("parsing java command line: -jar without a jar file")
			}
			c.Jar = argv[i+1]
			c.Args = append([]string(nil), argv[i+2:]...)
			return c, nil
		case a == "-m" || a == "--module":
			if i+1 >= len(argv) {
				return c, fmt.Errorf("parsing java command line: %s without a module", a)
			}
			c.Module = argv[i+1]
			c.Args = append([]string(nil), argv[i+2:]...)
			return c, nil
		case strings.HasPrefix(a, "--module="):
			c.Module = strings.TrimPrefix(a, "--module=")
			c.Args = append([]string(nil), argv[i+1:]...)
			return c, nil
		case strings.HasPrefix(a, "-D"):
			k, v, _ := strings.Cut(a[2:], "=")
			c.Properties = append(c.Properties, KV{Key: k, Value: v})
			c.Options = append(c.Options, a)
		case strings.HasPrefix(a, "@"):
			c.ArgFiles = append(c.ArgFiles, a[1:])
			c.Options = append(c.Options, a)
		case javaOptsWithArg[a]:
			if i+1 >= len(argv) {
				return c, fmt.Errorf("parsing java command line: %s without a value", a)
			}
			v := argv[i+1]
			switch a {
			case "-cp", "-classpath", "--class-path":
				c.Classpath = splitPathList(v)
			case "-p", "--module-path":
				c.ModulePath = splitPathList(v)
			}
			c.Options = append(c.Options, a, v)
			i++
		case strings.HasPrefix(a, "--class-path="):
			c.Classpath = splitPathList(strings.TrimPrefix(a, "--class-path="))
			c.Options = append(c.Options, a)
		case strings.HasPrefix(a, "--module-path="):
			c.ModulePath = splitPathList(strings.TrimPrefix(a, "--module-path="))
			c.Options = append(c.Options, a)
		case strings.HasPrefix(a, "-"):
			c.Options = append(c.Options, a)
		default:
			c.MainClass = a
			c.Args = append([]string(nil), argv[i+1:]...)
			return c, nil
		}
	}
	return c, nil
}

func splitPathList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ":") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DotnetCommand is a dotnet, apphost or mono command line taken apart.
type DotnetCommand struct {
	Host        string   // dotnet, mono or the apphost itself
	HostOptions []string // options to the host before the entry point
	Entrypoint  string   // the .dll or .exe that runs
	Args        []string
	// SDK is set for "dotnet run" and friends: a developer setup, not a
	// deployed app.
	SDK string
}

var dotnetOptsWithArg = map[string]bool{
	"--additionalprobingpath": true, "--depsfile": true, "--runtimeconfig": true,
	"--fx-version": true, "--roll-forward": true, "--additional-deps": true,
	"--roll-forward-on-no-candidate-fx": true,
}

var monoOptsWithArg = map[string]bool{"--config": true, "--aot": false}

// ParseDotnetCommand parses `dotnet [options] app.dll args` and
// `dotnet exec [options] app.dll args`.
func ParseDotnetCommand(argv []string) (DotnetCommand, error) {
	var c DotnetCommand
	if len(argv) == 0 {
		return c, fmt.Errorf("parsing dotnet command line: empty")
	}
	c.Host = argv[0]
	i := 1
	if i < len(argv) && argv[i] == "exec" {
		i++
	}
	for ; i < len(argv); i++ {
		a := argv[i]
		switch {
		case dotnetOptsWithArg[a]:
			if i+1 >= len(argv) {
				return c, fmt.Errorf("parsing dotnet command line: %s without a value", a)
			}
			c.HostOptions = append(c.HostOptions, a, argv[i+1])
			i++
		case strings.HasPrefix(a, "-"):
			c.HostOptions = append(c.HostOptions, a)
		case strings.HasSuffix(strings.ToLower(a), ".dll") || strings.HasSuffix(strings.ToLower(a), ".exe"):
			c.Entrypoint = a
			c.Args = append([]string(nil), argv[i+1:]...)
			return c, nil
		case a == "":
			return c, fmt.Errorf("parsing dotnet command line: empty argument where the application was expected")
		default:
			// dotnet run, dotnet watch, dotnet test...: an SDK command.
			c.SDK = a
			c.Args = append([]string(nil), argv[i+1:]...)
			return c, nil
		}
	}
	return c, fmt.Errorf("parsing dotnet command line: no application .dll")
}

// ParseMonoCommand parses `mono [options] app.exe args`.
func ParseMonoCommand(argv []string) (DotnetCommand, error) {
	var c DotnetCommand
	if len(argv) == 0 {
		return c, fmt.Errorf("parsing mono command line: empty")
	}
	c.Host = argv[0]
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case monoOptsWithArg[a]:
			if i+1 >= len(argv) {
				return c, fmt.Errorf("parsing mono command line: %s without a value", a)
			}
			c.HostOptions = append(c.HostOptions, a, argv[i+1])
			i++
		case strings.HasPrefix(a, "-"):
			c.HostOptions = append(c.HostOptions, a)
		case a == "":
			return c, fmt.Errorf("parsing mono command line: empty argument where the assembly was expected")
		default:
			c.Entrypoint = a
			c.Args = append([]string(nil), argv[i+1:]...)
			return c, nil
		}
	}
	return c, fmt.Errorf("parsing mono command line: no assembly to run")
}

// maxCmdline is the largest command line hoist examines. Linux allows a
// few MiB; a java classpath of several hundred KiB is normal, anything
// larger is not an application hoist can reproduce faithfully anyway.
const maxCmdline = 1 << 20

// cleanArgv checks a command line read from /proc and makes it safe to
// print: invalid UTF-8 is replaced. It says why a command line is unusable.
func cleanArgv(argv []string) ([]string, string) {
	total := 0
	for _, a := range argv {
		total += len(a) + 1
	}
	if total > maxCmdline {
		return nil, "command line too large"
	}
	if !utf8.ValidString(argv[0]) {
		return nil, "binary command line"
	}
	for i, a := range argv {
		if !utf8.ValidString(a) {
			argv[i] = strings.ToValidUTF8(a, "\uFFFD")
		}
	}
	return argv, ""
}

// hostPath makes p absolute against dir (a process's working directory).
func hostPath(dir, p string) string {
	if p == "" {
		return ""
	}
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	if dir == "" {
		dir = "/"
	}
	return path.Join(dir, p)
}
