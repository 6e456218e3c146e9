package controlplane

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistctl/hoist/runtime/api"
)

// inPrivateNetns runs fn on a thread of its own in a new network
// namespace: the iptables commands it starts inherit it, so the test never
// touches the machine's own rules. The thread is not given back to the Go
// scheduler (it ends with the goroutine).
func inPrivateNetns(t *testing.T, fn func()) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs iptables")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace, iptables)")
	}
	for _, b := range []string{"iptables", "iptables-restore", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (make deps)", b)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// Not unlocked: the thread is in the private netns and must not run
		// other goroutines; it exits with this one.
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			t.Errorf("unshare(CLONE_NEWNET): %v", err)
			return
		}
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Errorf("ip link set lo up: %v: %s", err, out)
			return
		}
		fn()
	}()
	<-done
}

func natRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -t nat -S: %v: %s", err, out)
	}
	return string(out)
}

func TestHostPortsRules(t *testing.T) {
	inPrivateNetns(t, func() {
		h := newHostPorts("hstest0", "10.251.0.0/24")
		other := newHostPorts("hstest1", "10.252.0.0/24")
		for _, hp := range []*hostPorts{h, h, other} { // twice: setup is idempotent
			if err := hp.setup(); err != nil {
				t.Errorf("setup: %v", err)
				return
			}
		}
		if n := strings.Count(natRules(t), `name: \"hoist-hstest0\"`); n != 3 {
			t.Errorf("%d shared rules of hstest0 after two setups, want 3:\n%s", n, natRules(t))
		}

		// A listener stands in for the task: 127.0.0.1:hostPort is DNATed to
		// it. The address is local here (no bridge), which OUTPUT DNAT
		// reaches without route_localnet.
		if out, err := exec.Command("ip", "addr", "add", "10.251.0.5/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("ip addr add: %v: %s", err, out)
			return
		}
		l, err := net.Listen("tcp", "10.251.0.5:0")
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprint(c, "task")
				c.Close()
			}
		}()
		cport := l.Addr().(*net.TCPAddr).Port
		const hostPort = 41999
		task := "3f0c1d2e9a7b44c1a0e5d2f3b4c5d6e7"
		bs := []api.Binding{{ContainerPort: cport, HostPort: hostPort, Protocol: "tcp"}, {ContainerPort: 53, HostPort: 41998, Protocol: "udp"}}
		if err := h.add(task, "10.251.0.5", bs); err != nil {
			t.Error(err)
			return
		}
		// Another network's task with the same ID is a different chain.
		if err := other.add(task, "10.252.0.9", []api.Binding{{ContainerPort: 80, HostPort: 41997, Protocol: "tcp"}}); err != nil {
			t.Error(err)
			return
		}
		if h.chain(task) == other.chain(task) || len(h.chain(task)) > 28 {
			t.Errorf("chains %q and %q: want distinct names of at most 28 characters", h.chain(task), other.chain(task))
		}
		read := func() (string, error) {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort), 5*time.Second)
			if err != nil {
				return "", err
			}
			defer c.Close()
			b, err := io.ReadAll(c)
			return string(b), err
		}
		if got, err := read(); got != "task" {
			t.Errorf("127.0.0.1:%d gave %q, %v; want the task's answer\n%s", hostPort, got, err, natRules(t))
		}
		rules := natRules(t)
		for _, want := range []string{"-N " + h.chain(task), "--to-destination 10.251.0.5:" + fmt.Sprint(cport), "-p udp -m udp --dport 41998 -j DNAT --to-destination 10.251.0.5:53"} {
			if !strings.Contains(rules, want) {
				t.Errorf("rules lack %q:\n%s", want, rules)
			}
		}

		found, err := h.remove(task)
		if err != nil || !found {
			t.Errorf("remove: found %v, %v", found, err)
		}
		rules = natRules(t)
		if strings.Contains(rules, h.chain(task)) {
			t.Errorf("the task's chain is left after remove:\n%s", rules)
		}
		if !strings.Contains(rules, other.chain(task)) {
			t.Errorf("remove took the other network's task's chain too:\n%s", rules)
		}
		if _, err := read(); err == nil {
			t.Errorf("127.0.0.1:%d still answers after remove", hostPort)
		}
		// A task without rules (started by an older hoist): not found.
		if found, err := h.remove("0000"); err != nil || found {
			t.Errorf("remove of a task without rules: found %v, %v", found, err)
		}

		// The sweep (after sweepIptables took the rules with the comment)
		// leaves nothing of hstest0 and everything of hstest1.
		if err := h.add(task, "10.251.0.5", bs); err != nil {
			t.Error(err)
			return
		}
		if err := sweepIptables("hoist-hstest0"); err != nil {
			t.Error(err)
		}
		if err := h.sweep(); err != nil {
			t.Error(err)
		}
		rules = natRules(t)
		if strings.Contains(rules, "hstest0") || strings.Contains(rules, h.prefix) {
			t.Errorf("rules of hstest0 left after the sweep:\n%s", rules)
		}
		if !strings.Contains(rules, other.chain(task)) || !strings.Contains(rules, other.dispatch) || strings.Count(rules, `name: \"hoist-hstest1\"`) != 3 {
			t.Errorf("the sweep of hstest0 took rules of hstest1:\n%s", rules)
		}
	})
}
