package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/netns"
	gocni "github.com/containerd/go-cni"

	"github.com/hoistctl/hoist/runtime/api"
)

// network gives each task its own network namespace on hoist's bridge,
// made by Debian's CNI plugins (bridge + host-local, loopback), with host
// ports on 127.0.0.1 mapped to the task's ports by hostPorts.
type network struct {
	opts Options
	// bridge is the CNI network attach sets up before a task starts and
	// teardown removes. The host ports are mapped by mapPorts while the
	// task starts: nothing in the task needs them.
	bridge gocni.CNI
	// legacy is the network of tasks started by hoist before hostPorts
	// (bridge with ipMasq, then portmap): teardown removes theirs with it.
	legacy  gocni.CNI
	hp      *hostPorts
	lbr     *lbRouter
	mu      sync.Mutex
	ports   map[int]string // host port -> task ID
	netName string
}

func newNetwork(o Options) (*network, error) {
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(o.CNIPluginDir, p)); err != nil {
			return nil, fmt.Errorf("CNI plugin %s not found in %s: install Debian's containernetworking-plugins (apt-get install containernetworking-plugins) or pass --cni-plugin-dir", p, o.CNIPluginDir)
		}
	}
	if _, _, err := net.ParseCIDR(o.Subnet); err != nil {
		return nil, fmt.Errorf("task subnet %q: %w", o.Subnet, err)
	}
	n := &network{opts: o, ports: map[int]string{}, netName: "hoist-" + o.Bridge, hp: newHostPorts(o.Bridge, o.Subnet)}
	n.lbr = &lbRouter{h: n.hp, jumped: map[int]bool{}}
	// The subnet is masqueraded by one rule of hostPorts, not by a chain
	// per task (the plugin's ipMasq).
	bridge := map[string]any{
		"type": "bridge", "bridge": o.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": o.Subnet}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(o.DataDir, "cni"),
		},
	}
	load := func(plugins ...any) (gocni.CNI, error) {
		data, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": n.netName, "plugins": plugins})
		c, err := gocni.New(gocni.WithPluginDir([]string{o.CNIPluginDir}), gocni.WithInterfacePrefix("eth"), gocni.WithMinNetworkCount(2))
		if err != nil {
			return nil, err
		}
		if err := c.Load(gocni.WithConfListBytes(data), gocni.WithLoNetwork); err != nil {
			return nil, fmt.Errorf("loading the CNI configuration: %w", err)
		}
		return c, nil
	}
	var err error
	if n.bridge, err = load(bridge); err != nil {
		return nil, err
	}
	legacy := maps.Clone(bridge)
	legacy["ipMasq"] = true
	portmap := map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true}
	if n.legacy, err = load(legacy, portmap); err != nil {
		return nil, err
	}
	if err := n.hp.setup(); err != nil {
		return nil, err
	}
	return n, nil
}

// reserve allocates the host ports of a task's port mappings: fixed ones
// must be free, 0 gets a free port.
func (n *network) reserve(taskID string, pms []api.PortMapping) ([]api.Binding, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []api.Binding
	release := func() {
		for _, b := range out {
			delete(n.ports, b.HostPort)
		}
	}
	for _, pm := range pms {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		hp := pm.HostPort
		if hp != 0 {
			if owner, ok := n.ports[hp]; ok {
				release()
				return nil, fmt.Errorf("%w: host port %d is already taken by task %s; use hostPort 0 (dynamic) so several tasks can run side by side", api.ErrConflict, hp, owner)
			}
			if err := portFree(proto, hp); err != nil {
				release()
				return nil, fmt.Errorf("%w: host port %d is in use on this machine (%v); use hostPort 0 (dynamic) or free the port", api.ErrConflict, hp, err)
			}
		} else {
			var err error
			for range 20 {
				hp, err = freePort(proto)
				if err == nil && n.ports[hp] == "" {
					break
				}
			}
			if err != nil {
				release()
				return nil, fmt.Errorf("allocating a host port: %w", err)
			}
		}
		n.ports[hp] = taskID
		out = append(out, api.Binding{ContainerPort: pm.ContainerPort, HostPort: hp, Protocol: proto})
	}
	return out, nil
}

// claim records the ports of an adopted task.
func (n *network) claim(taskID string, bs []api.Binding) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range bs {
		n.ports[b.HostPort] = taskID
	}
}

func (n *network) release(bs []api.Binding) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range bs {
		delete(n.ports, b.HostPort)
	}
}

func portFree(proto string, p int) error {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func freePort(proto string) (int, error) {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portOpts(bs []api.Binding) []gocni.NamespaceOpts {
	var pm []gocni.PortMapping
	for _, b := range bs {
		pm = append(pm, gocni.PortMapping{HostPort: int32(b.HostPort), ContainerPort: int32(b.ContainerPort), Protocol: b.Protocol, HostIP: "127.0.0.1"})
	}
	if len(pm) == 0 {
		return nil
	}
	return []gocni.NamespaceOpts{gocni.WithCapabilityPortMap(pm)}
}

// newNetns creates a task's network namespace (a bind mount under the
// state dir).
func (n *network) newNetns() (string, error) {
	ns, err := netns.NewNetNS(filepath.Join(n.opts.StateDir, "netns"))
	if err != nil {
		return "", fmt.Errorf("creating a network namespace: %w", err)
	}
	return ns.GetPath(), nil
}

// attach puts a netns on the bridge; it returns the task's address on the
// bridge. On failure teardown cleans up.
func (n *network) attach(ctx context.Context, taskID, nsPath string, bs []api.Binding, tr *trace) (string, error) {
	t0 := time.Now()
	res, err := n.bridge.Setup(ctx, taskID, nsPath)
	tr.mark("cni bridge", time.Since(t0))
	if err != nil {
		return "", fmt.Errorf("attaching the task to bridge %s: %w", n.opts.Bridge, err)
	}
	var ip string
	for name, c := range res.Interfaces {
		if name == "lo" || c == nil || c.Sandbox == "" {
			continue
		}
		for _, ipc := range c.IPConfigs {
			if ipc.IP.To4() != nil && !ipc.IP.IsLoopback() {
				ip = ipc.IP.String()
			}
		}
	}
	if ip == "" {
		return "", errors.New("the CNI bridge plugin gave the task no IPv4 address")
	}
	// Connections to 127.0.0.1:hostPort are DNATed to the bridge, which
	// the kernel only routes with route_localnet on.
	_ = os.WriteFile("/proc/sys/net/ipv4/conf/"+n.opts.Bridge+"/route_localnet", []byte("1"), 0o644)
	t0 = time.Now()
	if err := loopbackForward(nsPath, bs); err != nil {
		return "", err
	}
	tr.mark("loopback forward", time.Since(t0))
	return ip, nil
}

// mapPorts maps the task's host ports on 127.0.0.1 to its address.
func (n *network) mapPorts(taskID, ip string, bs []api.Binding) error {
	return n.hp.add(taskID, ip, bs)
}

// loopbackForward makes a legacy app that listens on 127.0.0.1 (common
// behind a reverse proxy on its old host) reachable on the task's address:
// inside the task's netns, connections arriving on eth0 for a mapped TCP
// port are DNATed to 127.0.0.1. An app listening on all addresses is
// reached the same way.
func loopbackForward(nsPath string, bs []api.Binding) error {
	var tcp []string
	for _, b := range bs {
		if b.Protocol == "tcp" {
			tcp = append(tcp, strconv.Itoa(b.ContainerPort))
		}
	}
	if len(tcp) == 0 {
		return nil
	}
	script := "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && " +
		"iptables -w -t nat -A PREROUTING -i eth0 -p tcp -m multiport --dports " + strings.Join(tcp, ",") + " -j DNAT --to-destination 127.0.0.1"
	out, err := exec.Command("nsenter", "--net="+nsPath, "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("forwarding the task's ports to its loopback: %v: %s", err, out)
	}
	return nil
}

func (n *network) teardown(ctx context.Context, taskID, nsPath string, bs []api.Binding) error {
	var errs []error
	// A task started by an older hoist has the CNI portmap plugin's rules
	// and a masquerade chain of the bridge plugin: the legacy network
	// removes those.
	cni, opts := n.bridge, []gocni.NamespaceOpts(nil)
	if found, err := n.hp.remove(taskID); err != nil {
		errs = append(errs, err)
	} else if !found && len(bs) > 0 {
		cni, opts = n.legacy, portOpts(bs)
	}
	if nsPath != "" {
		if _, err := os.Stat(nsPath); err == nil {
			if err := cni.Remove(ctx, taskID, nsPath, opts...); err != nil {
				errs = append(errs, fmt.Errorf("detaching task %s: %w", taskID, err))
			}
			if err := netns.LoadNetNS(nsPath).Remove(); err != nil {
				errs = append(errs, fmt.Errorf("removing netns %s: %w", nsPath, err))
			}
		} else {
			// The netns is gone: still release the IP lease and port rules.
			if err := cni.Remove(ctx, taskID, "", opts...); err != nil {
				errs = append(errs, fmt.Errorf("detaching task %s: %w", taskID, err))
			}
		}
	}
	n.release(bs)
	return errors.Join(errs...)
}

// SweepHost removes what the runtime's network leaves on the host once no
// task uses it: network namespace mounts under stateDir/netns, the bridge,
// and the CNI iptables chains of this network (and the shared portmap
// chains when nothing else uses them).
func SweepHost(stateDir, bridge string) error {
	var errs []error
	dir := filepath.Join(stateDir, "netns")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
		_ = os.Remove(p)
	}
	if bridge != "" {
		if _, err := net.InterfaceByName(bridge); err == nil {
			if out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", bridge, err, out))
			}
		}
		errs = append(errs, sweepIptables("hoist-"+bridge))
		// After the rules that jump to them.
		errs = append(errs, newHostPorts(bridge, "").sweep())
	}
	return errors.Join(errs...)
}

// sweepIptables deletes rules that mention this CNI network by name (the
// bridge plugin's masquerade chains carry `name: "NET"` comments) and
// then, if no other container's port mapping is left, the shared portmap
// chains.
func sweepIptables(netName string) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	out, err := exec.Command("iptables", "-t", "nat", "-S").Output()
	if err != nil {
		return fmt.Errorf("listing iptables nat rules: %w", err)
	}
	marker := `name: \"` + netName + `\"`
	marker2 := `name: "` + netName + `"`
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A ") || !(strings.Contains(line, marker) || strings.Contains(line, marker2)) {
			continue
		}
		f := strings.Fields(line)
		// The jump target of a masquerade rule is a per-container chain.
		for i := range f {
			if f[i] == "-j" && i+1 < len(f) && strings.HasPrefix(f[i+1], "CNI-") && f[i+1] != "CNI-HOSTPORT-MASQ" {
				chains = append(chains, f[i+1])
			}
		}
		args := append([]string{"-t", "nat", "-D"}, splitRule(line[3:])...)
		_ = exec.Command("iptables", args...).Run()
	}
	for _, ch := range chains {
		_ = exec.Command("iptables", "-t", "nat", "-F", ch).Run()
		_ = exec.Command("iptables", "-t", "nat", "-X", ch).Run()
	}
	// Shared portmap chains: only when no per-container DNAT chain is left.
	out, _ = exec.Command("iptables", "-t", "nat", "-S").Output()
	if strings.Contains(string(out), "-N CNI-DN-") {
		return nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "-A ") && strings.Contains(line, "-j CNI-HOSTPORT-") && !strings.HasPrefix(line, "-A CNI-HOSTPORT-") {
			args := append([]string{"-t", "nat", "-D"}, splitRule(line[3:])...)
			_ = exec.Command("iptables", args...).Run()
		}
	}
	for _, ch := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"} {
		_ = exec.Command("iptables", "-t", "nat", "-F", ch).Run()
		_ = exec.Command("iptables", "-t", "nat", "-X", ch).Run()
	}
	return nil
}

// splitRule splits an iptables -S line, keeping quoted comments whole.
func splitRule(s string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s) && inQ:
			i++
			cur.WriteByte(s[i])
		case ch == '"':
			inQ = !inQ
		case ch == ' ' && !inQ:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
