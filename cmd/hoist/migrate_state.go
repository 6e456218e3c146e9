package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/runtime"
)

// migrateState is APP/migrate.json: for the phases `hoist migrate` may skip,
// a digest of everything the phase read and its flags when it last
// succeeded. A phase whose digest is the same (and whose result is still
// there) is reported "unchanged" instead of run again.
type migrateState struct {
	SchemaVersion int                        `json:"schemaVersion"`
	Phases        map[string]migratePhaseRun `json:"phases"`
}

type migratePhaseRun struct {
	Inputs string    `json:"inputs"`
	At     time.Time `json:"at"`
}

func migrateStatePath(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "migrate.json")
}

// readMigrateState reads APP/migrate.json; a missing or unreadable file is
// an empty state (every phase runs), never an error: it is only a cache.
func readMigrateState(ws discover.Workspace, id string) *migrateState {
	st := &migrateState{SchemaVersion: 1, Phases: map[string]migratePhaseRun{}}
	data, err := os.ReadFile(migrateStatePath(ws, id))
	if err != nil {
		return st
	}
	var got migrateState
	if json.Unmarshal(data, &got) != nil || got.SchemaVersion != 1 || got.Phases == nil {
		return st
	}
	return &got
}

func (st *migrateState) write(ws discover.Workspace, id string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	p := migrateStatePath(ws, id)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// skippable are the phases migrate skips when their inputs did not change.
// inventory and analyze read the live host (cheap, and they keep the
// user's edits); extract is how hoist learns whether the app's files
// changed (its archive is reproducible, so unchanged files give the same
// manifest); push sends only missing blobs; deploy is idempotent on every
// target and must notice drift, so all of those always run.
var skippable = map[string]bool{"containerize": true, "generate": true}

// phaseInputs is the digest of what the phase reads: the workspace files,
// the flags it gets, and the hoist binary itself. ok is false when the
// phase cannot be skipped this time whatever its digest (flags that point
// outside the workspace, a result that is gone).
func phaseInputs(ctx context.Context, ws discover.Workspace, id, phase string, flags []string, cfg runtime.Config) (digest string, ok bool) {
	h := sha256.New()
	fmt.Fprintf(h, "hoist %s\n", version())
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "binary %d %d\n", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	fmt.Fprintf(h, "phase %s\nflags %q\n", phase, flags)
	app := ws.AppDir(id)
	files := []string{filepath.Join(app, "analysis.json")}
	switch phase {
	case "containerize":
		for _, f := range flags {
			// The inputs are elsewhere (an archive from another machine) or
			// the user edited the build context: always build.
			if strings.HasPrefix(f, "--input-archive") || strings.HasPrefix(f, "--build-only") || strings.HasPrefix(f, "--push") {
				return "", false
			}
		}
		files = append(files,
			filepath.Join(app, "extract", "manifest.json"),
			filepath.Join(app, "containerize", "context", "base.key"))
	case "generate":
		files = append(files,
			filepath.Join(app, "deployment.json"),
			filepath.Join(app, "containerize", "image.json"),
			filepath.Join(app, "containerize", "push.json"))
		// The generated files themselves: deleted or edited ones are made
		// again.
		_ = filepath.WalkDir(filepath.Join(app, "deploy"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		// Which secrets exist (never their values).
		if s, err := ws.ReadSecrets(); err == nil {
			var refs []string
			for k := range s {
				if strings.HasPrefix(k, id+"/") {
					refs = append(refs, k)
				}
			}
			sort.Strings(refs)
			fmt.Fprintf(h, "secrets %q\n", refs)
		}
	default:
		return "", false
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(h, "file %s ", f)
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(h, "absent\n")
			continue
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", false
		}
		fmt.Fprintln(h)
	}
	if phase == "containerize" && !containerizeResultThere(ctx, app, flags, cfg) {
		return "", false
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), true
}

// containerizeResultThere: the image the last build recorded is still in
// the engine's store under its name, and it passed its validation run (or
// validation is off).
func containerizeResultThere(ctx context.Context, app string, flags []string, cfg runtime.Config) bool {
	var img struct {
		Image  string `json:"image"`
		Digest string `json:"digest"`
	}
	data, err := os.ReadFile(filepath.Join(app, "containerize", "image.json"))
	if err != nil || json.Unmarshal(data, &img) != nil || img.Image == "" || img.Digest == "" {
		return false
	}
	validate := true
	for _, f := range flags {
		if f == "--no-validate" || f == "--no-validate=true" || f == "--build-only" {
			validate = false
		}
	}
	if validate {
		var v struct {
			Passed bool `json:"passed"`
		}
		data, err := os.ReadFile(filepath.Join(app, "containerize", "validation.json"))
		if err != nil || json.Unmarshal(data, &v) != nil || !v.Passed {
			return false
		}
	}
	sock := cfg.ContainerdSocket()
	if cfg.ContainerdAddr == "" {
		if _, err := os.Stat(sock); err != nil {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ns := cfg.Namespace
	if ns == "" {
		ns = runtime.DefaultConfig().Namespace
	}
	cc, err := containerd.New(sock, containerd.WithDefaultNamespace(ns), containerd.WithTimeout(3*time.Second))
	if err != nil {
		return false
	}
	defer cc.Close()
	got, err := cc.ImageService().Get(ctx, img.Image)
	return err == nil && got.Target.Digest.String() == img.Digest
}

// errNoRegistry is returned when a target needs an image in a registry
// and neither --registry nor an earlier push says which.
var errNoRegistry = errors.New("needs the image in a registry")
