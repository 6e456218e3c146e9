package discover

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/hoistctl/hoist/discover/appconfig"
)

// AnalyzeOptions configures Analyze.
type AnalyzeOptions struct {
	Host      Host
	Workspace Workspace
	ID        string
	// Force regenerates the editable part of an existing analysis.json
	// (and overwrites one that cannot be parsed).
	Force bool
}

// maxConfigFile is the largest config file hoist parses.
const maxConfigFile = 8 << 20

// Analyze examines one app and writes APP/analysis.json and its secrets.
func Analyze(ctx context.Context, opts AnalyzeOptions) (*Analysis, error) {
	// Refuse early, before any work, when the existing file is broken: the
	// user's edits must never be lost to a re-run.
	var prev *Analysis
	if !opts.Force {
		p, err := opts.Workspace.ReadAnalysis(opts.ID)
		switch {
		case err == nil:
			prev = p
		case errors.Is(err, ErrNotFound):
		default:
			return nil, fmt.Errorf("keeping your edits to %s: %w (nothing was written)", opts.Workspace.AnalysisPath(opts.ID), err)
		}
	}
	r, err := scan(ctx, ScanOptions{Host: opts.Host})
	if err != nil {
		return nil, err
	}
	var g *group
	var known []string
	for _, gg := range r.groups {
		known = append(known, gg.id)
		if gg.id == opts.ID {
			g = gg
		}
	}
	if g == nil && prev != nil {
		return nil, fmt.Errorf("analyzing %q: %w: the app is not running now; its earlier analysis %s is kept as it was: start the app and run `hoist analyze %s` again, or go on from that analysis with `hoist extract %s`", opts.ID, ErrUnavailable, opts.Workspace.AnalysisPath(opts.ID), opts.ID, opts.ID)
	}
	if g == nil {
		hint := "no Java or .NET applications are running on this host"
		if len(known) > 0 {
			hint = "known apps: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("analyzing %q: %w: no running app has this ID (%s); run `hoist inventory` to list them", opts.ID, ErrNotFound, hint)
	}
	a, secrets := r.analyze(ctx, g)
	if prev != nil {
		a.ContainerParameters = prev.ContainerParameters
	}
	if err := opts.Workspace.init(); err != nil {
		return nil, err
	}
	if err := opts.Workspace.replaceAppSecrets(a.ID, secrets.values); err != nil {
		return nil, err
	}
	data, err := MarshalJSON(a)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(opts.Workspace.AnalysisPath(a.ID), data, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", opts.Workspace.AnalysisPath(a.ID), err)
	}
	return a, nil
}

// secretSink collects secret values under references; only the secrets file
// ever receives the values.
type secretSink struct {
	app     string
	values  Secrets
	summary []SecretSummary
}

// add records a secret and returns its reference.
func (s *secretSink) add(source, key, value, reason string) string {
	ref := s.app + "/" + source + "/" + key
	if old, ok := s.values[ref]; ok && old != value {
		for i := 2; ; i++ {
			r := ref + "#" + strconv.Itoa(i)
			if _, ok := s.values[r]; !ok {
				ref = r
				break
			}
		}
	}
	if _, ok := s.values[ref]; !ok {
		s.summary = append(s.summary, SecretSummary{Ref: ref, Source: source, Key: key, Reason: reason})
	}
	s.values[ref] = value
	return ref
}

// monoPackages are the Debian packages whose version is Mono's.
var monoPackages = []string{"mono-runtime", "mono-runtime-sgen", "mono-complete"}

// placeholder marks where a secret was in a command line or option.
func placeholder(ref string) string { return "{{secret:" + ref + "}}" }

// classify checks a key/value and, when it holds a secret, records it and
// returns the reference.
func (s *secretSink) classify(source, key, value string) (string, bool) {
	found := appconfig.ClassifySetting(key, value)
	if len(found) == 0 {
		return "", false
	}
	return s.add(source, key, value, found[0].Reason), true
}

// analyzer carries one analysis in progress.
type analyzer struct {
	r        *scanResult
	g        *group
	m        *candidate
	a        *Analysis
	sink     *secretSink
	deps     map[string]*Dependency
	appDirs  []string
	warnings []string
	ownPorts map[uint32]bool
}

func (r *scanResult) analyze(ctx context.Context, g *group) (*Analysis, *secretSink) {
	m := g.main()
	z := &analyzer{
		r: r, g: g, m: m,
		a:    &Analysis{SchemaVersion: SchemaVersion, ID: g.id, Type: m.typ},
		sink: &secretSink{app: g.id, values: Secrets{}},
		deps: map[string]*Dependency{},
	}
	o := &z.a.Observed
	o.Host = r.hostname
	z.process(ctx)
	z.runtime(ctx)
	z.server()
	z.network()
	z.environment(ctx)
	z.configFiles()
	z.files()
	for _, d := range z.deps {
		sort.Strings(d.Sources)
		o.Dependencies = append(o.Dependencies, *d)
	}
	sort.Slice(o.Dependencies, func(i, j int) bool {
		a, b := o.Dependencies[i], o.Dependencies[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.Port < b.Port
	})
	o.Secrets = z.sink.summary
	sort.Slice(o.Secrets, func(i, j int) bool { return o.Secrets[i].Ref < o.Secrets[j].Ref })
	z.defaults()
	o.Warnings = z.warnings
	return z.a, z.sink
}

func (z *analyzer) warn(format string, args ...any) {
	z.warnings = append(z.warnings, fmt.Sprintf(format, args...))
}

func (z *analyzer) process(ctx context.Context) {
	m, o := z.m, &z.a.Observed
	pi := &o.Process
	pi.PID, pi.PPID, pi.Exe, pi.Cwd = m.pid, m.ppid, m.exe, m.cwd
	for _, c := range z.g.procs[1:] {
		pi.ChildPIDs = append(pi.ChildPIDs, c.pid)
	}
	pi.UID, pi.GID = m.uid, m.gid
	pi.User, pi.Group = z.r.users.user(m.uid), z.r.users.group(m.gid)
	hctx := z.r.host.context(ctx)
	if groups, err := m.p.GroupsWithContext(hctx); err == nil {
		for _, g := range groups {
			if uint32(g) != m.gid {
				pi.Supplementary = append(pi.Supplementary, uint32(g))
			}
		}
	}
	pi.Cmdline = z.redactArgs("cmdline", m.argv)
	if data, err := z.r.host.readProcFile(m.pid, "limits"); err == nil {
		pi.Ulimits = nonDefaultUlimits(data)
	} else {
		z.warn("reading ulimits of pid %d: %v", m.pid, err)
	}
	if m.cwd == "" {
		z.warn("working directory of pid %d is not readable; run as root", m.pid)
	}
}

// redactArgs replaces secret values in a command line with placeholders.
func (z *analyzer) redactArgs(source string, argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = a
		key, val, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-D") {
			key, val, hasEq = strings.Cut(a[2:], "=")
		}
		if hasEq {
			if ref, ok := z.sink.classify(source, key, val); ok {
				out[i] = a[:len(a)-len(val)] + placeholder(ref)
			}
			continue
		}
		// "--password secret": the value follows a secret-looking flag.
		if i > 0 && strings.HasPrefix(argv[i-1], "-") && !strings.Contains(argv[i-1], "=") {
			if ref, ok := z.sink.classify(source, strings.TrimLeft(argv[i-1], "-"), a); ok {
				out[i] = placeholder(ref)
				continue
			}
		}
		if ref, ok := z.sink.classify(source, "arg"+strconv.Itoa(i), a); ok {
			out[i] = placeholder(ref)
		}
	}
	return out
}

func (z *analyzer) runtime(ctx context.Context) {
	m, rt := z.m, &z.a.Observed.Runtime
	switch {
	case m.java != nil:
		jc := m.java
		javaRuntime(ctx, z.r.host, m.exe, rt)
		if rt.Version == "" {
			z.warn("java version unknown: no release file in %s and the binary could not be run", rt.Home)
		}
		opts := z.redactArgs("jvm", jc.Options)
		rt.JVMOptions = opts
		for _, p := range jc.Properties {
			kv := p
			if ref, ok := z.sink.classify("jvm", p.Key, p.Value); ok {
				kv = KV{Key: p.Key, Secret: ref}
			}
			rt.SystemProperties = append(rt.SystemProperties, kv)
			if ep, ok := appconfig.ParseEndpoint(p.Value); ok {
				z.dep(ep, "system property "+p.Key)
			}
		}
		rt.MainClass = jc.MainClass
		if jc.Module != "" {
			rt.MainClass = jc.Module
		}
		rt.MainJar = hostPath(m.cwd, jc.Jar)
		for _, c := range jc.Classpath {
			rt.Classpath = append(rt.Classpath, hostPath(m.cwd, c))
		}
		rt.Args = z.redactArgs("args", jc.Args)
		if len(jc.ArgFiles) > 0 {
			z.warn("the java command line reads options from @argfiles %v; they are not expanded here", jc.ArgFiles)
		}
	case m.typ == TypeMono || m.typ == TypeMonoXSP:
		rt.Kind = "mono"
		rt.Entrypoint = hostPath(m.cwd, m.dotnet.Entrypoint)
		// Mono's class libraries, not the prefix its binary is in (/usr).
		rt.Home = path.Join(path.Dir(path.Dir(m.exe)), "lib", "mono")
		rt.Args = z.redactArgs("args", m.dotnet.Args)
		for _, pkg := range monoPackages {
			if v := dpkgVersion(z.r.host, pkg); v != "" {
				rt.Version, rt.VersionSource = v, "dpkg package "+pkg
				break
			}
		}
		if rt.Version == "" {
			z.warn("mono version unknown: no mono-runtime package in the dpkg database")
		}
	case m.dotnet != nil:
		entry := m.dotnet.Entrypoint
		if m.typ == TypeDotnet {
			entry = hostPath(m.cwd, entry)
		}
		maps := z.mappedFiles()
		if err := dotnetRuntime(z.r.host, entry, maps, rt); err != nil {
			z.warn("%v", err)
		}
		if m.dotnet.SDK != "" {
			z.warn("the app runs through `dotnet %s`, an SDK command: publish it (`dotnet publish`) and run the published dll so hoist can containerize it", m.dotnet.SDK)
		}
		rt.Args = z.redactArgs("args", m.dotnet.Args)
		if rt.Version == "" {
			z.warn(".NET runtime version unknown: no runtimeconfig.json and no shared framework mapped")
		}
	}
}

// mappedFiles lists the files the main process has mapped (libraries).
func (z *analyzer) mappedFiles() []string {
	data, err := z.r.host.readProcFile(z.m.pid, "maps")
	if err != nil {
		z.warn("reading memory maps of pid %d: %v", z.m.pid, err)
		return nil
	}
	return parseMaps(data)
}

// parseMaps returns the distinct file paths in /proc/PID/maps, sorted.
func parseMaps(data []byte) []string {
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		p := strings.Join(f[5:], " ")
		p = strings.TrimSuffix(p, " (deleted)")
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (z *analyzer) server() {
	m := z.m
	if m.server == "" {
		return
	}
	s := &ServerInfo{Type: m.server, Home: m.home, Base: m.base}
	s.Version, _ = serverVersion(z.r.host, m.server, m.home)
	if s.Version == "" && m.server != "xsp" {
		z.warn("%s version unknown: no version file found under %s", m.server, m.home)
	}
	switch m.server {
	case "tomcat", "tomee":
		s.WebApps = z.tomcatWebApps()
	case "jetty":
		s.WebApps = z.dirWebApps(path.Join(m.base, "webapps"), ".war")
	case "jboss":
		s.WebApps = z.dirWebApps(path.Join(m.base, "deployments"), ".war", ".ear", ".jar")
	case "xsp":
		s.WebApps = []WebApp{{Name: path.Base(m.base), ContextPath: "/", Path: m.base, Kind: "exploded"}}
	}
	z.a.Observed.Server = s
}

// contextPath turns a deployed app's name into its context path. Tomcat:
// ROOT is /, foo#bar is /foo/bar, foo##2 is version 2 of /foo. Jetty serves
// "root" in any case at /.
func contextPath(server, name string) string {
	name, _, _ = strings.Cut(name, "##")
	if name == "ROOT" || name == "" || (server == "jetty" && strings.EqualFold(name, "root")) {
		return "/"
	}
	return "/" + strings.ReplaceAll(name, "#", "/")
}

func (z *analyzer) dirWebApps(dir string, exts ...string) []WebApp {
	ents, err := z.r.host.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			z.warn("listing web apps in %s: %v", dir, err)
		}
		return nil
	}
	var out []WebApp
	names := map[string]bool{}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		fi, err := z.r.host.Stat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			names[e.Name()] = true
			out = append(out, WebApp{Name: e.Name(), ContextPath: contextPath(z.m.server, e.Name()), Path: p, Kind: "exploded"})
			continue
		}
		for _, x := range exts {
			if strings.HasSuffix(e.Name(), x) {
				n := strings.TrimSuffix(e.Name(), x)
				if names[n] {
					break // the exploded copy of this war is already listed
				}
				out = append(out, WebApp{Name: n, ContextPath: contextPath(z.m.server, n), Path: p, Kind: strings.TrimPrefix(x, ".")})
			}
		}
	}
	// A war unpacked by the server appears twice: keep the war.
	var dedup []WebApp
	wars := map[string]bool{}
	for _, w := range out {
		if w.Kind == "war" {
			wars[w.Name] = true
		}
	}
	for _, w := range out {
		if w.Kind == "exploded" && wars[w.Name] {
			continue
		}
		dedup = append(dedup, w)
	}
	return dedup
}

func (z *analyzer) tomcatWebApps() []WebApp {
	m := z.m
	apps := z.dirWebApps(path.Join(m.base, "webapps"), ".war")
	// Context files in conf/Catalina/localhost deploy apps from anywhere
	// (Debian's tomcat10-examples does this).
	dir := path.Join(m.base, "conf", "Catalina", "localhost")
	ents, _ := z.r.host.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".xml") {
			continue
		}
		data, err := z.r.host.ReadFile(path.Join(dir, e.Name()), maxConfigFile)
		if err != nil {
			continue
		}
		docBase := xmlRootAttr(data, "docBase")
		if docBase == "" {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".xml")
		p := hostPath(path.Join(m.base, "webapps"), docBase)
		kind := "exploded"
		if strings.HasSuffix(p, ".war") {
			kind = "war"
		}
		apps = append(apps, WebApp{Name: name, ContextPath: contextPath(z.m.server, name), Path: p, Kind: kind})
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].ContextPath < apps[j].ContextPath })
	return apps
}

func (z *analyzer) network() {
	o := &z.a.Observed
	o.Ports = z.r.listening(z.g)
	if o.Ports == nil {
		o.Ports = []Port{}
	}
	local := map[uint32]bool{}
	for _, p := range o.Ports {
		local[p.Port] = true
	}
	z.ownPorts = local
	for _, s := range z.r.sockets(z.g) {
		if !strings.HasPrefix(s.Proto, "tcp") || s.State != tcpEstablished || local[s.LocalPort] {
			continue // inbound, or not a connection
		}
		svc := appconfig.ServiceForPort(int(s.RemotePort))
		if svc == "" {
			svc = "unknown"
		}
		z.dep(appconfig.Endpoint{Service: svc, Host: s.RemoteIP.String(), Port: int(s.RemotePort)}, "established connection")
	}
}

// isLocalHost says whether a host names this machine or every interface.
func isLocalHost(h string) bool {
	switch strings.Trim(h, "[]") {
	case "localhost", "0.0.0.0", "::", "*", "+", "":
		return true
	}
	return isLoopback(strings.Trim(h, "[]"))
}

func (z *analyzer) dep(ep appconfig.Endpoint, source string) {
	// The app's own listen address (ASPNETCORE_URLS, server.port...) is
	// not something it depends on.
	if z.ownPorts[uint32(ep.Port)] && isLocalHost(ep.Host) {
		return
	}
	if ep.Service == "" {
		ep.Service = "unknown"
	}
	k := ep.Service + "\x00" + ep.Host + "\x00" + strconv.Itoa(ep.Port)
	d := z.deps[k]
	if d == nil {
		d = &Dependency{Service: ep.Service, Host: ep.Host, Port: ep.Port}
		z.deps[k] = d
	}
	for _, s := range d.Sources {
		if s == source {
			return
		}
	}
	d.Sources = append(d.Sources, source)
}

// systemEnv names variables that describe the login session or the service
// manager, not the application; they are not carried into the container.
var systemEnv = map[string]bool{
	"HOME": true, "PATH": true, "SHELL": true, "TERM": true, "USER": true,
	"LOGNAME": true, "PWD": true, "OLDPWD": true, "SHLVL": true, "_": true,
	"LS_COLORS": true, "MAIL": true, "HOSTNAME": true, "DISPLAY": true,
	"INVOCATION_ID": true, "JOURNAL_STREAM": true, "SYSTEMD_EXEC_PID": true,
	"NOTIFY_SOCKET": true, "MANAGERPID": true, "LISTEN_PID": true,
	"LISTEN_FDS": true, "SUDO_USER": true, "SUDO_UID": true, "SUDO_GID": true,
	"SUDO_COMMAND": true, "TMUX": true, "TMUX_PANE": true, "COLORTERM": true,
	"LESSOPEN": true, "LESSCLOSE": true, "MOTD_SHOWN": true,
}

func isSystemEnv(name string) bool {
	return systemEnv[name] || strings.HasPrefix(name, "SSH_") || strings.HasPrefix(name, "XDG_") || strings.HasPrefix(name, "DBUS_")
}

func (z *analyzer) environment(ctx context.Context) {
	o := &z.a.Observed
	o.Environment = []EnvVar{}
	env, err := z.m.p.EnvironWithContext(z.r.host.context(ctx))
	if err != nil {
		z.warn("reading the environment of pid %d: %v; run as root to see it", z.m.pid, err)
		return
	}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		ev := EnvVar{Name: name, System: isSystemEnv(name)}
		if ref, ok := z.sink.classify("env", name, val); ok {
			ev.SecretRef = ref
		} else {
			ev.Value = val
		}
		if ep, ok := appconfig.ParseEndpoint(val); ok {
			z.dep(ep, "env "+name)
		}
		o.Environment = append(o.Environment, ev)
	}
	sort.SliceStable(o.Environment, func(i, j int) bool { return o.Environment[i].Name < o.Environment[j].Name })
}

// nonDefaultUlimits parses /proc/PID/limits and keeps limits that differ
// from what a fresh login or container gets, by ECS ulimit name.
func nonDefaultUlimits(data []byte) []Ulimit {
	names := map[string]string{
		"Max cpu time": "cpu", "Max file size": "fsize", "Max data size": "data",
		"Max stack size": "stack", "Max core file size": "core", "Max resident set": "rss",
		"Max open files": "nofile", "Max locked memory": "memlock", "Max address space": "as",
		"Max file locks": "locks", "Max msgqueue size": "msgqueue", "Max nice priority": "nice",
		"Max realtime priority": "rtprio", "Max realtime timeout": "rttime",
		// nproc and sigpending scale with the host's memory: not portable.
	}
	const inf = -1
	defaults := map[string][][2]int64{
		"cpu": {{inf, inf}}, "fsize": {{inf, inf}}, "data": {{inf, inf}}, "rss": {{inf, inf}},
		"as": {{inf, inf}}, "locks": {{inf, inf}}, "rttime": {{inf, inf}},
		"stack":    {{8388608, inf}},
		"core":     {{0, inf}, {0, 0}},
		"nofile":   {{1024, 4096}, {1024, 524288}, {1024, 1048576}, {1048576, 1048576}},
		"memlock":  {{65536, 65536}, {8388608, 8388608}},
		"msgqueue": {{819200, 819200}},
		"nice":     {{0, 0}}, "rtprio": {{0, 0}},
	}
	parse := func(s string) (int64, bool) {
		if s == "unlimited" {
			return inf, true
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	var out []Ulimit
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) < 26 || strings.HasPrefix(line, "Limit") {
			continue
		}
		name, ok := names[strings.TrimSpace(line[:26])]
		if !ok {
			continue
		}
		f := strings.Fields(line[26:])
		if len(f) < 2 {
			continue
		}
		soft, ok1 := parse(f[0])
		hard, ok2 := parse(f[1])
		if !ok1 || !ok2 {
			continue
		}
		isDefault := false
		for _, d := range defaults[name] {
			if d[0] == soft && d[1] == hard {
				isDefault = true
			}
		}
		if !isDefault {
			out = append(out, Ulimit{Name: name, Soft: soft, Hard: hard})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// statSize returns the total size and count of regular files under a host
// path. The path itself is resolved inside the host root; links below it
// are not followed.
func (h Host) statSize(p string, limit int) (int64, int) {
	// Sizes are a report, not something a capture needs to reproduce.
	h.rec = nil
	r, err := h.Resolve(p)
	if err != nil {
		return 0, 0
	}
	fi, err := os.Lstat(h.file(r))
	if err != nil {
		return 0, 0
	}
	if !fi.IsDir() {
		return fi.Size(), 1
	}
	var size int64
	var n int
	root := h.file(r)
	_ = walkDir(root, func(name string, d fs.DirEntry) error {
		if n >= limit {
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		// Links inside are not followed: what they point to outside is
		// listed (and sized) as a file of its own.
		if info.Mode().IsRegular() {
			size += info.Size()
			n++
		}
		return nil
	})
	return size, n
}
