package discover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthProcfs writes a procfs of n processes under dir: mostly ordinary
// processes, one in twenty a Java or .NET app with sockets, plus kernel
// threads and zombies, all in one network namespace.
func synthProcfs(tb testing.TB, dir string, n int) Host {
	tb.Helper()
	proc := filepath.Join(dir, "proc")
	root := filepath.Join(dir, "root")
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\napp:x:1000:\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "opt", "tomee", "lib"), 0o755))
	must(os.WriteFile(filepath.Join(root, "opt", "tomee", "lib", "tomee-catalina-9.1.2.jar"), nil, 0o644))
	var tcp strings.Builder
	tcp.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	others := []string{"/usr/sbin/sshd\x00-D", "/usr/sbin/nginx\x00-g\x00daemon off;", "/bin/bash", "/usr/bin/python3\x00worker.py", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/pg"}
	inode := 100000
	for i := 1; i <= n; i++ {
		pd := filepath.Join(proc, fmt.Sprint(i))
		must(os.MkdirAll(filepath.Join(pd, "fd"), 0o755))
		must(os.MkdirAll(filepath.Join(pd, "ns"), 0o755))
		must(os.Symlink("net:[4026531840]", filepath.Join(pd, "ns", "net")))
		state := "S (sleeping)"
		var cmdline, exe string
		switch {
		case i%97 == 0: // kernel thread
		case i%89 == 0: // zombie
			state = "Z (zombie)"
		case i%20 == 0:
			port := 8000 + i
			home := "/usr/share/tomcat"
			if i%40 == 0 {
				home = "/opt/tomee" // recognised by its own jars
			}
			cmdline = fmt.Sprintf("/usr/bin/java\x00-Xmx512m\x00-Dcatalina.base=/srv/t%d\x00-Dcatalina.home=%s\x00-classpath\x00%s/bin/bootstrap.jar\x00org.apache.catalina.startup.Bootstrap\x00start", i, home, home)
			exe = "/usr/lib/jvm/java-17/bin/java"
			inode++
			must(os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(pd, "fd", "7")))
			fmt.Fprintf(&tcp, "%4d: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 100 0 0 10 0\n", i, port, inode)
		case i%20 == 5:
			cmdline = fmt.Sprintf("/usr/bin/mono\x00--debug\x00/srv/legacy%d/Legacy.exe\x00--port\x009000", i)
			exe = "/usr/bin/mono-sgen"
		case i%20 == 10:
			cmdline = fmt.Sprintf("/usr/bin/dotnet\x00/srv/app%d/App.dll", i)
			exe = "/usr/share/dotnet/dotnet"
		default:
			cmdline = others[i%len(others)]
			exe = strings.SplitN(cmdline, "\x00", 2)[0]
		}
		must(os.WriteFile(filepath.Join(pd, "cmdline"), []byte(cmdline), 0o644))
		status := fmt.Sprintf("Name:\tp%d\nState:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t1000\n", i, state, i, i)
		must(os.WriteFile(filepath.Join(pd, "status"), []byte(status), 0o644))
		st := fmt.Sprintf("%d (p%d) %c 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 4 0 12345 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n", i, i, state[0], i, i)
		must(os.WriteFile(filepath.Join(pd, "stat"), []byte(st), 0o644))
		if exe != "" {
			must(os.Symlink(exe, filepath.Join(pd, "exe")))
			must(os.Symlink("/srv", filepath.Join(pd, "cwd")))
		}
		for j := 0; j < 3; j++ {
			must(os.Symlink("/dev/null", filepath.Join(pd, "fd", fmt.Sprint(j))))
		}
	}
	must(os.MkdirAll(filepath.Join(proc, "net"), 0o755))
	must(os.WriteFile(filepath.Join(proc, "net", "tcp"), []byte(tcp.String()), 0o644))
	// Every process's net/ is the same table, as on a real host.
	for i := 1; i <= n; i++ {
		_ = os.Symlink("../net", filepath.Join(proc, fmt.Sprint(i), "net"))
	}
	return Host{Proc: proc, Root: root}
}

func TestSyntheticProcfs(t *testing.T) {
	h := synthProcfs(t, t.TempDir(), 400)
	inv, err := Scan(context.Background(), ScanOptions{Host: h, Hostname: "synthetic"})
	if err != nil {
		t.Fatal(err)
	}
	var tomcats, tomees, dotnets, monos int
	for _, a := range inv.Apps {
		switch a.Type {
		case TypeMono:
			monos++
			if !strings.HasSuffix(a.Path, "/Legacy.exe") {
				t.Errorf("mono app path %q", a.Path)
			}
		case TypeTomEE:
			tomees++
			fallthrough
		case TypeTomcat:
			tomcats++
			if len(a.Ports) != 1 || a.Ports[0].Port != uint32(8000+a.PID) {
				t.Errorf("%s ports %+v, want %d", a.ID, a.Ports, 8000+a.PID)
			}
		case TypeDotnet:
			dotnets++
		}
		if a.User != "app" {
			t.Errorf("%s user %q", a.ID, a.User)
		}
	}
	// 400/20 tomcats minus those that are kernel threads/zombies.
	if tomcats < 15 || dotnets < 15 || monos < 15 || tomees < 5 || tomees == tomcats {
		t.Errorf("found %d tomcats (%d TomEE), %d dotnet and %d mono apps in %+v", tomcats, tomees, dotnets, monos, inv.Apps)
	}
}

// BenchmarkInventory2000 measures a whole inventory over 2,000 processes.
// Target: under 200 ms and 20 MB allocated per scan.
func BenchmarkInventory2000(b *testing.B) {
	h := synthProcfs(b, b.TempDir(), 2000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inv, err := Scan(ctx, ScanOptions{Host: h, Hostname: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Apps) < 150 {
			b.Fatalf("found %d apps", len(inv.Apps))
		}
	}
}
