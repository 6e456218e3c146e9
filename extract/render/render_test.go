package render

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(ref string) (string, bool) { v, ok := m[ref]; return v, ok }
}

func TestEnvName(t *testing.T) {
	a := EnvName("java-tomcat-409b80f3/config/etc/tomcat10/server.xml/Resource[jdbc/shop]/password")
	b := EnvName("java-tomcat-409b80f3/config/etc/tomcat10/server.xml/Resource[jdbc/shop]/password#2")
	if a == b {
		t.Errorf("two references share %s", a)
	}
	if a != EnvName("java-tomcat-409b80f3/config/etc/tomcat10/server.xml/Resource[jdbc/shop]/password") {
		t.Error("not stable")
	}
	re := regexp.MustCompile(`^HOIST_SECRET_[A-Z0-9_]+_[0-9A-F]{6}$`)
	for _, n := range []string{a, b, EnvName("x/" + strings.Repeat("long/", 40)), EnvName("weird")} {
		if !re.MatchString(n) || len(n) > 90 {
			t.Errorf("%q is not a good environment variable name", n)
		}
	}
	if !strings.Contains(a, "SERVER_XML") {
		t.Errorf("%s does not say where the secret is", a)
	}
}

func TestArgs(t *testing.T) {
	in := []string{"/usr/bin/java", "-Ddb.password={{secret:app/cmdline/db.password}}", "-jar", "x.jar"}
	if refs := ArgRefs(in); len(refs) != 1 || refs[0] != "app/cmdline/db.password" {
		t.Fatalf("refs %v", refs)
	}
	out, err := Args(in, lookupIn(map[string]string{"app/cmdline/db.password": "s3cr=t"}))
	if err != nil || out[1] != "-Ddb.password=s3cr=t" || in[1] == out[1] {
		t.Errorf("%v %v", out, err)
	}
	if _, err := Args(in, lookupIn(nil)); err == nil || !strings.Contains(err.Error(), "app/cmdline/db.password") {
		t.Errorf("missing value: %v", err)
	}
}

func TestApplyFileAndJarEntry(t *testing.T) {
	dir := t.TempDir()
	xml := filepath.Join(dir, "server.xml")
	os.WriteFile(xml, []byte(`<Resource password="`+Placeholder("r1")+`"/>`), 0o600)
	jar := filepath.Join(dir, "app.jar")
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("BOOT-INF/classes/application.properties")
	w.Write([]byte("spring.datasource.password=" + Placeholder("r2") + "\n"))
	w, _ = zw.Create("BOOT-INF/classes/Other.class")
	w.Write([]byte("\xca\xfe\xba\xbe"))
	zw.Close()
	os.WriteFile(jar, b.Bytes(), 0o600)

	plan := &Plan{Files: []File{
		{Path: xml, Secrets: []Secret{{Ref: "r1", Encoding: EncodingXML}}},
		{Path: jar, Entry: "BOOT-INF/classes/application.properties", Secrets: []Secret{{Ref: "r2", Encoding: EncodingProperties}}},
	}, Env: map[string]string{"r1": EnvName("r1"), "r2": EnvName("r2")}}

	// Missing values: an error naming the variables, nothing touched.
	err := Apply(plan, lookupIn(map[string]string{"r1": "x"}))
	if err == nil || !strings.Contains(err.Error(), EnvName("r2")) {
		t.Fatalf("missing value: %v", err)
	}
	if got, _ := os.ReadFile(xml); !bytes.Contains(got, []byte(PlaceholderOpen)) {
		t.Fatal("a file was rendered although a value was missing")
	}

	vals := map[string]string{"r1": `a"<b`, "r2": `c\d e`}
	if err := Apply(plan, lookupIn(vals)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(xml); string(got) != `<Resource password="a&quot;&lt;b"/>` {
		t.Errorf("server.xml: %s", got)
	}
	data, _ := os.ReadFile(jar)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 2 {
		t.Fatalf("jar has %d entries", len(zr.File))
	}
	r, _ := zr.File[0].Open()
	props, _ := io.ReadAll(r)
	if string(props) != "spring.datasource.password=c\\\\d e\n" {
		t.Errorf("properties: %q", props)
	}
	// A second start (a restarted container) finds nothing to do.
	before, _ := os.ReadFile(jar)
	if err := Apply(plan, lookupIn(vals)); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(jar); !bytes.Equal(before, after) {
		t.Error("second apply changed the jar")
	}
}

func TestApplyReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes read-only files")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.properties")
	os.WriteFile(p, []byte("k="+Placeholder("r")), 0o400)
	err := Apply(&Plan{Files: []File{{Path: p, Secrets: []Secret{{Ref: "r", Encoding: EncodingProperties}}}}}, lookupIn(map[string]string{"r": "v"}))
	if err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("read-only file: %v", err)
	}
}
