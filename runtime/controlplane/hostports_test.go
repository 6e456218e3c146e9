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

// TestLBRoutes drives a TCP load balancer's kernel routes: round robin
// between two listeners standing in for tasks, a change of targets that
// leaves an established connection where it was, no targets (the
// listening socket on 127.0.0.1 gets the connection), removal and the
// sweep of listeners that are gone.
func TestLBRoutes(t *testing.T) {
	inPrivateNetns(t, func() {
		h := newHostPorts("lbtest0", "10.253.0.0/24")
		if err := h.setup(); err != nil {
			t.Error(err)
			return
		}
		r := &lbRouter{h: h, jumped: map[int]bool{}}
		// Each stand-in answers its name, then echoes lines.
		serve := func(addr, name string) (net.Listener, bool) {
			if strings.HasPrefix(addr, "10.") {
				ip := addr[:strings.IndexByte(addr, ':')]
				if out, err := exec.Command("ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
					t.Errorf("ip addr add: %v: %s", err, out)
					return nil, false
				}
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Error(err)
				return nil, false
			}
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						fmt.Fprintf(c, "%s\n", name)
						_, _ = io.Copy(c, c)
					}()
				}
			}()
			return l, true
		}
		const port = 42001
		a, ok := serve("10.253.0.5:9000", "a")
		if !ok {
			return
		}
		defer a.Close()
		b, ok := serve("10.253.0.6:9000", "b")
		if !ok {
			return
		}
		defer b.Close()
		self, ok := serve(fmt.Sprintf("127.0.0.1:%d", port), "listener")
		if !ok {
			return
		}
		defer self.Close()
		dial := func() (net.Conn, string) {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
			if err != nil {
				t.Error(err)
				return nil, ""
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var name [16]byte
			n, _ := c.Read(name[:])
			return c, strings.TrimSpace(string(name[:n]))
		}
		names := func(n int) string {
			var got []string
			for range n {
				c, name := dial()
				if c != nil {
					c.Close()
				}
				got = append(got, name)
			}
			return strings.Join(got, " ")
		}

		if got := names(2); got != "listener listener" {
			t.Errorf("before any route: %q, want the listening socket", got)
		}
		if err := r.Route(port, []string{"10.253.0.5:9000", "10.253.0.6:9000"}); err != nil {
			t.Error(err)
			return
		}
		if got := names(6); got != "a b a b a b" && got != "b a b a b a" {
			t.Errorf("two targets: %q, want round robin\n%s", got, natRules(t))
		}
		held, name := dial()
		if held == nil {
			return
		}
		defer held.Close()
		if got := establishedTo(syscall.Gettid(), 9000); got < 1 {
			t.Errorf("established connections to port 9000: %d, want at least the held one", got)
		}
		// Only the other target is routed now; the held connection stays.
		other := map[string]string{"a": "10.253.0.6:9000", "b": "10.253.0.5:9000"}[name]
		if err := r.Route(port, []string{other}); err != nil {
			t.Error(err)
			return
		}
		if got := names(3); strings.Contains(got, name) || strings.Contains(got, "listener") {
			t.Errorf("after %s was taken out: %q", name, got)
		}
		fmt.Fprintf(held, "still here\n")
		line := make([]byte, 11)
		if _, err := io.ReadFull(held, line); err != nil || string(line) != "still here\n" {
			t.Errorf("the held connection to %s after the route changed: %q, %v", name, line, err)
		}
		if err := r.Route(port, nil); err != nil {
			t.Error(err)
		}
		if got := names(2); got != "listener listener" {
			t.Errorf("no targets: %q, want the listening socket", got)
		}
		if rules := natRules(t); strings.Count(rules, "load balancer 127.0.0.1:42001") != 1 {
			t.Errorf("want one dispatch rule for the listener:\n%s", rules)
		}
		// A second router (a restarted supervisor) finds the dispatch rule.
		r2 := &lbRouter{h: h, jumped: map[int]bool{}}
		if err := r2.Route(port, []string{"10.253.0.5:9000"}); err != nil {
			t.Error(err)
		}
		if rules := natRules(t); strings.Count(rules, "load balancer 127.0.0.1:42001") != 1 {
			t.Errorf("want one dispatch rule for the listener after a second router:\n%s", rules)
		}
		if err := r.Route(42002, []string{"10.253.0.6:9000"}); err != nil {
			t.Error(err)
		}
		if err := h.sweepLB([]int{42002}); err != nil {
			t.Error(err)
		}
		rules := natRules(t)
		if strings.Contains(rules, h.lbChain(port)) || !strings.Contains(rules, h.lbChain(42002)) {
			t.Errorf("sweepLB keeping 42002:\n%s", rules)
		}
		if got := names(1); got != "listener" {
			t.Errorf("after the sweep: %q, want the listening socket", got)
		}
		if err := r.Unroute(42002); err != nil {
			t.Error(err)
		}
		if rules := natRules(t); strings.Contains(rules, h.lbPrefix) || strings.Contains(rules, "load balancer") {
			t.Errorf("rules left after Unroute:\n%s", rules)
		}
	})
}
