package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/livetest"
	"github.com/hoistctl/hoist/extract/containerize"
	hoistrt "github.com/hoistctl/hoist/runtime"
)

// tomcatReady is the page whose first 200 counts as "started": Tomcat
// accepts connections before it has deployed its web apps.
const tomcatReady = "/shop/index.html"

// tomcatApp is Debian's Tomcat 10 with a web app, inventoried, analyzed,
// extracted and containerized the default way (host base, jlink); start
// starts it on the host and times its first 200.
type tomcatApp struct {
	a       *discover.Analysis
	ws      discover.Workspace
	image   string
	secrets map[string]string
	refs    []containerize.SecretUse
	start   func() (time.Duration, func(), int, error)
}

// prepareTomcat makes a tomcatApp; nil when Debian's tomcat10 is not
// installed.
func prepareTomcat(ctx context.Context, cfg hoistrt.Config, work, bins string, logf func(string, ...any)) (*tomcatApp, error) {
	if _, err := os.Stat(filepath.Join(livetest.TomcatHome, "bin", "catalina.sh")); err != nil {
		logf("Debian's tomcat10 is not installed: Tomcat not measured (make deps installs it)")
		return nil, nil
	}
	base := filepath.Join(work, "tomcat")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	opts := livetest.TomcatOptions{Password: "bench-not-a-secret", JavaOpts: "-Xmx256m", Ready: tomcatReady}
	start := func() (time.Duration, func(), int, error) {
		cmd, err := livetest.TomcatBase(base, port, opts)
		if err != nil {
			return 0, nil, 0, err
		}
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, nil, 0, err
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_, _ = cmd.Process.Wait()
		}
		d, err := untilOK(ctx, fmt.Sprintf("http://127.0.0.1:%d%s", port, tomcatReady), t0)
		if err != nil {
			stop()
			return 0, nil, 0, fmt.Errorf("Tomcat on the host: %w", err)
		}
		return d, stop, cmd.Process.Pid, nil
	}
	_, stop, pid, err := start()
	if err != nil {
		return nil, err
	}
	defer stop()

	host := discover.LiveHost()
	ws := discover.Workspace{Dir: filepath.Join(work, "ws-tomcat")}
	a, err := prepareApp(ctx, host, ws, fmt.Sprintf("Tomcat (pid %d)", pid), func(app discover.App) bool { return int(app.PID) == pid }, discover.HealthCheck{Path: tomcatReady, Port: port})
	if err != nil {
		return nil, err
	}
	logf("containerize Tomcat (jlink)")
	r, _, err := containerizeDefault(ctx, cfg, host, ws, a.ID, bins, logf)
	if err != nil {
		return nil, err
	}
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return nil, err
	}
	return &tomcatApp{a: a, ws: ws, image: r.Image, secrets: secrets, refs: r.Secrets, start: start}, nil
}

// benchTomcat measures start to first HTTP 200 for Debian's Tomcat 10 with
// a web app — the kind of app hoist migrates — in a container built the
// default way (host base, jlink) against the same Tomcat started on the
// host, in turns.
func benchTomcat(ctx context.Context, cfg hoistrt.Config, work, state, bins string, runs int, logf func(string, ...any)) ([]result, error) {
	tc, err := prepareTomcat(ctx, cfg, work, bins, logf)
	if tc == nil || err != nil {
		return nil, err
	}
	var ctr, ctrAfterCreate, hostStarts []time.Duration
	for i := 0; i < runs; i++ {
		v, err := containerize.Validate(ctx, tc.a, tc.image, tc.refs, containerize.ValidateOptions{
			ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(state, "netns"),
			Secrets: tc.secrets, Poll: 5 * time.Millisecond, Timeout: 3 * time.Minute, Logf: func(string, ...any) {},
		})
		if err != nil {
			return nil, err
		}
		ctr = append(ctr, v.StartToReady)
		ctrAfterCreate = append(ctrAfterCreate, v.StartToReady-v.Created)
		d, stop, _, err := tc.start()
		if err != nil {
			return nil, err
		}
		stop()
		hostStarts = append(hostStarts, d)
	}
	h := median(hostStarts)
	ratio := median(ctr).Seconds() / h.Seconds()
	ratio2 := median(ctrAfterCreate).Seconds() / h.Seconds()
	return []result{
		{Metric: "Tomcat 10: start to first HTTP 200", Hoist: "container: " + secs(median(ctr)), Baseline: "host process: " + secs(h), Ratio: ratio, Target: "<= 1.20x", Met: boolp(ratio <= 1.2), Value: median(ctr).Seconds(), BaselineValue: h.Seconds()},
		{Metric: "Tomcat 10: the same, from the task's start (create excluded)", Hoist: "container: " + secs(median(ctrAfterCreate)), Baseline: "host process: " + secs(h), Ratio: ratio2, Value: median(ctrAfterCreate).Seconds(), BaselineValue: h.Seconds()},
	}, nil
}

// benchTomcatDeploy measures deploy to first HTTP 200 through the load
// balancer for Tomcat 10 with a web app, one task, against Tomcat started
// on the host, in turns (the first deploy, which unpacks the image, is
// left out).
func benchTomcatDeploy(ctx context.Context, cfg hoistrt.Config, work, bins string, runs, taskCPU int, sup *supLog, logf func(string, ...any)) ([]result, error) {
	tc, err := prepareTomcat(ctx, cfg, work, bins, logf)
	if tc == nil || err != nil {
		return nil, err
	}
	if err := prepareDeploy(tc.ws, tc.a.ID, taskCPU); err != nil {
		return nil, err
	}
	var rt, hostStarts []time.Duration
	for i := range runs + 1 {
		d, err := deployOnce(ctx, tc.ws, tc.a.ID, tomcatReady, cfg, logf)
		if err != nil {
			return nil, err
		}
		sup.show()
		if i == 0 {
			continue
		}
		rt = append(rt, d)
		d, stop, _, err := tc.start()
		if err != nil {
			return nil, err
		}
		stop()
		hostStarts = append(hostStarts, d)
	}
	logf("Tomcat: deploy to first 200 %v, host process %v", rt, hostStarts)
	h := median(hostStarts)
	ratio := median(rt).Seconds() / h.Seconds()
	return []result{
		{Metric: "deploy to first 200 via the LB, Tomcat 10 with a web app", Hoist: "local runtime: " + ms(median(rt)), Baseline: "host process: " + ms(h), Ratio: ratio, Target: "<= 1.30x", Met: boolp(ratio <= 1.3), Value: median(rt).Seconds(), BaselineValue: h.Seconds()},
	}, nil
}

// untilOK polls url until it answers 200 and returns the time since t0.
func untilOK(ctx context.Context, url string, t0 time.Time) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 2*time.Minute {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(t0), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("no HTTP 200 from %s within 2 minutes", url)
}
