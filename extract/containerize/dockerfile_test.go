package containerize

import (
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
)

func sampleAnalysis(base string) *discover.Analysis {
	a := &discover.Analysis{ID: "java-spring-boot-1234abcd", Type: discover.TypeSpringBoot}
	a.Observed.Runtime = discover.RuntimeInfo{Kind: "java", Home: "/usr/lib/jvm/java-17-openjdk-amd64"}
	a.Observed.Process = discover.ProcessInfo{
		Exe:     "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
		Cmdline: []string{"/usr/bin/java", "-Xmx512m", "-Dspring.datasource.password={{secret:java-spring-boot-1234abcd/cmdline/spring.datasource.password}}", "-jar", "/opt/shop/shop.jar"},
		UID:     1001, GID: 1001,
	}
	a.Observed.Environment = []discover.EnvVar{
		{Name: "SHOP_MODE", Value: "prod"},
		{Name: "DB_PASSWORD", SecretRef: "java-spring-boot-1234abcd/env/DB_PASSWORD"},
		{Name: "HOME", Value: "/home/shop", System: true},
	}
	a.ContainerParameters = discover.ContainerParameters{
		BaseImage:  base,
		Ports:      []discover.ExposedPort{{Port: 8443, Protocol: "tcp"}, {Port: 8080, Protocol: "tcp"}, {Port: 5353, Protocol: "udp"}},
		WorkingDir: "/opt/shop",
		Env:        []discover.EnvOverride{{Name: "EXTRA", Value: `say "hi"`}, {Name: "SHOP_MODE", Remove: true}},
	}
	return a
}

func sampleManifest() *extract.Manifest {
	return &extract.Manifest{
		App: "java-spring-boot-1234abcd",
		Files: []extract.File{
			{Path: "/opt/shop", Type: "dir", Mode: 0o755, UID: 1001, GID: 1001},
			{Path: "/opt/shop/shop.jar", Type: "file", Mode: 0o644, UID: 1001, GID: 1001, Layer: "app"},
			{Path: "/opt/shop/lib/dep.jar", Type: "file", Mode: 0o644, UID: 0, GID: 0, Layer: "libraries"},
			{Path: "/opt/shop/application.yml", Type: "file", Mode: 0o640, UID: 0, GID: 1001, Layer: "config", Redacted: true},
		},
		Redacted: []extract.RedactedFile{{Path: "/opt/shop/application.yml", Source: "config", Secrets: []extract.RedactedSecret{{Ref: "java-spring-boot-1234abcd/config/opt/shop/application.yml/db.password", Encoding: extract.EncodingYAMLPlain}}}},
	}
}

func TestDockerfileHostBase(t *testing.T) {
	a, m := sampleAnalysis("host"), sampleManifest()
	giveRedactedToUser(a, m)
	df, err := Dockerfile(a, m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(df)
	order := []string{
		"FROM scratch\nCOPY base/ /\n",
		"COPY entry/ /\n",
		"COPY --chown=1001:1001 layers/dirs/1001_1001/ /\n",
		"COPY --chown=0:0 layers/libraries/0_0/ /\n",
		"COPY --chown=1001:1001 layers/app/1001_1001/ /\n",
		// The redacted config now belongs to the app's user.
		"COPY --chown=1001:1001 layers/config/1001_1001/ /\n",
		`ENV EXTRA="say \"hi\""`,
		"EXPOSE 5353/udp\nEXPOSE 8080/tcp\nEXPOSE 8443/tcp\n",
		"USER 1001:1001\nWORKDIR /opt/shop\n",
		`ENTRYPOINT ["/.hoist/entry", "--", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "-Xmx512m", "-Dspring.datasource.password={{secret:java-spring-boot-1234abcd/cmdline/spring.datasource.password}}", "-jar", "/opt/shop/shop.jar"]`,
	}
	last := -1
	for _, want := range order {
		i := strings.Index(s, want)
		if i < 0 {
			t.Fatalf("Dockerfile lacks %q:\n%s", want, s)
		}
		if i < last {
			t.Errorf("%q is out of order:\n%s", want, s)
		}
		last = i
	}
	for _, bad := range []string{"DB_PASSWORD", "SHOP_MODE", "HOME=", "0_1001"} {
		if strings.Contains(s, bad) {
			t.Errorf("Dockerfile holds %q:\n%s", bad, s)
		}
	}
	if m.Files[3].Mode&0o600 != 0o600 {
		t.Errorf("redacted file mode %o is not writable by its owner", m.Files[3].Mode)
	}
	uses, err := SecretUses(a, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 3 || uses[0].Use != "arg" || uses[1].Use != "file" || uses[2].Use != "env" || uses[2].Env != "DB_PASSWORD" {
		t.Errorf("secret uses: %+v", uses)
	}
	// Same input, same bytes.
	again, _ := Dockerfile(a, m)
	if string(again) != s {
		t.Error("two renderings differ")
	}
}

func TestDockerfileBaseImage(t *testing.T) {
	a, m := sampleAnalysis("eclipse-temurin:17-jre"), sampleManifest()
	m.Redacted = nil
	a.Observed.Process.Cmdline[2] = "-Dshop.mode=prod"
	df, err := Dockerfile(a, m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(df)
	for _, want := range []string{"FROM eclipse-temurin:17-jre\n", `ENTRYPOINT ["java", "-Xmx512m"`} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"COPY base/", "COPY entry/", "PATH="} {
		if strings.Contains(s, bad) {
			t.Errorf("Dockerfile holds %q:\n%s", bad, s)
		}
	}
}

func TestDockerfileBadInput(t *testing.T) {
	a, m := sampleAnalysis("host"), sampleManifest()
	a.Observed.Process.Cmdline = nil
	if _, err := Dockerfile(a, m); err == nil || !strings.Contains(err.Error(), "no command line") {
		t.Errorf("no command line: %v", err)
	}
	a = sampleAnalysis("host")
	a.ContainerParameters.Env = append(a.ContainerParameters.Env, discover.EnvOverride{Name: "BAD NAME", Value: "x"})
	if _, err := Dockerfile(a, m); err == nil || !strings.Contains(err.Error(), "BAD NAME") {
		t.Errorf("bad env name: %v", err)
	}
}
