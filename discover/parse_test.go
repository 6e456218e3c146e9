package discover

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParseJavaCommand(t *testing.T) {
	tests := []struct {
		argv []string
		want JavaCommand
	}{
		{
			argv: []string{"/usr/bin/java", "-Xmx1g", "-Dcatalina.base=/var/lib/tomcat10", "-classpath", "/a.jar:/b.jar", "org.apache.catalina.startup.Bootstrap", "start"},
			want: JavaCommand{Launcher: "/usr/bin/java", Options: []string{"-Xmx1g", "-Dcatalina.base=/var/lib/tomcat10", "-classpath", "/a.jar:/b.jar"},
				Properties: []KV{{Key: "catalina.base", Value: "/var/lib/tomcat10"}}, Classpath: []string{"/a.jar", "/b.jar"},
				MainClass: "org.apache.catalina.startup.Bootstrap", Args: []string{"start"}},
		},
		{
			argv: []string{"java", "-Dflag", "-jar", "app.jar", "--server.port=9090", "-Dnot.a.prop=1"},
			want: JavaCommand{Launcher: "java", Options: []string{"-Dflag"}, Properties: []KV{{Key: "flag"}}, Jar: "app.jar", Args: []string{"--server.port=9090", "-Dnot.a.prop=1"}},
		},
		{
			argv: []string{"java", "--module-path=/mods", "-m", "com.example/com.example.Main", "x"},
			want: JavaCommand{Launcher: "java", Options: []string{"--module-path=/mods"}, ModulePath: []string{"/mods"}, Module: "com.example/com.example.Main", Args: []string{"x"}},
		},
		{
			argv: []string{"java", "@/etc/app/jvm.args", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "Main"},
			want: JavaCommand{Launcher: "java", Options: []string{"@/etc/app/jvm.args", "--add-opens", "java.base/java.lang=ALL-UNNAMED"}, ArgFiles: []string{"/etc/app/jvm.args"}, MainClass: "Main", Args: []string{}},
		},
	}
	for _, tt := range tests {
		got, err := ParseJavaCommand(tt.argv)
		if err != nil {
			t.Errorf("%v: %v", tt.argv, err)
			continue
		}
		if tt.want.Args == nil {
			tt.want.Args = nil
		}
		if len(got.Args) == 0 && len(tt.want.Args) == 0 {
			got.Args, tt.want.Args = nil, nil
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v:\n got %+v\nwant %+v", tt.argv, got, tt.want)
		}
	}
	for _, bad := range [][]string{{"java", "-jar"}, {"java", "-cp"}, {"java", "-m"}, {}} {
		if _, err := ParseJavaCommand(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	jc, _ := ParseJavaCommand([]string{"java", "-Da=1", "-Da=2", "Main"})
	if v, _ := jc.Prop("a"); v != "2" {
		t.Errorf("last -D wins: got %q", v)
	}
}

func TestParseDotnetAndMono(t *testing.T) {
	dc, err := ParseDotnetCommand([]string{"dotnet", "exec", "--runtimeconfig", "x.json", "/srv/app/Shop.dll", "--urls", "http://*:5000"})
	if err != nil || dc.Entrypoint != "/srv/app/Shop.dll" || !reflect.DeepEqual(dc.Args, []string{"--urls", "http://*:5000"}) || len(dc.HostOptions) != 2 {
		t.Errorf("dotnet exec: %+v %v", dc, err)
	}
	dc, err = ParseDotnetCommand([]string{"dotnet", "run", "--project", "x"})
	if err != nil || dc.SDK != "run" {
		t.Errorf("dotnet run: %+v %v", dc, err)
	}
	if _, err := ParseDotnetCommand([]string{"dotnet", "--info"}); err == nil {
		t.Errorf("dotnet --info: want an error")
	}
	mc, err := ParseMonoCommand([]string{"/usr/bin/mono", "--debug", "/usr/lib/mono/4.5/xsp4.exe", "--port", "8080", "--root", "/var/www"})
	if err != nil || mc.Entrypoint != "/usr/lib/mono/4.5/xsp4.exe" || len(mc.Args) != 4 {
		t.Errorf("mono: %+v %v", mc, err)
	}
}

func TestParseProcNet(t *testing.T) {
	data := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0F02000A:C350 0A01A8C0:1538 01 00000000:00000000 00:00000000 00000000  1000        0 23456 1 0000000000000000 20 4 30 10 -1
`)
	var got []Socket
	if err := ParseProcNet("tcp", data, func(s Socket) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d sockets", len(got))
	}
	if got[0].LocalIP.String() != "127.0.0.1" || got[0].LocalPort != 8080 || !got[0].Listening() || got[0].Inode != 12345 {
		t.Errorf("socket 0: %+v", got[0])
	}
	if got[1].RemoteIP.String() != "192.168.1.10" || got[1].RemotePort != 5432 || got[1].Listening() || got[1].State != tcpEstablished {
		t.Errorf("socket 1: %+v", got[1])
	}
	v6 := []byte("hdr\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 777 1\n" +
		"   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 778 1\n")
	got = nil
	if err := ParseProcNet("tcp6", v6, func(s Socket) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if got[0].LocalIP.String() != "::" || got[1].LocalIP.String() != "127.0.0.1" {
		t.Errorf("v6: %v %v", got[0].LocalIP, got[1].LocalIP)
	}
	if err := ParseProcNet("udp", []byte("hdr\n 0: zz:1 00000000:0000 07 0 0 0 0 0 0 1\n"), func(Socket) {}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed: %v", err)
	}
}

func TestResolveStaysInRoot(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/share/java"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("fixture\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "usr/share/tomcat10/lib"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/share/java/catalina.jar"), []byte("x"), 0o644))
	must(os.Symlink("../../java/catalina.jar", filepath.Join(root, "usr/share/tomcat10/lib/catalina.jar")))
	must(os.Symlink("/usr/share/java", filepath.Join(root, "usr/share/tomcat10/abs")))
	must(os.Symlink("../../../../../../etc", filepath.Join(root, "usr/share/tomcat10/escape")))
	must(os.Symlink("loop2", filepath.Join(root, "loop1")))
	must(os.Symlink("loop1", filepath.Join(root, "loop2")))
	h := Host{Proc: "/proc", Root: root}
	for in, want := range map[string]string{
		"/usr/share/tomcat10/lib/catalina.jar": "/usr/share/java/catalina.jar",
		"/usr/share/tomcat10/abs/catalina.jar": "/usr/share/java/catalina.jar",
		"/usr/share/tomcat10/escape/passwd":    "/etc/passwd",
		"/usr/../usr/share/./java":             "/usr/share/java",
	} {
		got, err := h.Resolve(in)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := h.Resolve("/loop1/x"); err == nil {
		t.Errorf("symlink loop: no error")
	}
	if _, err := h.Resolve("relative"); err == nil {
		t.Errorf("relative path: no error")
	}
	// A link that climbs out of the root lands on the root's own /etc,
	// never on the real host's.
	if data, err := h.ReadFile("/usr/share/tomcat10/escape/passwd", 1<<20); err != nil || string(data) != "fixture\n" {
		t.Errorf("read through an escaping link: %q, %v", data, err)
	}
}

// Follow is the walk under Resolve, extract's collector and the host base
// assembler: each sees every component, and learns where a walk stopped.
func TestFollowVisitsEveryComponent(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"opt/app/lib", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "opt/app/lib/a.jar"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"current": "/opt/app", "opt/app/libs": "lib", "loop": "loop"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	h := Host{Root: root}
	var seen []string
	visit := func(p string, fi fs.FileInfo, target string) error {
		if target != "" {
			p += " -> " + target
		} else if fi.IsDir() {
			p += "/"
		}
		seen = append(seen, p)
		return nil
	}
	real, rest, err := h.Follow("/current/libs/a.jar", visit)
	want := []string{"/current -> /opt/app", "/opt/", "/opt/app/", "/opt/app/libs -> lib", "/opt/app/lib/", "/opt/app/lib/a.jar"}
	if err != nil || real != "/opt/app/lib/a.jar" || len(rest) != 0 || !reflect.DeepEqual(seen, want) {
		t.Errorf("Follow = %q, %q, %v; visited %q, want %q", real, rest, err, seen, want)
	}

	for in, want := range map[string]struct {
		real string
		rest []string
		err  error
	}{
		"/current/missing/x.jar": {"/opt/app/missing", []string{"x.jar"}, fs.ErrNotExist},
		"/current/libs/a.jar/x":  {"/opt/app/lib/a.jar", []string{"x"}, syscall.ENOTDIR},
		"/loop/x":                {"", nil, ErrLinkLoop},
	} {
		real, rest, err := h.Follow(in, nil)
		if real != want.real || !reflect.DeepEqual(rest, want.rest) || !errors.Is(err, want.err) {
			t.Errorf("Follow(%s) = %q, %q, %v; want %q, %q, %v", in, real, rest, err, want.real, want.rest, want.err)
		}
	}

	stop := errors.New("stop")
	seen = nil
	if _, _, err := h.Follow("/opt/app/lib", func(p string, _ fs.FileInfo, _ string) error {
		seen = append(seen, p)
		if p == "/opt/app" {
			return stop
		}
		return nil
	}); err != stop || len(seen) != 2 {
		t.Errorf("an error from visit: %v after %q; want it to end the walk at /opt/app", err, seen)
	}
}

func TestUlimits(t *testing.T) {
	data := []byte(`Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max core file size        0                    unlimited            bytes
Max processes             96365                96365                processes
Max open files            65536                65536                files
Max locked memory         8388608              8388608              bytes
`)
	got := nonDefaultUlimits(data)
	want := []Ulimit{{Name: "nofile", Soft: 65536, Hard: 65536}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v want %+v", got, want)
	}
	if got := nonDefaultUlimits([]byte("garbage\n\n\x00\xff")); len(got) != 0 {
		t.Errorf("garbage: %+v", got)
	}
}

func TestContextPath(t *testing.T) {
	for in, want := range map[string]string{"ROOT": "/", "shop": "/shop", "a#b": "/a/b", "shop##2": "/shop", "ROOT##3": "/", "root": "/root"} {
		if got := contextPath("tomcat", in); got != want {
			t.Errorf("contextPath(tomcat, %q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"root", "ROOT", "Root"} {
		if got := contextPath("jetty", in); got != "/" {
			t.Errorf("contextPath(jetty, %q) = %q, want /", in, got)
		}
	}
}

func TestCleanArgv(t *testing.T) {
	if _, why := cleanArgv([]string{"java", strings.Repeat("x", maxCmdline)}); why == "" {
		t.Errorf("huge command line accepted")
	}
	if _, why := cleanArgv([]string{"\xff\xfe"}); why == "" {
		t.Errorf("binary argv[0] accepted")
	}
	got, why := cleanArgv([]string{"java", "-Dx=\xff"})
	if why != "" || got[1] != "-Dx=\uFFFD" {
		t.Errorf("invalid UTF-8 in an argument: %q %q", got, why)
	}
}
