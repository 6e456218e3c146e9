package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/store"
)

// Container labels that tie a container to the runtime's records.
const (
	labelTask    = "hoist.runtime/task"
	labelService = "hoist.runtime/service"
	labelTaskDef = "hoist.runtime/task-definition"
)

// start takes a PROVISIONING task to RUNNING; on failure the task is
// stopped with the reason.
func (c *Controller) start(t *rtask) {
	ctx := c.ctx
	err := c.create(ctx, t)
	if err != nil {
		c.mu.Lock()
		if !errors.Is(err, errPurged) {
			c.o.Logf("control plane: task %s of %s failed to start: %v", t.TaskID, t.Group, err)
		}
		// A task the engine could not start for want of containerd did not
		// fail by itself: it is not held against the service (back-off,
		// circuit breaker).
		t.failed = !engineUnavailable(err)
		t.StopCode = api.StopTaskFailedToStart
		if t.StoppedReason == "" {
			t.StoppedReason = err.Error()
		}
		c.mu.Unlock()
		c.finalize(t, nil)
		return
	}
	go c.monitor(t)
}

func (c *Controller) create(ctx context.Context, t *rtask) error {
	cd := t.td.ContainerDefinitions[0]
	tr := newTrace()
	img, err := c.cc.GetImage(ctx, normalizeImage(cd.Image))
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("CannotPullContainerError: image %q is not in the engine's image store; build it with `hoist containerize APP`", cd.Image)
	}
	if err != nil {
		return fmt.Errorf("CannotPullContainerError: reading image %q from the engine: %w", cd.Image, err)
	}
	// The image is unpacked (the first task of a new image) while the
	// task's network is made: the two do not depend on each other.
	unpacked := make(chan error, 1)
	go func() {
		if ok, _ := img.IsUnpacked(ctx, ""); ok {
			unpacked <- nil
			return
		}
		t0 := time.Now()
		err := img.Unpack(ctx, "")
		tr.mark("unpack", time.Since(t0))
		if err != nil {
			err = fmt.Errorf("CannotPullContainerError: unpacking %s: %w", cd.Image, err)
		}
		unpacked <- err
	}()
	unpackDone := false
	var unpackErr error
	waitUnpack := func() error {
		if !unpackDone {
			unpackDone, unpackErr = true, <-unpacked
		}
		return unpackErr
	}
	defer waitUnpack()
	bindings, err := c.net.reserve(t.TaskID, cd.PortMappings)
	if err != nil {
		return err
	}
	c.mu.Lock()
	t.Ports = bindings
	c.mu.Unlock()
	nsPath, err := c.net.newNetns()
	if err != nil {
		c.net.release(bindings)
		return err
	}
	tr.step("netns")
	c.mu.Lock()
	t.Netns = nsPath
	c.saveTask(t)
	c.mu.Unlock()
	// The bridge is made while the image is unpacked and the container's
	// spec and snapshot are prepared; the host ports are mapped while the
	// task is created.
	type attachResult struct {
		ip  string
		err error
	}
	attached := make(chan attachResult, 1)
	go func() {
		t0 := time.Now()
		ip, err := c.net.attach(ctx, t.TaskID, nsPath, bindings, tr)
		tr.mark("network", time.Since(t0))
		if err == nil {
			// While the container is still being created.
			c.mapPorts(t, ip, bindings)
		}
		attached <- attachResult{ip, err}
	}()
	var netErr error
	netDone := false
	waitNet := func() error {
		if !netDone {
			r := <-attached
			netDone, netErr = true, r.err
			if r.err == nil {
				c.mu.Lock()
				t.IP = r.ip
				c.saveTask(t)
				c.mu.Unlock()
			}
		}
		return netErr
	}
	defer waitNet()
	if err := waitUnpack(); err != nil {
		return err
	}
	tr.step("image")

	env := make([]string, 0, len(cd.Environment)+len(cd.Secrets))
	for _, e := range cd.Environment {
		env = append(env, e.Name+"="+e.Value)
	}
	for _, s := range cd.Secrets {
		v, err := c.st.Secret(api.SecretName(s.ValueFrom))
		if err != nil {
			return fmt.Errorf("ResourceInitializationError: secret for %s: %w", s.Name, err)
		}
		env = append(env, s.Name+"="+v)
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithHostname(t.TaskID[:12]),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath}),
		oci.WithHostResolvconf,
		oci.WithHostHostsFile,
		oci.WithNoNewPrivileges,
		seccomp.WithDefaultProfile(),
		oci.WithCapabilities(capabilities(cd.LinuxParameters)),
	}
	if len(cd.EntryPoint) > 0 || len(cd.Command) > 0 {
		opts = append(opts, withArgs(img, cd.EntryPoint, cd.Command))
	}
	if len(env) > 0 {
		opts = append(opts, oci.WithEnv(env))
	}
	if cd.User != "" {
		opts = append(opts, oci.WithUser(cd.User))
	}
	if cd.WorkingDirectory != "" {
		opts = append(opts, oci.WithProcessCwd(cd.WorkingDirectory))
	}
	if cd.ReadonlyRootFS {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if mem := memoryLimit(t.td); mem > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(mem)<<20))
	}
	if cd.Cpu > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(max(cd.Cpu, 2))))
	}
	if units := t.td.CPUUnits(); units > 0 {
		period := uint64(100000)
		opts = append(opts, oci.WithCPUCFS(int64(units)*int64(period)/1024, period))
	}
	for _, u := range cd.Ulimits {
		opts = append(opts, oci.WithRlimit(&specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.SoftLimit), Hard: uint64(u.HardLimit)}))
	}
	mounts, err := c.volumeMounts(t)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	labels := map[string]string{labelTask: t.TaskID, labelTaskDef: t.TaskDefinition}
	if t.ServiceName != "" {
		labels[labelService] = t.ServiceName
	}
	ctr, err := c.cc.NewContainer(ctx, t.TaskID,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(t.TaskID, img),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return fmt.Errorf("CannotCreateContainerError: %w", err)
	}
	tr.step("container")
	spec, err := ctr.Spec(ctx)
	if err == nil {
		c.ownVolumes(t, spec)
	}
	// The task is created once its network is made, not beside it: both
	// are CPU work (plugin processes, runc), and on two cores running them
	// side by side made the start slower (0.48-0.59 s to the Go web app's
	// first 200 against 0.40-0.45 s one after the other).
	if err := waitNet(); err != nil {
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		return fmt.Errorf("CannotStartContainerError: %w", err)
	}
	tr.step("network wait")
	ctask, err := ctr.NewTask(ctx, cio.LogFile(c.logPath(t.TaskID)))
	if err != nil {
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		return fmt.Errorf("CannotStartContainerError: %w", err)
	}
	tr.step("task create")
	c.mu.Lock()
	t.ctr, t.ctask, t.PID = ctr, ctask, int(ctask.Pid())
	c.setStatus(t, api.StatusPending)
	c.mu.Unlock()
	if c.purging.Load() {
		err = errPurged
	}
	if err == nil {
		err = ctask.Start(ctx)
		tr.step("start")
	}
	if err != nil {
		_, _ = ctask.Delete(ctx, containerd.WithProcessKill)
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		c.mu.Lock()
		t.ctr, t.ctask = nil, nil
		c.mu.Unlock()
		return fmt.Errorf("CannotStartContainerError: %w", err)
	}
	c.o.Logf("control plane: task %s of %s started in %s (%s)", t.TaskID[:12], t.Group, time.Since(t.CreatedAt).Round(time.Millisecond), tr)
	c.running(t)
	return nil
}

// mapPorts maps the task's host ports while it starts; the task is not
// healthy before they are mapped, so a healthy task's host ports answer.
// A task whose ports cannot be mapped is stopped as failed to start.
func (c *Controller) mapPorts(t *rtask, ip string, bs []api.Binding) {
	done := make(chan struct{})
	c.mu.Lock()
	t.portsDone = done
	c.mu.Unlock()
	go func() {
		defer close(done)
		t0 := time.Now()
		err := c.net.mapPorts(t.TaskID, ip, bs)
		c.mu.Lock()
		t.portsTook = time.Since(t0)
		defer c.mu.Unlock()
		if err != nil {
			c.o.Logf("control plane: task %s: %v", t.TaskID, err)
			if t.DesiredStatus == api.StatusRunning {
				t.failed = true
				c.stopTask(t, api.StopTaskFailedToStart, "ResourceInitializationError: "+err.Error())
			}
			return
		}
		t.portsMapped = true
		c.updateHealth(t)
	}()
}

// trace notes how long the steps of a task's start took, for the
// supervisor's log: where the time from PROVISIONING to RUNNING goes.
type trace struct {
	mu    sync.Mutex
	last  time.Time
	steps []string
}

func newTrace() *trace { return &trace{last: time.Now()} }

// step ends a step of the starting goroutine.
func (tr *trace) step(name string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	now := time.Now()
	tr.steps = append(tr.steps, fmt.Sprintf("%s %dms", name, now.Sub(tr.last).Milliseconds()))
	tr.last = now
}

// mark notes a step that ran beside the others.
func (tr *trace) mark(name string, d time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.steps = append(tr.steps, fmt.Sprintf("[%s %dms]", name, d.Milliseconds()))
}

func (tr *trace) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.steps, ", ")
}

// running marks a started (or adopted) task RUNNING and starts its health
// checks and load balancer registration.
func (c *Controller) running(t *rtask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.StartedAt.IsZero() {
		t.StartedAt = time.Now().UTC()
	}
	hctx, cancel := context.WithCancel(c.ctx)
	t.cancel = cancel
	c.setStatus(t, api.StatusRunning)
	if t.DesiredStatus == api.StatusStopped {
		// Stopped while it was starting.
		go c.kill(t, c.stopTimeout(t))
		return
	}
	if s := c.svcs[t.ServiceName]; s != nil {
		c.registerTarget(s, t)
	}
	if t.td.ContainerDefinitions[0].HealthCheck != nil {
		go c.healthCheck(hctx, t)
	}
	c.updateHealth(t)
}

func withArgs(img containerd.Image, entry, cmd []string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, ctr *containers.Container, s *oci.Spec) error {
		ic, err := img.Spec(ctx)
		if err != nil {
			return err
		}
		if len(entry) == 0 {
			entry = ic.Config.Entrypoint
			if len(cmd) == 0 {
				cmd = ic.Config.Cmd
			}
		} else if len(cmd) == 0 {
			cmd = nil
		}
		args := append(append([]string{}, entry...), cmd...)
		if len(args) == 0 {
			return errors.New("no command: the image has none and the task definition sets neither entryPoint nor command")
		}
		s.Process.Args = args
		return nil
	}
}

// capabilities is the minimal set: binding low ports, plus what the task
// definition adds, minus what it drops.
func capabilities(lp *api.LinuxParameters) []string {
	set := map[string]bool{"CAP_NET_BIND_SERVICE": true}
	if lp != nil && lp.Capabilities != nil {
		for _, a := range lp.Capabilities.Add {
			set[capName(a)] = true
		}
		for _, d := range lp.Capabilities.Drop {
			if d == "ALL" {
				clear(set)
			}
			delete(set, capName(d))
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	return out
}

func capName(s string) string {
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "CAP_") {
		s = "CAP_" + s
	}
	return s
}

func memoryLimit(td *api.TaskDefinition) int {
	mem := td.ContainerDefinitions[0].Memory
	if tm := td.MemoryMiB(); tm > 0 && (mem == 0 || tm < mem) {
		mem = tm
	}
	return mem
}

// volumeMounts binds the task's volumes: a named volume is a directory
// under the data dir shared by every task that mounts it.
func (c *Controller) volumeMounts(t *rtask) ([]specs.Mount, error) {
	cd := t.td.ContainerDefinitions[0]
	var out []specs.Mount
	for _, mp := range cd.MountPoints {
		var src string
		for _, v := range t.td.Volumes {
			if v.Name != mp.SourceVolume {
				continue
			}
			if v.Host != nil && v.Host.SourcePath != "" {
				src = v.Host.SourcePath
			} else {
				src = c.volumeDir(v.Name)
			}
		}
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, fmt.Errorf("ResourceInitializationError: volume %s: %w", mp.SourceVolume, err)
		}
		opts := []string{"rbind", "rprivate"}
		if mp.ReadOnly {
			opts = append(opts, "ro")
		}
		out = append(out, specs.Mount{Type: "bind", Source: src, Destination: mp.ContainerPath, Options: opts})
	}
	return out, nil
}

func (c *Controller) volumeDir(name string) string {
	return filepath.Join(c.o.DataDir, "runtime", "volumes", name)
}

// ownVolumes gives a runtime-managed volume directory to the task's user
// the first time, so an app that does not run as root can write to it.
func (c *Controller) ownVolumes(t *rtask, spec *oci.Spec) {
	if spec.Process == nil {
		return
	}
	for _, v := range t.td.Volumes {
		if v.Host != nil && v.Host.SourcePath != "" {
			continue
		}
		dir := c.volumeDir(v.Name)
		marker := dir + ".owned"
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		_ = os.Chown(dir, int(spec.Process.User.UID), int(spec.Process.User.GID))
		_ = os.WriteFile(marker, nil, 0o600)
	}
}

// monitor waits for a task's process to exit, across containerd restarts.
func (c *Controller) monitor(t *rtask) {
	ctx := c.ctx
	for {
		c.mu.Lock()
		ctask := t.ctask
		c.mu.Unlock()
		if ctask == nil {
			c.finalize(t, nil)
			return
		}
		ch, err := ctask.Wait(ctx)
		var st containerd.ExitStatus
		if err == nil {
			select {
			case st = <-ch:
				err = st.Error()
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return // the supervisor is stopping; the task lives on
		}
		if err == nil {
			code := int(st.ExitCode())
			c.exited(t, &code)
			return
		}
		// containerd went away: wait for it and look again.
		c.o.Logf("control plane: watching task %s: %v; retrying", t.TaskID, err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			nt, err := t.ctr.Task(ctx, nil)
			if err == nil {
				c.mu.Lock()
				t.ctask = nt
				c.mu.Unlock()
				break
			}
			if errdefs.IsNotFound(err) {
				c.mu.Lock()
				t.StoppedReason = "Task vanished: its container is gone from containerd"
				c.mu.Unlock()
				c.exited(t, nil)
				return
			}
		}
	}
}

// exited handles a task whose process ended. A task that had been healthy
// is out of its load balancer and its replacement on the way at once,
// before its container and network are cleaned up; one that never was
// waits for finalize, which applies the crash-loop back-off first.
func (c *Controller) exited(t *rtask, code *int) {
	c.mu.Lock()
	own := t.DesiredStatus == api.StatusRunning
	if own {
		t.DesiredStatus = api.StatusStopped
		t.StopCode = api.StopEssentialContainerExited
		t.failed = t.HealthyAt.IsZero()
	}
	if s := c.svcs[t.ServiceName]; s != nil && s.lb != nil && t.inLB {
		s.lb.Deregister(t.TaskID) // its process is gone: nothing to drain
		t.inLB = false
	}
	if own && !t.failed && !fixedHostPort(t.td) {
		c.kick()
	}
	c.mu.Unlock()
	if code != nil && *code == 137 && !t.oom.Load() {
		// The OOM event may trail the exit.
		time.Sleep(200 * time.Millisecond)
	}
	c.mu.Lock()
	t.ExitCode = code
	t.OOMKilled = t.oom.Load()
	if own {
		switch {
		case t.OOMKilled:
			t.StoppedReason = fmt.Sprintf("OutOfMemoryError: Container killed due to memory usage (limit %d MiB)", memoryLimit(t.td))
		case t.StoppedReason != "":
		case code != nil:
			t.StoppedReason = fmt.Sprintf("Essential container in task exited (exit code %d)", *code)
		default:
			t.StoppedReason = "Essential container in task exited"
		}
	}
	c.mu.Unlock()
	c.finalize(t, nil)
}

// fixedHostPort says whether a task definition maps a fixed host port: its
// replacement can only start once the port is released.
func fixedHostPort(td *api.TaskDefinition) bool {
	for _, pm := range td.ContainerDefinitions[0].PortMappings {
		if pm.HostPort != 0 {
			return true
		}
	}
	return false
}

// stopTask drains a task from its load balancer, then stops it (SIGTERM,
// then SIGKILL after the stop timeout); callers hold c.mu.
func (c *Controller) stopTask(t *rtask, code, reason string) {
	if t.DesiredStatus == api.StatusStopped {
		return
	}
	t.DesiredStatus = api.StatusStopped
	t.StopCode, t.StoppedReason = code, reason
	s := c.svcs[t.ServiceName]
	var drained <-chan struct{}
	if s != nil && s.lb != nil && t.inLB {
		drained = s.lb.Deregister(t.TaskID)
		t.inLB = false
		c.setStatus(t, api.StatusDeactivating)
	} else {
		c.saveTask(t)
	}
	timeout := c.stopTimeout(t)
	go func() {
		if drained != nil {
			<-drained
		}
		c.kill(t, timeout)
	}()
}

func (c *Controller) stopTimeout(t *rtask) time.Duration {
	timeout := time.Duration(t.td.ContainerDefinitions[0].StopTimeout) * time.Second
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return timeout
}

// kill sends SIGTERM, then SIGKILL after timeout.
func (c *Controller) kill(t *rtask, timeout time.Duration) {
	c.mu.Lock()
	ctask := t.ctask
	if ctask != nil && (t.LastStatus == api.StatusRunning || t.LastStatus == api.StatusDeactivating) {
		c.setStatus(t, api.StatusStopping)
	}
	c.mu.Unlock()
	if ctask == nil {
		return // still starting: running() sees DesiredStatus, or already gone
	}
	ctx := c.ctx
	_ = ctask.Kill(ctx, syscall.SIGTERM)
	select {
	case <-t.done:
		return
	case <-time.After(timeout):
	case <-ctx.Done():
		return
	}
	// SIGKILL until it is gone: a kill sent while containerd restarts is
	// lost.
	for {
		c.mu.Lock()
		if t.ctask != nil {
			ctask = t.ctask
		}
		c.mu.Unlock()
		_ = ctask.Kill(ctx, syscall.SIGKILL)
		select {
		case <-t.done:
			return
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// engineUnavailable says an error came from containerd not answering
// rather than from the task.
func engineUnavailable(err error) bool {
	if errdefs.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection error") || strings.Contains(msg, "error reading from server") || strings.Contains(msg, "transport is closing")
}

// finalize removes what a stopped task held (container, snapshot, netns,
// IP lease, port rules) and records it STOPPED.
func (c *Controller) finalize(t *rtask, _ error) {
	ctx := context.WithoutCancel(c.ctx)
	c.mu.Lock()
	if t.LastStatus == api.StatusStopped {
		c.mu.Unlock()
		return
	}
	if t.cancel != nil {
		t.cancel()
	}
	s := c.svcs[t.ServiceName]
	if s != nil && s.lb != nil && t.inLB {
		s.lb.Deregister(t.TaskID) // its process is gone: nothing to drain
		t.inLB = false
	}
	ctr, ctask, portsDone := t.ctr, t.ctask, t.portsDone
	c.mu.Unlock()
	if portsDone != nil {
		// Rules made after teardown would outlive the task.
		<-portsDone
	}
	var errs []error
	if ctask != nil {
		if _, err := ctask.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if ctr == nil {
		if l, err := c.cc.LoadContainer(ctx, t.TaskID); err == nil {
			ctr = l
			if tk, err := l.Task(ctx, nil); err == nil {
				_, _ = tk.Delete(ctx, containerd.WithProcessKill)
			}
		}
	}
	if ctr != nil {
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := c.net.teardown(ctx, t.TaskID, t.Netns, t.Ports); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		c.o.Logf("control plane: cleaning up task %s: %v", t.TaskID, errors.Join(errs...))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.DesiredStatus != api.StatusStopped {
		t.DesiredStatus = api.StatusStopped
	}
	t.StoppedAt = time.Now().UTC()
	t.HealthStatus = api.HealthUnknown
	t.ctr, t.ctask, t.PID = nil, nil, 0
	wasFailed := t.failed
	c.setStatus(t, api.StatusStopped)
	delete(c.tasks, t.TaskID)
	close(t.done)
	if wasFailed {
		c.taskFailed(t)
	} else if s := c.svcs[t.ServiceName]; s != nil && t.StopCode == api.StopTaskFailedToStart {
		// The engine was not there: try again shortly, not at once.
		s.nextLaunch = time.Now().Add(time.Second)
	}
	c.kick()
}

// healthCheck runs the container's health check command in the task, as
// Docker's HEALTHCHECK and ECS container health checks do.
func (c *Controller) healthCheck(ctx context.Context, t *rtask) {
	hc := t.td.ContainerDefinitions[0].HealthCheck
	interval := time.Duration(max(hc.Interval, 0)) * time.Second
	if interval == 0 {
		interval = 30 * time.Second
	}
	if hc.IntervalMillis > 0 {
		interval = time.Duration(hc.IntervalMillis) * time.Millisecond
	}
	timeout := time.Duration(hc.Timeout) * time.Second
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	if hc.TimeoutMillis > 0 {
		timeout = time.Duration(hc.TimeoutMillis) * time.Millisecond
	}
	retries := hc.Retries
	if retries == 0 {
		retries = 3
	}
	startPeriod := time.Duration(hc.StartPeriod) * time.Second
	args := hc.Command[1:]
	if hc.Command[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", strings.Join(hc.Command[1:], " ")}
	}
	started := time.Now()
	fails := 0
	timer := time.NewTimer(min(interval, 200*time.Millisecond))
	defer timer.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := c.execCheck(ctx, t, args, timeout, n)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		prev := t.ctrHealth
		if err == nil {
			fails = 0
			t.ctrHealth = api.HealthHealthy
		} else if time.Since(started) >= startPeriod || prev == api.HealthHealthy {
			fails++
			if fails >= retries {
				t.ctrHealth = api.HealthUnhealthy
			}
		}
		if t.ctrHealth != prev {
			c.o.Logf("control plane: task %s container health %s (%v)", t.TaskID, t.ctrHealth, err)
			c.updateHealth(t)
		}
		c.mu.Unlock()
		timer.Reset(interval)
	}
}

func (c *Controller) execCheck(ctx context.Context, t *rtask, args []string, timeout time.Duration, n int) error {
	c.mu.Lock()
	ctr, ctask := t.ctr, t.ctask
	c.mu.Unlock()
	if ctr == nil || ctask == nil {
		return errors.New("no task")
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return err
	}
	p := *spec.Process
	p.Args = args
	p.Terminal = false
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := "health-" + strconv.Itoa(n)
	proc, err := ctask.Exec(cctx, id, &p, cio.NullIO)
	if err != nil {
		return err
	}
	defer proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	ch, err := proc.Wait(cctx)
	if err != nil {
		return err
	}
	if err := proc.Start(cctx); err != nil {
		return err
	}
	select {
	case st := <-ch:
		if st.ExitCode() != 0 {
			return fmt.Errorf("health check exited %d", st.ExitCode())
		}
		return nil
	case <-cctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return fmt.Errorf("health check timed out after %s", timeout)
	}
}

// watchOOM marks tasks the kernel killed for memory.
func (c *Controller) watchOOM(ctx context.Context) {
	for ctx.Err() == nil {
		ch, errs := c.cc.Subscribe(ctx, `topic=="/tasks/oom"`)
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case env := <-ch:
				if env == nil || env.Event == nil {
					continue
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				if oom, ok := v.(*apievents.TaskOOM); ok {
					c.mu.Lock()
					if t := c.tasks[oom.ContainerID]; t != nil {
						t.oom.Store(true)
					}
					c.mu.Unlock()
				}
			case <-errs:
				break loop
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// adopt loads the tasks the store knows and reattaches to their containers
// (containerd's shims kept them running while no supervisor was there);
// tasks that ended meanwhile are recorded as stopped, and containers no
// record owns are removed, so nothing runs twice.
func (c *Controller) adopt(ctx context.Context) error {
	recs, err := store.List[svcRecord](c.st, store.Services)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, r := range recs {
		s := &rsvc{svcRecord: r, deleted: make(chan struct{}), lastIn: time.Now()}
		c.svcs[r.Service.ServiceName] = s
		if err := c.ensureLB(s); err != nil {
			c.o.Logf("control plane: service %s: %v", r.Service.ServiceName, err)
		}
	}
	c.mu.Unlock()
	tasks, err := store.List[api.Task](c.st, store.Tasks)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, rec := range tasks {
		if rec.LastStatus == api.StatusStopped {
			continue
		}
		known[rec.TaskID] = true
		t := &rtask{Task: rec, done: make(chan struct{})}
		td, err := c.taskDefinition(rec.TaskDefinition)
		if err != nil {
			c.o.Logf("control plane: task %s: %v", rec.TaskID, err)
			continue
		}
		t.td = td
		c.mu.Lock()
		c.tasks[t.TaskID] = t
		c.mu.Unlock()
		c.net.claim(t.TaskID, t.Ports)
		ctr, err := c.cc.LoadContainer(ctx, t.TaskID)
		if err != nil {
			c.mu.Lock()
			if t.DesiredStatus == api.StatusRunning {
				t.DesiredStatus = api.StatusStopped
				t.StopCode = api.StopTaskFailedToStart
				t.StoppedReason = "Task was starting when the runtime restarted; its container was never created"
				t.failed = true
			}
			c.mu.Unlock()
			c.finalize(t, nil)
			continue
		}
		t.ctr = ctr
		ctask, err := ctr.Task(ctx, nil)
		if err != nil {
			c.mu.Lock()
			if t.DesiredStatus == api.StatusRunning {
				t.DesiredStatus = api.StatusStopped
				if t.StartedAt.IsZero() {
					t.StopCode = api.StopTaskFailedToStart
					t.StoppedReason = "Task was starting when the runtime restarted; its process was never started"
					t.failed = true
				} else {
					// It ran, and its process ended while no supervisor
					// watched; containerd has cleaned up after its shim, so
					// the exit status is gone.
					t.StopCode = api.StopEssentialContainerExited
					t.StoppedReason = "Essential container in task exited while the runtime was down (exit code unknown)"
					t.failed = t.HealthyAt.IsZero()
				}
			}
			c.mu.Unlock()
			c.finalize(t, nil)
			continue
		}
		t.ctask = ctask
		st, err := ctask.Status(ctx)
		if err == nil && st.Status == containerd.Stopped {
			code := int(st.ExitStatus)
			c.exited(t, &code)
			continue
		}
		t.PID = int(ctask.Pid())
		t.portsMapped = true
		if t.DesiredStatus == api.StatusStopped {
			// It was being stopped: finish that.
			c.mu.Lock()
			t.DesiredStatus = api.StatusRunning
			code, reason := t.StopCode, t.StoppedReason
			c.stopTask(t, code, reason)
			c.mu.Unlock()
			go c.monitor(t)
			continue
		}
		c.running(t)
		go c.monitor(t)
	}
	// Containers of hoist's runtime without a live record.
	ctrs, err := c.cc.Containers(ctx, fmt.Sprintf("labels.%q", labelTask))
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		if known[ctr.ID()] {
			continue
		}
		c.o.Logf("control plane: removing container %s, which no task record owns", ctr.ID())
		if tk, err := ctr.Task(ctx, nil); err == nil {
			_, _ = tk.Delete(ctx, containerd.WithProcessKill)
		}
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	return nil
}
