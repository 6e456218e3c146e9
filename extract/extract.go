// Package extract owns the extract phase: it collects exactly an
// application's files from its host into a portable, deterministic archive
// with a manifest (checksums, owners, modes, layers), with secret values
// replaced by placeholders, and unpacks such archives safely on a worker.
package extract

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
)

// Options configures Extract.
type Options struct {
	Host      discover.Host
	Workspace discover.Workspace
	// ID is the app to extract; APP/analysis.json must exist.
	ID string
	// SourceDateEpoch is the modification time of every archive entry, in
	// seconds since 1970 (SOURCE_DATE_EPOCH; 0 is fine).
	SourceDateEpoch int64
	// AllowMissing turns included paths that no longer exist into
	// warnings; by default they are an error, because an image without
	// them is likely broken.
	AllowMissing bool
	// RefuseFoundSecrets makes a secret value found in a file the analysis
	// did not parse an error; by default it is redacted like the others.
	RefuseFoundSecrets bool
	// CompressionLevel is the gzip level (1-9); 0 means 1, the fastest,
	// since jars and wars are compressed already.
	CompressionLevel int
	// Logf, when set, receives progress messages.
	Logf func(format string, args ...any)
}

// Result is what Extract wrote.
type Result struct {
	ArchivePath  string
	ManifestPath string
	Manifest     *Manifest
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// SourceDateEpochFromEnv reads SOURCE_DATE_EPOCH (0 when unset).
func SourceDateEpochFromEnv() (int64, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", discover.ErrInvalid, v)
	}
	return n, nil
}

// appMode is application for application servers, process otherwise.
func appMode(t discover.AppType) string {
	switch t {
	case discover.TypeTomcat, discover.TypeTomEE, discover.TypeJetty, discover.TypeJBoss, discover.TypeMonoXSP:
		return ModeApplication
	}
	return ModeProcess
}

// broadDirs are never treated as a runtime's home: pruning them would
// drop far more than a runtime (Mono's home was once recorded as /usr).
var broadDirs = map[string]bool{
	"/": true, "/usr": true, "/usr/lib": true, "/usr/lib64": true, "/usr/share": true,
	"/usr/local": true, "/usr/local/lib": true, "/opt": true, "/lib": true, "/lib64": true,
	"/srv": true, "/home": true, "/var": true, "/var/lib": true, "/etc": true,
}

// extraction is one Extract call in progress.
type extraction struct {
	opts     Options
	a        *discover.Analysis
	secrets  discover.Secrets // this app's references only
	c        *collector
	includes []string
	runtime  Runtime

	// jarEdits are config entries of jars that must be redacted.
	jarEdits map[string]map[string]*zipEdit
	scan     *scanner
	redacted map[string]*RedactedFile // by path + "!/" + entry
	warnings []string
	workDir  string
}

func (x *extraction) logf(format string, args ...any) {
	if x.opts.Logf != nil {
		x.opts.Logf(format, args...)
	}
}

func (x *extraction) warn(format string, args ...any) {
	x.warnings = append(x.warnings, fmt.Sprintf(format, args...))
}

// Extract collects the app's files into APP/extract/APP.tar.gz and writes
// APP/extract/manifest.json. Nothing is left at either path on failure.
func Extract(ctx context.Context, opts Options) (*Result, error) {
	if !idRe.MatchString(opts.ID) {
		return nil, fmt.Errorf("extracting %q: %w: not an app ID (IDs look like java-tomcat-3f2a91c0); run `hoist inventory` to list them", opts.ID, discover.ErrInvalid)
	}
	if opts.SourceDateEpoch < 0 {
		return nil, fmt.Errorf("extracting %s: %w: SOURCE_DATE_EPOCH %d is before 1970", opts.ID, discover.ErrInvalid, opts.SourceDateEpoch)
	}
	if opts.CompressionLevel < 0 || opts.CompressionLevel > 9 {
		return nil, fmt.Errorf("extracting %s: %w: compression level %d is not between 1 and 9", opts.ID, discover.ErrInvalid, opts.CompressionLevel)
	}
	if opts.Host.Root == "" {
		opts.Host.Root = "/"
	}
	a, err := opts.Workspace.ReadAnalysis(opts.ID)
	if err != nil {
		if errors.Is(err, discover.ErrNotFound) {
			return nil, fmt.Errorf("extracting %s: %w; run `hoist analyze %s` first", opts.ID, err, opts.ID)
		}
		return nil, fmt.Errorf("extracting %s: %w", opts.ID, err)
	}
	apath := opts.Workspace.AnalysisPath(opts.ID)
	if a.ID != opts.ID {
		return nil, fmt.Errorf("extracting %s: %w: %s is the analysis of %q; run `hoist analyze %s --force` to write it again", opts.ID, discover.ErrInvalid, apath, a.ID, opts.ID)
	}
	all, err := opts.Workspace.ReadSecrets()
	if err != nil {
		return nil, fmt.Errorf("extracting %s: %w", opts.ID, err)
	}
	x := &extraction{opts: opts, a: a, secrets: discover.Secrets{}, redacted: map[string]*RedactedFile{}, jarEdits: map[string]map[string]*zipEdit{}}
	for k, v := range all {
		if strings.HasPrefix(k, opts.ID+"/") {
			x.secrets[k] = v
		}
	}
	if err := x.collect(ctx, apath); err != nil {
		return nil, fmt.Errorf("extracting %s: %w", opts.ID, err)
	}
	if err := x.prepareSecrets(); err != nil {
		return nil, fmt.Errorf("extracting %s: %w", opts.ID, err)
	}
	res, err := x.write(ctx)
	if err != nil {
		return nil, fmt.Errorf("extracting %s: %w", opts.ID, err)
	}
	return res, nil
}

// collect walks every included path.
func (x *extraction) collect(ctx context.Context, apath string) error {
	a, cp := x.a, x.a.ContainerParameters
	x.c = newCollector(ctx, x.opts.Host, nil)
	excl, err := newExcluder(x.c, cp.Exclude, apath)
	if err != nil {
		return err
	}
	x.c.excl = excl
	// The workspace may sit inside the app's directory (hoist run from
	// there): never archive it, secrets file and half-written archive
	// included.
	if p, ok := hostPathOf(x.opts.Host, x.opts.Workspace.Dir); ok {
		excl.rules = append([]excludeRule{{name: "the hoist workspace", prefix: p}}, excl.rules...)
	}

	seen := map[string]bool{}
	add := func(p, from string) error {
		if p == "" {
			return nil
		}
		if !path.IsAbs(p) {
			return fmt.Errorf("%w: %s: %s entry %q is not an absolute path; fix it", discover.ErrInvalid, apath, from, p)
		}
		p = path.Clean(p)
		if p == "/" || under(p, "/proc") || under(p, "/sys") || under(p, "/dev") {
			return fmt.Errorf("%w: %s: %s entry %q would archive the whole system or a kernel filesystem; list the app's own directories instead", discover.ErrInvalid, apath, from, p)
		}
		if !seen[p] {
			seen[p] = true
			x.includes = append(x.includes, p)
		}
		return nil
	}
	for _, p := range cp.Include {
		if err := add(p, "containerParameters.include"); err != nil {
			return err
		}
	}
	for _, f := range a.Observed.Files.App {
		if f.External {
			if err := add(f.Path, "observed.files.app"); err != nil {
				return err
			}
		}
	}
	sort.Strings(x.includes)
	if len(x.includes) == 0 {
		return fmt.Errorf("%w: %s lists nothing to include (containerParameters.include is empty); add the app's directories or run `hoist analyze %s --force`", discover.ErrInvalid, apath, x.opts.ID)
	}

	rt := a.Observed.Runtime
	x.runtime = Runtime{Kind: rt.Kind, Version: rt.Version, Home: rt.Home}
	homes := []string{rt.Home}
	for _, r := range a.Observed.Files.Runtime {
		homes = append(homes, r.Path)
	}
	for _, h := range homes {
		if h == "" || !path.IsAbs(h) {
			continue
		}
		h = path.Clean(h)
		if broadDirs[h] {
			x.warn("the runtime's home %s is too broad to leave out; nothing was pruned for it (run `hoist analyze %s` again)", h, x.opts.ID)
			continue
		}
		real := h
		if r, _, ok, err := x.c.resolve(h); err == nil && ok {
			real = r
		}
		if !contains(x.c.runtimes, real) {
			x.c.runtimes = append(x.c.runtimes, real)
		}
	}
	sort.Strings(x.c.runtimes)

	x.logf("collecting %d include paths of %s", len(x.includes), x.opts.ID)
	for _, p := range x.includes {
		if err := x.c.include(p); err != nil {
			return err
		}
	}
	if len(x.c.missing) > 0 {
		msg := fmt.Sprintf("%d included paths no longer exist: %s", len(x.c.missing), listSome(x.c.missing))
		if !x.opts.AllowMissing {
			return fmt.Errorf("%w: %s; run `hoist analyze %s` again if the app changed, remove them from containerParameters.include in %s, or pass --allow-missing", discover.ErrNotFound, msg, x.opts.ID, apath)
		}
		x.warn("%s; they are not in the archive", msg)
	}
	if len(x.c.unreadable) > 0 {
		return fmt.Errorf("%w: %d paths could not be read: %s; run hoist as root (or as the app's user), or add them to containerParameters.exclude in %s", discover.ErrUnavailable, len(x.c.unreadable), listSome(x.c.unreadable), apath)
	}
	x.runtime.Paths = x.c.runtimes
	newLayering(x.c, a, x.includes).assign(x.c.entries)
	for p, orig := range x.c.normalizeLinks() {
		x.c.entries[p].hostLink = orig
	}
	links := map[string]string{}
	for p, e := range x.c.entries {
		if e.typ == TypeSymlink {
			links[p] = e.link
		}
	}
	var bad []string
	for p, t := range links {
		if linkEscapes(p, t, links) {
			bad = append(bad, p+" -> "+t)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("symlinks that cannot be kept inside the image: %s; exclude them in %s", listSome(bad), apath)
	}
	return nil
}

// hostPathOf maps a path of this machine to the host's view, when it lies
// inside the host root.
func hostPathOf(h discover.Host, local string) (string, bool) {
	abs, err := filepath.Abs(local)
	if err != nil {
		return "", false
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	root := h.Root
	if root == "" || root == "/" {
		return filepath.ToSlash(abs), true
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return path.Join("/", filepath.ToSlash(rel)), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// listSome lists up to ten items.
func listSome(items []string) string {
	if len(items) <= 10 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:10], ", ") + fmt.Sprintf(" and %d more", len(items)-10)
}

// maxConfigFile is the largest config file redacted (as in discover).
const maxConfigFile = 8 << 20

// prepareSecrets redacts the config files the analysis found secrets in,
// and sets up the scan for secret values everywhere else.
func (x *extraction) prepareSecrets() error {
	var vals []secretValue
	var errs []string
	for _, cf := range x.a.Observed.ConfigFiles {
		kind := cf.Kind
		if kind == "" {
			continue
		}
		jarPath, entryName, inJar := strings.Cut(cf.Path, "!/")
		target := cf.Path
		if inJar {
			target = jarPath
		}
		e := x.c.entries[target]
		if e == nil {
			if real, _, ok, err := x.c.resolve(target); err == nil && ok {
				e = x.c.entries[real]
			}
		}
		if e == nil || e.typ != TypeFile {
			if len(cf.SecretRefs) > 0 {
				x.warn("%s holds secrets but is not in the archive (not included, or excluded)", cf.Path)
			}
			continue
		}
		if inJar && strings.Contains(entryName, "!/") {
			if len(cf.SecretRefs) > 0 {
				errs = append(errs, fmt.Sprintf("%s is inside a jar inside a jar, which hoist cannot rewrite; move the setting to an external config file (or the environment) and run `hoist analyze %s` again", cf.Path, x.opts.ID))
			}
			continue
		}
		var data []byte
		var err error
		local := hostFile(x.opts.Host, e.path)
		if inJar {
			data, err = readJarFile(local, entryName)
		} else {
			data, err = readLocal(local, maxConfigFile)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading %s: %v", cf.Path, err))
			continue
		}
		out, secrets, warnings, err := redactConfig(cf.Path, kind, data, cf.SecretRefs, x.secrets, x.opts.ID)
		x.warnings = append(x.warnings, warnings...)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if out == nil {
			if cf.Error != "" {
				x.warn("%s could not be parsed by the analysis (%s); it was searched only for the secret values hoist knows", cf.Path, cf.Error)
			}
			continue
		}
		for _, s := range secrets {
			// The value as the file spells it, to find copies of the file.
			if enc, err := EncodeSecret(s, x.secrets[s.Ref]); err == nil && enc != x.secrets[s.Ref] {
				vals = append(vals, secretValue{ref: s.Ref, value: []byte(enc), encoding: s.Encoding})
			}
		}
		if inJar {
			if x.jarEdits[e.path] == nil {
				x.jarEdits[e.path] = map[string]*zipEdit{}
			}
			x.jarEdits[e.path][entryName] = &zipEdit{kind: kind, data: out, secrets: secrets}
		} else {
			e.data = out
			if err := x.addRedacted(e.path, "", kind, "config", secrets); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("secrets would enter the archive: %s", strings.Join(errs, "; "))
	}
	refs := make([]string, 0, len(x.secrets))
	for r := range x.secrets {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		v := x.secrets[r]
		if v == "" {
			continue
		}
		if len(v) < minScanLen {
			x.warn("secret %s is shorter than %d characters, so other files are not searched for it; such a value is easy to guess: change it", r, minScanLen)
			continue
		}
		vals = append(vals, secretValue{ref: r, value: []byte(v), encoding: EncodingVerbatim})
	}
	x.scan = newScanner(vals)
	return nil
}

// addRedacted notes what was redacted in a file (or a jar entry). A
// reference must be spelled one way within one file.
func (x *extraction) addRedacted(p, entryName string, kind appconfig.Kind, source string, secrets []RedactedSecret) error {
	if len(secrets) == 0 {
		return nil
	}
	key := p + "!/" + entryName
	r := x.redacted[key]
	if r == nil {
		r = &RedactedFile{Path: p, Entry: entryName, Kind: kind, Source: source}
		x.redacted[key] = r
	}
	name := p
	if entryName != "" {
		name += "!/" + entryName
	}
	for _, s := range secrets {
		dup := false
		for _, old := range r.Secrets {
			if old.Ref != s.Ref {
				continue
			}
			dup = true
			a, errA := EncodeSecret(old, x.secrets[s.Ref])
			b, errB := EncodeSecret(s, x.secrets[s.Ref])
			if errA != nil || errB != nil || a != b {
				return fmt.Errorf("%s holds the secret %s both as the analysis found it and elsewhere spelled differently (%s, %s); remove the extra copy and run the command again", name, s.Ref, old.Encoding, s.Encoding)
			}
		}
		if !dup {
			r.Secrets = append(r.Secrets, s)
		}
	}
	sort.Slice(r.Secrets, func(i, j int) bool { return r.Secrets[i].Ref < r.Secrets[j].Ref })
	return nil
}

func readLocal(local string, max int64) ([]byte, error) {
	f, err := openNoFollow(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllMax(f, max)
}

// manifest describes what was written.
func (x *extraction) manifest(paths []string) (*Manifest, error) {
	a := x.a
	m := &Manifest{
		SchemaVersion:   ManifestSchemaVersion,
		App:             a.ID,
		Type:            a.Type,
		Mode:            appMode(a.Type),
		Host:            a.Observed.Host,
		Runtime:         x.runtime,
		User:            a.ContainerParameters.User,
		SourceDateEpoch: x.opts.SourceDateEpoch,
		Include:         x.includes,
		Files:           make([]File, 0, len(paths)),
	}
	for _, p := range paths {
		e := x.c.entries[p]
		if e.typ == TypeFile && e.sha == "" {
			continue // not written (unreadable): Extract failed already
		}
		m.Files = append(m.Files, File{
			Path: e.path, Type: e.typ, Size: e.size, Mode: e.mode, UID: e.uid, GID: e.gid,
			SHA256: e.sha, LinkTarget: e.link, HostLinkTarget: e.hostLink, Role: e.role, Layer: e.layer, Redacted: e.redacted,
		})
	}
	keys := make([]string, 0, len(x.redacted))
	for k := range x.redacted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.Redacted = append(m.Redacted, *x.redacted[k])
	}
	for _, e := range x.c.excluded {
		m.Excluded = append(m.Excluded, *e)
	}
	sort.Slice(m.Excluded, func(i, j int) bool { return m.Excluded[i].Path < m.Excluded[j].Path })
	m.Sizes = x.sizes(m)
	ws := append(append([]string{}, x.c.warnings...), x.warnings...)
	m.Warnings = dedup(ws)
	return m, nil
}

// sizes adds up the archive by top-level include, by layer, and lists the
// biggest files.
func (x *extraction) sizes(m *Manifest) Sizes {
	var s Sizes
	// Top-level includes: those not below another include.
	type top struct{ path, real string }
	var tops []top
	for _, p := range x.includes {
		nested := false
		for _, t := range tops {
			if under(p, t.path) {
				nested = true
				break
			}
		}
		if nested {
			continue
		}
		t := top{path: p, real: p}
		if r, _, ok, err := x.c.resolve(p); err == nil && ok {
			t.real = r
		}
		tops = append(tops, t)
	}
	byInclude := make([]SizeEntry, len(tops))
	for i, t := range tops {
		byInclude[i].Path = t.path
	}
	other := SizeEntry{Path: "(elsewhere, through symlinks)"}
	byLayer := map[string]*SizeEntry{}
	for _, l := range Layers {
		byLayer[l] = &SizeEntry{Layer: l}
	}
	for _, f := range m.Files {
		if f.Type != TypeFile {
			continue
		}
		s.Total += f.Size
		s.Files++
		if l := byLayer[f.Layer]; l != nil {
			l.Size += f.Size
			l.Files++
		}
		e := x.c.entries[f.Path]
		idx := -1
		for _, pos := range []string{f.Path, e.via} {
			if pos == "" {
				continue
			}
			for i, t := range tops {
				if under(pos, t.real) || under(pos, t.path) {
					idx = i
					break
				}
			}
			if idx >= 0 {
				break
			}
		}
		if idx >= 0 {
			byInclude[idx].Size += f.Size
			byInclude[idx].Files++
		} else {
			other.Size += f.Size
			other.Files++
		}
		s.Largest = append(s.Largest, SizeEntry{Path: f.Path, Size: f.Size, Files: 1})
	}
	if other.Files > 0 {
		byInclude = append(byInclude, other)
	}
	s.Include = byInclude
	for _, l := range Layers {
		s.Layers = append(s.Layers, *byLayer[l])
	}
	sort.Slice(s.Largest, func(i, j int) bool {
		if s.Largest[i].Size != s.Largest[j].Size {
			return s.Largest[i].Size > s.Largest[j].Size
		}
		return s.Largest[i].Path < s.Largest[j].Path
	})
	if len(s.Largest) > 20 {
		s.Largest = s.Largest[:20]
	}
	for _, e := range m.Excluded {
		s.Excluded.Size += e.Size
		s.Excluded.Files += e.Files
	}
	return s
}
