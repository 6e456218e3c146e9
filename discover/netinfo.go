package discover

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Socket is one line of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Proto      string // tcp, tcp6, udp, udp6
	LocalIP    net.IP
	LocalPort  uint32
	RemoteIP   net.IP
	RemotePort uint32
	State      uint8
	Inode      uint64
}

const (
	tcpEstablished = 0x01
	tcpListen      = 0x0A
	udpClose       = 0x07 // an unconnected (bound) UDP socket
)

// Listening says whether the socket accepts traffic: a listening TCP socket
// or a bound, unconnected UDP socket.
func (s Socket) Listening() bool {
	if strings.HasPrefix(s.Proto, "tcp") {
		return s.State == tcpListen
	}
	return s.State == udpClose && s.RemotePort == 0 && s.LocalPort != 0
}

// sockTable is every inet socket of one network namespace, by inode.
type sockTable map[uint64]Socket

// netTables reads each network namespace's socket tables once per scan:
// reading /proc/net for every process is what makes naive scanners slow.
type netTables struct {
	host   Host
	byNS   map[string]sockTable
	errors []string
}

func newNetTables(h Host) *netTables {
	return &netTables{host: h, byNS: map[string]sockTable{}}
}

// forPID returns the socket table of pid's network namespace.
func (n *netTables) forPID(pid int32) sockTable {
	ns, err := os.Readlink(n.host.procPID(pid, "ns", "net"))
	if err != nil {
		// Without access to the namespace link, assume the host's.
		ns = "default"
	}
	if t, ok := n.byNS[ns]; ok {
		return t
	}
	t := sockTable{}
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		data, err := os.ReadFile(n.host.procPID(pid, "net", proto))
		if err != nil {
			data, err = os.ReadFile(n.host.proc("net", proto))
		}
		if err != nil {
			if !os.IsNotExist(err) {
				n.errors = append(n.errors, fmt.Sprintf("reading %s sockets: %v", proto, err))
			}
			continue
		}
		if err := ParseProcNet(proto, data, func(s Socket) { t[s.Inode] = s }); err != nil {
			n.errors = append(n.errors, err.Error())
		}
	}
	n.byNS[ns] = t
	return t
}

// ParseProcNet parses the contents of /proc/net/tcp, tcp6, udp or udp6 and
// calls fn for every socket. A malformed line stops parsing with an error
// naming the line; lines before it are kept.
func ParseProcNet(proto string, data []byte, fn func(Socket)) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return fmt.Errorf("parsing /proc/net/%s line %d: %d fields, want at least 10", proto, line, len(f))
		}
		lip, lport, err := parseHexAddr(f[1])
		if err != nil {
			return fmt.Errorf("parsing /proc/net/%s line %d: local address: %w", proto, line, err)
		}
		rip, rport, err := parseHexAddr(f[2])
		if err != nil {
			return fmt.Errorf("parsing /proc/net/%s line %d: remote address: %w", proto, line, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return fmt.Errorf("parsing /proc/net/%s line %d: state %q: %w", proto, line, f[3], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return fmt.Errorf("parsing /proc/net/%s line %d: inode %q: %w", proto, line, f[9], err)
		}
		fn(Socket{Proto: proto, LocalIP: lip, LocalPort: lport, RemoteIP: rip, RemotePort: rport, State: uint8(st), Inode: inode})
	}
	return sc.Err()
}

// parseHexAddr decodes "0100007F:1F90" (IPv4) or the 32-hex-digit IPv6 form;
// the kernel prints each 32-bit word in host (little-endian) order.
func parseHexAddr(s string) (net.IP, uint32, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, fmt.Errorf("%q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("%q: port: %w", s, err)
	}
	b, err := hex.DecodeString(a)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil, 0, fmt.Errorf("%q: bad address", s)
	}
	ip := make(net.IP, len(b))
	for w := 0; w < len(b); w += 4 {
		ip[w], ip[w+1], ip[w+2], ip[w+3] = b[w+3], b[w+2], b[w+1], b[w]
	}
	if v4 := ip.To4(); v4 != nil && len(b) == 16 && !ip.Equal(net.IPv6zero) {
		// ::ffff:a.b.c.d: show the IPv4 form.
		ip = v4
	}
	return ip, uint32(port), nil
}

// socketInodes lists the socket inodes a process holds open.
func (h Host) socketInodes(pid int32) ([]uint64, error) {
	dir := h.procPID(pid, "fd")
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range names {
		l, err := os.Readlink(dir + "/" + n)
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(l[len("socket:["):], "]"), 10, 64); err == nil {
			out = append(out, ino)
		}
	}
	return out, nil
}
