package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"

	"github.com/hoistctl/hoist/runtime/api"
	"github.com/hoistctl/hoist/runtime/schedule"
	"github.com/hoistctl/hoist/runtime/store"
)

func (c *Controller) putSchedule(ctx context.Context, s *api.Schedule) (*api.Schedule, error) {
	if !nameOK(s.Name) {
		return nil, fmt.Errorf("%w: schedule name %q: use letters, digits, '-' and '_'", api.ErrInvalid, s.Name)
	}
	expr, err := schedule.Parse(s.Expression)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	td, err := c.taskDefinition(s.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if err := c.checkImage(ctx, td.ContainerDefinitions[0].Image); err != nil {
		return nil, err
	}
	if s.TaskCount < 0 || s.TaskCount > 100 {
		return nil, fmt.Errorf("%w: taskCount %d: 1-100", api.ErrInvalid, s.TaskCount)
	}
	s.NextRun = expr.Next(time.Now())
	if err := c.st.Put(store.Schedules, s.Name, s); err != nil {
		return nil, err
	}
	return s, nil
}

func nameOK(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// scheduleLoop fires scheduled tasks and scheduled scaling actions. A
// firing missed while the runtime was down is not made up for (as
// EventBridge does not retry a schedule whose target was down for long).
func (c *Controller) scheduleLoop(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastScaling := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c.purging.Load() {
			continue
		}
		now := time.Now()
		scheds, _ := store.List[api.Schedule](c.st, store.Schedules)
		for _, s := range scheds {
			if s.Enabled != nil && !*s.Enabled {
				continue
			}
			expr, err := schedule.Parse(s.Expression)
			if err != nil || s.NextRun.IsZero() || now.Before(s.NextRun) {
				continue
			}
			s.LastRun = now.UTC()
			s.NextRun = expr.Next(now)
			_ = c.st.Put(store.Schedules, s.Name, s)
			count := max(s.TaskCount, 1)
			if _, err := c.runTask(ctx, &api.RunTaskInput{TaskDefinition: s.TaskDefinition, Count: count, StartedBy: "schedule/" + s.Name}); err != nil {
				c.mu.Lock()
				c.emit(api.EventServiceAction, "", nil, fmt.Sprintf("schedule %s could not run %s: %v", s.Name, s.TaskDefinition, err))
				c.mu.Unlock()
			}
		}
		// Scheduled scaling actions that fell due since the last look.
		c.mu.Lock()
		for _, s := range c.svcs {
			as := s.Service.AutoScaling
			if as == nil || s.Deleting {
				continue
			}
			for _, sc := range as.Scheduled {
				expr, err := schedule.Parse(sc.Schedule)
				if err != nil {
					continue
				}
				if n := expr.Next(lastScaling); n.IsZero() || n.After(now) {
					continue
				}
				if sc.MinCapacity != nil {
					as.MinCapacity = *sc.MinCapacity
				}
				if sc.MaxCapacity != nil {
					as.MaxCapacity = *sc.MaxCapacity
				}
				as.MaxCapacity = max(as.MaxCapacity, as.MinCapacity)
				old := s.Service.DesiredCount
				s.Service.DesiredCount = max(as.MinCapacity, min(as.MaxCapacity, old))
				c.emit(api.EventServiceAction, s.Service.ServiceName, nil, fmt.Sprintf("scheduled action %s: capacity %d-%d, desired count %d -> %d", sc.Name, as.MinCapacity, as.MaxCapacity, old, s.Service.DesiredCount))
				c.saveService(s)
				c.kick()
			}
		}
		c.mu.Unlock()
		lastScaling = now
	}
}

// scaleLoop is target tracking: it samples the tasks' cgroups (through
// containerd's metrics) and moves the desired count so the service's
// average utilization approaches the target, within min/max capacity and
// honouring the cooldowns.
func (c *Controller) scaleLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c.purging.Load() {
			continue
		}
		c.mu.Lock()
		var ts []*rtask
		for _, t := range c.tasks {
			if s := c.svcs[t.ServiceName]; s != nil && s.Service.AutoScaling != nil && len(s.Service.AutoScaling.TargetTracking) > 0 && t.ctask != nil && t.LastStatus == api.StatusRunning {
				ts = append(ts, t)
			}
		}
		c.mu.Unlock()
		for _, t := range ts {
			c.sample(ctx, t)
		}
		c.mu.Lock()
		for _, s := range c.svcs {
			c.track(s)
		}
		c.mu.Unlock()
	}
}

// sample reads one task's CPU and memory use.
func (c *Controller) sample(ctx context.Context, t *rtask) {
	m, err := t.ctask.Metrics(ctx)
	if err != nil {
		return
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return
	}
	var cpuNS, memBytes uint64
	switch s := v.(type) {
	case *cg1.Metrics:
		cpuNS = s.GetCPU().GetUsage().GetTotal()
		memBytes = s.GetMemory().GetUsage().GetUsage()
		if inactive := s.GetMemory().GetTotalInactiveFile(); inactive < memBytes {
			memBytes -= inactive
		}
	case *cg2.Metrics:
		cpuNS = s.GetCPU().GetUsageUsec() * 1000
		memBytes = s.GetMemory().GetUsage()
		if inactive := s.GetMemory().GetInactiveFile(); inactive < memBytes {
			memBytes -= inactive
		}
	default:
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Utilization is against what the task definition reserves: its CPU
	// units (one CPU when unset) and its memory limit.
	cpus := float64(t.td.CPUUnits()) / 1024
	if cpus == 0 {
		cpus = float64(max(t.td.ContainerDefinitions[0].Cpu, 1024)) / 1024
	}
	if !t.lastTime.IsZero() && cpuNS >= t.lastCPU {
		t.cpuPct = float64(cpuNS-t.lastCPU) / float64(now.Sub(t.lastTime).Nanoseconds()) / cpus * 100
	}
	t.lastCPU, t.lastTime = cpuNS, now
	if lim := memoryLimit(t.td); lim > 0 {
		t.memPct = float64(memBytes) / float64(uint64(lim)<<20) * 100
	}
}

// Target tracking: a task's use counts once it has been healthy for
// scaleWarmup; the service scales out when scaleOutPoints evaluations in
// a row (one a second) want more tasks, in when scaleInPoints want fewer.
const (
	scaleWarmup    = 10 * time.Second
	scaleOutPoints = 3
	scaleInPoints  = 15
)

// track applies target tracking to one service; callers hold c.mu.
func (c *Controller) track(s *rsvc) {
	as := s.Service.AutoScaling
	if as == nil || len(as.TargetTracking) == 0 || s.Deleting {
		return
	}
	var n int
	var cpu, mem float64
	now := time.Now()
	for _, t := range c.tasks {
		// A task counts once it has been healthy for the warm-up: a
		// starting JVM or server keeps its CPU busy (class loading, JIT
		// compiling) for a while after its first answer, which is not
		// load; counted, each new task would start another.
		if t.ServiceName == s.Service.ServiceName && t.DesiredStatus == api.StatusRunning && t.LastStatus == api.StatusRunning && !t.lastTime.IsZero() &&
			!t.HealthyAt.IsZero() && now.Sub(t.HealthyAt) >= scaleWarmup {
			n++
			cpu += t.cpuPct
			mem += t.memPct
		}
	}
	if n == 0 {
		s.outStreak, s.inStreak = 0, 0
		return
	}
	cpu, mem = cpu/float64(n), mem/float64(n)
	cur := s.Service.DesiredCount
	// Each policy proposes a count; the largest wins (as in AWS, scale out
	// if any policy wants to, scale in only if all do).
	want := -1
	var why string
	for _, tt := range as.TargetTracking {
		v := cpu
		if tt.Metric == api.MetricMemory {
			v = mem
		}
		d := int(math.Ceil(float64(cur) * v / tt.TargetValue))
		if d < cur && v > tt.TargetValue*0.9 {
			d = cur // a margin below the target before scaling in
		}
		if d > want {
			want, why = d, fmt.Sprintf("%s %.1f%% against target %.1f%%", tt.Metric, v, tt.TargetValue)
		}
	}
	want = max(as.MinCapacity, min(as.MaxCapacity, want))
	// Like the alarms target tracking makes (3 datapoints above the target
	// to scale out, 15 below it to scale in), at one datapoint a second.
	switch {
	case want > cur:
		s.outStreak, s.inStreak = s.outStreak+1, 0
	case want < cur:
		s.outStreak, s.inStreak = 0, s.inStreak+1
	default:
		s.outStreak, s.inStreak = 0, 0
	}
	if (want > cur && s.outStreak < scaleOutPoints) || (want < cur && s.inStreak < scaleInPoints) {
		return
	}
	outCool, inCool := 60*time.Second, 300*time.Second
	if len(as.TargetTracking) > 0 {
		outCool = time.Duration(as.TargetTracking[0].ScaleOutCooldown) * time.Second
		inCool = time.Duration(as.TargetTracking[0].ScaleInCooldown) * time.Second
	}
	switch {
	case want > cur && now.Sub(s.lastOut) >= outCool:
		s.lastOut = now
	case want < cur && now.Sub(s.lastIn) >= inCool && now.Sub(s.lastOut) >= inCool:
		s.lastIn = now
	default:
		return
	}
	s.outStreak, s.inStreak = 0, 0
	c.emit(api.EventServiceAction, s.Service.ServiceName, nil, fmt.Sprintf("target tracking: desired count %d -> %d (%s)", cur, want, why))
	s.Service.DesiredCount = want
	c.saveService(s)
	c.kick()
}

// webhookLoop delivers every event, in order and at least once, to each
// webhook; the delivered position is stored, so a restart loses none.
func (c *Controller) webhookLoop(ctx context.Context) {
	hc := &http.Client{Timeout: 5 * time.Second}
	backoff := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.hookc:
		case <-time.After(time.Second):
		}
		hooks, _ := store.List[api.Webhook](c.st, store.Webhooks)
		for _, h := range hooks {
			if time.Now().Before(backoff[h.URL]) {
				continue
			}
			evs, err := c.st.EventsSince(h.Delivered, 100)
			if err != nil || len(evs) == 0 {
				continue
			}
			for _, e := range evs {
				data, _ := json.Marshal(e)
				req, _ := http.NewRequestWithContext(ctx, "POST", h.URL, bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode >= 300 {
					backoff[h.URL] = time.Now().Add(2 * time.Second)
					break
				}
				h.Delivered = e.Seq
			}
			// Only if the hook still exists.
			var cur api.Webhook
			if c.st.Get(store.Webhooks, h.URL, &cur) == nil {
				_ = c.st.Put(store.Webhooks, h.URL, h)
			}
			if len(evs) == 100 {
				select {
				case c.hookc <- struct{}{}:
				default:
				}
			}
		}
	}
}
