// Package controlplane is the local runtime's control plane: it runs
// inside the engine's supervisor, keeps services at their desired count on
// hoist's containerd (each task in its own network namespace on a CNI
// bridge), balances their traffic, rolls deployments, scales, runs
// schedules, records events, and answers on a unix socket.
package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/lb"
	"github.com/hoistctl/hoist/runtime/store"
)

// Options configure the control plane.
type Options struct {
	// Socket is the control plane's unix socket (mode 0600).
	Socket           string
	ContainerdSocket string
	Namespace        string
	DataDir          string
	StateDir         string
	// Bridge and Subnet of the task network; CNIPluginDir holds Debian's
	// CNI plugins (/usr/lib/cni).
	Bridge       string
	Subnet       string
	CNIPluginDir string
	Logf         func(string, ...any)
}

// Controller is the running control plane.
type Controller struct {
	o     Options
	st    *store.Store
	cc    *containerd.Client
	net   *network
	ready chan struct{}
	ctx   context.Context

	mu    sync.Mutex
	tasks map[string]*rtask
	svcs  map[string]*rsvc
	subs  map[chan api.Event]struct{}
	kickc chan struct{}
	hookc chan struct{}
	// launching counts task starts in flight (benchmarks and purge wait).
	launching  sync.WaitGroup
	startSlots chan struct{}
	purging    atomic.Bool
	// startErr is why the control plane cannot run tasks (no CNI plugins).
	startErr atomic.Value
}

// rtask is a task the control plane watches.
type rtask struct {
	api.Task
	td        *api.TaskDefinition
	ctr       containerd.Container
	ctask     containerd.Task
	lbState   string
	ctrHealth string
	oom       atomic.Bool
	failed    bool // stopped without ever becoming healthy, by its own fault
	done      chan struct{}
	cancel    context.CancelFunc
	inLB      bool
	// portsMapped: the host ports answer (a task is healthy only then);
	// portsDone is closed when their mapping has finished or failed.
	portsMapped bool
	portsDone   chan struct{}
	portsTook   time.Duration
	// cpu sampling for target tracking
	lastCPU  uint64
	lastTime time.Time
	cpuPct   float64
	memPct   float64
}

// svcRecord is what the store keeps of a service.
type svcRecord struct {
	Service api.Service `json:"service"`
	// LastGood is the task definition of the last completed deployment,
	// where the circuit breaker rolls back to.
	LastGood string `json:"lastGood,omitempty"`
	Deleting bool   `json:"deleting,omitempty"`
}

type rsvc struct {
	svcRecord
	lb         *lb.LB
	lbKey      string
	failures   int
	nextLaunch time.Time
	lastOut    time.Time
	lastIn     time.Time
	// outStreak and inStreak count target tracking's evaluations in a row
	// that wanted more or fewer tasks.
	outStreak, inStreak int
	lastEval            time.Time
	deleted             chan struct{}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run serves the control plane until ctx ends. Tasks keep running when it
// returns: a later Run adopts them.
func Run(ctx context.Context, o Options) error {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	for _, d := range []string{filepath.Join(o.DataDir, "runtime"), filepath.Join(o.DataDir, "runtime", "logs"), filepath.Join(o.StateDir, "netns")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	st, err := store.Open(filepath.Join(o.DataDir, "runtime", "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	c := &Controller{
		o: o, st: st, ready: make(chan struct{}), ctx: ctx,
		tasks: map[string]*rtask{}, svcs: map[string]*rsvc{}, subs: map[chan api.Event]struct{}{},
		kickc: make(chan struct{}, 1), hookc: make(chan struct{}, 1),
		startSlots: make(chan struct{}, max(2, goruntime.NumCPU()*2)),
	}
	srv, err := c.listen()
	if err != nil {
		return err
	}
	defer srv.Close()

	c.net, err = newNetwork(o)
	if err != nil {
		o.Logf("control plane: %v", err)
		c.failStart(err)
		<-ctx.Done()
		return nil
	}
	if err := c.connect(ctx); err != nil {
		return nil // ctx ended
	}
	defer c.cc.Close()
	if err := c.adopt(ctx); err != nil {
		o.Logf("control plane: adopting tasks: %v", err)
	}
	c.mu.Lock()
	var listeners []int
	for _, s := range c.svcs {
		if s.lb != nil {
			listeners = append(listeners, s.Service.LoadBalancers[0].ListenerPort)
		}
	}
	c.mu.Unlock()
	if err := c.net.hp.sweepLB(listeners); err != nil {
		o.Logf("control plane: removing the kernel routes of load balancers that are gone: %v", err)
	}
	close(c.ready)
	o.Logf("control plane: ready on %s (%d tasks adopted)", o.Socket, len(c.tasks))

	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){c.reconcileLoop, c.watchOOM, c.scheduleLoop, c.scaleLoop, c.webhookLoop, c.pruneLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	<-ctx.Done()
	wg.Wait()
	c.mu.Lock()
	for _, s := range c.svcs {
		if s.lb != nil {
			s.lb.Close()
		}
	}
	for _, t := range c.tasks {
		if t.cancel != nil {
			t.cancel()
		}
	}
	c.mu.Unlock()
	return nil
}

func (c *Controller) failStart(err error) { c.startErr.Store(err) }

// connect waits for containerd.
func (c *Controller) connect(ctx context.Context) error {
	for {
		cc, err := containerd.New(c.o.ContainerdSocket, containerd.WithDefaultNamespace(c.o.Namespace), containerd.WithTimeout(3*time.Second))
		if err == nil {
			vctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = cc.Version(vctx)
			cancel()
			if err == nil {
				c.cc = cc
				return nil
			}
			cc.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitReady blocks a request until the control plane has adopted its
// tasks.
func (c *Controller) waitReady(ctx context.Context) error {
	if v := c.startErr.Load(); v != nil {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, v)
	}
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%w: the control plane is still waiting for containerd at %s", api.ErrUnavailable, c.o.ContainerdSocket)
	}
}

func (c *Controller) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

// saveTask persists a task; callers hold c.mu.
func (c *Controller) saveTask(t *rtask) {
	if err := c.st.Put(store.Tasks, t.TaskID, t.Task); err != nil {
		c.o.Logf("control plane: saving task %s: %v", t.TaskID, err)
	}
}

func (c *Controller) saveService(s *rsvc) {
	if err := c.st.Put(store.Services, s.Service.ServiceName, s.svcRecord); err != nil {
		c.o.Logf("control plane: saving service %s: %v", s.Service.ServiceName, err)
	}
}

// emit records an event and hands it to followers and webhooks; callers
// hold c.mu so events are stored in the order things happened.
func (c *Controller) emit(detail, service string, t *rtask, msg string) {
	e := api.Event{Time: time.Now().UTC(), DetailType: detail, Service: service, Message: msg}
	if t != nil {
		cp := t.Task
		e.Task = &cp
		e.TaskID = t.TaskID
	}
	if err := c.st.AppendEvent(&e); err != nil {
		c.o.Logf("control plane: recording event: %v", err)
		return
	}
	for ch := range c.subs {
		select {
		case ch <- e:
		default:
			// A follower that does not keep up reads the rest from the log.
		}
	}
	select {
	case c.hookc <- struct{}{}:
	default:
	}
}

func (c *Controller) taskEvent(t *rtask) {
	msg := fmt.Sprintf("task %s is %s", t.TaskID, t.LastStatus)
	if t.LastStatus == api.StatusStopped {
		msg += ": " + t.StoppedReason
	}
	c.emit(api.EventTaskStateChange, t.ServiceName, t, msg)
}

// setStatus moves a task to a new last status; callers hold c.mu.
func (c *Controller) setStatus(t *rtask, status string) {
	if t.LastStatus == status {
		return
	}
	t.LastStatus = status
	c.saveTask(t)
	c.taskEvent(t)
}

// updateHealth derives a task's health from its container health check and
// its load balancer target; callers hold c.mu.
func (c *Controller) updateHealth(t *rtask) {
	h := api.HealthUnknown
	if t.LastStatus == api.StatusRunning {
		hasCheck := t.td != nil && t.td.ContainerDefinitions[0].HealthCheck != nil
		s := c.svcs[t.ServiceName]
		hasLB := s != nil && s.lb != nil && t.inLB
		switch {
		case hasCheck && t.ctrHealth == api.HealthUnhealthy, hasLB && t.lbState == lb.StateUnhealthy:
			h = api.HealthUnhealthy
		case hasCheck && t.ctrHealth != api.HealthHealthy:
		case hasLB && t.lbState != lb.StateHealthy:
		case !t.portsMapped:
		default:
			h = api.HealthHealthy
		}
	}
	if h == t.HealthStatus {
		return
	}
	t.HealthStatus = h
	if h == api.HealthHealthy && t.HealthyAt.IsZero() {
		t.HealthyAt = time.Now().UTC()
		c.o.Logf("control plane: task %s of %s healthy %s after it was started, %s after it was created (host ports mapped in %s)", t.TaskID[:12], t.Group, t.HealthyAt.Sub(t.StartedAt).Round(time.Millisecond), t.HealthyAt.Sub(t.CreatedAt).Round(time.Millisecond), t.portsTook.Round(time.Millisecond))
		if s := c.svcs[t.ServiceName]; s != nil {
			s.failures = 0
			s.nextLaunch = time.Time{}
		}
	}
	c.saveTask(t)
	c.kick()
}

// Task definitions -------------------------------------------------------

func (c *Controller) registerTaskDefinition(td *api.TaskDefinition) (*api.TaskDefinition, error) {
	if err := td.Validate(); err != nil {
		return nil, err
	}
	if err := c.st.RegisterTaskDefinition(td); err != nil {
		return nil, err
	}
	return td, nil
}

func (c *Controller) taskDefinition(ref string) (*api.TaskDefinition, error) {
	fam, rev, err := api.ParseTaskDefinitionRef(ref)
	if err != nil {
		return nil, err
	}
	return c.st.TaskDefinition(fam, rev)
}

// checkImage says clearly when an image is not in the engine.
func (c *Controller) checkImage(ctx context.Context, ref string) error {
	if _, err := c.cc.GetImage(ctx, normalizeImage(ref)); err != nil {
		return fmt.Errorf("%w: image %q is not in the engine's image store (namespace %s); build it with `hoist containerize APP` first (the local runtime pulls nothing from registries)", api.ErrNotFound, ref, c.o.Namespace)
	}
	return nil
}

// normalizeImage gives short references the docker.io form containerd
// stores them under.
func normalizeImage(ref string) string {
	first, _, _ := strings.Cut(ref, "/")
	if !strings.Contains(ref, "/") {
		return "docker.io/library/" + withTag(ref)
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + withTag(ref)
	}
	return withTag(ref)
}

func withTag(ref string) string {
	last := ref[strings.LastIndex(ref, "/")+1:]
	if strings.Contains(last, ":") || strings.Contains(last, "@") {
		return ref
	}
	return ref + ":latest"
}

// Services ---------------------------------------------------------------

func (c *Controller) applyService(ctx context.Context, in *api.Service) (*api.Service, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	td, err := c.taskDefinition(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	cd := td.ContainerDefinitions[0]
	for i, l := range in.LoadBalancers {
		if l.ContainerName != "" && l.ContainerName != cd.Name {
			return nil, fmt.Errorf("%w: loadBalancers[%d].containerName %q: task definition %s has no such container (it has %q)", api.ErrInvalid, i, l.ContainerName, td.ARN(), cd.Name)
		}
		found := false
		for _, pm := range cd.PortMappings {
			found = found || pm.ContainerPort == l.ContainerPort
		}
		if !found {
			return nil, fmt.Errorf("%w: loadBalancers[%d].containerPort %d: container %q of %s maps no such port; add it to portMappings", api.ErrInvalid, i, l.ContainerPort, cd.Name, td.ARN())
		}
	}
	for _, pm := range cd.PortMappings {
		if pm.HostPort != 0 && in.DesiredCount > 1 {
			return nil, fmt.Errorf("%w: container %q maps fixed host port %d, so only one task of it can run on this machine, but desiredCount is %d; use hostPort 0 (dynamic host ports)", api.ErrConflict, cd.Name, pm.HostPort, in.DesiredCount)
		}
	}
	if err := c.checkImage(ctx, cd.Image); err != nil {
		return nil, err
	}
	for _, sec := range cd.Secrets {
		if _, err := c.st.Secret(api.SecretName(sec.ValueFrom)); err != nil {
			return nil, fmt.Errorf("container %q secret %s: %w", cd.Name, sec.Name, err)
		}
	}
	in.TaskDefinition = td.ARN()

	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.svcs[in.ServiceName]
	now := time.Now().UTC()
	if s != nil && s.Deleting {
		return nil, fmt.Errorf("%w: service %q is being deleted; try again when `hoist runtime services` no longer lists it", api.ErrConflict, in.ServiceName)
	}
	created := s == nil
	if created {
		s = &rsvc{deleted: make(chan struct{})}
		s.Service = api.Service{ServiceName: in.ServiceName, Status: "ACTIVE", CreatedAt: now}
	}
	old := s.Service
	s.Service.DesiredCount = in.DesiredCount
	s.Service.DeploymentConfiguration = in.DeploymentConfiguration
	s.Service.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	s.Service.AutoScaling = in.AutoScaling
	s.Service.LoadBalancers = in.LoadBalancers
	// Keep the listener port a previous apply picked.
	for i := range s.Service.LoadBalancers {
		if s.Service.LoadBalancers[i].ListenerPort == 0 && i < len(old.LoadBalancers) {
			s.Service.LoadBalancers[i].ListenerPort = old.LoadBalancers[i].ListenerPort
		}
	}
	if as := in.AutoScaling; as != nil {
		s.Service.DesiredCount = max(as.MinCapacity, min(as.MaxCapacity, s.Service.DesiredCount))
	}
	if err := c.ensureLB(s); err != nil {
		if created {
			return nil, err
		}
		s.Service = old
		return nil, err
	}
	if created || old.TaskDefinition != td.ARN() {
		c.startDeployment(s, td.ARN(), "")
	}
	// A deployment counts as a scaling activity: target tracking does not
	// scale a service in before its scale-in cooldown has passed.
	s.lastIn = time.Now()
	s.Service.TaskDefinition = td.ARN()
	c.svcs[in.ServiceName] = s
	c.saveService(s)
	if created {
		c.emit(api.EventServiceAction, s.Service.ServiceName, nil, fmt.Sprintf("service %s created with %s, desired count %d", s.Service.ServiceName, td.ARN(), s.Service.DesiredCount))
	}
	c.kick()
	return c.view(s), nil
}

// startDeployment makes a new primary deployment; callers hold c.mu.
func (c *Controller) startDeployment(s *rsvc, taskDef, reason string) {
	now := time.Now().UTC()
	var deps []api.Deployment
	for _, d := range s.Service.Deployments {
		if d.Status == "PRIMARY" {
			d.Status = "ACTIVE"
			if d.RolloutState == "IN_PROGRESS" {
				d.RolloutState, d.Reason = "FAILED", "superseded by a new deployment"
			}
		}
		deps = append(deps, d)
	}
	d := api.Deployment{ID: "ecs-svc/" + newID()[:19], Status: "PRIMARY", RolloutState: "IN_PROGRESS", Reason: reason, TaskDefinition: taskDef, CreatedAt: now, UpdatedAt: now}
	s.Service.Deployments = append([]api.Deployment{d}, deps...)
	s.Service.TaskDefinition = taskDef
	s.failures, s.nextLaunch = 0, time.Time{}
	c.emit(api.EventDeploymentStateChange, s.Service.ServiceName, nil, fmt.Sprintf("SERVICE_DEPLOYMENT_IN_PROGRESS: deployment %s to %s started%s", d.ID, taskDef, prefixed(": ", reason)))
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// ensureLB creates, keeps or replaces the service's load balancer; callers
// hold c.mu.
func (c *Controller) ensureLB(s *rsvc) error {
	if len(s.Service.LoadBalancers) == 0 {
		if s.lb != nil {
			s.lb.Close()
			s.lb, s.lbKey = nil, ""
		}
		return nil
	}
	l := s.Service.LoadBalancers[0]
	cfg := lbConfig(s.Service.ServiceName, l)
	key := jsonKey(l)
	if s.lb != nil && key == s.lbKey {
		return nil
	}
	if s.lb != nil && l.ListenerPort != 0 && s.lb.Addr() == cfg.Listen {
		// Same listener, new settings: free the port first.
		s.lb.Close()
		s.lb = nil
	}
	name := s.Service.ServiceName
	cfg.Logf = c.o.Logf
	cfg.OnChange = func(id, state string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t := c.tasks[id]; t != nil && t.ServiceName == name {
			t.lbState = state
			c.updateHealth(t)
		}
	}
	if cfg.Protocol == "TCP" {
		// A network load balancer: the kernel routes its connections.
		cfg.Router = c.net.lbr
		port := l.ContainerPort
		cfg.Active = func(id string) int {
			c.mu.Lock()
			pid := 0
			if t := c.tasks[id]; t != nil {
				pid = t.PID
			}
			c.mu.Unlock()
			if pid <= 0 {
				return 0
			}
			return establishedTo(pid, port)
		}
	}
	nl, err := lb.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrConflict, err)
	}
	if s.lb != nil {
		s.lb.Close()
	}
	s.lb, s.lbKey = nl, key
	port := nl.Addr()[strings.LastIndex(nl.Addr(), ":")+1:]
	fmt.Sscan(port, &s.Service.LoadBalancers[0].ListenerPort)
	s.lbKey = jsonKey(s.Service.LoadBalancers[0])
	for _, t := range c.tasks {
		if t.ServiceName == name {
			t.inLB, t.lbState = false, ""
			if t.LastStatus == api.StatusRunning && t.DesiredStatus == api.StatusRunning {
				c.registerTarget(s, t)
			}
		}
	}
	return nil
}

func jsonKey(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func lbConfig(name string, l api.LoadBalancer) lb.Config {
	cfg := lb.Config{Name: name, Listen: fmt.Sprintf("127.0.0.1:%d", l.ListenerPort), Protocol: strings.ToUpper(l.Protocol), Deregistration: 30 * time.Second}
	if l.DeregistrationDelaySeconds != nil {
		cfg.Deregistration = time.Duration(*l.DeregistrationDelaySeconds) * time.Second
	}
	if hc := l.HealthCheck; hc != nil {
		cfg.Path = hc.Path
		cfg.MatchLo, cfg.MatchHi, _ = api.ParseMatcher(hc.Matcher)
		cfg.Interval = time.Duration(hc.IntervalMillis) * time.Millisecond
		cfg.Timeout = time.Duration(hc.TimeoutMillis) * time.Millisecond
		cfg.HealthyThreshold = hc.HealthyThresholdCount
		cfg.UnhealthyThreshold = hc.UnhealthyThresholdCount
	}
	return cfg
}

// registerTarget adds a running task to its service's load balancer;
// callers hold c.mu.
func (c *Controller) registerTarget(s *rsvc, t *rtask) {
	if s.lb == nil || t.inLB || t.IP == "" {
		return
	}
	t.inLB, t.lbState = true, lb.StateInitial
	s.lb.Register(t.TaskID, fmt.Sprintf("%s:%d", t.IP, s.Service.LoadBalancers[0].ContainerPort))
}

// view is the service as the API shows it; callers hold c.mu.
func (c *Controller) view(s *rsvc) *api.Service {
	v := s.Service
	v.Deployments = append([]api.Deployment(nil), s.Service.Deployments...)
	v.RunningCount, v.PendingCount = 0, 0
	counts := map[string]int{}
	for _, t := range c.tasks {
		if t.ServiceName != v.ServiceName || t.DesiredStatus != api.StatusRunning {
			continue
		}
		if t.LastStatus == api.StatusRunning {
			v.RunningCount++
			counts[t.DeploymentID]++
		} else {
			v.PendingCount++
		}
	}
	for i := range v.Deployments {
		v.Deployments[i].RunningCount = counts[v.Deployments[i].ID]
	}
	if s.Deleting {
		v.Status = "DRAINING"
	}
	if s.lb != nil {
		v.Endpoints = []string{strings.ToLower(strings.ToUpper(orHTTP(s.Service.LoadBalancers[0].Protocol))) + "://" + s.lb.Addr()}
	}
	return &v
}

func orHTTP(p string) string {
	if p == "" {
		return "HTTP"
	}
	return p
}

func (c *Controller) describeService(name string) (*api.Service, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.svcs[name]
	if s == nil {
		return nil, c.unknownService(name)
	}
	return c.view(s), nil
}

// unknownService names the services there are; callers hold c.mu.
func (c *Controller) unknownService(name string) error {
	var names []string
	for n := range c.svcs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("%w: service %q: the local runtime has no services (deploy one with `hoist deploy APP`)", api.ErrNotFound, name)
	}
	return fmt.Errorf("%w: service %q: the local runtime has %s", api.ErrNotFound, name, strings.Join(names, ", "))
}

func (c *Controller) listServices() []api.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []api.Service
	for _, s := range c.svcs {
		out = append(out, *c.view(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ServiceName < out[j].ServiceName })
	return out
}

func (c *Controller) scale(name string, n int) (*api.Service, error) {
	if n < 0 || n > 1000 {
		return nil, fmt.Errorf("%w: desired count %d: 0-1000", api.ErrInvalid, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.svcs[name]
	if s == nil {
		return nil, c.unknownService(name)
	}
	if s.Deleting {
		return nil, fmt.Errorf("%w: service %q is being deleted", api.ErrConflict, name)
	}
	td, err := c.taskDefinition(s.Service.TaskDefinition)
	if err == nil {
		for _, pm := range td.ContainerDefinitions[0].PortMappings {
			if pm.HostPort != 0 && n > 1 {
				return nil, fmt.Errorf("%w: service %q maps fixed host port %d: only one task can run on this machine", api.ErrConflict, name, pm.HostPort)
			}
		}
	}
	if s.Service.DesiredCount != n {
		c.emit(api.EventServiceAction, name, nil, fmt.Sprintf("desired count of %s set from %d to %d", name, s.Service.DesiredCount, n))
	}
	s.Service.DesiredCount = n
	c.saveService(s)
	c.kick()
	return c.view(s), nil
}

func (c *Controller) deleteService(ctx context.Context, name string) error {
	c.mu.Lock()
	s := c.svcs[name]
	if s == nil {
		err := c.unknownService(name)
		c.mu.Unlock()
		return err
	}
	if !s.Deleting {
		s.Deleting = true
		s.Service.DesiredCount = 0
		c.saveService(s)
		c.emit(api.EventServiceAction, name, nil, fmt.Sprintf("service %s is being deleted: draining its tasks", name))
	}
	deleted := s.deleted
	c.mu.Unlock()
	c.kick()
	select {
	case <-deleted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tasks -------------------------------------------------------------------

func (c *Controller) listTasks(service string, stopped bool) ([]api.Task, error) {
	c.mu.Lock()
	if service != "" && c.svcs[service] == nil {
		err := c.unknownService(service)
		c.mu.Unlock()
		return nil, err
	}
	var out []api.Task
	seen := map[string]bool{}
	for _, t := range c.tasks {
		if service == "" || t.ServiceName == service {
			out = append(out, t.Task)
			seen[t.TaskID] = true
		}
	}
	c.mu.Unlock()
	if stopped {
		all, err := store.List[api.Task](c.st, store.Tasks)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			if !seen[t.TaskID] && (service == "" || t.ServiceName == service) {
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].CreatedAt.Before(out[j].CreatedAt)
	})
	return out, nil
}

// findTask finds a task by ID or unique ID prefix.
func (c *Controller) findTask(id string) (*api.Task, error) {
	c.mu.Lock()
	var hits []*rtask
	for tid, t := range c.tasks {
		if tid == id || (len(id) >= 4 && strings.HasPrefix(tid, id)) {
			hits = append(hits, t)
		}
	}
	if len(hits) == 1 {
		t := hits[0].Task
		c.mu.Unlock()
		return &t, nil
	}
	c.mu.Unlock()
	if len(hits) > 1 {
		return nil, fmt.Errorf("%w: task ID prefix %q matches %d tasks; give more of it", api.ErrInvalid, id, len(hits))
	}
	var t api.Task
	if err := c.st.Get(store.Tasks, id, &t); err == nil {
		return &t, nil
	}
	all, _ := store.List[api.Task](c.st, store.Tasks)
	for _, t := range all {
		if len(id) >= 4 && strings.HasPrefix(t.TaskID, id) {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%w: task %q (list tasks with `hoist runtime ps`)", api.ErrNotFound, id)
}

func (c *Controller) stopTaskByID(id, reason string) (*api.Task, error) {
	found, err := c.findTask(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tasks[found.TaskID]
	if t == nil {
		return found, nil // already stopped
	}
	if reason == "" {
		reason = "Task stopped by user"
	}
	c.stopTask(t, api.StopUserInitiated, reason)
	return &t.Task, nil
}

// newTask records a task about to start; callers hold c.mu.
func (c *Controller) newTask(td *api.TaskDefinition, service, deployment, startedBy string) *rtask {
	group := "family:" + td.Family
	if service != "" {
		group = "service:" + service
	}
	t := &rtask{td: td, done: make(chan struct{})}
	t.Task = api.Task{
		TaskID: newID(), Group: group, ServiceName: service, DeploymentID: deployment, TaskDefinition: td.ARN(),
		LastStatus: api.StatusProvisioning, DesiredStatus: api.StatusRunning, HealthStatus: api.HealthUnknown,
		StartedBy: startedBy, CreatedAt: time.Now().UTC(),
	}
	c.tasks[t.TaskID] = t
	c.saveTask(t)
	c.taskEvent(t)
	c.launching.Add(1)
	go func() {
		defer c.launching.Done()
		// A few starts at a time: a hundred at once (a large service, a
		// deployment) would only make containerd and the CNI plugins time
		// out.
		c.startSlots <- struct{}{}
		defer func() { <-c.startSlots }()
		c.start(t)
	}()
	return t
}

func (c *Controller) runTask(ctx context.Context, in *api.RunTaskInput) ([]api.Task, error) {
	td, err := c.taskDefinition(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if in.Count == 0 {
		in.Count = 1
	}
	if in.Count < 0 || in.Count > 100 {
		return nil, fmt.Errorf("%w: count %d: 1-100", api.ErrInvalid, in.Count)
	}
	if err := c.checkImage(ctx, td.ContainerDefinitions[0].Image); err != nil {
		return nil, err
	}
	if in.StartedBy == "" {
		in.StartedBy = "hoist runtime run-task"
	}
	c.mu.Lock()
	var ts []*rtask
	for range in.Count {
		ts = append(ts, c.newTask(td, "", "", in.StartedBy))
	}
	c.mu.Unlock()
	if in.Wait {
		for _, t := range ts {
			select {
			case <-t.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []api.Task
	for _, t := range ts {
		out = append(out, t.Task)
	}
	return out, nil
}

// Reconciliation ------------------------------------------------------------

func (c *Controller) reconcileLoop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.kickc:
		}
		if c.purging.Load() {
			continue
		}
		c.mu.Lock()
		for _, s := range c.svcs {
			c.reconcile(s)
		}
		c.mu.Unlock()
	}
}

// reconcile moves one service towards its desired state, ECS-style;
// callers hold c.mu.
func (c *Controller) reconcile(s *rsvc) {
	name := s.Service.ServiceName
	now := time.Now()
	grace := time.Duration(s.Service.HealthCheckGracePeriodSeconds) * time.Second
	var live []*rtask
	for _, t := range c.tasks {
		if t.ServiceName != name || t.DesiredStatus != api.StatusRunning {
			continue
		}
		// Unhealthy tasks past their grace period are replaced.
		if t.HealthStatus == api.HealthUnhealthy && now.Sub(t.StartedAt) >= grace {
			reason := "Task failed container health checks"
			if t.lbState == lb.StateUnhealthy {
				reason = fmt.Sprintf("Task failed ELB health checks in (target-group %s)", name)
			}
			t.failed = t.HealthyAt.IsZero()
			c.stopTask(t, api.StopServiceSchedulerInitiated, reason)
			continue
		}
		live = append(live, t)
	}
	if s.Deleting {
		if len(live) == 0 && !c.hasTasks(name) {
			if s.lb != nil {
				s.lb.Close()
				s.lb = nil
			}
			delete(c.svcs, name)
			_ = c.st.Delete(store.Services, name)
			c.emit(api.EventServiceAction, name, nil, fmt.Sprintf("service %s deleted", name))
			close(s.deleted)
			return
		}
		for _, t := range live {
			c.stopTask(t, api.StopServiceSchedulerInitiated, "Scaling activity initiated by (deployment) service deleted")
		}
		return
	}
	if len(s.Service.Deployments) == 0 {
		return
	}
	primary := &s.Service.Deployments[0]
	var fresh, old []*rtask
	healthy := 0
	for _, t := range live {
		if t.DeploymentID == primary.ID {
			fresh = append(fresh, t)
		} else {
			old = append(old, t)
		}
		if t.HealthStatus == api.HealthHealthy {
			healthy++
		}
	}
	n := s.Service.DesiredCount
	maxTotal := n * s.Service.MaxPercent() / 100
	if maxTotal < n {
		maxTotal = n
	}
	minHealthy := int(math.Ceil(float64(n) * float64(s.Service.MinHealthy()) / 100))

	// Circuit breaker: a deployment whose tasks keep failing is stopped.
	if primary.RolloutState == "IN_PROGRESS" {
		threshold := min(200, max(3, int(math.Ceil(float64(n)/2))))
		if cb := s.Service.DeploymentConfiguration; cb != nil && cb.CircuitBreaker != nil && cb.CircuitBreaker.Enable && primary.FailedTasks >= threshold {
			primary.RolloutState = "FAILED"
			primary.Reason = fmt.Sprintf("ECS deployment circuit breaker: %d tasks failed to become healthy (threshold %d)", primary.FailedTasks, threshold)
			primary.UpdatedAt = now.UTC()
			c.emit(api.EventDeploymentStateChange, name, nil, "SERVICE_DEPLOYMENT_FAILED: "+primary.Reason)
			if cb.CircuitBreaker.Rollback && s.LastGood != "" && s.LastGood != primary.TaskDefinition {
				c.startDeployment(s, s.LastGood, "rolling back to "+s.LastGood+" after deployment "+primary.ID+" failed")
			}
			c.saveService(s)
			return
		}
	}
	launchable := primary.RolloutState != "FAILED" && now.After(s.nextLaunch)

	// Stop surplus tasks of the primary deployment (scale in): pending and
	// unhealthy first, then the newest.
	if len(fresh) > n {
		sort.Slice(fresh, func(i, j int) bool { return stopOrder(fresh[i], fresh[j]) })
		for _, t := range fresh[:len(fresh)-n] {
			c.stopTask(t, api.StopServiceSchedulerInitiated, "Scaling activity initiated by (deployment "+primary.ID+")")
		}
		fresh = fresh[len(fresh)-n:]
	}
	// Launch new tasks within maximumPercent.
	if want := n - len(fresh); want > 0 && launchable {
		room := maxTotal - len(fresh) - len(old)
		for range min(want, room) {
			td, err := c.taskDefinition(primary.TaskDefinition)
			if err != nil {
				c.o.Logf("control plane: service %s: %v", name, err)
				break
			}
			fresh = append(fresh, c.newTask(td, name, primary.ID, "ecs-svc/"+name))
		}
	}
	// Stop old tasks while minimumHealthyPercent allows: unhealthy ones at
	// once, healthy ones while enough others are healthy.
	freshHealthy := 0
	for _, t := range fresh {
		if t.HealthStatus == api.HealthHealthy {
			freshHealthy++
		}
	}
	sort.Slice(old, func(i, j int) bool { return stopOrder(old[i], old[j]) })
	for _, t := range old {
		if t.HealthStatus != api.HealthHealthy {
			c.stopTask(t, api.StopServiceSchedulerInitiated, "Replaced by deployment "+primary.ID)
			continue
		}
		if freshHealthy >= n || healthy-1 >= minHealthy {
			healthy--
			c.stopTask(t, api.StopServiceSchedulerInitiated, "Replaced by deployment "+primary.ID)
		}
	}
	// Deployment progress.
	oldLeft := false
	for _, t := range c.tasks {
		if t.ServiceName == name && t.DeploymentID != primary.ID {
			oldLeft = true
		}
	}
	if primary.RolloutState == "IN_PROGRESS" && freshHealthy >= n && len(fresh) == n && !oldLeft {
		primary.RolloutState, primary.UpdatedAt = "COMPLETED", now.UTC()
		if primary.Reason == "" {
			primary.Reason = "ECS deployment completed"
		}
		s.LastGood = primary.TaskDefinition
		c.emit(api.EventDeploymentStateChange, name, nil, fmt.Sprintf("SERVICE_DEPLOYMENT_COMPLETED: deployment %s to %s completed", primary.ID, primary.TaskDefinition))
		c.saveService(s)
	}
	if !oldLeft && len(s.Service.Deployments) > 1 {
		s.Service.Deployments = s.Service.Deployments[:1]
		c.saveService(s)
	}
}

func (c *Controller) hasTasks(service string) bool {
	for _, t := range c.tasks {
		if t.ServiceName == service {
			return true
		}
	}
	return false
}

// stopOrder sorts tasks to stop first to the front.
func stopOrder(a, b *rtask) bool {
	ra, rb := stopRank(a), stopRank(b)
	if ra != rb {
		return ra < rb
	}
	return a.CreatedAt.After(b.CreatedAt)
}

func stopRank(t *rtask) int {
	switch {
	case t.LastStatus != api.StatusRunning:
		return 0
	case t.HealthStatus != api.HealthHealthy:
		return 1
	}
	return 2
}

// taskFailed counts a task that stopped without becoming healthy against
// its service: crash-loop back-off and the circuit breaker; callers hold
// c.mu.
func (c *Controller) taskFailed(t *rtask) {
	s := c.svcs[t.ServiceName]
	if s == nil {
		return
	}
	s.failures++
	delay := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(s.failures-1)), float64(5*time.Minute)))
	s.nextLaunch = time.Now().Add(delay)
	for i := range s.Service.Deployments {
		if s.Service.Deployments[i].ID == t.DeploymentID {
			s.Service.Deployments[i].FailedTasks++
		}
	}
	c.saveService(s)
	if s.failures > 1 {
		c.emit(api.EventServiceAction, s.Service.ServiceName, nil, fmt.Sprintf("SERVICE_TASK_START_IMPAIRED: %d tasks in a row failed to become healthy; next start in %s", s.failures, delay.Round(time.Second)))
	}
}

func (c *Controller) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(5 * time.Minute)
	defer tick.Stop()
	for {
		c.prune()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// prune forgets stopped tasks an hour after they stopped (as ECS does) and
// keeps the newest 100000 events.
func (c *Controller) prune() {
	all, err := store.List[api.Task](c.st, store.Tasks)
	if err != nil {
		return
	}
	for _, t := range all {
		if t.LastStatus == api.StatusStopped && time.Since(t.StoppedAt) > time.Hour {
			_ = c.st.Delete(store.Tasks, t.TaskID)
			_ = os.Remove(c.logPath(t.TaskID))
		}
	}
	_ = c.st.PruneEvents(100000)
}

func (c *Controller) logPath(id string) string {
	return filepath.Join(c.o.DataDir, "runtime", "logs", id+".log")
}

var errPurged = errors.New("purged")
