package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	hoistrt "github.com/hoistctl/hoist/runtime"
)

// benchNewerJava runs the sample app on a JDK of Java 19 or later when the
// machine has one (hostbase.NewerJDK): there hoist's default image has a
// class data sharing archive of the reduced runtime, as the host's JDK has
// its own, so the two JVMs start alike. It measures the container's start
// to first HTTP 200 against the same JDK's process on the host, in turns.
// Without such a JDK it reports nothing.
func benchNewerJava(ctx context.Context, cfg hoistrt.Config, classes, work, bins string, runs int, logf func(string, ...any)) ([]result, error) {
	home, feature, ok := hostbase.NewerJDK()
	if !ok {
		logf("no JDK of Java 19 or later under /usr/lib/jvm: the newer-Java rows are left out")
		return nil, nil
	}
	java := filepath.Join(home, "bin", "java")
	// A directory of its own: the inventory tells the apps apart by path.
	appDir := filepath.Join(work, fmt.Sprintf("app-java%d", feature))
	if err := copyTree(classes, appDir); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	_, stop, err := startOriginalWith(ctx, java, appDir, port)
	if err != nil {
		return nil, err
	}
	host := discover.LiveHost()
	ws := discover.Workspace{Dir: filepath.Join(work, fmt.Sprintf("ws-java%d", feature))}
	a, err := prepareApp(ctx, host, ws, fmt.Sprintf("the Java %d sample app in %s", feature, appDir), func(app discover.App) bool { return app.Path == appDir }, discover.HealthCheck{Path: "/health", Port: port})
	stop()
	if err != nil {
		return nil, err
	}
	logf("containerize the sample app on Java %d (%s)", feature, home)
	r, notes, err := containerizeDefault(ctx, cfg, host, ws, a.ID, bins, func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		logf("  host base: %s", n)
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return nil, err
	}
	var ctr, afterCreate, hostStarts []time.Duration
	for range runs {
		v, err := containerize.Validate(ctx, a, r.Image, r.Secrets, containerize.ValidateOptions{
			ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(cfg.StateDir, "netns"),
			Secrets: secrets, Poll: 5 * time.Millisecond, Logf: func(string, ...any) {},
		})
		if err != nil {
			return nil, err
		}
		ctr = append(ctr, v.StartToReady)
		afterCreate = append(afterCreate, v.StartToReady-v.Created)
		d, stop, err := startOriginalWith(ctx, java, appDir, port)
		if err != nil {
			return nil, err
		}
		stop()
		hostStarts = append(hostStarts, d)
	}
	logf("Java %d: container %v, from the task's start %v, host %v", feature, ctr, afterCreate, hostStarts)
	h := median(hostStarts)
	ratio := median(ctr).Seconds() / h.Seconds()
	label := fmt.Sprintf("Java %d", feature)
	_ = os.RemoveAll(appDir)
	return []result{
		{Metric: label + ": start to first HTTP 200 (default image, with CDS)", Hoist: "container: " + secs(median(ctr)), Baseline: "host process: " + secs(h), Ratio: ratio, Target: "<= 1.20x", Met: boolp(ratio <= 1.2), Value: median(ctr).Seconds(), BaselineValue: h.Seconds()},
		{Metric: label + ": the same, from the task's start (create excluded)", Hoist: "container: " + secs(median(afterCreate)), Baseline: "host process: " + secs(h), Ratio: median(afterCreate).Seconds() / h.Seconds(), Value: median(afterCreate).Seconds(), BaselineValue: h.Seconds()},
	}, nil
}
