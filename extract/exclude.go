package extract

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/hoistctl/hoist/discover"
)

// DefaultExcludes are left out of every archive, wherever they are below an
// included path (not when a path is included by name): logs, process ID
// files, heap and core dumps, and caches. Patterns match a file's or a
// directory's base name; a directory that matches is kept empty.
var DefaultExcludes = []string{
	"*.log", "*.log.[0-9]*", "*.log.gz", "*.pid", "*.hprof",
	"core", "core.[0-9]*", // only ELF core dumps
	".cache/", "__pycache__/",
}

// excluder decides what is left out.
type excluder struct {
	rules []excludeRule
}

type excludeRule struct {
	name    string // as written, for the manifest
	prefix  string // absolute path: that path and everything below it
	glob    string // absolute glob: matched against the path and its ancestors
	base    string // base-name glob
	dirOnly bool
	core    bool // only ELF core dumps
}

// newExcluder builds the rules from containerParameters.exclude and the
// built-in patterns. Absolute paths are matched as written and, when they
// go through symlinks, at their real location too (Debian's
// /var/lib/tomcat10/logs is a link to /var/log/tomcat10).
func newExcluder(c *collector, excludes []string, analysisPath string) (*excluder, error) {
	x := &excluder{}
	for _, e := range excludes {
		r := excludeRule{name: e}
		switch {
		case e == "":
			continue
		case strings.HasPrefix(e, "/") && strings.ContainsAny(e, "*?["):
			if _, err := path.Match(e, "/"); err != nil {
				return nil, fmt.Errorf("%w: %s: containerParameters.exclude entry %q is not a valid pattern: %v; fix it", discover.ErrInvalid, analysisPath, e, err)
			}
			r.glob = path.Clean(e)
		case strings.HasPrefix(e, "/"):
			r.prefix = path.Clean(e)
			if real, _, ok, err := c.resolve(r.prefix); err == nil && ok && real != r.prefix {
				x.rules = append(x.rules, excludeRule{name: e, prefix: real})
			}
		case strings.Contains(strings.TrimSuffix(e, "/"), "/"):
			return nil, fmt.Errorf("%w: %s: containerParameters.exclude entry %q must be an absolute path (/opt/app/logs) or a file-name pattern (*.bak); fix it", discover.ErrInvalid, analysisPath, e)
		default:
			r.dirOnly = strings.HasSuffix(e, "/")
			r.base = strings.TrimSuffix(e, "/")
			if _, err := path.Match(r.base, "x"); err != nil {
				return nil, fmt.Errorf("%w: %s: containerParameters.exclude entry %q is not a valid pattern: %v; fix it", discover.ErrInvalid, analysisPath, e, err)
			}
		}
		x.rules = append(x.rules, r)
	}
	for _, e := range DefaultExcludes {
		r := excludeRule{name: "built-in " + e, base: strings.TrimSuffix(e, "/"), dirOnly: strings.HasSuffix(e, "/")}
		r.core = r.base == "core" || strings.HasPrefix(r.base, "core.")
		x.rules = append(x.rules, r)
	}
	return x, nil
}

// match says whether p is excluded, and by which rule. local is the file
// to look into for the core dump check ("" for directories and links).
func (x *excluder) match(p string, isDir bool, local string) (string, bool) {
	base := path.Base(p)
	for _, r := range x.rules {
		switch {
		case r.prefix != "":
			if under(p, r.prefix) {
				return r.name, true
			}
		case r.glob != "":
			for a := p; a != "/"; a = path.Dir(a) {
				if ok, _ := path.Match(r.glob, a); ok {
					return r.name, true
				}
			}
		default:
			if r.dirOnly && !isDir || r.core && (isDir || local == "") {
				continue
			}
			if ok, _ := path.Match(r.base, base); !ok {
				continue
			}
			if r.core && !isCoreDump(local) {
				continue
			}
			return r.name, true
		}
	}
	return "", false
}

// isCoreDump checks for an ELF file of type ET_CORE: a file named "core"
// is often something else (a directory of Java classes, a script).
func isCoreDump(local string) bool {
	f, err := os.Open(local)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [18]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return false
	}
	if !bytes.Equal(h[:4], []byte("\x7fELF")) {
		return false
	}
	// e_type at offset 16, in the byte order EI_DATA says.
	if h[5] == 2 {
		return h[16] == 0 && h[17] == 4
	}
	return h[16] == 4 && h[17] == 0
}
