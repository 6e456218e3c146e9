package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover/fixturetest"
)

// Tests over the captured procfs trees in testdata/procfs (see its
// README.md for how each was made). Each fixture is a directory with proc/
// (a procfs subset) and root/ (the host files hoist read), plus golden/
// with the expected inventory.json and one ID.analysis.json per app.
//
//	go test ./discover -run TestFixtures -update
//
// rewrites the golden files from the current code; review the diff.

var update = flag.Bool("update", false, "rewrite the golden files of the testdata/procfs fixtures")

const fixturesDir = "../testdata/procfs"

// fxNames lists the fixture directories (those with a proc/ inside).
func fxNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(fixturesDir)
	if err != nil {
		t.Fatalf("reading %s: %v", fixturesDir, err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(fixturesDir, e.Name(), "proc")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no fixtures under %s", fixturesDir)
	}
	return names
}

// fxLoad copies a fixture's proc and root into a temporary directory and
// returns the host that reads it.
func fxLoad(t *testing.T, name string) Host {
	t.Helper()
	dir := t.TempDir()
	for _, part := range []string{"proc", "root"} {
		fixturetest.Copy(t, filepath.Join(fixturesDir, name, part), filepath.Join(dir, part))
	}
	return Host{Proc: filepath.Join(dir, "proc"), Root: filepath.Join(dir, "root")}
}

// fxRun is one inventory and the analysis of every app in it.
type fxRun struct {
	inv      *Inventory
	invJSON  []byte
	analyses map[string]*Analysis
	raw      map[string][]byte // analysis.json as written
	secrets  Secrets
}

func fxScanAndAnalyze(t *testing.T, h Host) *fxRun {
	t.Helper()
	ctx := context.Background()
	inv, err := Scan(ctx, ScanOptions{Host: h})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	r := &fxRun{inv: inv, analyses: map[string]*Analysis{}, raw: map[string][]byte{}}
	if r.invJSON, err = MarshalJSON(inv); err != nil {
		t.Fatal(err)
	}
	ws := Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	for _, app := range inv.Apps {
		a, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: app.ID})
		if err != nil {
			t.Fatalf("analyze %s: %v", app.ID, err)
		}
		r.analyses[app.ID] = a
		if r.raw[app.ID], err = os.ReadFile(ws.AnalysisPath(app.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if r.secrets, err = ws.ReadSecrets(); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFixtures replays every captured fixture and compares the inventory
// and each analysis with the golden files.
func TestFixtures(t *testing.T) {
	for _, name := range fxNames(t) {
		t.Run(name, func(t *testing.T) {
			r := fxScanAndAnalyze(t, fxLoad(t, name))
			if len(r.inv.Apps) == 0 {
				t.Fatalf("no apps found in fixture %s", name)
			}
			golden := filepath.Join(fixturesDir, name, "golden")
			want := map[string][]byte{"inventory.json": r.invJSON}
			for id, raw := range r.raw {
				want[id+".analysis.json"] = raw
			}
			if *update {
				if err := os.RemoveAll(golden); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(golden, 0o755); err != nil {
					t.Fatal(err)
				}
				for f, data := range want {
					if err := os.WriteFile(filepath.Join(golden, f), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			have, _ := filepath.Glob(filepath.Join(golden, "*.json"))
			for _, p := range have {
				if _, ok := want[filepath.Base(p)]; !ok {
					t.Errorf("golden file %s has no counterpart any more (run with -update)", p)
				}
			}
			for f, got := range want {
				exp, err := os.ReadFile(filepath.Join(golden, f))
				if err != nil {
					t.Errorf("%v (run `go test ./discover -run TestFixtures -update` to write it)", err)
					continue
				}
				if !bytes.Equal(got, exp) {
					t.Errorf("%s/%s differs from the golden file (review, then -update):\n%s", name, f, fxDiff(exp, got))
				}
			}
		})
	}
}

// fxDiff shows the first differing lines of two JSON documents.
func fxDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, w, g)
			if shown++; shown == 8 {
				b.WriteString("  ...\n")
				break
			}
		}
	}
	return b.String()
}

// fxExpect is what a fixture must show, checked without the golden files.
type fxExpect struct {
	typ      AppType
	path     string
	user     string
	ports    []Port // every listening port, exactly
	pids     int    // processes in the app
	server   *ServerInfo
	webApps  map[string]string // context path -> kind
	runtime  RuntimeInfo       // Kind, Version, Home, VersionSource prefix, Entrypoint, MainJar, MainClass when set
	fwks     []Framework
	deps     []Dependency // each must be present (Sources: each listed source must be among the dependency's)
	secrets  []string     // planted fake secret values
	configs  []string     // config files that must have been parsed
	health   HealthCheck
	cpPorts  []ExposedPort
	logs     []string
	temp     []string
	external int // at least this many external library links
}

var fxExpected = map[string]fxExpect{
	"tomcat": {
		typ: TypeTomcat, path: "/srv/fixture/tomcat-base", user: "root", pids: 1,
		ports:   []Port{{"tcp", "127.0.0.1", 18081}},
		server:  &ServerInfo{Type: "tomcat", Version: "10.1.60", Home: "/usr/share/tomcat10", Base: "/srv/fixture/tomcat-base"},
		webApps: map[string]string{"/": "exploded", "/shop": "exploded"},
		runtime: RuntimeInfo{Kind: "java", Version: "17.0.15+6-Debian-1deb12u1", Home: "/usr/lib/jvm/java-17-openjdk-amd64", MainClass: "org.apache.catalina.startup.Bootstrap"},
		deps: []Dependency{{Service: "mysql", Host: "shopdb.internal.example", Port: 3306,
			Sources: []string{"/srv/fixture/tomcat-base/webapps/shop/META-INF/context.xml#Resource[jdbc/ShopDB]/@url"}}},
		secrets: []string{"fixture-secret-users-pw", "fixture-secret-ctx-pass", "fixture-secret-env-555"},
		configs: []string{"/srv/fixture/tomcat-base/conf/server.xml", "/srv/fixture/tomcat-base/conf/tomcat-users.xml",
			"/srv/fixture/tomcat-base/webapps/shop/META-INF/context.xml"},
		health:   HealthCheck{Path: "/", Port: 18081},
		cpPorts:  []ExposedPort{{Port: 18081, Protocol: "tcp"}},
		logs:     []string{"/srv/fixture/tomcat-base/logs"},
		temp:     []string{"/srv/fixture/tomcat-base/temp", "/srv/fixture/tomcat-base/work"},
		external: 20,
	},
	"jetty": {
		typ: TypeJetty, path: "/usr/share/jetty9", user: "jetty", pids: 1,
		ports:  []Port{{"tcp", "127.0.0.1", 18082}},
		server: &ServerInfo{Type: "jetty", Version: "9.4.57.v20241219", Home: "/usr/share/jetty9", Base: "/usr/share/jetty9"},
		// Jetty serves its "root" directory at "/".
		webApps:  map[string]string{"/": "exploded", "/hello": "exploded"},
		runtime:  RuntimeInfo{Kind: "java", Version: "17.0.15+6-Debian-1deb12u1", MainJar: "/usr/share/jetty9/start.jar"},
		secrets:  []string{"fixture-secret-jetty-token"},
		configs:  []string{"/usr/share/jetty9/webapps/hello/WEB-INF/classes/application.properties"},
		cpPorts:  []ExposedPort{{Port: 18082, Protocol: "tcp"}},
		logs:     []string{"/usr/share/jetty9/logs"},
		external: 50,
	},
	"jboss": {
		typ: TypeJBoss, path: "/srv/fixture/wildfly/standalone", user: "root", pids: 2,
		ports:   []Port{{"tcp", "127.0.0.1", 18085}},
		server:  &ServerInfo{Type: "jboss", Version: "26.1.3.Final", Home: "/srv/fixture/wildfly", Base: "/srv/fixture/wildfly/standalone"},
		webApps: map[string]string{"/shop": "war"},
		runtime: RuntimeInfo{Kind: "java", Version: "17.0.15+6-Debian-1deb12u1", MainJar: "/srv/fixture/wildfly/jboss-modules.jar"},
		secrets: []string{"fixture-secret-jboss-env"},
		health:  HealthCheck{Path: "/shop/", Port: 18085},
		cpPorts: []ExposedPort{{Port: 18085, Protocol: "tcp"}},
		logs:    []string{"/srv/fixture/wildfly/standalone/log"},
		temp:    []string{"/srv/fixture/wildfly/standalone/tmp"},
	},
	"spring-boot": {
		typ: TypeSpringBoot, path: "/srv/fixture/springboot/orders.jar", user: "root", pids: 1,
		ports:   []Port{{"tcp", "127.0.0.1", 18084}},
		runtime: RuntimeInfo{Kind: "java", Version: "17.0.15+6-Debian-1deb12u1", MainJar: "/srv/fixture/springboot/orders.jar"},
		deps: []Dependency{
			{Service: "postgresql", Host: "orders-db.internal.example", Port: 5432,
				Sources: []string{"/srv/fixture/springboot/orders.jar!/BOOT-INF/classes/application.yml#spring.datasource.url"}},
			{Service: "redis", Host: "cache.internal.example", Port: 6379},
		},
		secrets: []string{"fixture-secret-yml-dbpass", "fixture-secret-env-dbpass"},
		configs: []string{"/srv/fixture/springboot/orders.jar!/BOOT-INF/classes/application.yml", "/srv/fixture/springboot/application.properties"},
		health:  HealthCheck{Path: "/actuator/health", Port: 18084},
		cpPorts: []ExposedPort{{Port: 18084, Protocol: "tcp"}},
		logs:    []string{"/srv/fixture/springboot/logs"},
	},
	"generic": {
		typ: TypeJavaGen, path: "/srv/fixture/generic", user: "root", pids: 1,
		ports:   []Port{{"tcp", "127.0.0.1", 18086}, {"udp", "127.0.0.1", 18087}},
		runtime: RuntimeInfo{Kind: "java", Version: "17.0.15+6-Debian-1deb12u1", MainClass: "com.example.Worker"},
		deps: []Dependency{{Service: "redis", Host: "127.0.0.1", Port: 6379,
			Sources: []string{"established connection", "env REDIS_URL"}}},
		secrets: []string{"fixture-secret-worker-token"},
		health:  HealthCheck{Port: 18086}, // not known to speak HTTP: a TCP check
		cpPorts: []ExposedPort{{Port: 18086, Protocol: "tcp"}, {Port: 18087, Protocol: "udp"}},
	},
	"mono-xsp": {
		typ: TypeMonoXSP, path: "/srv/fixture/xspapp", user: "root", pids: 1,
		ports:   []Port{{"tcp", "127.0.0.1", 18083}},
		server:  &ServerInfo{Type: "xsp", Base: "/srv/fixture/xspapp"},
		webApps: map[string]string{"/": "exploded"},
		runtime: RuntimeInfo{Kind: "mono", Version: "6.8.0.105+dfsg-3.3+deb12u1", VersionSource: "dpkg package mono-runtime",
			Entrypoint: "/srv/fixture/xsp4/xsp4.exe"},
		deps: []Dependency{{Service: "sqlserver", Host: "catalogdb.internal.example", Port: 1433,
			Sources: []string{"/srv/fixture/xspapp/web.config#connectionStrings/add[CatalogDb]/@connectionString"}}},
		secrets: []string{"fixture-secret-xsp-sql", "fixture-secret-xsp-apikey"},
		configs: []string{"/srv/fixture/xspapp/web.config"},
		health:  HealthCheck{Path: "/", Port: 18083},
		cpPorts: []ExposedPort{{Port: 18083, Protocol: "tcp"}},
	},
	"dotnet": {
		typ: TypeDotnet, path: "/srv/fixture/dotnet/Shop.dll", user: "root", pids: 1,
		ports: []Port{{"tcp", "127.0.0.1", 5080}},
		runtime: RuntimeInfo{Kind: "dotnet", Version: "8.0.11", Home: "/usr/share/dotnet",
			VersionSource: "loaded shared framework /usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11",
			Entrypoint:    "/srv/fixture/dotnet/Shop.dll"},
		fwks: []Framework{{Name: "Microsoft.AspNetCore.App", Version: "8.0.11"}},
		deps: []Dependency{
			{Service: "postgresql", Host: "shopdb.internal.example", Port: 5432},
			{Service: "postgresql", Host: "shopdb-prod.internal.example", Port: 5432},
			{Service: "postgresql", Host: "orders-db.internal.example", Port: 5432, Sources: []string{"env ConnectionStrings__Orders"}},
			{Service: "redis", Host: "cache.internal.example", Port: 6379},
			{Service: "https", Host: "payments.internal.example", Port: 443},
		},
		secrets: []string{"fixture-secret-appsettings-pg", "fixture-secret-appsettings-prod-pg", "fixture-secret-payments-key", "fixture-secret-env-npgsql"},
		configs: []string{"/srv/fixture/dotnet/appsettings.json", "/srv/fixture/dotnet/appsettings.Production.json"},
		health:  HealthCheck{Port: 5080},
		cpPorts: []ExposedPort{{Port: 5080, Protocol: "tcp"}},
		logs:    []string{"/srv/fixture/dotnet/logs"},
	},
	"apphost": {
		typ: TypeDotnetHost, path: "/srv/fixture/apphost/Inventory", user: "www-data", pids: 1,
		ports: []Port{{"tcp", "127.0.0.1", 5081}},
		runtime: RuntimeInfo{Kind: "dotnet", Version: "8.0.11", Home: "/usr/share/dotnet",
			VersionSource: "loaded shared framework /usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11",
			Entrypoint:    "/srv/fixture/apphost/Inventory"},
		fwks: []Framework{{Name: "Microsoft.NETCore.App", Version: "8.0.11"}, {Name: "Microsoft.AspNetCore.App", Version: "8.0.11"}},
		deps: []Dependency{
			{Service: "sqlserver", Host: "invdb.internal.example", Port: 1433},
			{Service: "kafka", Host: "kafka1.internal.example", Port: 9092},
		},
		secrets: []string{"fixture-secret-apphost-sql"},
		configs: []string{"/srv/fixture/apphost/appsettings.json"},
		health:  HealthCheck{Port: 5081},
		cpPorts: []ExposedPort{{Port: 5081, Protocol: "tcp"}},
	},
}

var fxIDPattern = regexp.MustCompile(`^([a-z-]+)-([0-9a-f]{8})$`)

// TestFixtureExpectations checks each fixture against facts known from how
// it was made, independently of the golden files.
func TestFixtureExpectations(t *testing.T) {
	names := fxNames(t)
	for _, name := range names {
		if _, ok := fxExpected[name]; !ok {
			t.Errorf("fixture %s has no entry in fxExpected", name)
		}
	}
	for _, name := range names {
		exp, ok := fxExpected[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := fxScanAndAnalyze(t, fxLoad(t, name))
			if len(r.inv.Apps) != 1 {
				t.Fatalf("%d apps, want 1: %+v", len(r.inv.Apps), r.inv.Apps)
			}
			app := r.inv.Apps[0]
			fxCheckApp(t, name, exp, app)
			a := r.analyses[app.ID]
			fxCheckAnalysis(t, name, exp, a)
			fxCheckSecrets(t, name, exp, app.ID, r)
		})
	}
}

func fxCheckApp(t *testing.T, name string, exp fxExpect, app App) {
	t.Helper()
	if app.Type != exp.typ {
		t.Errorf("type %s, want %s", app.Type, exp.typ)
	}
	if m := fxIDPattern.FindStringSubmatch(app.ID); m == nil || m[1] != string(exp.typ) {
		t.Errorf("id %q, want %s-<8 hex digits>", app.ID, exp.typ)
	}
	if app.Path != exp.path {
		t.Errorf("path %q, want %q", app.Path, exp.path)
	}
	if app.User != exp.user {
		t.Errorf("user %q, want %q", app.User, exp.user)
	}
	if !fxSamePorts(app.Ports, exp.ports) {
		t.Errorf("ports %+v, want %+v", app.Ports, exp.ports)
	}
	if len(app.PIDs) != exp.pids {
		t.Errorf("pids %v, want %d processes", app.PIDs, exp.pids)
	}
	// The main process is the one whose parent is not part of the app.
	for _, pid := range app.PIDs {
		if pid == app.PID {
			continue
		}
		if pp := fxPPid(t, name, pid); pp != app.PID {
			t.Errorf("pid %d has parent %d, want the main process %d", pid, pp, app.PID)
		}
	}
	if fxContainsInt32(app.PIDs, fxPPid(t, name, app.PID)) {
		t.Errorf("main pid %d's parent is part of the app %v", app.PID, app.PIDs)
	}
}

// fxPPid reads a fixture process's parent from its status file.
func fxPPid(t *testing.T, name string, pid int32) int32 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixturesDir, name, "proc", strconv.Itoa(int(pid)), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return int32(n)
		}
	}
	t.Fatalf("no PPid in status of %d", pid)
	return 0
}

func fxContainsInt32(list []int32, v int32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func fxSamePorts(got, want []Port) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func fxCheckAnalysis(t *testing.T, name string, exp fxExpect, a *Analysis) {
	t.Helper()
	o := a.Observed
	if a.Type != exp.typ {
		t.Errorf("analysis type %s, want %s", a.Type, exp.typ)
	}
	if !fxSamePorts(o.Ports, exp.ports) {
		t.Errorf("observed ports %+v, want %+v", o.Ports, exp.ports)
	}
	if exp.pids > 1 && len(o.Process.ChildPIDs) != exp.pids-1 {
		t.Errorf("child pids %v, want %d", o.Process.ChildPIDs, exp.pids-1)
	}
	// Runtime.
	rt, want := o.Runtime, exp.runtime
	if rt.Kind != want.Kind || rt.Version != want.Version {
		t.Errorf("runtime %s %s, want %s %s", rt.Kind, rt.Version, want.Kind, want.Version)
	}
	for _, c := range []struct{ field, got, want string }{
		{"home", rt.Home, want.Home},
		{"entrypoint", rt.Entrypoint, want.Entrypoint},
		{"mainJar", rt.MainJar, want.MainJar},
		{"mainClass", rt.MainClass, want.MainClass},
	} {
		if c.want != "" && c.got != c.want {
			t.Errorf("runtime %s %q, want %q", c.field, c.got, c.want)
		}
	}
	if want.VersionSource != "" && !strings.HasPrefix(rt.VersionSource, want.VersionSource) {
		t.Errorf("runtime version source %q, want %q", rt.VersionSource, want.VersionSource)
	}
	if want.Kind == "mono" {
		// Mono's version is the dpkg package's, from the fixture's own
		// dpkg database.
		if v := fxDpkgVersion(t, name, "mono-runtime"); v == "" || rt.Version != v {
			t.Errorf("mono version %q, fixture dpkg says %q", rt.Version, v)
		}
	}
	if want.Kind == "java" && !strings.HasSuffix(rt.VersionSource, "/release") {
		t.Errorf("java version source %q, want the JDK release file", rt.VersionSource)
	}
	if exp.fwks != nil {
		if len(rt.Frameworks) != len(exp.fwks) {
			t.Errorf("frameworks %+v, want %+v", rt.Frameworks, exp.fwks)
		} else {
			for i := range exp.fwks {
				if rt.Frameworks[i] != exp.fwks[i] {
					t.Errorf("framework %d: %+v, want %+v", i, rt.Frameworks[i], exp.fwks[i])
				}
			}
		}
	}
	// Server.
	switch {
	case exp.server == nil && o.Server != nil:
		t.Errorf("unexpected server %+v", o.Server)
	case exp.server != nil && o.Server == nil:
		t.Errorf("no server, want %+v", exp.server)
	case exp.server != nil:
		s := o.Server
		if s.Type != exp.server.Type || s.Version != exp.server.Version || s.Home != exp.server.Home || s.Base != exp.server.Base {
			t.Errorf("server %s %s home %s base %s, want %s %s home %s base %s", s.Type, s.Version, s.Home, s.Base,
				exp.server.Type, exp.server.Version, exp.server.Home, exp.server.Base)
		}
		got := map[string]string{}
		for _, w := range s.WebApps {
			got[w.ContextPath] = w.Kind
		}
		for ctxPath, kind := range exp.webApps {
			if got[ctxPath] != kind {
				t.Errorf("web app %s: kind %q, want %q (web apps %+v)", ctxPath, got[ctxPath], kind, s.WebApps)
			}
		}
		if s.Type == "tomcat" {
			var http bool
			for _, c := range s.Connectors {
				if !c.ShutdownCmd && c.Port == int(exp.ports[0].Port) {
					http = true
				}
			}
			if !http {
				t.Errorf("connectors %+v lack the HTTP connector on %d", s.Connectors, exp.ports[0].Port)
			}
		}
	}
	// Dependencies, labelled by service.
	for _, d := range exp.deps {
		var found *Dependency
		for i, g := range o.Dependencies {
			if g.Service == d.Service && g.Host == d.Host && g.Port == d.Port {
				found = &o.Dependencies[i]
			}
		}
		if found == nil {
			t.Errorf("no dependency %s %s:%d in %+v", d.Service, d.Host, d.Port, o.Dependencies)
			continue
		}
		for _, src := range d.Sources {
			if !fxContains(found.Sources, src) {
				t.Errorf("dependency %s %s:%d sources %v lack %q", d.Service, d.Host, d.Port, found.Sources, src)
			}
		}
	}
	// Config files that must have been parsed (no error).
	for _, p := range exp.configs {
		var cf *ConfigFile
		for i := range o.ConfigFiles {
			if o.ConfigFiles[i].Path == p {
				cf = &o.ConfigFiles[i]
			}
		}
		switch {
		case cf == nil:
			t.Errorf("config file %s not found", p)
		case cf.Error != "":
			t.Errorf("config file %s: %s", p, cf.Error)
		}
	}
	// Files.
	for _, l := range exp.logs {
		if !fxContains(o.Files.Logs, l) {
			t.Errorf("logs %v lack %s", o.Files.Logs, l)
		}
	}
	for _, l := range exp.temp {
		if !fxContains(o.Files.Temp, l) {
			t.Errorf("temp %v lack %s", o.Files.Temp, l)
		}
	}
	var external int
	for _, f := range o.Files.App {
		if f.External && strings.HasPrefix(f.Target, "/usr/share/java/") {
			external++
		}
	}
	if external < exp.external {
		t.Errorf("%d external library links to /usr/share/java, want at least %d", external, exp.external)
	}
	if exp.runtime.Kind == "dotnet" {
		if !fxContains(o.Files.Libraries, "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11/libcoreclr.so") {
			t.Errorf("libraries %v lack libcoreclr.so", o.Files.Libraries)
		}
	}
	// The app's own listen addresses are never its dependencies.
	for _, d := range o.Dependencies {
		for _, p := range o.Ports {
			if uint32(d.Port) == p.Port && isLocalHost(d.Host) {
				t.Errorf("dependency %+v is the app's own port", d)
			}
		}
	}
	// Container parameters.
	cp := a.ContainerParameters
	if fmt.Sprint(cp.Ports) != fmt.Sprint(exp.cpPorts) {
		t.Errorf("containerParameters.ports %v, want %v", cp.Ports, exp.cpPorts)
	}
	if exp.health != (HealthCheck{}) && cp.HealthCheck != exp.health {
		t.Errorf("health check %+v, want %+v", cp.HealthCheck, exp.health)
	}
	if cp.ImageName != a.ID || cp.WorkingDir != o.Process.Cwd {
		t.Errorf("image %q workdir %q", cp.ImageName, cp.WorkingDir)
	}
}

// fxCheckSecrets: each planted value is in the fixture (captured with
// --keep-secrets), in secrets.json, and nowhere in inventory.json or
// analysis.json.
func fxCheckSecrets(t *testing.T, name string, exp fxExpect, id string, r *fxRun) {
	t.Helper()
	if len(exp.secrets) == 0 {
		t.Fatalf("fixture %s plants no secret", name)
	}
	vals := map[string]string{}
	for ref, v := range r.secrets {
		if !strings.HasPrefix(ref, id+"/") {
			t.Errorf("secret ref %q is not under the app's ID %s", ref, id)
		}
		vals[ref] = v
	}
	for _, s := range exp.secrets {
		if bytes.Contains(r.raw[id], []byte(s)) {
			t.Errorf("analysis.json contains the secret %q", s)
		}
		if bytes.Contains(r.invJSON, []byte(s)) {
			t.Errorf("inventory.json contains the secret %q", s)
		}
		var found bool
		for _, v := range vals {
			if strings.Contains(v, s) {
				found = true
			}
		}
		if !found {
			t.Errorf("secrets.json lacks %q (%d secrets)", s, len(r.secrets))
		}
	}
	// Every secret reference in analysis.json resolves in secrets.json.
	for _, ss := range r.analyses[id].Observed.Secrets {
		if _, ok := r.secrets[ss.Ref]; !ok {
			t.Errorf("secret %s listed in analysis.json is not in secrets.json", ss.Ref)
		}
	}
}

func fxContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fxDpkgVersion reads a package's version from the fixture's dpkg status.
func fxDpkgVersion(t *testing.T, name, pkg string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixturesDir, name, "root", "var", "lib", "dpkg", "status"))
	if err != nil {
		return ""
	}
	for _, stanza := range strings.Split(string(data), "\n\n") {
		if strings.HasPrefix(stanza, "Package: "+pkg+"\n") {
			for _, line := range strings.Split(stanza, "\n") {
				if v, ok := strings.CutPrefix(line, "Version: "); ok {
					return v
				}
			}
		}
	}
	return ""
}

// TestFixtureIDsStable: scanning a fixture twice gives the same IDs and
// the same bytes, and renumbering every process keeps every ID: IDs come
// from what the app is, never from a PID.
func TestFixtureIDsStable(t *testing.T) {
	for _, name := range fxNames(t) {
		t.Run(name, func(t *testing.T) {
			h := fxLoad(t, name)
			r1 := fxScanAndAnalyze(t, h)
			r2 := fxScanAndAnalyze(t, h)
			if !bytes.Equal(r1.invJSON, r2.invJSON) {
				t.Errorf("inventory differs between two scans:\n%s", fxDiff(r1.invJSON, r2.invJSON))
			}
			for id, raw := range r1.raw {
				if !bytes.Equal(raw, r2.raw[id]) {
					t.Errorf("%s analysis.json differs between two runs:\n%s", id, fxDiff(raw, r2.raw[id]))
				}
			}
			for _, app := range r1.inv.Apps {
				for _, pid := range app.PIDs {
					if strings.Contains(app.ID, strconv.Itoa(int(pid))) {
						t.Errorf("id %s contains pid %d", app.ID, pid)
					}
				}
			}

			// The same processes under other PIDs (a restart, a reboot).
			moved := fxRenumber(t, h, 300000)
			inv, err := Scan(context.Background(), ScanOptions{Host: moved})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fxAppKeys(inv), fxAppKeys(r1.inv); got != want {
				t.Errorf("after renumbering the processes:\n got %s\nwant %s", got, want)
			}
			for i, app := range inv.Apps {
				if app.PID == r1.inv.Apps[i].PID {
					t.Errorf("renumbering did not change pid %d", app.PID)
				}
			}
		})
	}
}

// fxAppKeys summarises an inventory without its PIDs.
func fxAppKeys(inv *Inventory) string {
	var out []string
	for _, a := range inv.Apps {
		out = append(out, fmt.Sprintf("%s %s %s procs=%d ports=%v", a.ID, a.Type, a.Path, len(a.PIDs), a.Ports))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// fxRenumber copies a loaded fixture with every process's PID (and the
// parent PIDs pointing at them) shifted by delta.
func fxRenumber(t *testing.T, h Host, delta int) Host {
	t.Helper()
	dir := t.TempDir()
	proc, root := filepath.Join(dir, "proc"), filepath.Join(dir, "root")
	fixturetest.Copy(t, h.Proc, proc)
	if err := os.Symlink(h.Root, root); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids[n] = true
		}
	}
	shift := func(s string) string {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || !pids[n] {
			return s
		}
		return strconv.Itoa(n + delta)
	}
	for pid := range pids {
		old := filepath.Join(proc, strconv.Itoa(pid))
		st := filepath.Join(old, "status")
		if data, err := os.ReadFile(st); err == nil {
			lines := strings.Split(string(data), "\n")
			for i, line := range lines {
				k, v, ok := strings.Cut(line, ":")
				if ok && (k == "Pid" || k == "Tgid" || k == "PPid" || k == "NSpid" || k == "NStgid") {
					lines[i] = k + ":\t" + shift(v)
				}
			}
			if err := os.WriteFile(st, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if data, err := os.ReadFile(filepath.Join(old, "stat")); err == nil {
			// "PID (comm) S PPID ...": comm may hold spaces, so split at
			// the last ')'.
			s := string(data)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				head, tail := s[:i+1], strings.Fields(s[i+1:])
				if len(tail) > 1 {
					tail[1] = shift(tail[1])
				}
				if sp := strings.IndexByte(head, ' '); sp > 0 {
					head = shift(head[:sp]) + head[sp:]
				}
				s = head + " " + strings.Join(tail, " ") + "\n"
			}
			if err := os.WriteFile(filepath.Join(old, "stat"), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(old, filepath.Join(proc, strconv.Itoa(pid+delta))); err != nil {
			t.Fatal(err)
		}
	}
	return Host{Proc: proc, Root: root}
}

// TestFixtureRobustness breaks a copy of a fixture in the ways a live
// /proc breaks (processes vanishing mid-scan, binary or huge command lines,
// unreadable entries, garbage socket tables, zombies) and checks the scan
// carries on: no error, no panic, reasons counted, healthy apps listed.
func TestFixtureRobustness(t *testing.T) {
	const name = "jboss" // two processes: the child can vanish mid-tree
	h := fxLoad(t, name)
	base := fxScanAndAnalyze(t, h)
	if len(base.inv.Apps) != 1 || len(base.inv.Apps[0].PIDs) != 2 {
		t.Fatalf("fixture %s: want one app of two processes, got %+v", name, base.inv.Apps)
	}
	app := base.inv.Apps[0]
	var child int32
	for _, p := range app.PIDs {
		if p != app.PID {
			child = p
		}
	}
	pdir := func(pid int32, parts ...string) string {
		return filepath.Join(append([]string{h.Proc, strconv.Itoa(int(pid))}, parts...)...)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// newProc makes a process directory from the main process's, with
	// its own command line and state.
	newProc := func(pid int32, cmdline []byte, state string) {
		t.Helper()
		fixturetest.Copy(t, pdir(app.PID), pdir(pid))
		must(os.WriteFile(pdir(pid, "cmdline"), cmdline, 0o644))
		data, err := os.ReadFile(pdir(pid, "status"))
		must(err)
		lines := strings.Split(string(data), "\n")
		for i, line := range lines {
			k, _, _ := strings.Cut(line, ":")
			switch k {
			case "State":
				lines[i] = "State:\t" + state
			case "Pid", "Tgid":
				lines[i] = k + ":\t" + strconv.Itoa(int(pid))
			case "PPid":
				lines[i] = "PPid:\t1"
			}
		}
		must(os.WriteFile(pdir(pid, "status"), []byte(strings.Join(lines, "\n")), 0o644))
	}
	javaArgv := []byte("java\x00-Dbroken=1\x00-cp\x00/srv/broken\x00com.example.Broken\x00")

	// 1. The child vanished between listing /proc and reading it.
	must(os.Remove(pdir(child, "cmdline")))
	// 2. A command line that is not text.
	newProc(900001, []byte("\xff\xfe\xfdjava\x00-jar\x00\xc3\x28.jar\x00"), "S (sleeping)")
	// 3. An absurd (2 MiB) command line.
	huge := append([]byte("java\x00-cp\x00"), bytes.Repeat([]byte("/x.jar:"), 2<<20/7)...)
	newProc(900002, append(huge, "\x00com.example.Huge\x00"...), "S (sleeping)")
	// 4. An unreadable process. Root reads a mode-000 file anyway, so as
	// root this case proves nothing and is left out.
	unreadable := os.Geteuid() != 0
	if unreadable {
		newProc(900003, javaArgv, "S (sleeping)")
		must(os.Chmod(pdir(900003, "cmdline"), 0))
		t.Cleanup(func() { _ = os.Chmod(pdir(900003, "cmdline"), 0o644) })
	}
	// 5. A zombie whose command line still says java.
	newProc(900004, javaArgv, "Z (zombie)")
	// 6. A kernel thread: empty command line, ignored without a reason.
	newProc(900005, nil, "S (sleeping)")
	// 7. Garbage after the real lines of the socket tables.
	for _, proto := range []string{"tcp", "tcp6"} {
		p := pdir(app.PID, "net", proto)
		data, err := os.ReadFile(p)
		must(err)
		data = append(data, "   9: not a socket line at all\n  10: 0100007F:ZZZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n\x00\x01\x02 binary\n"...)
		must(os.WriteFile(p, data, 0o644))
	}

	ctx := context.Background()
	var inv *Inventory
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("scan panicked: %v", p)
			}
		}()
		var err error
		inv, err = Scan(ctx, ScanOptions{Host: h})
		if err != nil {
			t.Fatalf("scan failed: %v", err)
		}
	}()
	want := map[string]int{"vanished during scan": 1, "binary command line": 1, "command line too large": 1, "zombie": 1}
	if unreadable {
		want["permission denied"] = 1
	}
	for reason, n := range want {
		if inv.Skipped[reason] != n {
			t.Errorf("skipped[%q] = %d, want %d (skipped: %v)", reason, inv.Skipped[reason], n, inv.Skipped)
		}
	}
	if len(inv.Apps) != 1 {
		t.Fatalf("apps %+v, want only the healthy jboss app", inv.Apps)
	}
	got := inv.Apps[0]
	if got.ID != app.ID || got.PID != app.PID || len(got.PIDs) != 1 {
		t.Errorf("healthy app %+v, want %s with main pid %d alone", got, app.ID, app.PID)
	}
	if !fxSamePorts(got.Ports, app.Ports) {
		t.Errorf("ports %+v, want %+v (lines before the garbage are kept)", got.Ports, app.Ports)
	}
	var netWarning bool
	for _, w := range inv.Warnings {
		if strings.Contains(w, "/proc/net/tcp") {
			netWarning = true
		}
	}
	if !netWarning {
		t.Errorf("warnings %q do not mention the malformed socket table", inv.Warnings)
	}
	// The healthy app can still be analyzed.
	ws := Workspace{Dir: filepath.Join(t.TempDir(), "ws")}
	a, err := Analyze(ctx, AnalyzeOptions{Host: h, Workspace: ws, ID: app.ID})
	if err != nil {
		t.Fatalf("analyze after breakage: %v", err)
	}
	if a.Observed.Server == nil || a.Observed.Server.Version != "26.1.3.Final" || len(a.Observed.Process.ChildPIDs) != 0 {
		t.Errorf("analysis after breakage: server %+v children %v", a.Observed.Server, a.Observed.Process.ChildPIDs)
	}
	// The JSON still renders (no invalid UTF-8 from the binary command line
	// can reach it: that process was skipped).
	if _, err := json.Marshal(inv); err != nil {
		t.Error(err)
	}
}
