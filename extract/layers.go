package extract

import (
	"encoding/json"
	"path"
	"sort"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
)

// layering assigns each entry a role (where it came from, by the analysis'
// file roles) and a layer (how often it changes).
type layering struct {
	refs    []layerRef
	configs map[string]bool // config files the analysis found
	// packageAssets are .NET files that deps.json says come from NuGet
	// packages: third-party libraries.
	packageAssets map[string]bool
}

type layerRef struct {
	path string // as the analysis wrote it
	real string // with symlinks resolved
	role string // the analysis' FileRef role
}

func newLayering(c *collector, a *discover.Analysis, includes []string) *layering {
	l := &layering{configs: map[string]bool{}, packageAssets: map[string]bool{}}
	seen := map[string]bool{}
	addRef := func(p, role string) {
		if p == "" || seen[p] {
			return
		}
		seen[p] = true
		r := layerRef{path: p, real: p, role: role}
		if real, _, ok, err := c.resolve(p); err == nil && ok {
			r.real = real
		}
		l.refs = append(l.refs, r)
	}
	for _, f := range a.Observed.Files.App {
		addRef(f.Path, f.Role)
	}
	for _, p := range includes {
		addRef(p, "app") // added by the user
	}
	for _, cf := range a.Observed.ConfigFiles {
		if !strings.Contains(cf.Path, "!/") {
			l.configs[cf.Path] = true
			if real, _, ok, err := c.resolve(cf.Path); err == nil && ok {
				l.configs[real] = true
			}
		}
	}
	if a.Type.Family() == "dotnet" && a.Observed.Runtime.Entrypoint != "" {
		l.readDeps(c, a.Observed.Runtime.Entrypoint)
	}
	return l
}

// readDeps reads the app's NAME.deps.json for the files of package
// libraries; a missing or unreadable file only means less precise layers.
func (l *layering) readDeps(c *collector, entry string) {
	stem := strings.TrimSuffix(strings.TrimSuffix(entry, ".dll"), ".exe")
	data, err := c.h.ReadFile(stem+".deps.json", 16<<20)
	if err != nil {
		return
	}
	var deps struct {
		Targets   map[string]map[string]map[string]json.RawMessage `json:"targets"`
		Libraries map[string]struct {
			Type string `json:"type"`
		} `json:"libraries"`
	}
	if json.Unmarshal(data, &deps) != nil {
		return
	}
	for _, libs := range deps.Targets {
		for name, assets := range libs {
			if deps.Libraries[name].Type != "package" {
				continue
			}
			for _, kind := range []string{"runtime", "native"} {
				var files map[string]json.RawMessage
				if json.Unmarshal(assets[kind], &files) != nil {
					continue
				}
				for f := range files {
					l.packageAssets[path.Base(f)] = true
				}
			}
		}
	}
}

// isLinkRole names the analysis roles of links out of the app's
// directories: the library jars, and (since discover walks the server's
// directories at any depth) linked config dirs and files such as Jetty's
// etc -> /etc/jetty9.
func isLinkRole(role string) bool {
	return role == "library" || role == "linked-dir" || role == "linked-file"
}

// match finds the most specific ref that p is part of.
func (l *layering) match(p string, skipLinks bool) (*layerRef, string) {
	var best *layerRef
	var bestPrefix string
	for i := range l.refs {
		r := &l.refs[i]
		if skipLinks && isLinkRole(r.role) {
			continue
		}
		for _, pre := range []string{r.real, r.path} {
			if under(p, pre) && len(pre) > len(bestPrefix) {
				best, bestPrefix = r, pre
			}
		}
	}
	return best, bestPrefix
}

// assign sets role and layer of every entry. A directory goes into the
// lowest of its own layer and its contents' layers, so that each layer's
// files find their directories already there.
func (l *layering) assign(entries map[string]*entry) {
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := entries[p]
		e.role, e.layer = l.classify(e)
	}
	// Children before parents: walk the sorted list backwards.
	for i := len(paths) - 1; i >= 0; i-- {
		e := entries[paths[i]]
		if e.typ == TypeDir && e.layer == "" {
			e.layer = LayerServer
			if e.role == "" {
				e.role = RoleParent
			}
		}
		if parent, ok := entries[path.Dir(e.path)]; ok && parent.typ == TypeDir && parent != e {
			if parent.layer == "" || layerRank(e.layer) < layerRank(parent.layer) {
				parent.layer = e.layer
			}
		}
	}
}

func (l *layering) classify(e *entry) (role, layer string) {
	if e.parent {
		return RoleParent, ""
	}
	if l.configs[e.path] {
		return RoleConfig, LayerConfig
	}
	pos := e.path
	ref, pre := l.match(pos, false)
	if ref == nil && e.via != "" {
		pos = e.via
		ref, pre = l.match(pos, false)
	}
	if ref == nil {
		return RoleApp, l.appLayer(e.path, "")
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(pos, pre), "/")
	if ref.role == "linked-dir" || ref.role == "linked-file" {
		// Classify it where the app sees it: through the link.
		seen := path.Join(ref.path, rel)
		if outer, pre := l.match(seen, true); outer != nil {
			rel := strings.TrimPrefix(strings.TrimPrefix(seen, pre), "/")
			return roleOf(outer.role), l.layerAt(outer, seen, rel, e.path)
		}
		return RoleApp, l.appLayer(e.path, rel)
	}
	return roleOf(ref.role), l.layerAt(ref, pos, rel, e.path)
}

// layerAt is the layer of a file at position pos, rel below ref.
func (l *layering) layerAt(ref *layerRef, pos, rel, real string) string {
	first, _, _ := strings.Cut(rel, "/")
	switch ref.role {
	case "config":
		return LayerConfig
	case "server-home", "server":
		switch first {
		case "conf", "etc", "configuration":
			return LayerConfig
		case "webapps", "deployments":
			return l.appLayer(real, rel)
		}
		return LayerServer
	case "server-base":
		switch first {
		case "lib":
			return LayerLibraries
		case "conf", "etc", "configuration":
			return LayerConfig
		case "webapps", "deployments":
			return l.appLayer(real, rel)
		}
		return LayerServer
	case "webapp":
		if rel == "WEB-INF/lib" || strings.HasPrefix(rel, "WEB-INF/lib/") {
			return LayerLibraries
		}
		if isConfigName(real) {
			return LayerConfig
		}
		return LayerApp
	case "library":
		// A library link takes the layer of the place it is linked from:
		// Tomcat's own jars (home/lib) change with the server, a JDBC
		// driver in base/lib with the app's libraries.
		if outer, pre := l.match(ref.path, true); outer != nil {
			rel := strings.TrimPrefix(strings.TrimPrefix(ref.path, pre), "/")
			if lay := l.layerAt(outer, ref.path, rel, ref.path); lay == LayerServer {
				return LayerServer
			}
		}
		return LayerLibraries
	case "main-jar":
		return LayerApp
	}
	return l.appLayer(real, rel)
}

// appLayer classifies a file of the app's own directories.
func (l *layering) appLayer(real, rel string) string {
	if isConfigName(real) {
		return LayerConfig
	}
	base := path.Base(real)
	if l.packageAssets[base] {
		return LayerLibraries
	}
	for _, c := range strings.Split(path.Dir(rel), "/") {
		switch c {
		case "lib", "libs", "ext", "runtimes":
			return LayerLibraries
		}
		if c == "WEB-INF" && strings.Contains(rel, "WEB-INF/lib/") {
			return LayerLibraries
		}
	}
	return LayerApp
}

// isConfigName says whether a file is named like a configuration file.
func isConfigName(p string) bool {
	if _, ok := appconfig.DetectKind(p); ok {
		return true
	}
	return strings.HasSuffix(strings.ToLower(p), ".config")
}

func roleOf(analysisRole string) string {
	switch analysisRole {
	case "server-home", "server-base", "server":
		return RoleServer
	case "webapp":
		return RoleWebApp
	case "config":
		return RoleConfig
	case "library":
		return RoleLibrary
	}
	return RoleApp
}
