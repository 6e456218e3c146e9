package extract

import (
	"path"
	"sort"
	"strings"

	"github.com/hoistctl/hoist/discover"
)

// Symlinks in an archive are relative and resolve inside it: a process on
// the worker machine that follows one never leaves the unpacked tree. On
// the host, absolute links (Debian's /var/lib/tomcat10/conf -> /etc/tomcat10)
// resolve from /, which is the image's root too, so Extract rewrites them
// to the equivalent relative path (../../../etc/tomcat10).

// linkEscapes resolves target from the link at linkPath over the symlinks
// of an archive (links maps each symlink's path to its target) and says
// whether resolution would leave the tree: an absolute target, or a ".."
// above the root anywhere along the way, through other links included.
func linkEscapes(linkPath, target string, links map[string]string) bool {
	if target == "" || path.IsAbs(target) || strings.IndexByte(target, 0) >= 0 {
		return true
	}
	stack := splitClean(path.Dir(linkPath))
	rest := strings.Split(target, "/")
	hops := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return true
			}
			stack = stack[:len(stack)-1]
			continue
		}
		p := "/" + strings.Join(append(stack, part), "/")
		t, isLink := links[p]
		if !isLink {
			stack = append(stack, part)
			continue
		}
		hops++
		if hops > discover.MaxSymlinks {
			return false // a loop: it fails to resolve, but never leaves
		}
		if t == "" || path.IsAbs(t) {
			return true
		}
		rest = append(strings.Split(t, "/"), rest...)
	}
	return false
}

func splitClean(dir string) []string {
	dir = strings.Trim(dir, "/")
	if dir == "" {
		return nil
	}
	return strings.Split(dir, "/")
}

// relativeLink is the relative target from the link at linkPath to the
// real path it resolves to on the host.
func relativeLink(linkPath, real string) string {
	dir := path.Dir(linkPath)
	if real == dir {
		return "."
	}
	up := len(splitClean(dir))
	common := 0
	a, b := splitClean(dir), splitClean(real)
	for common < len(a) && common < len(b) && a[common] == b[common] {
		common++
	}
	parts := make([]string, 0, up-common+len(b)-common)
	for i := common; i < up; i++ {
		parts = append(parts, "..")
	}
	parts = append(parts, b[common:]...)
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

// normalizeLinks rewrites symlink targets that are absolute or would leave
// the archive into relative paths to where they resolve on the host. It
// returns the links it rewrote (path to original target).
func (c *collector) normalizeLinks() map[string]string {
	links := map[string]string{}
	var paths []string
	for p, e := range c.entries {
		if e.typ == TypeSymlink {
			links[p] = e.link
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	rewritten := map[string]string{}
	// Rewrite absolute targets first: another link's check may go
	// through them.
	for _, pass := range []bool{true, false} {
		for _, p := range paths {
			e := c.entries[p]
			if rewritten[p] != "" {
				continue
			}
			if pass && !path.IsAbs(e.link) {
				continue
			}
			if !pass && !linkEscapes(p, e.link, links) {
				continue
			}
			real, _, _, err := c.resolve(p)
			if err != nil || real == "" {
				// A loop: point it where its text says, lexically.
				real = path.Join(path.Dir(p), e.link)
				if path.IsAbs(e.link) {
					real = path.Clean(e.link)
				}
			}
			rel := relativeLink(p, real)
			rewritten[p] = e.link
			e.link = rel
			links[p] = rel
		}
	}
	return rewritten
}
