package containerize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/netns"
	"github.com/containerd/containerd/v2/pkg/oci"
	cnins "github.com/containernetworking/plugins/pkg/ns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"

	"github.com/hoistctl/hoist/discover"
)

// ErrValidation is returned (wrapped) when the built image does not start
// or does not answer on its ports.
var ErrValidation = errors.New("the image did not pass its validation run")

// ValidateOptions says where and how to run the image once.
type ValidateOptions struct {
	// ContainerdAddr and Namespace name the engine's containerd.
	ContainerdAddr string
	Namespace      string
	// NetnsDir is where the run's network namespace is mounted.
	NetnsDir string
	// Timeout bounds the wait for the app to answer (default 2 minutes).
	Timeout time.Duration
	// Poll is how often the ports are tried (default 100ms).
	Poll time.Duration
	// Secrets maps secret references to values, for the environment the
	// container gets (never written anywhere).
	Secrets discover.Secrets
	// LogPath receives the container's output, with secret values masked.
	LogPath string
	Logf    func(string, ...any)
	// Check, when set, runs once the app is ready, with an HTTP client
	// whose connections are made inside the container's network
	// namespace (so 127.0.0.1 is the container's loopback).
	Check func(ctx context.Context, client *http.Client) error
}

// Validation is the outcome of a validation run.
type Validation struct {
	// Passed is set when every TCP port answered (and the health check
	// path, when there is one, gave a status below 500).
	Passed bool `json:"passed"`
	// Ports are the checks, in port order.
	Ports []PortCheck `json:"ports"`
	// StartToReady is the time from the task's creation to the last port
	// answering (and the health check path answering, when there is one).
	StartToReady time.Duration `json:"startToReadyNs"`
	// Created is the part of StartToReady spent creating the task
	// (containerd's shim and runc create: namespaces, mounts, cgroups)
	// before the app's process could start.
	Created time.Duration `json:"createdNs,omitempty"`
	Log     string        `json:"log,omitempty"`
}

// PortCheck is one port's result.
type PortCheck struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Result   string `json:"result"`
}

// Validate starts the image once in a private network namespace (only a
// loopback there, so the app's ports cannot clash with the host's — the
// original process may still hold them), waits until the app accepts
// connections on each of its TCP ports and answers its health check, and
// removes everything it created.
func Validate(ctx context.Context, a *discover.Analysis, image string, uses []SecretUse, o ValidateOptions) (*Validation, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	env, masks, err := secretEnv(uses, o.Secrets)
	if err != nil {
		return nil, err
	}
	cc, err := containerd.New(o.ContainerdAddr, containerd.WithDefaultNamespace(o.Namespace))
	if err != nil {
		return nil, fmt.Errorf("validation run: connecting to containerd at %s: %w", o.ContainerdAddr, discover.ErrUnavailable)
	}
	defer cc.Close()
	img, err := cc.GetImage(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("validation run: image %s: %w", image, err)
	}
	if err := os.MkdirAll(o.NetnsDir, 0o700); err != nil {
		return nil, err
	}
	ns, err := netns.NewNetNS(o.NetnsDir)
	if err != nil {
		return nil, fmt.Errorf("validation run: creating a network namespace: %w", err)
	}
	defer ns.Remove()
	if err := ns.Do(func(cnins.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		return nil, fmt.Errorf("validation run: bringing up loopback: %w", err)
	}

	name := "hoist-validate-" + a.ID + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	ctr, err := cc.NewContainer(ctx, name,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(name, img),
		containerd.WithNewSpec(oci.WithImageConfig(img),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.GetPath()}),
			oci.WithHostname("hoist-validate"),
			oci.WithEnv(env)))
	if err != nil {
		return nil, fmt.Errorf("validation run: creating the container: %w", err)
	}
	// Clean up with a context of its own: ctx may be cancelled by now.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = ctr.Delete(cctx, containerd.WithSnapshotCleanup)
	}()
	out := &tailBuffer{max: 256 << 10}
	// The start counts from the task's creation (runc sets the container
	// up there), as a user starting the container would see it.
	start := time.Now()
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return nil, fmt.Errorf("validation run: creating the task: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = task.Delete(cctx, containerd.WithProcessKill)
	}()
	created := time.Since(start)
	exited, err := task.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := task.Start(ctx); err != nil {
		return nil, fmt.Errorf("validation run: starting the app: %w", err)
	}
	o.Logf("validation run: started %s in its own network namespace (task created in %s, started %s later); waiting for its ports",
		image, created.Round(time.Millisecond), (time.Since(start) - created).Round(time.Millisecond))

	v := &Validation{Created: created}
	ports := append([]discover.ExposedPort(nil), a.ContainerParameters.Ports...)
	sort.Slice(ports, func(i, j int) bool { return ports[i].Port < ports[j].Port })
	hc := a.ContainerParameters.HealthCheck
	pending := map[int]bool{}
	for _, p := range ports {
		if p.Protocol == "udp" {
			v.Ports = append(v.Ports, PortCheck{Port: p.Port, Protocol: "udp", Result: "not checked (UDP has no handshake)"})
			continue
		}
		pending[p.Port] = true
	}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func(cnins.NetNS) error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(dctx, network, addr)
			return err
		})
		return c, err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	deadline := time.NewTimer(o.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	var healthResult string
	for {
		for port := range pending {
			c, err := dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			c.Close()
			delete(pending, port)
		}
		if len(pending) == 0 && hc.Path != "" && healthResult == "" {
			port := hc.Port
			if port == 0 && len(ports) > 0 {
				port = ports[0].Port
			}
			resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + hc.Path)
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				if resp.StatusCode < 500 {
					healthResult = fmt.Sprintf("GET %s: %s", hc.Path, resp.Status)
				}
			}
		}
		if len(pending) == 0 && (hc.Path == "" || healthResult != "") {
			v.StartToReady = time.Since(start)
			v.Passed = true
			break
		}
		select {
		case st := <-exited:
			code, _, _ := st.Result()
			drain(task)
			v.Log = mask(out.String(), masks)
			writeLog(o.LogPath, v.Log)
			return v, fmt.Errorf("%w: the app exited with code %d before it answered on %s; its output is in %s:\n%s", ErrValidation, code, portList(pending), o.LogPath, lastLines(v.Log, 15))
		case <-deadline.C:
			v.Log = mask(out.String(), masks)
			writeLog(o.LogPath, v.Log)
			what := portList(pending)
			if len(pending) == 0 {
				what = "its health check path " + hc.Path
			}
			return v, fmt.Errorf("%w: no answer on %s within %s; its output is in %s (fix containerParameters in analysis.json, or skip with --no-validate):\n%s", ErrValidation, what, o.Timeout, o.LogPath, lastLines(v.Log, 15))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	var checkErr error
	if o.Check != nil {
		checkErr = o.Check(ctx, client)
	}
	for _, p := range ports {
		if p.Protocol != "udp" {
			r := "accepts connections"
			if hc.Path != "" && (hc.Port == p.Port || (hc.Port == 0 && p.Port == ports[0].Port)) {
				r += "; " + healthResult
			}
			v.Ports = append(v.Ports, PortCheck{Port: p.Port, Protocol: "tcp", Result: r})
		}
	}
	sort.Slice(v.Ports, func(i, j int) bool { return v.Ports[i].Port < v.Ports[j].Port })
	_ = task.Kill(ctx, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
	drain(task)
	v.Log = mask(out.String(), masks)
	writeLog(o.LogPath, v.Log)
	if checkErr != nil {
		v.Passed = false
		return v, fmt.Errorf("%w: %v; the app's output is in %s", ErrValidation, checkErr, o.LogPath)
	}
	o.Logf("validation run: the app answered after %s", v.StartToReady.Round(time.Millisecond))
	return v, nil
}

// secretEnv is the environment that carries the secrets into the
// container, and the values to mask in its output.
func secretEnv(uses []SecretUse, vals discover.Secrets) ([]string, []string, error) {
	var env, masks, missing []string
	for _, u := range uses {
		v, ok := vals[u.Ref]
		if !ok {
			missing = append(missing, u.Ref)
			continue
		}
		env = append(env, u.Env+"="+v)
		if v != "" {
			masks = append(masks, v)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("validation run: the secrets file has no value for %s; run `hoist analyze` again on the source host, or skip with --no-validate", strings.Join(missing, ", "))
	}
	sort.Slice(masks, func(i, j int) bool { return len(masks[i]) > len(masks[j]) })
	return env, masks, nil
}

func mask(s string, masks []string) string {
	for _, m := range masks {
		s = strings.ReplaceAll(s, m, "********")
	}
	return s
}

func writeLog(p, s string) {
	if p == "" {
		return
	}
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	_ = os.WriteFile(p, []byte(s), 0o644)
}

func portList(pending map[int]bool) string {
	var ps []int
	for p := range pending {
		ps = append(ps, p)
	}
	sort.Ints(ps)
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Itoa(p)+"/tcp")
	}
	if len(s) == 0 {
		return "its ports"
	}
	return "port " + strings.Join(s, ", ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// drain waits (briefly) until the container's output has been copied.
func drain(task containerd.Task) {
	done := make(chan struct{})
	go func() {
		if io := task.IO(); io != nil {
			io.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// ValidationPath is APP/containerize/validation.json, the outcome of the
// last validation run (without the log, which is validate.log).
func ValidationPath(ws discover.Workspace, id string) string {
	return filepath.Join(Dir(ws, id), "validation.json")
}

// WriteValidation records a validation run's outcome for the report.
func WriteValidation(ws discover.Workspace, id string, v *Validation) error {
	if v == nil {
		return nil
	}
	c := *v
	c.Log = ""
	data, err := discover.MarshalJSON(&c)
	if err != nil {
		return err
	}
	return discover.WriteFileAtomic(ValidationPath(ws, id), data, 0o644)
}
