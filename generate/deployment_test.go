package generate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/render"
)

// capturedAnalyses are discover's goldens of the captured procfs fixtures:
// real analyses of every app type.
func capturedAnalyses(t *testing.T) map[string]*discover.Analysis {
	t.Helper()
	files, err := filepath.Glob("../testdata/procfs/*/golden/*.analysis.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured analyses: %v", err)
	}
	out := map[string]*discover.Analysis{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAnalysis(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[a.ID] = a
	}
	return out
}

func TestDefaultDeploymentIsValid(t *testing.T) {
	for id, a := range capturedAnalyses(t) {
		d := DefaultDeployment(a, "")
		if err := d.Validate(); err != nil {
			t.Errorf("%s: default deployment does not validate: %v", id, err)
		}
		data, err := MarshalDeployment(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseDeployment(data)
		if err != nil {
			t.Fatalf("%s: re-reading the default: %v", id, err)
		}
		again, _ := MarshalDeployment(back)
		if string(again) != string(data) {
			t.Errorf("%s: deployment.json does not survive a round trip", id)
		}
		if d.Local.ListenerAddress != "127.0.0.1" || d.Local.ListenerPort < 20000 || d.Local.ListenerPort >= 30000 {
			t.Errorf("%s: local listener %s:%d", id, d.Local.ListenerAddress, d.Local.ListenerPort)
		}
	}
}

func TestDefaultDeploymentCarriesEveryPortAndSecret(t *testing.T) {
	a := capturedAnalyses(t)["java-generic-8e8e2b40"]
	if a == nil {
		t.Skip("generic fixture missing")
	}
	d := DefaultDeployment(a, "")
	if len(d.PortMappings) != 2 || d.PortMappings[0].Protocol != "tcp" || d.PortMappings[1].Protocol != "udp" {
		t.Fatalf("ports: %+v", d.PortMappings)
	}
	if len(d.Secrets) != 1 || d.Secrets[0].Name != "WORKER_API_TOKEN" || d.Secrets[0].SecretRef != "java-generic-8e8e2b40/env/WORKER_API_TOKEN" {
		t.Fatalf("secrets: %+v", d.Secrets)
	}
	for _, e := range d.Environment {
		if e.Name == "WORKER_API_TOKEN" {
			t.Fatalf("secret also in environment: %+v", e)
		}
	}
	if d.Image != "hoist.local/java-generic-8e8e2b40:latest" {
		t.Errorf("image %q", d.Image)
	}
}

func TestParseDeploymentErrors(t *testing.T) {
	a := capturedAnalyses(t)["java-tomcat-409b80f3"]
	good, _ := MarshalDeployment(DefaultDeployment(a, ""))
	cases := []struct {
		name string
		data string
		want []string
	}{
		{"syntax", strings.Replace(string(good), `"cpu": 1024,`, `"cpu": 1024,,`, 1), []string{"line ", "column "}},
		{"type", strings.Replace(string(good), `"cpu": 1024,`, `"cpu": "big",`, 1), []string{"field cpu", "want number", "line "}},
		{"unknown", strings.Replace(string(good), `"cpu": 1024,`, `"cpus": 1024,`, 1), []string{`unknown field "cpus"`}},
		{"fargate", strings.Replace(string(good), `"memory": 2048,`, `"memory": 1000,`, 1), []string{"cpu/memory", "not a Fargate size", "memory 2048 to 8192"}},
		{"trailing", string(good) + "{}", []string{"after the JSON document"}},
		{"port", strings.Replace(string(good), `"containerPort": 18081,`, `"containerPort": 70000,`, 1), []string{"portMappings[0].containerPort", "1 to 65535"}},
		{"schedule", strings.Replace(string(good), `"notifications"`, `"schedule": {"expression": "cron(0 2 * * *)"}, "notifications"`, 1), []string{"schedule.expression", "six fields", "loadBalancer.type"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseDeployment([]byte(c.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, discover.ErrInvalid) {
				t.Errorf("not ErrInvalid: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadDeploymentMissing(t *testing.T) {
	ws := discover.Workspace{Dir: t.TempDir()}
	_, err := LoadDeployment(ws, "nope")
	if !errors.Is(err, discover.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestScheduleExpressions(t *testing.T) {
	cases := map[string]string{
		"cron(0 2 * * ? *)":         "0 2 * * *",
		"cron(15 10 ? * MON-FRI *)": "15 10 * * 1-5",
		"cron(0 8 ? * 2,6 *)":       "0 8 * * 1,5",
		"rate(5 minutes)":           "*/5 * * * *",
		"rate(1 hour)":              "0 * * * *",
		"rate(2 hours)":             "0 */2 * * *",
		"rate(1 day)":               "0 0 * * *",
		"rate(120 minutes)":         "0 */2 * * *",
	}
	for in, want := range cases {
		got, _, err := ParseScheduleExpression(in, false)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "cron(0 2 * * *)", "rate(1 minutes)", "rate(0 minutes)", "cron(0 2 * * * *)", "cron(0 25 * * ? *)", "cron(0 2 L * ? *)", "at(2026-01-01T00:00:00)", "rate(7 minutes", "cron(0 2 ? * 9 *)"} {
		if _, _, err := ParseScheduleExpression(bad, false); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, notes, err := ParseScheduleExpression("cron(0 2 * * ? 2027)", false); err != nil || len(notes) != 1 {
		t.Errorf("year: %v %v", notes, err)
	}
}

func TestSecretNames(t *testing.T) {
	if got := SecretEnvName("app/env/DB_PASSWORD"); got != "DB_PASSWORD" {
		t.Error(got)
	}
	ref := "java-tomcat-409b80f3/config/srv/fixture/tomcat-base/conf/tomcat-users.xml#user[deployer]/@password"
	if got := SecretEnvName(ref); got != render.EnvName(ref) || !strings.HasPrefix(got, render.EnvPrefix) {
		t.Error(got)
	}
	if got := SecretsManagerName("a/config/x.xml#user[d]/@p"); got != "hoist/a/config/x.xml-user-d-/@p" {
		t.Error(got)
	}
	if got := SecretsManagerName("a/env/DB-ABCDEF"); got != "hoist/a/env/DB-ABCDEF_" {
		t.Errorf("a name ending like Secrets Manager's random suffix: %s", got)
	}
}

var _ = json.Marshal

func TestDefaultLoadBalancerFollowsWhatTheAppSpeaks(t *testing.T) {
	want := map[string]string{
		"java-tomcat-409b80f3":      LoadBalancerApplication, // connector, health path
		"java-jetty-c9aa613b":       LoadBalancerApplication,
		"java-jboss-c3693556":       LoadBalancerApplication,
		"java-spring-boot-3ae68527": LoadBalancerApplication,
		"dotnet-mono-xsp-e9f440f0":  LoadBalancerApplication,
		"dotnet-apphost-f69a5afd":   LoadBalancerApplication, // ASPNETCORE_URLS=http://...
		"java-generic-8e8e2b40":     LoadBalancerNetwork,     // nothing says HTTP
		"dotnet-d2f65da8":           LoadBalancerNetwork,
	}
	for id, a := range capturedAnalyses(t) {
		d := DefaultDeployment(a, "")
		if w, ok := want[id]; ok && d.LoadBalancer.Type != w {
			t.Errorf("%s: load balancer %s, want %s (health check %+v)", id, d.LoadBalancer.Type, w, d.HealthCheck)
		}
		if d.LoadBalancer.Type == LoadBalancerApplication && d.HealthCheck.Protocol != "HTTP" {
			t.Errorf("%s: ALB with a %s check", id, d.HealthCheck.Protocol)
		}
	}
	for in, want := range map[string]bool{"http://127.0.0.1:5081": true, "http://+:80;https://+:443": true, "https://0.0.0.0:8443": false, "8080": true} {
		got := len(httpURLPortRe.FindAllStringSubmatch(in, -1)) > 0
		if got != want {
			t.Errorf("%q: http port found %v, want %v", in, got, want)
		}
	}
}
