package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
)

const springID = "java-spring-boot-3ae68527"

const springYAML = `spring:
  datasource:
    url: jdbc:postgresql://db.internal.example:5432/orders
    username: orders
    password: yaml-plain-secret-1
  redis:
    password: "yaml-dq-secret-2"
app:
  api-key: 'yaml-sq-secret-3'
  greeting: hello
`

const launchScript = "#!/bin/bash\n# fully executable Spring Boot jar\nexec java -jar \"$0\" \"$@\"\n"

func fakeSpringBoot(t *testing.T) (*fakeHost, *discover.Analysis, discover.Secrets) {
	h := newFakeHost(t)
	nested := zipBytes(t, "", [2]string{"com/lib/Lib.class", "\xca\xfe\xba\xbe\x00"})
	h.fileBytes("/srv/orders/orders.jar", zipBytes(t, launchScript,
		[2]string{"META-INF/MANIFEST.MF", "Main-Class: org.springframework.boot.loader.launch.JarLauncher\nSpring-Boot-Version: 3.2.0\n"},
		[2]string{"BOOT-INF/classes/application.yml", springYAML},
		[2]string{"BOOT-INF/classes/com/example/App.class", "\xca\xfe\xba\xbe\x00\x00"},
		[2]string{"BOOT-INF/lib/dep-1.0.jar", string(nested)},
	), 0o755)
	h.file("/srv/orders/application.properties", "server.port=8080\n", 0o644)
	h.fileBytes("/srv/orders/lib/extra.jar", zipBytes(t, "", [2]string{"x.txt", "x"}), 0o644)
	h.file("/srv/orders/logs/orders.log", "secret-looking log\n", 0o644)
	h.file("/srv/orders/hs_err_pid4711.log", "crash\n", 0o644)
	h.file("/srv/orders/core", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x3e\x00", 0o600)
	h.file("/srv/orders/plugins/core/Core.class", "\xca\xfe\xba\xbe", 0o644) // a directory named core stays
	h.file("/srv/orders/plugins/core.1234", "not an ELF file\n", 0o644)      // nor an ELF core: stays
	h.file("/srv/orders/scripts/__pycache__/x.cpython-311.pyc", "\x00pyc", 0o644)
	h.file("/usr/lib/jvm/java-17/bin/java", "\x7fELF", 0o755)

	cfs, secrets := configFiles(t, h, springID,
		"/srv/orders/orders.jar!/BOOT-INF/classes/application.yml",
		"/srv/orders/application.properties",
	)
	a := &discover.Analysis{
		SchemaVersion: discover.SchemaVersion, ID: springID, Type: discover.TypeSpringBoot,
		Observed: discover.Observed{
			Runtime:     discover.RuntimeInfo{Kind: "java", Home: "/usr/lib/jvm/java-17", MainJar: "/srv/orders/orders.jar"},
			Ports:       []discover.Port{},
			Environment: []discover.EnvVar{},
			ConfigFiles: cfs,
			Files: discover.FileLayout{
				App: []discover.FileRef{
					{Path: "/srv/orders/orders.jar", Role: "main-jar"},
					{Path: "/srv/orders", Role: "workdir"},
				},
				Logs: []string{"/srv/orders/logs"},
			},
		},
		ContainerParameters: discover.ContainerParameters{
			Include: []string{"/srv/orders/orders.jar", "/srv/orders"},
			Exclude: []string{"/srv/orders/logs"},
			Env:     []discover.EnvOverride{},
		},
	}
	return h, a, secrets
}

func TestExtractSpringBootJar(t *testing.T) {
	ctx := context.Background()
	h, a, secrets := fakeSpringBoot(t)
	ws := newWorkspace(t, a, secrets)
	res, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: springID})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.Mode != ModeProcess {
		t.Errorf("mode %s", m.Mode)
	}
	_, raw := readArchive(t, res.ArchivePath)
	assertNoSecret(t, "the archive", raw, "yaml-plain-secret-1", "yaml-dq-secret-2", "yaml-sq-secret-3")

	rf := redactedByPath(m, "/srv/orders/orders.jar", "BOOT-INF/classes/application.yml")
	if rf == nil || rf.Kind != appconfig.KindSpringYAML || rf.Source != "config" || len(rf.Secrets) != 3 {
		t.Fatalf("redacted %+v", rf)
	}
	encodings := map[string]string{}
	for _, s := range rf.Secrets {
		encodings[s.Key] = s.Encoding
	}
	if encodings["spring.datasource.password"] != EncodingYAMLDouble || encodings["spring.redis.password"] != EncodingYAMLDouble || encodings["app.api-key"] != EncodingYAMLSingle {
		t.Errorf("encodings %v", encodings)
	}

	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Unpack(ctx, res.ArchivePath, dest); err != nil {
		t.Fatal(err)
	}
	jar, err := os.ReadFile(filepath.Join(dest, "rootfs/srv/orders/orders.jar"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(jar, []byte(launchScript)) {
		t.Errorf("the launch script before the zip data was lost")
	}
	orig := h.read("/srv/orders/orders.jar")
	zr, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		t.Fatal(err)
	}
	zo, _ := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if len(zr.File) != len(zo.File) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(zo.File))
	}
	for i, f := range zr.File {
		o := zo.File[i]
		if f.Name != o.Name || f.Method != o.Method || !f.Modified.Equal(o.Modified) {
			t.Errorf("entry %d: %s method %d, want %s method %d", i, f.Name, f.Method, o.Name, o.Method)
		}
		if f.Name == "BOOT-INF/classes/application.yml" {
			got, _ := readZipEntry(f, 1<<20)
			if !bytes.Contains(got, []byte(`password: "{{hoist-secret:`)) || !bytes.Contains(got, []byte(`api-key: '{{hoist-secret:`)) {
				t.Errorf("application.yml:\n%s", got)
			}
			rendered, err := Render(got, rf.Secrets, secrets)
			if err != nil {
				t.Fatal(err)
			}
			back, err := appconfig.Parse(appconfig.KindSpringYAML, rendered)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := appconfig.Parse(appconfig.KindSpringYAML, []byte(springYAML))
			for j, s := range want.Secrets {
				if back.Secrets[j].Plain() != s.Plain() {
					t.Errorf("rendered secret %s = %q, want %q", s.Key, back.Secrets[j].Plain(), s.Plain())
				}
			}
			continue
		}
		// Every other entry is copied raw: same compressed bytes.
		a, _ := f.OpenRaw()
		b, _ := o.OpenRaw()
		ra, _ := io.ReadAll(a)
		rb, _ := io.ReadAll(b)
		if !bytes.Equal(ra, rb) || f.CRC32 != o.CRC32 {
			t.Errorf("entry %s changed", f.Name)
		}
	}

	layers := map[string]string{
		"/srv/orders/orders.jar":              LayerApp,
		"/srv/orders/lib/extra.jar":           LayerLibraries,
		"/srv/orders/application.properties":  LayerConfig,
		"/srv/orders/plugins/core/Core.class": LayerApp,
		"/srv/orders/plugins/core.1234":       LayerApp,
	}
	for p, l := range layers {
		if f := fileByPath(m, p); f == nil || f.Layer != l {
			t.Errorf("%s: %+v, want layer %s", p, f, l)
		}
	}
	for p, rule := range map[string]string{
		"/srv/orders/logs":                "/srv/orders/logs",
		"/srv/orders/hs_err_pid4711.log":  "built-in *.log",
		"/srv/orders/core":                "built-in core",
		"/srv/orders/scripts/__pycache__": "built-in __pycache__/",
	} {
		if x := excludedByPath(m, p); x == nil || x.Rule != rule {
			t.Errorf("excluded %s: %+v, want %s", p, x, rule)
		}
	}
	if f := fileByPath(m, "/srv/orders/scripts/__pycache__"); f == nil || f.Type != TypeDir {
		t.Errorf("__pycache__ must be kept as an empty directory: %+v", f)
	}
	if fileByPath(m, "/srv/orders/scripts/__pycache__/x.cpython-311.pyc") != nil || fileByPath(m, "/srv/orders/logs/orders.log") != nil {
		t.Errorf("excluded files archived")
	}

	// The rewritten jar is the same every time.
	first, _ := os.ReadFile(res.ArchivePath)
	res2, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: springID})
	if err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(res2.ArchivePath); !bytes.Equal(first, second) {
		t.Errorf("archives with a rewritten jar differ between runs")
	}
}

// TestExtractFindsSecretCopies proves that a secret value cannot slip into
// the archive through a file the analysis never parsed: a copy of a config
// in a backup directory, a shell script, a text entry of a jar.
func TestExtractFindsSecretCopies(t *testing.T) {
	ctx := context.Background()
	h, a, secrets := fakeSpringBoot(t)
	h.file("/srv/orders/backup/application.yml.2023", springYAML, 0o644)
	h.file("/srv/orders/bin/start.sh", "#!/bin/sh\nexport DB_PASSWORD=yaml-plain-secret-1\nexport TOKEN=env-token-secret-77\nexec java -jar orders.jar\n", 0o755)
	h.fileBytes("/srv/orders/lib/vendor.jar", zipBytes(t, "", [2]string{"vendor.properties", "vendor.key=yaml-dq-secret-2\n"}, [2]string{"V.class", "\xca\xfe"}), 0o644)
	// An environment secret of the app, and another app's secret with the
	// same kind of value (not this app's business).
	secrets[springID+"/env/TOKEN"] = "env-token-secret-77"
	secrets["java-generic-11111111/env/OTHER"] = "server.port=8080"
	ws := newWorkspace(t, a, secrets)

	t.Run("redacted", func(t *testing.T) {
		res, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: springID})
		if err != nil {
			t.Fatal(err)
		}
		_, raw := readArchive(t, res.ArchivePath)
		assertNoSecret(t, "the archive", raw, "yaml-plain-secret-1", "yaml-dq-secret-2", "yaml-sq-secret-3", "env-token-secret-77")
		if !bytes.Contains(raw, []byte("server.port=8080")) {
			t.Errorf("another app's secret value was redacted from this app's files")
		}
		m := res.Manifest
		for _, r := range []struct{ p, entry string }{
			{"/srv/orders/backup/application.yml.2023", ""},
			{"/srv/orders/bin/start.sh", ""},
			{"/srv/orders/lib/vendor.jar", "vendor.properties"},
		} {
			rf := redactedByPath(m, r.p, r.entry)
			if rf == nil || rf.Source != "scan" {
				t.Errorf("%s!/%s not redacted by the scan: %+v", r.p, r.entry, rf)
				continue
			}
			if r.entry != "" {
				continue
			}
			dest := filepath.Join(t.TempDir(), "out")
			if _, err := Unpack(ctx, res.ArchivePath, dest); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(dest, "rootfs", r.p))
			rendered, err := Render(data, rf.Secrets, secrets)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rendered, h.read(r.p)) {
				t.Errorf("%s does not render back to the original:\n%s", r.p, rendered)
			}
		}
		if !hasWarning(m, "start.sh holds the value of") {
			t.Errorf("warnings %v", m.Warnings)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ws := newWorkspace(t, a, secrets)
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: springID, RefuseFoundSecrets: true})
		if !errors.Is(err, ErrSecretFound) || !strings.Contains(err.Error(), "start.sh") || !strings.Contains(err.Error(), "vendor.jar!/vendor.properties") {
			t.Errorf("err = %v, want ErrSecretFound naming the files", err)
		}
		for _, v := range []string{"yaml-plain-secret-1", "env-token-secret-77"} {
			if err != nil && strings.Contains(err.Error(), v) {
				t.Errorf("the error shows a secret value")
			}
		}
		if _, err := os.Stat(ArchivePath(ws, springID)); err == nil {
			t.Errorf("an archive was written")
		}
	})
	t.Run("secret in analysis.json", func(t *testing.T) {
		b := *a
		b.ContainerParameters.Env = []discover.EnvOverride{{Name: "TOKEN", Value: "env-token-secret-77"}}
		ws := newWorkspace(t, &b, secrets)
		_, err := Extract(ctx, Options{Host: h.host(), Workspace: ws, ID: springID})
		if !errors.Is(err, ErrSecretFound) || !strings.Contains(err.Error(), springID+"/env/TOKEN") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestExtractDotnetLayers(t *testing.T) {
	const id = "dotnet-d2f65da8"
	h := newFakeHost(t)
	h.file("/srv/shop/Shop.dll", "MZ\x00shop", 0o644)
	h.file("/srv/shop/Shop.deps.json", `{
  "targets": {".NETCoreApp,Version=v8.0": {
    "Shop/1.0.0": {"dependencies": {"Newtonsoft.Json": "13.0.3"}, "runtime": {"Shop.dll": {}}},
    "Newtonsoft.Json/13.0.3": {"runtime": {"lib/net6.0/Newtonsoft.Json.dll": {}}}
  }},
  "libraries": {"Shop/1.0.0": {"type": "project"}, "Newtonsoft.Json/13.0.3": {"type": "package"}}
}`, 0o644)
	h.file("/srv/shop/Newtonsoft.Json.dll", "MZ\x00json", 0o644)
	h.file("/srv/shop/runtimes/linux-x64/native/libe_sqlite3.so", "\x7fELF", 0o755)
	h.file("/srv/shop/appsettings.json", `{"ConnectionStrings": {"Shop": "Server=db;Database=shop;User Id=shop;Password=dotnet-pw-123;"}, "Logging": {"LogLevel": {"Default": "Information"}}}`, 0o644)
	h.file("/srv/shop/logs/app.log", "x\n", 0o644)
	h.file("/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11/libcoreclr.so", "\x7fELF", 0o755)
	cfs, secrets := configFiles(t, h, id, "/srv/shop/appsettings.json")
	a := &discover.Analysis{
		SchemaVersion: discover.SchemaVersion, ID: id, Type: discover.TypeDotnet,
		Observed: discover.Observed{
			Runtime:     discover.RuntimeInfo{Kind: "dotnet", Home: "/usr/share/dotnet", Entrypoint: "/srv/shop/Shop.dll"},
			ConfigFiles: cfs,
			Files:       discover.FileLayout{App: []discover.FileRef{{Path: "/srv/shop", Role: "app"}}},
		},
		ContainerParameters: discover.ContainerParameters{Include: []string{"/srv/shop"}, Exclude: []string{"/srv/shop/logs"}},
	}
	ws := newWorkspace(t, a, secrets)
	res, err := Extract(context.Background(), Options{Host: h.host(), Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	for p, l := range map[string]string{
		"/srv/shop/Shop.dll":                                  LayerApp,
		"/srv/shop/Newtonsoft.Json.dll":                       LayerLibraries,
		"/srv/shop/runtimes/linux-x64/native/libe_sqlite3.so": LayerLibraries,
		"/srv/shop/appsettings.json":                          LayerConfig,
	} {
		if f := fileByPath(m, p); f == nil || f.Layer != l {
			t.Errorf("%s: %+v, want layer %s", p, f, l)
		}
	}
	rf := redactedByPath(m, "/srv/shop/appsettings.json", "")
	if rf == nil || len(rf.Secrets) != 1 || rf.Secrets[0].Encoding != EncodingJSON {
		t.Errorf("appsettings.json redaction %+v", rf)
	}
	_, raw := readArchive(t, res.ArchivePath)
	assertNoSecret(t, "the archive", raw, "dotnet-pw-123")
	if bytes.Contains(raw, []byte("libcoreclr")) {
		t.Errorf("the .NET runtime is in the archive")
	}
}

// A workspace inside the app's directory (hoist run from there) is never
// archived: it holds the secrets file.
func TestExtractSkipsWorkspace(t *testing.T) {
	h, a, secrets := fakeSpringBoot(t)
	ws := discover.Workspace{Dir: h.local("/srv/orders/hoist-workspace")}
	data, _ := discover.MarshalJSON(a)
	if err := discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sj, _ := discover.MarshalJSON(secrets)
	if err := discover.WriteFileAtomic(ws.SecretsPath(), sj, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Extract(context.Background(), Options{Host: h.host(), Workspace: ws, ID: springID})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Manifest.Files {
		if strings.HasPrefix(f.Path, "/srv/orders/hoist-workspace/") {
			t.Errorf("%s is in the archive", f.Path)
		}
	}
	if x := excludedByPath(res.Manifest, "/srv/orders/hoist-workspace"); x == nil || x.Rule != "the hoist workspace" {
		t.Errorf("workspace not reported as excluded: %+v", x)
	}
}
