package hostbase

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// caFiles are the CA bundles of the common distributions; each one the
// host has is copied at its path (links followed and recreated).
var caFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
	"/etc/ssl/certs/java/cacerts",        // Debian's JDK trust store
	"/etc/pki/tls/certs/ca-bundle.crt",   // RHEL, Fedora, Amazon Linux
	"/etc/pki/ca-trust/extracted/java/cacerts",
	"/etc/ssl/ca-bundle.pem", // SUSE
}

// system writes the files every process expects to find: the app's user
// and groups, name service configuration, CA certificates, time zones and
// writable temp directories.
func (a *assembler) system(context.Context) error {
	if err := a.users(); err != nil {
		return err
	}
	nss := "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"
	if err := a.writeFile("/etc/nsswitch.conf", []byte(nss), 0o644); err != nil {
		return err
	}
	// The orchestrator usually mounts its own /etc/hosts; this one makes
	// localhost resolve when it does not.
	if _, err := a.destLstat("/etc/hosts"); err != nil {
		hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		if err := a.writeFile("/etc/hosts", []byte(hosts), 0o644); err != nil {
			return err
		}
	}
	found := false
	for _, f := range caFiles {
		if !a.h.Exists(f) {
			continue
		}
		if _, err := a.place(f, false); err != nil {
			a.note("could not copy the CA certificates at %s: %v", f, err)
			continue
		}
		found = true
	}
	if !found {
		a.note("no CA certificate bundle found on the host: TLS connections from the container will fail to verify")
	}
	if err := a.tzdata(); err != nil {
		return err
	}
	for _, d := range []string{"/tmp", "/var/tmp"} {
		if err := a.scratchDir(d); err != nil {
			return err
		}
	}
	return nil
}

// tzdata copies the zoneinfo database (without the duplicate posix/ and
// right/ trees) and the host's local time zone.
func (a *assembler) tzdata() error {
	const zi = "/usr/share/zoneinfo"
	if a.h.IsDir(zi) {
		if _, err := a.place(zi, false); err != nil {
			return err
		}
		real, _ := a.h.Resolve(zi)
		if err := a.copyTree(real, func(r string, fi fs.FileInfo) string {
			switch r {
			case "posix", "right":
				return "duplicate zone trees"
			}
			return ""
		}); err != nil {
			return err
		}
	} else {
		a.note("no %s on the host: only UTC is available in the container unless the runtime brings its own zone data", zi)
	}
	for _, f := range []string{"/etc/localtime", "/etc/timezone"} {
		if _, err := a.h.Lstat(f); err != nil {
			continue
		}
		if _, err := a.place(f, false); err != nil {
			a.note("could not copy %s: %v", f, err)
		}
	}
	return nil
}

// scratchDir creates a world-writable sticky directory.
func (a *assembler) scratchDir(d string) error {
	name := rel(d)
	if err := a.parents(d); err != nil {
		return err
	}
	if fi, err := a.root.Lstat(name); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory in the destination", d)
		}
	} else if err := a.root.Mkdir(name, 0o700); err != nil {
		return err
	}
	if a.chown {
		if err := a.root.Lchown(name, 0, 0); err != nil {
			return err
		}
	}
	return a.root.Chmod(name, 0o777|fs.ModeSticky)
}

// passwdEntry is one line of /etc/passwd or /etc/group, split.
type passwdEntry []string

// users writes /etc/passwd and /etc/group with root and the app's user and
// groups, taken from the host's files (or made up from the analysis when the
// host's entry is missing: a user from LDAP), and creates the user's home.
func (a *assembler) users() error {
	p := a.o.Analysis.Observed.Process
	passwd := a.h.ColonEntries("/etc/passwd", 7)
	groups := a.h.ColonEntries("/etc/group", 4)

	var pw bytes.Buffer
	root := passwdEntry{"root", "x", "0", "0", "root", "/root", "/sbin/nologin"}
	if e, ok := passwd[0]; ok {
		root = append(passwdEntry(nil), e...)
		root[6] = "/sbin/nologin" // there is no shell in the image
	}
	pw.WriteString(strings.Join(root, ":") + "\n")
	user := p.User
	home := "/"
	if p.UID != 0 {
		e, ok := passwd[p.UID]
		if !ok {
			name := p.User
			if name == "" || name == strconv.FormatUint(uint64(p.UID), 10) {
				name = "app"
			}
			e = passwdEntry{name, "x", strconv.FormatUint(uint64(p.UID), 10), strconv.FormatUint(uint64(p.GID), 10), "", "/nonexistent", "/usr/sbin/nologin"}
			a.note("user %d is not in the host's /etc/passwd (a directory service?); the image names it %q", p.UID, name)
		} else {
			e = append(passwdEntry(nil), e...)
		}
		user = e[0]
		home = e[5]
		pw.WriteString(strings.Join(e, ":") + "\n")
	}
	if err := a.writeFile("/etc/passwd", pw.Bytes(), 0o644); err != nil {
		return err
	}

	gids := map[uint32]bool{0: true, p.GID: true}
	for _, g := range p.Supplementary {
		gids[g] = true
	}
	sorted := make([]uint32, 0, len(gids))
	for g := range gids {
		sorted = append(sorted, g)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var gr bytes.Buffer
	for _, g := range sorted {
		e, ok := groups[g]
		if !ok {
			name := "root"
			if g != 0 {
				name = p.Group
				if name == "" || name == strconv.FormatUint(uint64(g), 10) || g != p.GID {
					name = "g" + strconv.FormatUint(uint64(g), 10)
				}
			}
			e = passwdEntry{name, "x", strconv.FormatUint(uint64(g), 10), ""}
		} else {
			e = append(passwdEntry(nil), e[:4]...)
		}
		// Members: only the app's user (others do not exist in the image).
		var members []string
		for _, m := range strings.Split(e[3], ",") {
			if m != "" && m == user && p.UID != 0 {
				members = append(members, m)
			}
		}
		if g != p.GID && g != 0 && p.UID != 0 && len(members) == 0 {
			members = []string{user}
		}
		e[3] = strings.Join(members, ",")
		gr.WriteString(strings.Join(e, ":") + "\n")
	}
	if err := a.writeFile("/etc/group", gr.Bytes(), 0o644); err != nil {
		return err
	}

	// The user's home, empty, owned by the user: many JVM tools write
	// below user.home (.java/.userPrefs, caches).
	if p.UID != 0 && path.IsAbs(home) && home != "/" && home != "/nonexistent" {
		home = path.Clean(home)
		if err := a.parents(home); err != nil {
			return err
		}
		name := rel(home)
		if _, err := a.root.Lstat(name); err != nil {
			if err := a.root.Mkdir(name, 0o750); err != nil {
				return err
			}
			if a.chown {
				if err := a.root.Lchown(name, int(p.UID), int(p.GID)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
