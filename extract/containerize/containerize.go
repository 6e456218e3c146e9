// Package containerize turns an extracted app into an image: it writes a
// readable Dockerfile and a build context into the workspace (the app's
// files split into layers from least to most often changed, plus the app's
// own runtime for the `host` base strategy) and builds it with BuildKit on
// hoist's engine.
package containerize

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract"
	"github.com/hoistctl/hoist/extract/buildkit"
	"github.com/hoistctl/hoist/extract/render"
)

// Options configures one containerize run.
type Options struct {
	Workspace discover.Workspace
	ID        string
	// InputArchive is an archive from `hoist extract` made on another
	// machine (worker-machine mode); empty means the workspace's.
	InputArchive string
	// BuildOnly rebuilds from the Dockerfile and context already in the
	// workspace (after the user edited the Dockerfile).
	BuildOnly bool
	// Base assembles the `host` base (the app's own runtime) into a
	// directory; nil makes the host strategy an error.
	Base func(ctx context.Context, a *discover.Analysis, m *extract.Manifest, dest string) error
	// BuildkitAddr is the buildkitd to build with.
	BuildkitAddr string
	// OCIArchive also writes the image as an OCI archive.
	OCIArchive string
	// BaseImage, when set, overrides containerParameters.baseImage for
	// this build: "host" or an image reference (--base-image).
	BaseImage string
	// BaseKey says how Base assembles (e.g. "jlink=true"): part of the key
	// under which an assembled base is reused.
	BaseKey string
	// EntryBinary is hoist-entry (cmd/hoist-entry), copied into images
	// whose config files or command line hold secret placeholders.
	EntryBinary string
	Progress    io.Writer
	Mode        string // BuildKit display: auto, tty, plain, quiet
	Logf        func(string, ...any)
}

// Result is what containerize produced; it is also written to
// APP/containerize/image.json.
type Result struct {
	Image        string `json:"image"`
	Digest       string `json:"digest"`
	ConfigDigest string `json:"configDigest"`
	Dockerfile   string `json:"dockerfile"`
	BaseImage    string `json:"baseImage"`
	// Secrets say how each secret reaches the container at deploy time:
	// the environment variable to set from the secret store.
	Secrets []SecretUse `json:"secrets,omitempty"`
}

// SecretUse is one secret the container needs at start.
type SecretUse struct {
	Ref string `json:"ref"`
	// Env is the environment variable the deployment sets to the value.
	Env string `json:"env"`
	// Use is "env" (the app reads the variable itself), "file" (hoist-entry
	// renders it into a config file) or "arg" (into the command line).
	Use string `json:"use"`
}

// Dir is APP/containerize.
func Dir(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "containerize")
}

// Containerize writes the Dockerfile and build context, then builds.
func Containerize(ctx context.Context, o Options) (*Result, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	dir := Dir(o.Workspace, o.ID)
	dockerfile := filepath.Join(dir, "Dockerfile")
	ctxDir := filepath.Join(dir, "context")
	var (
		a   *discover.Analysis
		m   *extract.Manifest
		err error
	)
	if err := CheckInputs(o); err != nil {
		return nil, err
	}
	if o.BuildOnly {
		data, err := os.ReadFile(filepath.Join(ctxDir, "hoist-manifest.json"))
		if err != nil {
			return nil, fmt.Errorf("rebuilding %s: reading the context's manifest: %w", o.ID, err)
		}
		m = &extract.Manifest{}
		if err := json.Unmarshal(data, m); err != nil {
			return nil, fmt.Errorf("%w: the build context's manifest: %v; run `hoist containerize %s` again", discover.ErrInvalid, err, o.ID)
		}
		if a, err = readArchivedAnalysis(ctxDir); err != nil {
			return nil, err
		}
	} else {
		t0 := time.Now()
		if a, m, err = prepare(ctx, o, ctxDir); err != nil {
			return nil, err
		}
		o.Logf("build context ready in %s", time.Since(t0).Round(time.Millisecond))
		df, err := Dockerfile(a, m)
		if err != nil {
			return nil, err
		}
		if err := discover.WriteFileAtomic(dockerfile, df, 0o644); err != nil {
			return nil, err
		}
		o.Logf("wrote %s", dockerfile)
	}
	image := ImageRef(a)
	t1 := time.Now()
	// Every time in the context is the epoch: BuildKit need not rewrite
	// the layers (which costs a second per 50 MB on every build).
	if err := buildkit.SetEpoch(ctxDir, m.SourceDateEpoch); err != nil {
		return nil, err
	}
	res, err := buildkit.Build(ctx, buildkit.Options{
		Address:         o.BuildkitAddr,
		ContextDir:      ctxDir,
		Dockerfile:      "../Dockerfile",
		Image:           image,
		SourceDateEpoch: m.SourceDateEpoch,
		ContextAtEpoch:  true,
		OCIArchive:      o.OCIArchive,
		Progress:        o.Progress,
		Mode:            o.Mode,
	})
	if err != nil {
		return nil, err
	}
	took := time.Since(t1)
	o.Logf("built %s in %s", image, took.Round(time.Millisecond))
	uses, err := SecretUses(a, m)
	if err != nil {
		return nil, err
	}
	r := &Result{Image: image, Digest: res.Digest, ConfigDigest: res.ConfigDigest, Dockerfile: dockerfile, BaseImage: a.ContainerParameters.BaseImage, Secrets: uses}
	data, err := discover.MarshalJSON(r)
	if err != nil {
		return nil, err
	}
	if err := discover.WriteFileAtomic(filepath.Join(dir, "image.json"), data, 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckInputs says, before any engine is started, whether the files a run
// needs are there: the archive (or, for BuildOnly, the Dockerfile and
// context from an earlier run).
func CheckInputs(o Options) error {
	dir := Dir(o.Workspace, o.ID)
	var need []string
	switch {
	case o.BuildOnly:
		need = []string{filepath.Join(dir, "Dockerfile"), filepath.Join(dir, "context")}
	case o.InputArchive != "":
		need = []string{o.InputArchive}
	default:
		need = []string{extract.ArchivePath(o.Workspace, o.ID)}
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			if o.BuildOnly {
				return fmt.Errorf("rebuilding %s: %w: no %s; run `hoist containerize %s` first", o.ID, discover.ErrNotFound, p, o.ID)
			}
			if o.InputArchive != "" {
				return fmt.Errorf("containerizing %s: %w: no archive at %s", o.ID, discover.ErrNotFound, p)
			}
			return fmt.Errorf("containerizing %s: %w: no archive at %s; run `hoist extract %s` first", o.ID, discover.ErrNotFound, p, o.ID)
		}
	}
	return nil
}

// ImageRef is the image's name in the engine's store.
func ImageRef(a *discover.Analysis) string {
	name, tag := a.ContainerParameters.ImageName, a.ContainerParameters.ImageTag
	if name == "" {
		name = a.ID
	}
	if tag == "" {
		tag = "latest"
	}
	return "hoist.local/" + name + ":" + tag
}

// prepare unpacks the archive and lays the build context out in layers.
func prepare(ctx context.Context, o Options, ctxDir string) (*discover.Analysis, *extract.Manifest, error) {
	archive := o.InputArchive
	if archive == "" {
		archive = extract.ArchivePath(o.Workspace, o.ID)
	}
	unpacked := ctxDir + ".unpack"
	_ = os.RemoveAll(unpacked)
	defer os.RemoveAll(unpacked)
	m, err := extract.Unpack(ctx, archive, unpacked)
	if err != nil {
		return nil, nil, err
	}
	if m.App != o.ID {
		return nil, nil, fmt.Errorf("%w: %s holds app %s, not %s", discover.ErrInvalid, archive, m.App, o.ID)
	}
	a, err := readArchivedAnalysis(unpacked)
	if err != nil {
		return nil, nil, err
	}
	// The workspace's analysis.json, which the user may have edited since
	// the extract (ports, base image, environment), wins over the copy in
	// the archive; an archive from elsewhere brings its own.
	if o.InputArchive == "" {
		wa, err := o.Workspace.ReadAnalysis(o.ID)
		switch {
		case err == nil:
			a = wa
		case !errors.Is(err, discover.ErrNotFound):
			return nil, nil, err
		}
	}
	if o.BaseImage != "" {
		a.ContainerParameters.BaseImage = o.BaseImage
	}
	// The context is derived data: rebuilt from the archive every time,
	// except the host base, which is kept while its key matches. It is
	// cleared only once the archive and the analysis are known good, so a
	// bad archive leaves the last context for --build-only.
	if err := clearContext(ctxDir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return nil, nil, err
	}
	// Keep what --build-only needs beside the layers.
	data, err := os.ReadFile(filepath.Join(unpacked, extract.ArchiveManifest))
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "hoist-"+path.Base(extract.ArchiveManifest)), data, 0o644); err != nil {
		return nil, nil, err
	}
	if data, err = discover.MarshalJSON(a); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "hoist-"+path.Base(extract.ArchiveAnalysis)), data, 0o644); err != nil {
		return nil, nil, err
	}
	giveRedactedToUser(a, m)
	if err := layout(unpacked, ctxDir, m); err != nil {
		return nil, nil, err
	}
	if err := writeEntry(o, a, m, ctxDir); err != nil {
		return nil, nil, err
	}
	if isHostBase(a) {
		if o.Base == nil {
			return nil, nil, fmt.Errorf("containerizing %s: the host base strategy is not available here; set containerParameters.baseImage to an image reference", o.ID)
		}
		key, err := baseKey(o, a, m)
		if err != nil {
			return nil, nil, err
		}
		keyFile := filepath.Join(ctxDir, "base.key")
		if old, err := os.ReadFile(keyFile); err == nil && string(old) == key {
			o.Logf("host base: unchanged since the last build (same runtime, user and application jars); reusing it")
		} else {
			_ = os.Remove(keyFile)
			if err := os.RemoveAll(filepath.Join(ctxDir, "base")); err != nil {
				return nil, nil, err
			}
			if err := o.Base(ctx, a, m, filepath.Join(ctxDir, "base")); err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(keyFile, []byte(key), 0o644); err != nil {
				return nil, nil, err
			}
		}
	}
	return a, m, nil
}

func readArchivedAnalysis(dir string) (*discover.Analysis, error) {
	p := filepath.Join(dir, extract.ArchiveAnalysis)
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join(dir, "hoist-analysis.json")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading the archived analysis: %w", err)
	}
	var a discover.Analysis
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%w: archived analysis %s: %v", discover.ErrInvalid, p, err)
	}
	return &a, nil
}

// owner is a uid:gid pair; BuildKit's COPY sets ownership per instruction,
// so each layer is split by owner.
type owner struct{ uid, gid uint32 }

func (o owner) dir() string { return fmt.Sprintf("%d_%d", o.uid, o.gid) }

// layerDir is where a layer's files for one owner go in the context.
func layerDir(ctxDir, layer string, o owner) string {
	return filepath.Join(ctxDir, "layers", layer, o.dir())
}

// layerOf is the context layer of a manifest entry: directories go first,
// in a layer of their own.
func layerOf(f extract.File) string {
	switch {
	case f.Type == "dir":
		return "dirs"
	case f.Layer == "":
		return "app"
	}
	return f.Layer
}

// inContext is where host path p, laid out with manifest entry f (its
// layer and owner), is in the build context.
func inContext(ctxDir string, f extract.File, p string) string {
	return filepath.Join(layerDir(ctxDir, layerOf(f), owner{f.UID, f.GID}), filepath.FromSlash(p))
}

// layout moves the unpacked files into context/layers/<layer>/<uid>_<gid>,
// at their absolute paths. Directories go into the "dirs" layer, first, so
// every directory has its owner and mode however the files are split.
func layout(unpacked, ctxDir string, m *extract.Manifest) error {
	root := filepath.Join(unpacked, extract.ArchiveRootfs)
	for _, f := range m.Files {
		dst := inContext(ctxDir, f, f.Path)
		src := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if f.Type == "dir" {
			if err := os.MkdirAll(dst, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
				return err
			}
			_ = os.Chmod(dst, fs.FileMode(f.Mode)&fs.ModePerm)
			continue
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("laying out %s: %w", f.Path, err)
		}
		if f.Redacted && f.Type == "file" {
			if err := os.Chmod(dst, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
				return err
			}
		}
	}
	return nil
}

// layerOrder is least to most often changed.
var layerOrder = []string{"dirs", "server", "libraries", "app", "config"}

// Dockerfile renders the Dockerfile for an analysed, extracted app. The
// context must have been laid out by prepare.
func Dockerfile(a *discover.Analysis, m *extract.Manifest) ([]byte, error) {
	var b strings.Builder
	cp := a.ContainerParameters
	o := a.Observed
	fmt.Fprintf(&b, "# Generated by hoist for %s (%s) from analysis.json and the extract manifest.\n", a.ID, a.Type)
	b.WriteString("# Edit freely, then rebuild with `hoist containerize " + a.ID + " --build-only`.\n")
	b.WriteString("# Layers go from least to most often changed, so a change to the app's\n# own files rebuilds only the last layers.\n")
	base := cp.BaseImage
	if base == "" || base == "host" {
		b.WriteString("\n# Base: the app's own runtime, copied from the source host (strategy `host`).\nFROM scratch\nCOPY base/ /\n")
	} else {
		fmt.Fprintf(&b, "\nFROM %s\n", base)
	}
	entry, err := needsEntry(a, m)
	if err != nil {
		return nil, err
	}
	if entry {
		b.WriteString("\n# hoist-entry renders the secrets (from HOIST_SECRET_* variables set at\n# deploy time) into the files and arguments render.json lists, then execs\n# the app. Files it renders belong to the app's user.\nCOPY entry/ /\n")
	}
	owners := map[string][]owner{}
	seen := map[string]bool{}
	for _, f := range m.Files {
		layer := layerOf(f)
		ow := owner{f.UID, f.GID}
		k := layer + "/" + ow.dir()
		if !seen[k] {
			seen[k] = true
			owners[layer] = append(owners[layer], ow)
		}
	}
	for _, layer := range layerOrder {
		ows := owners[layer]
		if len(ows) == 0 {
			continue
		}
		sort.Slice(ows, func(i, j int) bool {
			if ows[i].uid != ows[j].uid {
				return ows[i].uid < ows[j].uid
			}
			return ows[i].gid < ows[j].gid
		})
		fmt.Fprintf(&b, "\n# %s\n", layerComment[layer])
		for _, ow := range ows {
			fmt.Fprintf(&b, "COPY --chown=%d:%d layers/%s/%s/ /\n", ow.uid, ow.gid, layer, ow.dir())
		}
	}
	env, err := environment(a)
	if err != nil {
		return nil, err
	}
	if len(env) > 0 {
		b.WriteString("\n# The app's environment; secrets are supplied at deploy time, never baked in.\n")
		for _, kv := range env {
			fmt.Fprintf(&b, "ENV %s=%s\n", kv[0], strconv.Quote(kv[1]))
		}
	}
	if len(cp.Ports) > 0 {
		b.WriteString("\n")
		ports := append([]discover.ExposedPort(nil), cp.Ports...)
		sort.Slice(ports, func(i, j int) bool {
			if ports[i].Port != ports[j].Port {
				return ports[i].Port < ports[j].Port
			}
			return ports[i].Protocol < ports[j].Protocol
		})
		for _, p := range ports {
			fmt.Fprintf(&b, "EXPOSE %d/%s\n", p.Port, p.Protocol)
		}
	}
	user := cp.User
	if user == "" {
		user = fmt.Sprintf("%d:%d", o.Process.UID, o.Process.GID)
	}
	fmt.Fprintf(&b, "\nUSER %s\n", user)
	if cp.WorkingDir != "" {
		fmt.Fprintf(&b, "WORKDIR %s\n", cp.WorkingDir)
	}
	argv, err := entrypoint(a)
	if err != nil {
		return nil, err
	}
	q := make([]string, len(argv))
	for i, s := range argv {
		j, _ := json.Marshal(s)
		q[i] = string(j)
	}
	if entry {
		q = append([]string{`"` + render.EntryPath + `"`, `"--"`}, q...)
	}
	fmt.Fprintf(&b, "ENTRYPOINT [%s]\n", strings.Join(q, ", "))
	return []byte(b.String()), nil
}

var layerComment = map[string]string{
	"dirs":      "Directories, with their owners and modes.",
	"server":    "The application server.",
	"libraries": "Third-party libraries.",
	"app":       "The app's own classes and resources.",
	"config":    "Configuration (secret values replaced by {{hoist-secret:REF}} placeholders).",
}

// environment is the app's non-secret, non-session environment with the
// user's overrides applied, sorted by name.
func environment(a *discover.Analysis) ([][2]string, error) {
	vals := map[string]string{}
	for _, e := range a.Observed.Environment {
		if e.System || e.SecretRef != "" {
			continue
		}
		vals[e.Name] = e.Value
	}
	for _, ov := range a.ContainerParameters.Env {
		switch {
		case ov.Remove:
			delete(vals, ov.Name)
		case ov.SecretRef != "":
			delete(vals, ov.Name) // supplied at deploy time
		default:
			vals[ov.Name] = ov.Value
		}
	}
	if home := a.Observed.Runtime.Home; home != "" && isHostBase(a) {
		vals["PATH"] = home + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		if strings.ContainsAny(n, "= \t\n") {
			return nil, fmt.Errorf("%w: environment variable name %q cannot be written to a Dockerfile", discover.ErrInvalid, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([][2]string, len(names))
	for i, n := range names {
		out[i] = [2]string{n, vals[n]}
	}
	return out, nil
}

// entrypoint is the original command line, with the launcher replaced by
// the executable's absolute path (the container has no PATH search for a
// bare "java" from a host shell's point of view).
func entrypoint(a *discover.Analysis) ([]string, error) {
	p := a.Observed.Process
	if len(p.Cmdline) == 0 {
		return nil, fmt.Errorf("%w: analysis of %s has no command line", discover.ErrInvalid, a.ID)
	}
	argv := append([]string(nil), p.Cmdline...)
	if isHostBase(a) {
		if p.Exe != "" {
			argv[0] = p.Exe
		}
		return argv, nil
	}
	// Another base image has its own runtime, somewhere else: the
	// launcher by name, found on the image's PATH.
	home := a.Observed.Runtime.Home
	for _, c := range []string{argv[0], p.Exe} {
		if home != "" && strings.HasPrefix(c, strings.TrimSuffix(home, "/")+"/") {
			argv[0] = path.Base(c)
			break
		}
	}
	return argv, nil
}

// isHostBase says whether the image is built on the host base strategy.
func isHostBase(a *discover.Analysis) bool {
	b := a.ContainerParameters.BaseImage
	return b == "" || b == "host"
}

// AppJars lists, as paths in a laid-out build context, the app's jars and
// class directories (for jdeps to find the Java modules the app needs).
func AppJars(ctxDir string, m *extract.Manifest) []string {
	var out []string
	for _, f := range m.Files {
		if f.Type != "file" || !(strings.HasSuffix(f.Path, ".jar") || strings.HasSuffix(f.Path, ".war")) {
			continue
		}
		out = append(out, inContext(ctxDir, f, f.Path))
	}
	for _, p := range m.Include {
		if strings.HasSuffix(p, ".jar") {
			continue
		}
		for _, f := range m.Files {
			if f.Type == "file" && strings.HasSuffix(f.Path, ".class") && strings.HasPrefix(f.Path, p+"/") {
				// jdeps reads a classes directory: the include path in
				// the layer holding its first class file.
				out = append(out, inContext(ctxDir, f, p))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// giveRedactedToUser makes the files that hold secret placeholders the
// app's user's, readable and writable by it, so that hoist-entry, running
// as that user, can render them in place.
func giveRedactedToUser(a *discover.Analysis, m *extract.Manifest) {
	p := a.Observed.Process
	for i := range m.Files {
		f := &m.Files[i]
		if !f.Redacted || f.Type != "file" {
			continue
		}
		f.UID, f.GID = p.UID, p.GID
		f.Mode |= 0o600
	}
}

// needsEntry says whether the image needs hoist-entry: secrets in config
// files or in the command line.
func needsEntry(a *discover.Analysis, m *extract.Manifest) (bool, error) {
	if len(m.Redacted) > 0 {
		return true, nil
	}
	argv, err := entrypoint(a)
	if err != nil {
		return false, err
	}
	return len(render.ArgRefs(argv)) > 0, nil
}

// Plan is what hoist-entry renders at container start.
func Plan(a *discover.Analysis, m *extract.Manifest) (*render.Plan, error) {
	p := &render.Plan{Env: map[string]string{}}
	for _, r := range m.Redacted {
		p.Files = append(p.Files, render.File{Path: r.Path, Entry: r.Entry, Secrets: r.Secrets})
		for _, s := range r.Secrets {
			p.Env[s.Ref] = render.EnvName(s.Ref)
		}
	}
	argv, err := entrypoint(a)
	if err != nil {
		return nil, err
	}
	for _, ref := range render.ArgRefs(argv) {
		p.Env[ref] = render.EnvName(ref)
	}
	return p, nil
}

// SecretUses lists every secret the container needs, with the variable
// that carries it, sorted by reference.
func SecretUses(a *discover.Analysis, m *extract.Manifest) ([]SecretUse, error) {
	byRef := map[string]SecretUse{}
	for _, e := range a.Observed.Environment {
		if e.SecretRef != "" && !e.System {
			byRef[e.SecretRef] = SecretUse{Ref: e.SecretRef, Env: e.Name, Use: "env"}
		}
	}
	for _, ov := range a.ContainerParameters.Env {
		switch {
		case ov.SecretRef != "":
			byRef[ov.SecretRef] = SecretUse{Ref: ov.SecretRef, Env: ov.Name, Use: "env"}
		case ov.Remove:
			for ref, u := range byRef {
				if u.Env == ov.Name {
					delete(byRef, ref)
				}
			}
		}
	}
	for _, r := range m.Redacted {
		for _, s := range r.Secrets {
			byRef[s.Ref] = SecretUse{Ref: s.Ref, Env: render.EnvName(s.Ref), Use: "file"}
		}
	}
	argv, err := entrypoint(a)
	if err != nil {
		return nil, err
	}
	for _, ref := range render.ArgRefs(argv) {
		byRef[ref] = SecretUse{Ref: ref, Env: render.EnvName(ref), Use: "arg"}
	}
	out := make([]SecretUse, 0, len(byRef))
	for _, u := range byRef {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// writeEntry puts hoist-entry and its plan into context/entry when the
// image needs them.
func writeEntry(o Options, a *discover.Analysis, m *extract.Manifest, ctxDir string) error {
	need, err := needsEntry(a, m)
	if err != nil || !need {
		return err
	}
	if o.EntryBinary == "" {
		return fmt.Errorf("containerizing %s: its config files or command line hold secrets, which hoist-entry renders at container start, but hoist-entry was not found: run `make build` (it is built into bin/ beside hoist) or set HOIST_ENTRY to its path", o.ID)
	}
	bin, err := os.ReadFile(o.EntryBinary)
	if err != nil {
		return fmt.Errorf("reading hoist-entry: %w; run `make build` or set HOIST_ENTRY to its path", err)
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return fmt.Errorf("%s is not a Linux executable: %w", o.EntryBinary, discover.ErrInvalid)
	}
	plan, err := Plan(a, m)
	if err != nil {
		return err
	}
	data, err := discover.MarshalJSON(plan)
	if err != nil {
		return err
	}
	dir := filepath.Join(ctxDir, "entry", filepath.FromSlash(path.Dir(render.EntryPath)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "entry", filepath.FromSlash(render.EntryPath)), bin, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ctxDir, "entry", filepath.FromSlash(render.PlanPath)), data, 0o644)
}

// clearContext empties the build context but for the host base and its key.
func clearContext(ctxDir string) error {
	entries, err := os.ReadDir(ctxDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "base" || e.Name() == "base.key" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(ctxDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// baseKey identifies a host base: what it is assembled from (the runtime,
// the process's executable and user, the application jars jdeps reads) and
// how (Options.BaseKey). The host's runtime files themselves are not
// hashed: delete APP/containerize/context/base after updating the JDK.
func baseKey(o Options, a *discover.Analysis, m *extract.Manifest) (string, error) {
	type jar struct{ Path, SHA256 string }
	var jars []jar
	for _, f := range m.Files {
		if f.Type == "file" && (strings.HasSuffix(f.Path, ".jar") || strings.HasSuffix(f.Path, ".war") || strings.HasSuffix(f.Path, ".class")) {
			jars = append(jars, jar{f.Path, f.SHA256})
		}
	}
	p := a.Observed.Process
	data, err := json.Marshal(struct {
		Version       int
		Options       string
		Runtime       discover.RuntimeInfo
		Exe           string
		Cmd0          string
		UID, GID      uint32
		User, Group   string
		Supplementary []uint32
		Libraries     []string
		Jars          []jar
	}{1, o.BaseKey, a.Observed.Runtime, p.Exe, first(p.Cmdline), p.UID, p.GID, p.User, p.Group, p.Supplementary, a.Observed.Files.Libraries, jars})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
