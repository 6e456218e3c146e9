package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/containerize"
	"github.com/hoistctl/hoist/extract/hostbase"
	hoistrt "github.com/hoistctl/hoist/runtime"
)

func containerizeCommand() *cli.Command {
	return &cli.Command{
		Name:  "containerize",
		Usage: "image size against a full-JDK and a process-mode baseline, cold build, rebuild after a one-file change, start to first HTTP 200 against the original process",
		Description: `Starts the sample app (testdata/sampleapp) on 127.0.0.1, runs inventory,
analyze and extract on it, then containerizes it three ways on a private
engine started for the run (so the first build is really cold):

  hoist          the host base reduced with jdeps + jlink (hoist's default)
  full JDK       the same, with the host's whole JDK (--no-jlink)
  process mode   the whole JDK directory and every directory the process
                 mapped a library from, copied whole (how process-mode
                 migration tools work: no dependency analysis)

and measures the compressed and unpacked image sizes, the cold containerize
time, the time to rebuild after a one-file change in the app (and how many
layers changed), and the time from container start to the first HTTP 200
against the original process's own start on the host.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Usage: "the hoist checkout (for testdata/sampleapp; default: found from the working directory)"},
		},
		Action: benchContainerize,
	}
}

func benchContainerize(c *cli.Context) error {
	ctx := c.Context
	repo, bins, err := checkBench(c, []string{"javac", "java", "runc"}, "")
	if err != nil {
		return err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }
	quiet := func(string, ...any) {}

	// A private engine: the first build finds no cache.
	cfg, work, cleanup, err := benchEngine(bins, "hoist-bench", "hoistbench0", "10.214.0.0/24")
	if err != nil {
		return err
	}
	defer cleanup()
	state := cfg.StateDir
	defer func() {
		// Purge: every task, namespace, bridge and rule the run made.
		if err := hoistrt.Purge(context.WithoutCancel(ctx), cfg, logf); err != nil {
			logf("purging the bench engine: %v", err)
		}
	}()
	if _, err := hoistrt.Ensure(ctx, cfg, logf); err != nil {
		return err
	}

	// The sample app, compiled once.
	appDir := filepath.Join(work, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"HelloServer.java", "application.properties"} {
		data, err := os.ReadFile(filepath.Join(repo, "testdata", "sampleapp", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(appDir, f), data, 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.CommandContext(ctx, "javac", "-d", appDir, filepath.Join(appDir, "HelloServer.java")).CombinedOutput(); err != nil {
		return fmt.Errorf("javac: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	runs := c.Int("runs")
	if runs < 1 {
		runs = 1
	}

	// The original process's own start, on the host.
	hostStart, stopOriginal, err := startOriginal(ctx, appDir, port)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			stopOriginal()
		}
	}()
	hostStarts := []time.Duration{hostStart}
	logf("original process: first HTTP 200 after %v", hostStart)

	// inventory, analyze, extract.
	host := discover.LiveHost()
	ws := discover.Workspace{Dir: filepath.Join(work, "ws")}
	t0 := time.Now()
	a, err := prepareApp(ctx, host, ws, "the sample app in "+appDir, func(app discover.App) bool { return app.Path == appDir }, discover.HealthCheck{Path: "/health", Port: port})
	if err != nil {
		return err
	}
	id := a.ID
	discoverTime := time.Since(t0)
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return err
	}

	build := func(ws discover.Workspace, key string, base func(context.Context, *discover.Analysis, *extract.Manifest, string) error) (*containerize.Result, time.Duration, error) {
		t := time.Now()
		r, err := containerize.Containerize(ctx, containerize.Options{
			Workspace: ws, ID: id, BuildkitAddr: cfg.BuildkitAddress(), Progress: io.Discard, Mode: "quiet",
			EntryBinary: filepath.Join(bins, "hoist-entry"), BaseKey: key, Base: base, Logf: logf,
		})
		return r, time.Since(t), err
	}
	hostBase := func(jlink bool, cds hostbase.CDSMode, extra func(*discover.Analysis) []string) func(context.Context, *discover.Analysis, *extract.Manifest, string) error {
		return func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error {
			var more []string
			if extra != nil {
				more = extra(a)
			}
			_, err := hostbase.Assemble(ctx, hostbase.Options{Host: host, Analysis: a, Dest: dest, Jlink: jlink, CDS: cds, AppJars: containerize.AppJars(filepath.Dir(dest), m), Extra: more, Logf: quiet})
			return err
		}
	}

	logf("containerize (cold, jlink)")
	rHoist, cold, err := build(ws, "jlink=true", hostBase(true, hostbase.CDSAuto, nil))
	if err != nil {
		return err
	}
	cc, err := containerd.New(cfg.ContainerdSocket(), containerd.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		return err
	}
	defer cc.Close()
	hoistSize, err := imageSize(ctx, cc, rHoist.Image)
	if err != nil {
		return err
	}

	// Rebuild after a one-file change in the app's own files.
	if err := os.WriteFile(filepath.Join(appDir, "release-notes.txt"), []byte("one more file\n"), 0o644); err != nil {
		return err
	}
	t1 := time.Now()
	if _, err := extract.Extract(ctx, extract.Options{Host: host, Workspace: ws, ID: id}); err != nil {
		return err
	}
	extractAgain := time.Since(t1)
	logf("containerize (warm, after a one-file change)")
	rWarm, warm, err := build(ws, "jlink=true", hostBase(true, hostbase.CDSAuto, nil))
	if err != nil {
		return err
	}
	changed, total, err := changedLayers(ctx, cc, rWarm.Image, rHoist.Digest)
	if err != nil {
		return err
	}
	warmSize, err := imageSize(ctx, cc, rWarm.Image)
	if err != nil {
		return err
	}
	_ = warmSize

	// The same with a class data sharing archive (faster start, not
	// reproducible with JDK 17), in a workspace of its own.
	cdsWS := discover.Workspace{Dir: filepath.Join(work, "ws-cds")}
	if err := copyTree(ws.Dir, cdsWS.Dir); err != nil {
		return err
	}
	if err := renameImage(cdsWS, id, id+"-cds"); err != nil {
		return err
	}
	logf("containerize with --cds")
	rCDS, _, err := build(cdsWS, "jlink=true cds=true", hostBase(true, hostbase.CDSOn, nil))
	if err != nil {
		return err
	}
	cdsSize, err := imageSize(ctx, cc, rCDS.Image)
	if err != nil {
		return err
	}

	// Start to first HTTP 200: the image in its own network namespace and
	// the original on the host, measured in turns so that both see the
	// same load on this machine.
	stopOriginal()
	stopped = true
	var ctrStarts, cdsStarts, afterCreate []time.Duration
	hostStarts = nil
	for i := 0; i < runs; i++ {
		for _, r := range []struct {
			res *containerize.Result
			out *[]time.Duration
		}{{rWarm, &ctrStarts}, {rCDS, &cdsStarts}} {
			v, err := containerize.Validate(ctx, a, r.res.Image, r.res.Secrets, containerize.ValidateOptions{
				ContainerdAddr: cfg.ContainerdSocket(), Namespace: cfg.Namespace, NetnsDir: filepath.Join(state, "netns"),
				Secrets: secrets, Poll: 5 * time.Millisecond, Logf: quiet,
			})
			if err != nil {
				return err
			}
			*r.out = append(*r.out, v.StartToReady)
			if r.res == rWarm {
				afterCreate = append(afterCreate, v.StartToReady-v.Created)
			}
		}
		d, stop, err := startOriginal(ctx, appDir, port)
		if err != nil {
			return err
		}
		stop()
		hostStarts = append(hostStarts, d)
	}

	// The baselines, each in a workspace of its own (a copy of this one).
	baseline := func(name, key string, base func(context.Context, *discover.Analysis, *extract.Manifest, string) error) (sizes, time.Duration, error) {
		bws := discover.Workspace{Dir: filepath.Join(work, "ws-"+name)}
		if err := copyTree(ws.Dir, bws.Dir); err != nil {
			return sizes{}, 0, err
		}
		if err := renameImage(bws, id, id+"-"+name); err != nil {
			return sizes{}, 0, err
		}
		logf("containerize baseline %s", name)
		r, d, err := build(bws, key, base)
		if err != nil {
			return sizes{}, 0, err
		}
		s, err := imageSize(ctx, cc, r.Image)
		return s, d, err
	}
	fullSize, fullTime, err := baseline("full-jdk", "jlink=false", hostBase(false, hostbase.CDSAuto, nil))
	if err != nil {
		return err
	}
	procSize, procTime, err := baseline("process-mode", "process-mode", hostBase(false, hostbase.CDSAuto, processModeDirs))
	if err != nil {
		return err
	}

	// Deploy to first 200 through the load balancer is the local runtime's
	// figure: hoist-bench runtime measures it (median of --runs, one task).

	// Tomcat: an app whose own start is seconds, not a third of one.
	tomcat, err := benchTomcat(ctx, cfg, work, state, bins, runs, logf)
	if err != nil {
		return err
	}
	newer, err := benchNewerJava(ctx, cfg, appDir, work, bins, runs, logf)
	if err != nil {
		return err
	}

	ratioFull := float64(hoistSize.compressed) / float64(fullSize.compressed)
	startRatio := median(ctrStarts).Seconds() / median(hostStarts).Seconds()
	cdsRatio := median(cdsStarts).Seconds() / median(hostStarts).Seconds()
	rs := []result{
		{Metric: "image size, compressed (pull)", Hoist: mb(hoistSize.compressed), Baseline: "full JDK: " + mb(fullSize.compressed), Ratio: ratioFull, Target: "<= 0.30x", Met: boolp(ratioFull <= 0.3), Value: float64(hoistSize.compressed), BaselineValue: float64(fullSize.compressed)},
		{Metric: "image size, compressed (pull)", Hoist: mb(hoistSize.compressed), Baseline: "process mode: " + mb(procSize.compressed), Ratio: float64(hoistSize.compressed) / float64(procSize.compressed), Value: float64(hoistSize.compressed), BaselineValue: float64(procSize.compressed)},
		{Metric: "image size, unpacked (disk)", Hoist: mb(hoistSize.unpacked), Baseline: "full JDK: " + mb(fullSize.unpacked), Ratio: float64(hoistSize.unpacked) / float64(fullSize.unpacked), Value: float64(hoistSize.unpacked), BaselineValue: float64(fullSize.unpacked)},
		{Metric: "image size, unpacked (disk)", Hoist: mb(hoistSize.unpacked), Baseline: "process mode: " + mb(procSize.unpacked), Ratio: float64(hoistSize.unpacked) / float64(procSize.unpacked), Value: float64(hoistSize.unpacked), BaselineValue: float64(procSize.unpacked)},
		{Metric: "inventory + analyze + extract", Hoist: secs(discoverTime), Value: discoverTime.Seconds()},
		{Metric: "containerize, cold", Hoist: secs(cold), Baseline: fmt.Sprintf("full JDK: %s, process mode: %s (warm cache)", secs(fullTime), secs(procTime)), Value: cold.Seconds()},
		{Metric: "extract after a one-file change", Hoist: secs(extractAgain), Value: extractAgain.Seconds()},
		{Metric: "containerize after a one-file change", Hoist: secs(warm), Target: "< 3 s", Met: boolp(warm < 3*time.Second), Value: warm.Seconds()},
		{Metric: "layers changed by that rebuild", Hoist: fmt.Sprintf("%d of %d", changed, total), Target: "1", Met: boolp(changed == 1), Value: float64(changed)},
		{Metric: "start to first HTTP 200", Hoist: "container: " + secs(median(ctrStarts)), Baseline: "host process: " + secs(median(hostStarts)), Ratio: startRatio, Target: "<= 1.20x", Met: boolp(startRatio <= 1.2), Value: median(ctrStarts).Seconds(), BaselineValue: median(hostStarts).Seconds()},
		{Metric: "the same, from the task's start (create excluded)", Hoist: "container: " + secs(median(afterCreate)), Baseline: "host process: " + secs(median(hostStarts)), Ratio: median(afterCreate).Seconds() / median(hostStarts).Seconds(), Value: median(afterCreate).Seconds(), BaselineValue: median(hostStarts).Seconds()},
		{Metric: "start to first HTTP 200, --cds", Hoist: "container: " + secs(median(cdsStarts)), Baseline: "host process: " + secs(median(hostStarts)), Ratio: cdsRatio, Target: "<= 1.20x", Met: boolp(cdsRatio <= 1.2), Value: median(cdsStarts).Seconds(), BaselineValue: median(hostStarts).Seconds()},
		{Metric: "image size with --cds, compressed", Hoist: mb(cdsSize.compressed), Baseline: "full JDK: " + mb(fullSize.compressed), Ratio: float64(cdsSize.compressed) / float64(fullSize.compressed), Value: float64(cdsSize.compressed), BaselineValue: float64(fullSize.compressed)},
	}
	rs = append(rs, tomcat...)
	rs = append(rs, newer...)
	return report(c, fmt.Sprintf("containerize: sample app %s (%s/%s, %d CPUs)", id, runtime.GOOS, runtime.GOARCH, runtime.NumCPU()), rs)
}

// processModeDirs is what a process-mode tool copies besides the app: the
// whole directory the JDK is installed in and every directory the process
// mapped a shared library from.
func processModeDirs(a *discover.Analysis) []string {
	set := map[string]bool{}
	if h := a.Observed.Runtime.Home; h != "" {
		if real, err := filepath.EvalSymlinks(h); err == nil {
			set[filepath.Dir(real)] = true
		}
	}
	for _, l := range a.Observed.Files.Libraries {
		if real, err := filepath.EvalSymlinks(l); err == nil {
			set[path.Dir(real)] = true
		}
	}
	var dirs []string
	for d := range set {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	// A directory inside another one is copied with it.
	var out []string
	for _, d := range dirs {
		if len(out) > 0 && strings.HasPrefix(d, out[len(out)-1]+"/") {
			continue
		}
		out = append(out, d)
	}
	return out
}

// startOriginal starts the sample app on the host and returns the time to
// its first HTTP 200 and a function that stops it (by its PID).
func startOriginal(ctx context.Context, dir string, port int) (time.Duration, func(), error) {
	return startOriginalWith(ctx, "java", dir, port)
}

// startOriginalWith starts the sample app with the java binary given.
func startOriginalWith(ctx context.Context, java, dir string, port int) (time.Duration, func(), error) {
	cmd := exec.CommandContext(ctx, java, "-Xmx64m", "-cp", dir, "HelloServer", fmt.Sprint(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DB_PASSWORD=bench-not-a-secret")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < time.Minute {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(start), stop, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	return 0, nil, fmt.Errorf("the sample app did not answer on %s within a minute", url)
}

type sizes struct{ compressed, unpacked int64 }

// imageSize sums the image's layers, compressed and unpacked.
func imageSize(ctx context.Context, cc *containerd.Client, ref string) (sizes, error) {
	layers, err := layersOf(ctx, cc, ref)
	if err != nil {
		return sizes{}, err
	}
	var s sizes
	for _, l := range layers {
		s.compressed += l.Size
		ra, err := cc.ContentStore().ReaderAt(ctx, l)
		if err != nil {
			return sizes{}, err
		}
		zr, err := gzip.NewReader(content.NewReader(ra))
		if err != nil {
			ra.Close()
			return sizes{}, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			s.unpacked += h.Size
		}
		ra.Close()
	}
	return s, nil
}

func layersOf(ctx context.Context, cc *containerd.Client, ref string) ([]ocispec.Descriptor, error) {
	img, err := cc.GetImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	return layersAt(ctx, cc, img.Target())
}

func layersAt(ctx context.Context, cc *containerd.Client, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	data, err := content.ReadBlob(ctx, cc.ContentStore(), d)
	if err != nil {
		return nil, err
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(data, &mf); err != nil {
		return nil, err
	}
	return mf.Layers, nil
}

// changedLayers compares the layers of the image before (by its digest:
// the tag now names the rebuilt one) and after a rebuild.
func changedLayers(ctx context.Context, cc *containerd.Client, after string, beforeDigest string) (int, int, error) {
	img, err := cc.GetImage(ctx, after)
	if err != nil {
		return 0, 0, err
	}
	a, err := layersAt(ctx, cc, img.Target())
	if err != nil {
		return 0, 0, err
	}
	d := img.Target()
	d.Digest = digest.Digest(beforeDigest)
	info, err := cc.ContentStore().Info(ctx, d.Digest)
	if err != nil {
		return 0, 0, fmt.Errorf("the first build's manifest is gone from the store: %w", err)
	}
	d.Size = info.Size
	b, err := layersAt(ctx, cc, d)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for i := range a {
		if i >= len(b) || a[i].Digest != b[i].Digest {
			n++
		}
	}
	return n, len(a), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// renameImage gives the image of a copied workspace a name of its own.
func renameImage(ws discover.Workspace, id, name string) error {
	a, err := ws.ReadAnalysis(id)
	if err != nil {
		return err
	}
	a.ContainerParameters.ImageName = name
	return writeAnalysis(ws, a)
}

func writeAnalysis(ws discover.Workspace, a *discover.Analysis) error {
	data, err := discover.MarshalJSON(a)
	if err != nil {
		return err
	}
	return discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644)
}

// findRepo finds the checkout: the flag, or up from the working directory.
func findRepo(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "testdata", "sampleapp", "HelloServer.java")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run hoist-bench in the hoist checkout, or pass --repo")
		}
		dir = parent
	}
}

// copyTree copies a workspace (regular files and directories, modes kept).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() && fi.Name() == "containerize" {
			return filepath.SkipDir // derived data, rebuilt by the baseline
		}
		switch {
		case fi.IsDir():
			return os.MkdirAll(to, fi.Mode().Perm())
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, fi.Mode().Perm())
		}
		return nil
	})
}

// benchEngine makes the run's work directory and a short state directory
// under /run (unix socket paths are limited), and the config of a private
// engine there with its own namespace, bridge and subnet — never those of
// an installed engine. cleanup removes both directories.
func benchEngine(bins, name, bridge, subnet string) (cfg hoistrt.Config, work string, cleanup func(), err error) {
	work, err = os.MkdirTemp("", name+"-")
	if err != nil {
		return cfg, "", nil, err
	}
	_ = os.Chmod(work, 0o755)
	state, err := os.MkdirTemp("/run", name+"-")
	if err != nil {
		os.RemoveAll(work)
		return cfg, "", nil, err
	}
	cfg = hoistrt.Config{
		DataDir:      filepath.Join(work, "engine"),
		StateDir:     state,
		Namespace:    name,
		BinDir:       bins,
		Supervisor:   supervisorArgv(filepath.Join(bins, hoistrt.SupervisorBinary)),
		Bridge:       bridge,
		Subnet:       subnet,
		CNIPluginDir: "/usr/lib/cni",
	}
	return cfg, work, func() { os.RemoveAll(state); os.RemoveAll(work) }, nil
}

// supervisorArgv runs the engine supervisor from bin: hoist-supervisor as
// it is, hoist (or a hoist-supervisor that was not built) as `hoist runtime
// serve`.
func supervisorArgv(bin string) []string {
	if filepath.Base(bin) == hoistrt.SupervisorBinary {
		if _, err := os.Stat(bin); err == nil {
			return []string{bin}
		}
		bin = filepath.Join(filepath.Dir(bin), "hoist")
	}
	return []string{bin, "runtime", "serve"}
}
