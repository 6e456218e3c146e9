package discover

import (
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>; `make fuzz` runs these.

func FuzzParseJavaCommand(f *testing.F) {
	f.Add("/usr/bin/java\x00-Dcatalina.base=/x\x00-cp\x00a:b\x00Main\x00arg")
	f.Add("java\x00-jar")
	f.Add("java\x00--module=a/b")
	f.Fuzz(func(t *testing.T, cmdline string) {
		argv := strings.Split(cmdline, "\x00")
		c, err := ParseJavaCommand(argv)
		if err != nil {
			return
		}
		if c.Jar != "" && c.MainClass != "" {
			t.Errorf("both a jar and a main class: %+v", c)
		}
		// Nothing is invented: every option came from argv.
		if len(c.Options)+len(c.Args) > len(argv) {
			t.Errorf("more parts than arguments: %+v", c)
		}
		for _, p := range c.Properties {
			if !strings.Contains(cmdline, "-D"+p.Key) {
				t.Errorf("property %q not in the command line", p.Key)
			}
		}
	})
}

func FuzzParseDotnetCommand(f *testing.F) {
	f.Add("dotnet\x00exec\x00--depsfile\x00d.json\x00App.dll\x00--urls\x00http://*:80")
	f.Add("mono\x00--config\x00")
	f.Add("dotnet\x00watch")
	f.Fuzz(func(t *testing.T, cmdline string) {
		argv := strings.Split(cmdline, "\x00")
		for _, parse := range []func([]string) (DotnetCommand, error){ParseDotnetCommand, ParseMonoCommand} {
			c, err := parse(argv)
			if err == nil && c.Entrypoint == "" && c.SDK == "" {
				t.Errorf("no entry point and no error: %+v", c)
			}
		}
	})
}

func FuzzParseProcNet(f *testing.F) {
	f.Add([]byte("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n"))
	f.Add([]byte("h\n 0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 99 1\n"))
	f.Add([]byte("h\n 0: 0100007F 1 2 3 4 5 6 7 8\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ParseProcNet("tcp", data, func(s Socket) {
			if s.LocalPort > 65535 || s.RemotePort > 65535 {
				t.Errorf("port out of range: %+v", s)
			}
			if len(s.LocalIP) != 4 && len(s.LocalIP) != 16 {
				t.Errorf("bad IP length: %+v", s)
			}
		})
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot.loader.JarLauncher\r\nSpring-Boot-Version: 3.2.\r\n 1\r\n\r\nName: x\r\n"))
	f.Add([]byte(" continuation first\n:\n"))
	f.Add([]byte{0xff, ':', '\n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := parseManifest(data)
		for k := range m {
			if strings.ContainsAny(k, "\n") {
				t.Errorf("key with newline %q", k)
			}
		}
	})
}

func FuzzUlimits(f *testing.F) {
	f.Add([]byte("Limit                     Soft Limit           Hard Limit           Units\nMax open files            65536                65536                files\n"))
	f.Add([]byte("Max open files            x\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, u := range nonDefaultUlimits(data) {
			if u.Name == "" {
				t.Errorf("unnamed limit %+v", u)
			}
		}
	})
}
