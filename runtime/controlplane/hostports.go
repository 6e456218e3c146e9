package controlplane

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/hoistctl/hoist/runtime/api"
)

// hostPorts maps tasks' host ports on 127.0.0.1 to their addresses on the
// bridge with iptables NAT rules, and masquerades the task subnet's
// traffic leaving it. The rules the network shares are made once, when the
// control plane starts; a task's own rules are one chain, written (and
// removed) with a single iptables-restore. The CNI portmap plugin and the
// bridge plugin's ipMasq did the same with a dozen iptables runs per task,
// each listing the whole table: 0.3 s per task start on an idle machine,
// over a second with 100 tasks.
//
//	nat OUTPUT       -m addrtype --dst-type LOCAL -j HOIST-DNAT-<bridge>
//	nat POSTROUTING  -m mark --mark 0x2000/0x2000 -j MASQUERADE
//	nat POSTROUTING  -s SUBNET ! -d SUBNET -j MASQUERADE
//	HOIST-DNAT-<bridge>  -d 127.0.0.1 -p tcp --dport HOSTPORT -j HDN-<b>-<task>   (one per binding)
//	HDN-<b>-<task>       -j MARK --set-xmark 0x2000/0x2000
//	HDN-<b>-<task>       -p tcp --dport HOSTPORT -j DNAT --to-destination IP:PORT
//
// A connection to 127.0.0.1 leaves through the bridge (route_localnet) with
// a loopback source, which is why it is marked and masqueraded. Every
// shared rule carries the comment `name: "hoist-<bridge>"`, so SweepHost
// finds them, and a task's chain is named after the bridge, so the sweep
// finds those too.
type hostPorts struct {
	subnet   string
	comment  string
	dispatch string
	prefix   string
	// lbPrefix names the chains of kernel-routed (TCP) load balancer
	// listeners; see route.
	lbPrefix string
}

// masqMark marks connections to a host port for masquerading (the value
// the CNI portmap plugin used).
const masqMark = "0x2000/0x2000"

func newHostPorts(bridge, subnet string) *hostPorts {
	sum := sha256.Sum256([]byte(bridge))
	return &hostPorts{
		subnet:   subnet,
		comment:  `name: "hoist-` + bridge + `"`,
		dispatch: "HOIST-DNAT-" + bridge,
		prefix:   "HDN-" + hex.EncodeToString(sum[:3]) + "-",
		lbPrefix: "HLB-" + hex.EncodeToString(sum[:3]) + "-",
	}
}

// chain is a task's own chain: at most 28 characters, iptables' limit.
func (h *hostPorts) chain(taskID string) string {
	sum := sha256.Sum256([]byte(taskID))
	return h.prefix + hex.EncodeToString(sum[:6])
}

// setup makes the shared chain and rules that are not there yet.
func (h *hostPorts) setup() error {
	if err := exec.Command("iptables", "-w", "-t", "nat", "-S", h.dispatch).Run(); err != nil {
		if out, err := exec.Command("iptables", "-w", "-t", "nat", "-N", h.dispatch).CombinedOutput(); err != nil {
			return fmt.Errorf("creating iptables chain %s: %v: %s", h.dispatch, err, bytes.TrimSpace(out))
		}
	}
	rules := [][]string{
		{"OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-m", "comment", "--comment", h.comment, "-j", h.dispatch},
		{"POSTROUTING", "-m", "mark", "--mark", masqMark, "-m", "comment", "--comment", h.comment, "-j", "MASQUERADE"},
		{"POSTROUTING", "-s", h.subnet, "!", "-d", h.subnet, "-m", "comment", "--comment", h.comment, "-j", "MASQUERADE"},
	}
	for _, r := range rules {
		if exec.Command("iptables", append([]string{"-w", "-t", "nat", "-C"}, r...)...).Run() == nil {
			continue
		}
		if out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat", "-A"}, r...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("adding iptables rule %s: %v: %s", strings.Join(r, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// add maps a task's host ports to ip, in one iptables-restore.
func (h *hostPorts) add(taskID, ip string, bs []api.Binding) error {
	if len(bs) == 0 {
		return nil
	}
	ch := h.chain(taskID)
	var b strings.Builder
	b.WriteString("*nat\n:" + ch + " - [0:0]\n")
	fmt.Fprintf(&b, "-A %s -j MARK --set-xmark %s\n", ch, masqMark)
	for _, p := range bs {
		fmt.Fprintf(&b, "-A %s -p %s -m %s --dport %d -j DNAT --to-destination %s:%d\n", ch, p.Protocol, p.Protocol, p.HostPort, ip, p.ContainerPort)
	}
	for _, p := range bs {
		fmt.Fprintf(&b, "-A %s -d 127.0.0.1/32 -p %s -m %s --dport %d -m comment --comment %s -j %s\n", h.dispatch, p.Protocol, p.Protocol, p.HostPort, strconv.Quote("task "+taskID), ch)
	}
	b.WriteString("COMMIT\n")
	if err := restore(b.String()); err != nil {
		return fmt.Errorf("mapping the task's host ports: %w", err)
	}
	return nil
}

// remove deletes a task's rules; found says whether it had any (a task
// started by an older hoist has the CNI portmap plugin's instead).
func (h *hostPorts) remove(taskID string) (found bool, err error) {
	found, err = h.removeChain(h.chain(taskID))
	if err != nil {
		return found, fmt.Errorf("removing the task's host port rules: %w", err)
	}
	return found, nil
}

// removeChain deletes a chain and the dispatch rules that jump to it;
// found says whether it was there.
func (h *hostPorts) removeChain(ch string) (found bool, err error) {
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		return false, fmt.Errorf("listing iptables nat rules: %w", err)
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, line := range strings.Split(string(out), "\n") {
		if line == "-N "+ch {
			found = true
		}
		if strings.HasPrefix(line, "-A "+h.dispatch+" ") && strings.HasSuffix(line, " -j "+ch) {
			b.WriteString("-D " + line[3:] + "\n")
		}
	}
	if !found {
		return false, nil
	}
	b.WriteString("-F " + ch + "\n-X " + ch + "\nCOMMIT\n")
	return true, restore(b.String())
}

// sweep removes every rule and chain of this network's host ports (the
// shared rules are removed by sweepIptables through their comment).
func (h *hostPorts) sweep() error {
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		return fmt.Errorf("listing iptables nat rules: %w", err)
	}
	var chains []string
	dispatch := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "-N "+h.dispatch:
			dispatch = true
		case strings.HasPrefix(line, "-N "+h.prefix), strings.HasPrefix(line, "-N "+h.lbPrefix):
			chains = append(chains, line[3:])
		}
	}
	if !dispatch && len(chains) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	if dispatch {
		b.WriteString("-F " + h.dispatch + "\n")
	}
	for _, ch := range chains {
		b.WriteString("-F " + ch + "\n-X " + ch + "\n")
	}
	if dispatch {
		b.WriteString("-X " + h.dispatch + "\n")
	}
	b.WriteString("COMMIT\n")
	return restore(b.String())
}

// lbChain is the chain of a load balancer listening on 127.0.0.1:port.
func (h *hostPorts) lbChain(port int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(port)))
	return h.lbPrefix + hex.EncodeToString(sum[:6])
}

// route sends new TCP connections to 127.0.0.1:port round robin to
// targets (IP:PORT) in the kernel, like a network load balancer: one
// iptables-restore replaces the listener's chain, so a connection is
// routed either by the old set or by the new one; connections already
// made keep their target (conntrack). With no targets the chain is empty
// and connections reach the listening socket itself.
//
//	HOIST-DNAT-<bridge>  -d 127.0.0.1 -p tcp --dport PORT -j HLB-<b>-<port>
//	HLB-<b>-<port>       -j MARK --set-xmark 0x2000/0x2000    (when there are targets)
//	HLB-<b>-<port>       -p tcp -m statistic --mode nth --every N --packet 0 -j DNAT --to-destination T1
//	HLB-<b>-<port>       -p tcp -m statistic --mode nth --every N-1 --packet 0 -j DNAT --to-destination T2
//	...                  -p tcp -j DNAT --to-destination TN
//
// The nat table sees only a connection's first packet, so rule i takes
// every (N-i)th of the connections the rules before it left: round robin.
// jump says whether the dispatch rule must be added (the first route of
// this listener).
func (h *hostPorts) route(port int, targets []string, jump bool) error {
	ch := h.lbChain(port)
	var b strings.Builder
	b.WriteString("*nat\n:" + ch + " - [0:0]\n")
	if len(targets) > 0 {
		fmt.Fprintf(&b, "-A %s -j MARK --set-xmark %s\n", ch, masqMark)
	}
	for i, t := range targets {
		if left := len(targets) - i; left > 1 {
			fmt.Fprintf(&b, "-A %s -p tcp -m statistic --mode nth --every %d --packet 0 -j DNAT --to-destination %s\n", ch, left, t)
		} else {
			fmt.Fprintf(&b, "-A %s -p tcp -j DNAT --to-destination %s\n", ch, t)
		}
	}
	if jump {
		fmt.Fprintf(&b, "-A %s -d 127.0.0.1/32 -p tcp -m tcp --dport %d -m comment --comment %s -j %s\n", h.dispatch, port, strconv.Quote(fmt.Sprintf("load balancer 127.0.0.1:%d", port)), ch)
	}
	b.WriteString("COMMIT\n")
	if err := restore(b.String()); err != nil {
		return fmt.Errorf("routing the load balancer's connections in the kernel: %w", err)
	}
	return nil
}

// routed says whether the listener's dispatch rule is there.
func (h *hostPorts) routed(port int) bool {
	rule := []string{"-w", "-t", "nat", "-C", h.dispatch, "-d", "127.0.0.1/32", "-p", "tcp", "-m", "tcp", "--dport", strconv.Itoa(port),
		"-m", "comment", "--comment", fmt.Sprintf("load balancer 127.0.0.1:%d", port), "-j", h.lbChain(port)}
	return exec.Command("iptables", rule...).Run() == nil
}

// unroute removes the listener's rules.
func (h *hostPorts) unroute(port int) error {
	if _, err := h.removeChain(h.lbChain(port)); err != nil {
		return fmt.Errorf("removing the load balancer's kernel routes: %w", err)
	}
	return nil
}

// sweepLB removes the chains of load balancer listeners other than keep's
// (left by a supervisor that was killed while it removed a service).
func (h *hostPorts) sweepLB(keep []int) error {
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		return fmt.Errorf("listing iptables nat rules: %w", err)
	}
	kept := map[string]bool{}
	for _, p := range keep {
		kept[h.lbChain(p)] = true
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		if ch, ok := strings.CutPrefix(line, "-N "); ok && strings.HasPrefix(ch, h.lbPrefix) && !kept[ch] {
			if _, err := h.removeChain(ch); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// lbRouter is the lb.Router of the network's load balancers.
type lbRouter struct {
	h  *hostPorts
	mu sync.Mutex
	// jumped: the listener's dispatch rule is known to be there.
	jumped map[int]bool
}

func (r *lbRouter) Route(port int, targets []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	jump := !r.jumped[port] && !r.h.routed(port)
	if err := r.h.route(port, targets, jump); err != nil {
		return err
	}
	r.jumped[port] = true
	return nil
}

func (r *lbRouter) Unroute(port int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.jumped, port)
	return r.h.unroute(port)
}

// establishedTo counts the established TCP connections to port in the
// network namespace of process pid (none when it is gone).
func establishedTo(pid, port int) int {
	n := 0
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		for _, line := range lines[1:] {
			// sl local_address rem_address st ...; 01 is ESTABLISHED.
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "01" {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			if p, err := strconv.ParseUint(fs[1][i+1:], 16, 32); err == nil && int(p) == port {
				n++
			}
		}
	}
	return n
}

// restore applies rules with iptables-restore, leaving the rest of the
// table as it is; it is all or nothing.
func restore(rules string) error {
	cmd := exec.Command("iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || len(out) > 0 {
			return fmt.Errorf("iptables-restore: %v: %s\n%s", err, bytes.TrimSpace(out), rules)
		}
		return fmt.Errorf("iptables-restore: %w", err)
	}
	return nil
}
