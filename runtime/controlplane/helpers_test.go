package controlplane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoistctl/hoist/extract/buildkit"
	hoistrt "github.com/hoistctl/hoist/runtime"
	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/enginetest"
)

const webappImage = "hoist.local/rt-webapp:test"

// engine starts a private engine and builds the test web app into it.
func engine(t testing.TB) (hoistrt.Config, *api.Client) {
	t.Helper()
	cfg := enginetest.Start(t)
	dir := t.TempDir()
	src, _ := filepath.Abs("testdata/webapp")
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "webapp"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the web app: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY webapp /webapp\nUSER 65534:65534\nEXPOSE 8080\nENTRYPOINT [\"/webapp\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildkit.Build(context.Background(), buildkit.Options{Address: cfg.BuildkitAddress(), ContextDir: dir, Image: webappImage, Mode: "quiet"}); err != nil {
		t.Fatal(err)
	}
	return cfg, cfg.Client()
}

func ptr[T any](v T) *T { return &v }

// webTD is a task definition of the web app at one revision marker.
func webTD(family, rev string) *api.TaskDefinition {
	return &api.TaskDefinition{
		Family: family,
		Memory: "128",
		ContainerDefinitions: []api.ContainerDefinition{{
			Name:         "web",
			Image:        webappImage,
			PortMappings: []api.PortMapping{{ContainerPort: 8080}},
			Environment:  []api.KeyValuePair{{Name: "REV", Value: rev}},
			StopTimeout:  5,
		}},
	}
}

func webService(name, td string, n int) *api.Service {
	return &api.Service{
		ServiceName:    name,
		TaskDefinition: td,
		DesiredCount:   n,
		LoadBalancers: []api.LoadBalancer{{
			ContainerName: "web", ContainerPort: 8080, Protocol: "HTTP",
			HealthCheck:                &api.TargetHealthCheck{Path: "/health", IntervalMillis: 200, TimeoutMillis: 500, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2},
			DeregistrationDelaySeconds: ptr(5),
		}},
		DeploymentConfiguration: &api.DeploymentConfiguration{MinimumHealthyPercent: ptr(100), MaximumPercent: ptr(200)},
	}
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(body), fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

// waitService waits until the service has n running healthy tasks, all of
// task definition td, and a completed deployment.
func waitService(t *testing.T, c *api.Client, name, td string, n int, timeout time.Duration) *api.Service {
	t.Helper()
	ctx := context.Background()
	var last *api.Service
	var lastTasks []api.Task
	err := api.WaitFor(ctx, timeout, func() (bool, error) {
		s, err := c.DescribeService(ctx, name)
		if err != nil {
			return false, err
		}
		last = s
		ts, err := c.ListTasks(ctx, name, false)
		if err != nil {
			return false, err
		}
		lastTasks = ts
		healthy := 0
		for _, tk := range ts {
			if tk.TaskDefinition != td {
				return false, nil
			}
			if tk.HealthStatus == api.HealthHealthy {
				healthy++
			}
		}
		return healthy == n && len(ts) == n && len(s.Deployments) == 1 && s.Deployments[0].RolloutState == "COMPLETED", nil
	})
	if err != nil {
		t.Fatalf("service %s never reached %d healthy tasks of %s: %v\nservice: %+v\ntasks: %+v", name, n, td, err, last, lastTasks)
	}
	return last
}
