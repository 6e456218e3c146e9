package discover

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"time"
)

// jar is an opened jar or war on the host.
type jar struct {
	zr      *zip.Reader
	closeFn func() error
}

// maxJarEntries bounds the central directory hoist is willing to read: a
// real application jar has thousands of entries, not millions.
const maxJarEntries = 500000

func (h Host) openJar(p string) (*jar, error) {
	f, err := h.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s as a jar: %w", p, err)
	}
	if len(zr.File) > maxJarEntries {
		f.Close()
		return nil, fmt.Errorf("reading %s as a jar: %d entries, more than %d", p, len(zr.File), maxJarEntries)
	}
	return &jar{zr: zr, closeFn: f.Close}, nil
}

func (j *jar) Close() error { return j.closeFn() }

// read reads one entry, at most max bytes.
func (j *jar) read(name string, max int64) ([]byte, error) {
	for _, f := range j.zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, max))
	}
	return nil, fmt.Errorf("no %s", name)
}

func (j *jar) has(prefix string) bool {
	for _, f := range j.zr.File {
		if strings.HasPrefix(f.Name, prefix) {
			return true
		}
	}
	return false
}

// manifest parses META-INF/MANIFEST.MF's main section (continuation lines
// start with one space).
func (j *jar) manifest() map[string]string {
	data, err := j.read("META-INF/MANIFEST.MF", 1<<20)
	if err != nil {
		return nil
	}
	return parseManifest(data)
}

func parseManifest(data []byte) map[string]string {
	out := map[string]string{}
	var key string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break // end of the main section
		}
		if strings.HasPrefix(line, " ") && key != "" {
			out[key] += line[1:]
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(k)
		out[key] = strings.TrimSpace(v)
	}
	return out
}

func (r *scanResult) isSpringBootJar(p string) bool {
	j, err := r.host.openJar(p)
	if err != nil {
		return false
	}
	defer j.Close()
	if m := j.manifest(); m["Spring-Boot-Version"] != "" || strings.HasPrefix(m["Main-Class"], "org.springframework.boot.loader.") {
		return true
	}
	return j.has("BOOT-INF/")
}

// javaRuntime learns the JVM's version from its home's release file, or by
// asking the binary when the file is missing (live hosts only).
func javaRuntime(ctx context.Context, h Host, exe string, rt *RuntimeInfo) {
	rt.Kind = "java"
	if exe == "" {
		return
	}
	home := path.Dir(path.Dir(exe))
	rt.Home = home
	for _, dir := range []string{home, path.Dir(home)} { // jre/ inside a JDK 8
		data, err := h.ReadFile(path.Join(dir, "release"), 1<<20)
		if err != nil {
			continue
		}
		props := parseShellVars(data)
		if v := props["JAVA_RUNTIME_VERSION"]; v != "" {
			rt.Version = v
		} else if v := props["JAVA_VERSION"]; v != "" {
			rt.Version = v
		}
		rt.Vendor = props["IMPLEMENTOR"]
		if rt.Version != "" {
			rt.VersionSource = path.Join(dir, "release")
			return
		}
	}
	if !h.live() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "-XshowSettings:properties", "-version").CombinedOutput()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		switch {
		case !ok:
		case k == "java.runtime.version":
			rt.Version = v
		case k == "java.vendor" && rt.Vendor == "":
			rt.Vendor = v
		}
	}
	if rt.Version != "" {
		rt.VersionSource = exe + " -XshowSettings:properties"
	}
}

// parseShellVars reads KEY="value" lines (the JDK release file format).
func parseShellVars(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

// serverVersion finds an application server's version from its own files.
func serverVersion(h Host, server, home string) (string, string) {
	switch server {
	case "tomcat", "tomee":
		for _, j := range []string{"lib/catalina.jar"} {
			p := path.Join(home, j)
			jr, err := h.openJar(p)
			if err != nil {
				continue
			}
			// server.info is "Apache Tomcat/10.1.34" (server.number has a
			// fourth component that no release note uses).
			data, err := jr.read("org/apache/catalina/util/ServerInfo.properties", 64<<10)
			if err == nil {
				for _, line := range strings.Split(string(data), "\n") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), "server.info="); ok {
						// "Apache Tomcat/10.1.34 (Debian)"
						if _, num, ok := strings.Cut(v, "/"); ok && len(strings.Fields(num)) > 0 {
							jr.Close()
							return strings.Fields(num)[0], p
						}
					}
				}
			}
			if v := jr.manifest()["Implementation-Version"]; v != "" {
				jr.Close()
				return v, p
			}
			jr.Close()
		}
	case "jetty":
		if data, err := h.ReadFile(path.Join(home, "VERSION.txt"), 4<<20); err == nil {
			if m := regexp.MustCompile(`jetty-([0-9][^\s]*)`).FindSubmatch(data); m != nil {
				return string(m[1]), path.Join(home, "VERSION.txt")
			}
		}
		if jr, err := h.openJar(path.Join(home, "start.jar")); err == nil {
			defer jr.Close()
			if v := jr.manifest()["Implementation-Version"]; v != "" {
				return v, path.Join(home, "start.jar")
			}
		}
	case "jboss":
		if data, err := h.ReadFile(path.Join(home, "version.txt"), 64<<10); err == nil {
			if m := regexp.MustCompile(`(?i)(?:wildfly|jboss)[^\n]*?([0-9]+\.[0-9][^\s)]*)`).FindSubmatch(data); m != nil {
				return string(m[1]), path.Join(home, "version.txt")
			}
		}
	}
	return "", ""
}

// runtimeConfig is a .NET *.runtimeconfig.json.
type runtimeConfig struct {
	RuntimeOptions struct {
		TFM        string      `json:"tfm"`
		Framework  *Framework  `json:"framework"`
		Frameworks []Framework `json:"frameworks"`
	} `json:"runtimeOptions"`
}

// dotnetRuntime fills a .NET runtime from the app's runtimeconfig.json and
// the shared framework the process actually loaded (from its maps).
func dotnetRuntime(h Host, entry string, maps []string, rt *RuntimeInfo) error {
	rt.Kind = "dotnet"
	rt.Entrypoint = entry
	cfgPath := strings.TrimSuffix(strings.TrimSuffix(entry, ".dll"), ".exe") + ".runtimeconfig.json"
	var cfgErr error
	if data, err := h.ReadFile(cfgPath, 1<<20); err == nil {
		var rc runtimeConfig
		if err := json.Unmarshal(data, &rc); err != nil {
			cfgErr = fmt.Errorf("parsing %s: %w", cfgPath, err)
		} else {
			if rc.RuntimeOptions.Framework != nil {
				rt.Frameworks = append(rt.Frameworks, *rc.RuntimeOptions.Framework)
			}
			rt.Frameworks = append(rt.Frameworks, rc.RuntimeOptions.Frameworks...)
			if len(rt.Frameworks) > 0 {
				rt.Version = rt.Frameworks[0].Version
				rt.VersionSource = cfgPath + " (minimum; roll-forward may pick a newer patch)"
			}
		}
	}
	// .../shared/Microsoft.NETCore.App/8.0.11/libcoreclr.so is the exact
	// runtime in use, whatever the config asked for.
	re := regexp.MustCompile(`^(.*)/shared/(Microsoft\.[A-Za-z.]+)/([0-9][^/]*)/`)
	loaded := map[string]string{}
	for _, m := range maps {
		if sm := re.FindStringSubmatch(m); sm != nil {
			rt.Home = sm[1]
			loaded[sm[2]] = sm[3]
		}
	}
	if v, ok := loaded["Microsoft.NETCore.App"]; ok {
		rt.Version = v
		rt.VersionSource = "loaded shared framework " + path.Join(rt.Home, "shared/Microsoft.NETCore.App", v)
	}
	for i, f := range rt.Frameworks {
		if v, ok := loaded[f.Name]; ok {
			rt.Frameworks[i].Version = v
		}
	}
	return cfgErr
}

// dpkgVersion reads an installed Debian package's version from the host's
// dpkg database, for runtimes that do not carry their own version file.
func dpkgVersion(h Host, pkg string) string {
	data, err := h.ReadFile("/var/lib/dpkg/status", 64<<20)
	if err != nil {
		return ""
	}
	for _, stanza := range strings.Split(string(data), "\n\n") {
		if !strings.HasPrefix(stanza, "Package: "+pkg+"\n") {
			continue
		}
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Version: "); ok {
				return v
			}
		}
	}
	return ""
}
