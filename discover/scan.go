package discover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/shirou/gopsutil/v3/process"
)

// ScanOptions configures an inventory scan.
type ScanOptions struct {
	Host Host
	// Hostname is written into the inventory; defaults to os.Hostname.
	Hostname string
}

// proc is what the scan learned about one process.
type proc struct {
	pid, ppid int32
	argv      []string
	exe, cwd  string
	uid, gid  uint32
	p         *process.Process
}

// candidate is a process classified as (part of) an application.
type candidate struct {
	proc
	typ      AppType
	identity string // what makes the app itself: base dir, jar, dll
	path     string // the path shown for the app
	java     *JavaCommand
	dotnet   *DotnetCommand
	server   string // tomcat, tomee, jetty, jboss, xsp
	summary  string
	home     string // server home
	base     string // server base
}

// group is one application: its processes, main first.
type group struct {
	id    string
	procs []*candidate
}

func (g *group) main() *candidate { return g.procs[0] }

// scanResult is a whole scan, before it is turned into an Inventory.
type scanResult struct {
	host     Host
	hostname string
	groups   []*group
	skipped  map[string]int
	warnings []string
	net      *netTables
	users    *userDB
}

// Scan lists the Java and .NET applications running on the host.
func Scan(ctx context.Context, opts ScanOptions) (*Inventory, error) {
	r, err := scan(ctx, opts)
	if err != nil {
		return nil, err
	}
	return r.inventory(), nil
}

func scan(ctx context.Context, opts ScanOptions) (*scanResult, error) {
	h := opts.Host
	if h.Proc == "" {
		h = LiveHost()
	}
	hctx := h.context(ctx)
	pids, err := process.PidsWithContext(hctx)
	if err != nil {
		return nil, fmt.Errorf("listing processes in %s: %w (is procfs mounted? set HOST_PROC to its path)", h.Proc, err)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	r := &scanResult{host: h, hostname: opts.Hostname, skipped: map[string]int{}, net: newNetTables(h), users: h.loadUserDB()}
	if r.hostname == "" {
		r.hostname = readHostname(h)
	}
	var denied int
	byID := map[string]*group{}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, reason := r.examine(hctx, pid)
		switch {
		case reason == "permission denied":
			denied++
			r.skipped[reason]++
		case reason != "":
			r.skipped[reason]++
		}
		if c == nil {
			continue
		}
		g := byID[c.identityID()]
		if g == nil {
			g = &group{id: c.identityID()}
			byID[g.id] = g
			r.groups = append(r.groups, g)
		}
		g.procs = append(g.procs, c)
	}
	for _, g := range r.groups {
		orderGroup(g)
	}
	sort.Slice(r.groups, func(i, j int) bool { return r.groups[i].id < r.groups[j].id })
	if os.Geteuid() != 0 && h.live() {
		r.warnings = append(r.warnings, "not running as root: environment, open files, sockets and working directories of other users' processes are hidden; run as root (sudo) for full detail")
	}
	if denied > 0 {
		r.warnings = append(r.warnings, fmt.Sprintf("%d processes could not be read (permission denied); run as root for a full inventory", denied))
	}
	return r, nil
}

// orderGroup puts the app's main process first: the one whose parent is not
// in the app; ties go to the lowest PID.
func orderGroup(g *group) {
	in := map[int32]bool{}
	for _, c := range g.procs {
		in[c.pid] = true
	}
	sort.SliceStable(g.procs, func(i, j int) bool {
		ri, rj := !in[g.procs[i].ppid], !in[g.procs[j].ppid]
		if ri != rj {
			return ri
		}
		return g.procs[i].pid < g.procs[j].pid
	})
}

func readHostname(h Host) string {
	if b, err := os.ReadFile(h.proc("sys", "kernel", "hostname")); err == nil {
		return strings.TrimSpace(string(b))
	}
	n, _ := os.Hostname()
	return n
}

// skipReason turns an error reading a process into a short reason.
func skipReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ESRCH):
		return "vanished during scan"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return "unreadable"
}

var javaLaunchers = map[string]bool{"java": true, "javaw": true}
var monoHosts = map[string]bool{"mono": true, "mono-sgen": true, "cli": true, "mono-boehm": true}

// examine reads what is needed to classify one process. It returns nil for
// processes that are not Java or .NET apps, with a reason when the process
// could not be examined.
func (r *scanResult) examine(ctx context.Context, pid int32) (*candidate, string) {
	p := &process.Process{Pid: pid}
	argv, err := p.CmdlineSliceWithContext(ctx)
	if err != nil {
		return nil, skipReason(err)
	}
	if len(argv) == 0 || (len(argv) == 1 && argv[0] == "") {
		return nil, "" // kernel thread or zombie
	}
	argv, problem := cleanArgv(argv)
	if problem != "" {
		return nil, problem
	}
	base := path.Base(argv[0])
	exe, _ := p.ExeWithContext(ctx)
	exeBase := path.Base(exe)
	var kind string
	switch {
	case javaLaunchers[base] || javaLaunchers[exeBase]:
		kind = "java"
	case base == "dotnet" || exeBase == "dotnet":
		kind = "dotnet"
	case monoHosts[base] || strings.HasPrefix(exeBase, "mono"):
		kind = "mono"
	case exe != "" && !strings.HasSuffix(exe, " (deleted)") && r.host.Exists(exe+".runtimeconfig.json"):
		kind = "apphost"
	default:
		return nil, ""
	}
	if st, err := p.StatusWithContext(ctx); err == nil && len(st) > 0 && st[0] == process.Zombie {
		return nil, "zombie"
	}
	c := &candidate{proc: proc{pid: pid, argv: argv, exe: exe, p: p}}
	if c.ppid, err = p.PpidWithContext(ctx); err != nil {
		return nil, skipReason(err)
	}
	if uids, err := p.UidsWithContext(ctx); err == nil && len(uids) > 1 {
		c.uid = uint32(uids[1]) // effective
	}
	if gids, err := p.GidsWithContext(ctx); err == nil && len(gids) > 1 {
		c.gid = uint32(gids[1])
	}
	c.cwd, _ = p.CwdWithContext(ctx)
	switch kind {
	case "java":
		err = r.classifyJava(c)
	case "dotnet":
		err = r.classifyDotnet(c)
	case "mono":
		err = r.classifyMono(c)
	case "apphost":
		c.typ = TypeDotnetHost
		c.identity = exe
		c.dotnet = &DotnetCommand{Host: exe, Entrypoint: exe, Args: argv[1:]}
		c.summary = ".NET apphost " + path.Base(exe)
	}
	if err != nil {
		return nil, "unrecognised " + kind + " command line"
	}
	if c.typ == "" {
		return nil, ""
	}
	return c, ""
}

// identityID derives the stable app ID from what the app is, never from a
// PID, so it survives restarts and reboots.
func (c *candidate) identityID() string {
	sum := sha256.Sum256([]byte(string(c.typ) + "\x00" + c.identity))
	return string(c.typ) + "-" + hex.EncodeToString(sum[:4])
}

func (r *scanResult) classifyJava(c *candidate) error {
	jc, err := ParseJavaCommand(c.argv)
	if err != nil {
		return err
	}
	// jboss-modules passes -D options that follow the module name on to
	// the server as system properties (WildFly's standalone.sh puts
	// jboss.home.dir and jboss.server.base.dir there).
	if path.Base(jc.Jar) == "jboss-modules.jar" {
		for _, a := range jc.Args {
			if strings.HasPrefix(a, "-D") {
				k, v, _ := strings.Cut(a[2:], "=")
				jc.Properties = append(jc.Properties, KV{Key: k, Value: v})
			}
		}
	}
	c.java = &jc
	prop := func(k string) string { v, _ := jc.Prop(k); return v }
	switch {
	case prop("catalina.base") != "" || prop("catalina.home") != "" || jc.MainClass == "org.apache.catalina.startup.Bootstrap":
		c.home = hostPath(c.cwd, prop("catalina.home"))
		c.base = hostPath(c.cwd, prop("catalina.base"))
		if c.base == "" {
			c.base = c.home
		}
		if c.home == "" {
			c.home = c.base
		}
		c.server, c.typ = "tomcat", TypeTomcat
		if r.isTomEE(c.home) {
			c.server, c.typ = "tomee", TypeTomEE
		}
		c.identity = c.base
		c.summary = c.server + " " + c.base
	case prop("jetty.home") != "" || prop("jetty.base") != "" || jc.MainClass == "org.eclipse.jetty.start.Main" || path.Base(jc.Jar) == "start.jar":
		c.home = hostPath(c.cwd, prop("jetty.home"))
		if c.home == "" && jc.Jar != "" {
			c.home = path.Dir(hostPath(c.cwd, jc.Jar))
		}
		c.base = hostPath(c.cwd, prop("jetty.base"))
		if c.base == "" {
			c.base = c.cwd
		}
		c.server, c.typ = "jetty", TypeJetty
		c.identity = c.base
		c.summary = "jetty " + c.base
	case prop("jboss.home.dir") != "" || path.Base(jc.Jar) == "jboss-modules.jar":
		c.home = hostPath(c.cwd, prop("jboss.home.dir"))
		if c.home == "" {
			c.home = path.Dir(hostPath(c.cwd, jc.Jar))
		}
		c.base = hostPath(c.cwd, prop("jboss.server.base.dir"))
		if c.base == "" {
			c.base = path.Join(c.home, "standalone")
			if prop("jboss.domain.base.dir") != "" || strings.Contains(strings.Join(jc.Args, " "), "org.jboss.as.host-controller") {
				c.base = path.Join(c.home, "domain")
			}
		}
		c.server, c.typ = "jboss", TypeJBoss
		c.identity = c.base
		c.summary = "jboss/wildfly " + c.home
	case jc.Jar != "":
		jar := hostPath(c.cwd, jc.Jar)
		c.identity = jar
		c.typ = TypeJavaGen
		c.summary = "java -jar " + jar
		if r.isSpringBootJar(jar) {
			c.typ = TypeSpringBoot
			c.summary = "spring boot " + jar
		}
	case strings.HasPrefix(jc.MainClass, "org.springframework.boot.loader."):
		c.typ = TypeSpringBoot
		c.identity = jc.MainClass + "@" + strings.Join(jc.Classpath, ":") + "@" + c.cwd
		c.path = c.cwd
		c.summary = "spring boot (exploded) " + c.cwd
	case jc.MainClass != "" || jc.Module != "":
		main := jc.MainClass
		if main == "" {
			main = jc.Module
		}
		c.typ = TypeJavaGen
		c.identity = main + "@" + c.cwd
		c.path = c.cwd
		c.summary = "java " + main
	default:
		// `java -version` and friends: not an application.
		return nil
	}
	return nil
}

// isTomEE recognises TomEE by its own jars in the Tomcat home.
func (r *scanResult) isTomEE(home string) bool {
	if home == "" {
		return false
	}
	ents, err := r.host.ReadDir(path.Join(home, "lib"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tomee-") || strings.HasPrefix(e.Name(), "openejb-core") {
			return true
		}
	}
	return false
}

func (r *scanResult) classifyDotnet(c *candidate) error {
	dc, err := ParseDotnetCommand(c.argv)
	if err != nil {
		return err
	}
	c.dotnet = &dc
	if dc.SDK != "" {
		c.typ = TypeDotnet
		c.identity = "sdk:" + dc.SDK + "@" + c.cwd
		c.path = c.cwd
		c.summary = "dotnet " + dc.SDK + " (SDK, not a published app) " + c.cwd
		return nil
	}
	dll := hostPath(c.cwd, dc.Entrypoint)
	c.typ = TypeDotnet
	c.identity = dll
	c.summary = "dotnet " + dll
	return nil
}

func (r *scanResult) classifyMono(c *candidate) error {
	mc, err := ParseMonoCommand(c.argv)
	if err != nil {
		return err
	}
	c.dotnet = &mc
	asm := hostPath(c.cwd, mc.Entrypoint)
	if strings.HasPrefix(path.Base(asm), "xsp") {
		root := c.cwd
		for i := 0; i < len(mc.Args); i++ {
			if mc.Args[i] == "--root" && i+1 < len(mc.Args) {
				root = hostPath(c.cwd, mc.Args[i+1])
			}
		}
		c.typ, c.server = TypeMonoXSP, "xsp"
		c.base = root
		c.identity = root
		c.summary = "mono xsp " + root
		return nil
	}
	c.typ = TypeMono
	c.identity = asm
	c.summary = "mono " + asm
	return nil
}

// inventory turns a scan into inventory.json's model.
func (r *scanResult) inventory() *Inventory {
	inv := &Inventory{SchemaVersion: SchemaVersion, Host: r.hostname, Apps: []App{}, Warnings: r.warnings}
	if len(r.skipped) > 0 {
		inv.Skipped = r.skipped
	}
	for _, g := range r.groups {
		m := g.main()
		a := App{
			ID:      g.id,
			Type:    m.typ,
			PID:     m.pid,
			User:    r.users.user(m.uid),
			UID:     m.uid,
			Path:    appPath(m),
			Summary: m.summary,
			Ports:   r.listening(g),
		}
		for _, c := range g.procs {
			a.PIDs = append(a.PIDs, c.pid)
		}
		inv.Apps = append(inv.Apps, a)
	}
	inv.Warnings = append(inv.Warnings, r.net.errors...)
	return inv
}

func appPath(c *candidate) string {
	switch {
	case c.base != "":
		return c.base
	case c.path != "":
		return c.path
	}
	return c.identity
}

// sockets returns the inet sockets held by any process of the group.
func (r *scanResult) sockets(g *group) []Socket {
	seen := map[uint64]bool{}
	var out []Socket
	for _, c := range g.procs {
		inodes, err := r.host.socketInodes(c.pid)
		if err != nil {
			continue
		}
		tbl := r.net.forPID(c.pid)
		for _, ino := range inodes {
			if s, ok := tbl[ino]; ok && !seen[ino] {
				seen[ino] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// listening lists the group's listening ports, sorted and de-duplicated.
func (r *scanResult) listening(g *group) []Port {
	var ports []Port
	seen := map[string]bool{}
	for _, s := range r.sockets(g) {
		if !s.Listening() {
			continue
		}
		proto := s.Proto
		if len(s.LocalIP) == 4 {
			proto = strings.TrimSuffix(proto, "6") // ::ffff:a.b.c.d is IPv4 traffic
		}
		p := Port{Protocol: proto, Address: s.LocalIP.String(), Port: s.LocalPort}
		k := p.Protocol + p.Address + strconv.Itoa(int(p.Port))
		if !seen[k] {
			seen[k] = true
			ports = append(ports, p)
		}
	}
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Port != ports[j].Port {
			return ports[i].Port < ports[j].Port
		}
		if ports[i].Protocol != ports[j].Protocol {
			return ports[i].Protocol < ports[j].Protocol
		}
		return ports[i].Address < ports[j].Address
	})
	return ports
}
