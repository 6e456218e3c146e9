package discover

import (
	"bytes"
	"encoding/xml"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hoistctl/hoist/discover/appconfig"
)

// xmlRootAttr returns an attribute of an XML document's root element.
func xmlRootAttr(data []byte, name string) string {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Local == name {
					return a.Value
				}
			}
			return ""
		}
	}
}

func walkDir(root string, fn func(string, fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are reported by extract, not here
		}
		return fn(p, d)
	})
}

// configCandidates lists the config files that matter for the app type, as
// host paths. Paths inside a jar are written JAR!/ENTRY.
func (z *analyzer) configCandidates() []string {
	m, h := z.m, z.r.host
	var out []string
	add := func(p string) {
		if h.Exists(p) {
			out = append(out, p)
		}
	}
	glob := func(dir string, match func(string) bool) {
		ents, err := h.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if match(e.Name()) && !e.IsDir() {
				out = append(out, path.Join(dir, e.Name()))
			}
		}
	}
	springName := func(n string) bool {
		return (strings.HasPrefix(n, "application") || strings.HasPrefix(n, "bootstrap")) &&
			(strings.HasSuffix(n, ".properties") || strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml"))
	}
	webAppConfigs := func() {
		if z.a.Observed.Server == nil {
			return
		}
		for _, w := range z.a.Observed.Server.WebApps {
			if w.Kind != "exploded" {
				continue
			}
			add(path.Join(w.Path, "META-INF", "context.xml"))
			glob(path.Join(w.Path, "WEB-INF", "classes"), springName)
			add(path.Join(w.Path, "web.config"))
			add(path.Join(w.Path, "Web.config"))
		}
	}
	switch m.typ {
	case TypeTomcat, TypeTomEE:
		conf := path.Join(m.base, "conf")
		add(path.Join(conf, "server.xml"))
		add(path.Join(conf, "context.xml"))
		add(path.Join(conf, "tomcat-users.xml"))
		add(path.Join(conf, "catalina.properties"))
		glob(path.Join(conf, "Catalina", "localhost"), func(n string) bool { return strings.HasSuffix(n, ".xml") })
		webAppConfigs()
	case TypeJetty, TypeJBoss, TypeMonoXSP:
		webAppConfigs()
	case TypeSpringBoot, TypeJavaGen:
		if jar := z.a.Observed.Runtime.MainJar; jar != "" {
			out = append(out, z.jarConfigs(jar, springName)...)
		}
		glob(m.cwd, springName)
		glob(path.Join(m.cwd, "config"), springName)
		if loc, ok := m.java.Prop("spring.config.location"); ok {
			for _, l := range strings.Split(loc, ",") {
				l = strings.TrimPrefix(strings.TrimPrefix(l, "optional:"), "file:")
				if l == "" || strings.HasPrefix(l, "classpath:") {
					continue
				}
				p := hostPath(m.cwd, l)
				if strings.HasSuffix(l, "/") {
					glob(p, springName)
				} else {
					add(p)
				}
			}
		}
	case TypeDotnet, TypeDotnetHost, TypeMono:
		dir := path.Dir(z.a.Observed.Runtime.Entrypoint)
		glob(dir, func(n string) bool {
			return strings.HasPrefix(n, "appsettings") && strings.HasSuffix(n, ".json") ||
				strings.EqualFold(n, "web.config") || strings.HasSuffix(n, ".exe.config") || strings.HasSuffix(n, ".dll.config")
		})
	}
	// Keep the first of equal paths, in a stable order.
	seen := map[string]bool{}
	var uniq []string
	for _, p := range out {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	return uniq
}

// jarConfigs lists the Spring config files packed in an executable jar.
func (z *analyzer) jarConfigs(jarPath string, match func(string) bool) []string {
	j, err := z.r.host.openJar(jarPath)
	if err != nil {
		z.warn("reading %s: %v", jarPath, err)
		return nil
	}
	defer j.Close()
	var out []string
	for _, f := range j.zr.File {
		dir, name := path.Split(f.Name)
		if (dir == "BOOT-INF/classes/" || dir == "BOOT-INF/classes/config/" || dir == "") && match(name) {
			out = append(out, jarPath+"!/"+f.Name)
		}
	}
	return out
}

func (z *analyzer) readConfig(p string) ([]byte, error) {
	if jarPath, entry, ok := strings.Cut(p, "!/"); ok {
		j, err := z.r.host.openJar(jarPath)
		if err != nil {
			return nil, err
		}
		defer j.Close()
		return j.read(entry, maxConfigFile)
	}
	return z.r.host.ReadFile(p, maxConfigFile)
}

func (z *analyzer) configFiles() {
	o := &z.a.Observed
	for _, p := range z.configCandidates() {
		name := p
		if _, entry, ok := strings.Cut(p, "!/"); ok {
			name = entry
		}
		kind, ok := appconfig.DetectKind(name)
		if !ok {
			continue
		}
		cf := ConfigFile{Path: p}
		data, err := z.readConfig(p)
		if err != nil {
			cf.Kind = kind
			cf.Error = err.Error()
			o.ConfigFiles = append(o.ConfigFiles, cf)
			continue
		}
		f, err := appconfig.Parse(kind, data)
		if err != nil {
			cf.Kind = kind
			cf.Error = err.Error()
			z.warn("config file %s could not be parsed: %v; secrets in it may not have been found, review it before extracting", p, err)
			o.ConfigFiles = append(o.ConfigFiles, cf)
			continue
		}
		cf.File = *f
		for _, s := range f.Secrets {
			ref := z.sink.add("config", strings.TrimPrefix(p, "/")+"#"+s.Key, s.Plain(), s.Reason)
			cf.SecretRefs = append(cf.SecretRefs, SecretLocation{Key: s.Key, Ref: ref})
		}
		for _, ep := range f.Endpoints {
			src := p
			if ep.Source != "" {
				src += "#" + ep.Source
			}
			z.dep(ep, src)
		}
		if kind == appconfig.KindTomcatServer && o.Server != nil {
			o.Server.Connectors = f.Connectors
		}
		o.ConfigFiles = append(o.ConfigFiles, cf)
	}
}

// files separates the app's files from the OS's.
func (z *analyzer) files() {
	m, o, h := z.m, &z.a.Observed, z.r.host
	fl := &o.Files
	add := func(p, role string) {
		if p == "" {
			return
		}
		for _, f := range fl.App {
			if f.Path == p {
				return
			}
		}
		ref := FileRef{Path: p, Role: role}
		if _, err := h.Readlink(p); err == nil {
			if t, err := h.Resolve(p); err == nil {
				ref.Target = t
			}
		}
		if !h.Exists(p) {
			z.warn("%s (%s) does not exist", p, role)
			return
		}
		ref.Size, ref.Files = h.statSize(p, 200000)
		fl.App = append(fl.App, ref)
		z.appDirs = append(z.appDirs, p)
	}
	if s := o.Server; s != nil {
		add(s.Home, "server-home")
		if s.Base != s.Home {
			add(s.Base, "server-base")
		}
		for _, w := range s.WebApps {
			add(w.Path, "webapp")
		}
	}
	rt := o.Runtime
	switch m.typ {
	case TypeTomcat, TypeTomEE:
		add(path.Join(m.base, "conf"), "config")
		z.logsAndTemp(path.Join(m.base, "logs"), path.Join(m.base, "temp"), path.Join(m.base, "work"))
		z.externalLinks(m.home, m.base)
	case TypeJetty:
		z.logsAndTemp(path.Join(m.base, "logs"), path.Join(m.base, "work"))
		z.externalLinks(m.home, m.base)
	case TypeJBoss:
		z.externalLinks(m.home)
		// standalone/data is not temporary: it holds console deployments
		// and transaction logs.
		z.logsAndTemp(path.Join(m.base, "log"), path.Join(m.base, "tmp"))
	case TypeSpringBoot, TypeJavaGen:
		add(rt.MainJar, "main-jar")
		for _, c := range rt.Classpath {
			add(c, "classpath")
		}
		add(m.cwd, "workdir")
		z.logsAndTemp(path.Join(m.cwd, "logs"), path.Join(m.cwd, "tmp"))
	case TypeDotnet, TypeDotnetHost, TypeMono:
		add(path.Dir(rt.Entrypoint), "app")
		z.logsAndTemp(path.Join(path.Dir(rt.Entrypoint), "logs"))
	case TypeMonoXSP:
		add(rt.Entrypoint, "server")
	}
	for _, cf := range o.ConfigFiles {
		if !strings.Contains(cf.Path, "!/") && !z.underApp(cf.Path) {
			add(cf.Path, "config")
		}
	}
	if tmp, ok := propOf(m, "java.io.tmpdir"); ok {
		z.logsAndTemp(hostPath(m.cwd, tmp))
	}
	// Files the process has open for writing are usually logs.
	z.openLogs()
	if rt.Home != "" {
		ref := FileRef{Path: rt.Home, Role: "runtime"}
		ref.Size, ref.Files = h.statSize(rt.Home, 200000)
		fl.Runtime = append(fl.Runtime, ref)
	}
	fl.Libraries = z.mappedLibraries()
	if fl.App == nil {
		fl.App = []FileRef{}
	}
	sort.Strings(fl.Logs)
	sort.Strings(fl.Temp)
}

func propOf(m *candidate, k string) (string, bool) {
	if m.java == nil {
		return "", false
	}
	return m.java.Prop(k)
}

func (z *analyzer) underApp(p string) bool {
	for _, d := range z.appDirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// logsAndTemp records the directories among dirs that exist, by name.
func (z *analyzer) logsAndTemp(dirs ...string) {
	fl := &z.a.Observed.Files
	for _, d := range dirs {
		if !z.r.host.IsDir(d) {
			continue
		}
		switch path.Base(d) {
		case "logs", "log":
			fl.Logs = appendUniq(fl.Logs, d)
		default:
			fl.Temp = appendUniq(fl.Temp, d)
		}
	}
}

func appendUniq(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// openLogs adds the directories of *.log files the app's processes hold open.
func (z *analyzer) openLogs() {
	fl := &z.a.Observed.Files
	for _, c := range z.g.procs {
		dir := z.r.host.procPID(c.pid, "fd")
		ents, err := readDirNames(dir)
		if err != nil {
			continue
		}
		for _, n := range ents {
			t, err := readlink(dir + "/" + n)
			if err != nil || !strings.HasPrefix(t, "/") {
				continue
			}
			if strings.HasSuffix(t, ".log") || strings.Contains(path.Base(t), ".log.") || strings.HasSuffix(t, ".out") {
				// A log directory is excluded whole; a log file in the app's
				// own directory (stdout redirected to app.log) only by itself.
				if d := path.Dir(t); path.Base(d) == "logs" || path.Base(d) == "log" || strings.HasPrefix(d, "/var/log/") || d == "/var/log" {
					fl.Logs = appendUniq(fl.Logs, d)
				} else {
					fl.Logs = appendUniq(fl.Logs, t)
				}
			}
		}
	}
}

// externalLinks records symlinks under the server's directories (at any
// depth, without following linked directories) that point outside the
// app's directories: Debian links Tomcat's and Jetty's jars into
// /usr/share/java and their config into /etc.
func (z *analyzer) externalLinks(dirs ...string) {
	fl := &z.a.Observed.Files
	before := len(fl.App)
	for _, d := range dirs {
		z.walkLinks(d, 0)
	}
	// A link into a directory another link already brings (start.d and
	// start.ini into /etc/jetty9, which etc links to) adds nothing.
	var dirs2 []string
	for _, f := range fl.App[before:] {
		if f.Role == "linked-dir" {
			dirs2 = append(dirs2, f.Target)
		}
	}
	kept := fl.App[:before]
	for _, f := range fl.App[before:] {
		covered := false
		for _, d := range dirs2 {
			if f.Target != d && strings.HasPrefix(f.Target, d+"/") {
				covered = true
			}
		}
		if !covered {
			kept = append(kept, f)
		}
	}
	fl.App = kept
}

// maxLinkDepth bounds how deep externalLinks looks below a server dir.
const maxLinkDepth = 6

func (z *analyzer) walkLinks(dir string, depth int) {
	h, fl := z.r.host, &z.a.Observed.Files
	ents, err := h.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			if depth < maxLinkDepth {
				z.walkLinks(p, depth+1)
			}
			continue
		}
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		t, err := h.Resolve(p)
		if err != nil {
			z.warn("resolving %s: %v", p, err)
			continue
		}
		if z.underApp(t) || z.listed(p) || z.isLogOrTemp(p, t) {
			continue
		}
		fi, err := h.Stat(t)
		if err != nil {
			z.warn("%s links to %s, which does not exist", p, t)
			continue
		}
		role := "library"
		if fi.IsDir() {
			role = "linked-dir" // e.g. jetty9/etc -> /etc/jetty9
		} else if !strings.HasSuffix(t, ".jar") && !strings.HasSuffix(t, ".so") {
			role = "linked-file"
		}
		ref := FileRef{Path: p, Role: role, Target: t, External: true}
		ref.Size, ref.Files = h.statSize(t, 200000)
		fl.App = append(fl.App, ref)
	}
}

// isLogOrTemp says whether a link is one of the log or temp dirs, by its
// path, its target or its name (Debian links Tomcat's logs and work dirs
// into /var/log and /var/cache).
func (z *analyzer) isLogOrTemp(p, target string) bool {
	fl := &z.a.Observed.Files
	for _, x := range append(append([]string{}, fl.Logs...), fl.Temp...) {
		if x == p || x == target {
			return true
		}
	}
	switch path.Base(p) {
	case "logs", "log", "temp", "tmp", "work", "cache":
		return true
	}
	return strings.HasPrefix(target, "/var/log/") || strings.HasPrefix(target, "/var/cache/")
}

// listed says whether a path is already among the app's files.
func (z *analyzer) listed(p string) bool {
	for _, f := range z.a.Observed.Files.App {
		if f.Path == p {
			return true
		}
	}
	return false
}

// mappedLibraries lists shared objects the process loaded.
func (z *analyzer) mappedLibraries() []string {
	var libs []string
	for _, p := range z.mappedFiles() {
		b := path.Base(p)
		if strings.HasSuffix(b, ".so") || strings.Contains(b, ".so.") {
			libs = append(libs, p)
		}
	}
	return libs
}

// defaults fills the editable part of the analysis from what was observed.
func (z *analyzer) defaults() {
	o, m := &z.a.Observed, z.m
	cp := &z.a.ContainerParameters
	cp.ImageName = z.a.ID
	cp.ImageTag = "latest"
	cp.BaseImage = "host"
	cp.Ports = []ExposedPort{}
	shutdown := map[int]bool{}
	if o.Server != nil {
		for _, c := range o.Server.Connectors {
			if c.ShutdownCmd {
				shutdown[c.Port] = true
			}
		}
	}
	seen := map[ExposedPort]bool{}
	var public, loopback []ExposedPort
	for _, p := range o.Ports {
		ep := ExposedPort{Port: int(p.Port), Protocol: strings.TrimSuffix(p.Protocol, "6")}
		if shutdown[ep.Port] || seen[ep] {
			continue
		}
		seen[ep] = true
		if isLoopback(p.Address) {
			loopback = append(loopback, ep)
		} else {
			public = append(public, ep)
		}
	}
	// Loopback-only ports (JMX, admin consoles on localhost) stay private,
	// unless they are all the app has: then they are its service ports and
	// the app must listen on all interfaces inside a container.
	if len(public) == 0 {
		public = loopback
		for _, ep := range loopback {
			z.warn("port %d/%s listens on loopback only; inside a container it must listen on all interfaces (0.0.0.0) to be reachable: change the app's bind address", ep.Port, ep.Protocol)
		}
	}
	sort.Slice(public, func(i, j int) bool {
		if public[i].Port != public[j].Port {
			return public[i].Port < public[j].Port
		}
		return public[i].Protocol < public[j].Protocol
	})
	cp.Ports = append(cp.Ports, public...)
	var tcpPorts []int
	for _, ep := range cp.Ports {
		if ep.Protocol == "tcp" {
			tcpPorts = append(tcpPorts, ep.Port)
		}
	}
	if len(tcpPorts) > 0 {
		cp.HealthCheck.Port = tcpPorts[0]
		if o.Server != nil {
			for _, c := range o.Server.Connectors {
				if !c.ShutdownCmd && c.Port != 0 && slices.Contains(tcpPorts, c.Port) && (c.Protocol == "" || strings.Contains(strings.ToLower(c.Protocol), "http")) {
					cp.HealthCheck.Port = c.Port
					break
				}
			}
		}
		cp.HealthCheck.Path = z.healthPath()
	}
	cp.Include = []string{}
	for _, f := range o.Files.App {
		cp.Include = append(cp.Include, f.Path)
	}
	cp.Exclude = append(append([]string{}, o.Files.Logs...), o.Files.Temp...)
	cp.Env = []EnvOverride{}
	cp.User = strconv.FormatUint(uint64(m.uid), 10) + ":" + strconv.FormatUint(uint64(m.gid), 10)
	cp.WorkingDir = m.cwd
}

// healthPath picks an HTTP path that should answer when the app is up.
func (z *analyzer) healthPath() string {
	o := &z.a.Observed
	switch z.m.typ {
	case TypeSpringBoot:
		if jar := o.Runtime.MainJar; jar != "" {
			if j, err := z.r.host.openJar(jar); err == nil {
				defer j.Close()
				if j.has("BOOT-INF/lib/spring-boot-actuator-") {
					return "/actuator/health"
				}
			}
		}
		return "/"
	case TypeTomcat, TypeTomEE, TypeJetty, TypeJBoss, TypeMonoXSP:
		if o.Server != nil && len(o.Server.WebApps) > 0 {
			for _, w := range o.Server.WebApps {
				if w.ContextPath == "/" {
					return "/"
				}
			}
			return o.Server.WebApps[0].ContextPath + "/"
		}
		return "/"
	}
	// Generic apps may not speak HTTP at all: a TCP check is always right.
	return ""
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func readlink(p string) (string, error) { return os.Readlink(p) }

func isLoopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || addr == "::1"
}
