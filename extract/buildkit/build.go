// Package buildkit builds a Dockerfile and its context with BuildKit's Go
// client and the built-in dockerfile frontend, showing BuildKit's own
// progress display, and exports the image into the engine's containerd
// (and optionally an OCI archive).
package buildkit

import (
	"context"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// Options describes one build.
type Options struct {
	// Address is buildkitd's address (unix:///run/hoist/buildkit/buildkitd.sock).
	Address string
	// ContextDir is the build context; Dockerfile is relative to it
	// (default "Dockerfile").
	ContextDir string
	Dockerfile string
	// Image is the name the image gets in the engine's containerd store
	// (hoist.local/APP:TAG). Empty: build without storing an image.
	Image string
	// SourceDateEpoch makes the build reproducible: file timestamps in the
	// layers and the image config are clamped to it.
	SourceDateEpoch int64
	// ContextAtEpoch says every file and directory of the context already
	// has SourceDateEpoch as its modification time, so the layers need no
	// rewriting (see SetEpoch).
	ContextAtEpoch bool
	// OCIArchive, when set, also writes the image as an OCI archive
	// (loadable with `docker load` or `ctr import`).
	OCIArchive string
	// Progress receives BuildKit's display; Mode is auto, tty, plain,
	// rawjson or quiet.
	Progress io.Writer
	Mode     string
	// BuildArgs are passed to the Dockerfile.
	BuildArgs map[string]string
}

// Result is what a build produced.
type Result struct {
	// Digest is the image manifest digest.
	Digest string `json:"digest"`
	// ConfigDigest is the image config digest.
	ConfigDigest string `json:"configDigest"`
	Image        string `json:"image,omitempty"`
}

// Build runs one build.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Dockerfile == "" {
		o.Dockerfile = "Dockerfile"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	c, err := bkclient.New(ctx, o.Address)
	if err != nil {
		return nil, fmt.Errorf("connecting to buildkitd at %s: %w", o.Address, err)
	}
	defer c.Close()

	ctxFS, err := fsutil.NewFS(o.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", o.ContextDir, err)
	}
	dfDir := filepath.Dir(filepath.Join(o.ContextDir, o.Dockerfile))
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return nil, fmt.Errorf("opening Dockerfile directory %s: %w", dfDir, err)
	}
	attrs := map[string]string{"filename": filepath.Base(o.Dockerfile)}
	for k, v := range o.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	epoch := strconv.FormatInt(o.SourceDateEpoch, 10)
	attrs["build-arg:SOURCE_DATE_EPOCH"] = epoch

	// Rewriting layers to the epoch costs a decompress and recompress of
	// every layer on every build; a context whose times are the epoch
	// already does not need it.
	rewrite := strconv.FormatBool(!o.ContextAtEpoch)
	var exports []bkclient.ExportEntry
	if o.Image != "" {
		exports = append(exports, bkclient.ExportEntry{
			Type: bkclient.ExporterImage,
			Attrs: map[string]string{
				"name":                                  o.Image,
				string(exptypes.OptKeyRewriteTimestamp): rewrite,
				"unpack":                                "true",
			},
		})
	}
	if o.OCIArchive != "" {
		path := o.OCIArchive
		exports = append(exports, bkclient.ExportEntry{
			Type:  bkclient.ExporterOCI,
			Attrs: map[string]string{"name": o.Image, string(exptypes.OptKeyRewriteTimestamp): rewrite},
			Output: func(map[string]string) (io.WriteCloser, error) {
				return os.Create(path)
			},
		})
	}
	opt := bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:       exports,
	}

	resp, err := solve(ctx, c, opt, o)
	if err != nil && missingContent(err) {
		// BuildKit's cache records layers the engine's containerd no
		// longer has (its store was removed or replaced while BuildKit's
		// cache stayed): every build that reuses them fails the same way
		// until the cache forgets them.
		fmt.Fprintf(o.Progress, "hoist: BuildKit's cache refers to layers the engine's containerd no longer has (%v); clearing the build cache and building again\n", err)
		if perr := pruneAll(ctx, c); perr != nil {
			return nil, fmt.Errorf("building %s: %w; clearing BuildKit's cache to recover also failed: %v", o.ContextDir, err, perr)
		}
		resp, err = solve(ctx, c, opt, o)
	}
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", o.ContextDir, err)
	}
	return &Result{
		Digest:       resp.ExporterResponse[exptypes.ExporterImageDigestKey],
		ConfigDigest: resp.ExporterResponse[exptypes.ExporterImageConfigDigestKey],
		Image:        o.Image,
	}, nil
}

// solve runs the build with BuildKit's progress display.
func solve(ctx context.Context, c *bkclient.Client, opt bkclient.SolveOpt, o Options) (*bkclient.SolveResponse, error) {
	mode := progressui.DisplayMode(o.Mode)
	if mode == "" {
		mode = progressui.AutoMode
	}
	display, err := progressui.NewDisplay(o.Progress, mode)
	if err != nil {
		return nil, err
	}
	ch := make(chan *bkclient.SolveStatus)
	var resp *bkclient.SolveResponse
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		resp, err = c.Solve(ectx, nil, opt, ch)
		return err
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(context.WithoutCancel(ectx), ch)
		return err
	})
	return resp, eg.Wait()
}

// missingContentRE matches containerd's errors for a blob its content
// store lacks and for a snapshot its snapshotter lacks, as BuildKit passes
// them on when its cache records them.
var missingContentRE = regexp.MustCompile(`content digest sha256:[0-9a-f]{64}: not found|parent snapshot \S+ does not exist: not found`)

func missingContent(err error) bool { return missingContentRE.MatchString(err.Error()) }

// pruneAll empties BuildKit's cache (records in use by a running build
// stay).
func pruneAll(ctx context.Context, c *bkclient.Client) error {
	ch := make(chan bkclient.UsageInfo)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	err := c.Prune(ctx, ch, bkclient.PruneAll)
	close(ch)
	<-done
	return err
}

// SetEpoch sets the access and modification times of everything below dir
// (links themselves, not their targets) to epoch, for ContextAtEpoch.
func SetEpoch(dir string, epoch int64) error {
	ts := []unix.Timespec{{Sec: epoch}, {Sec: epoch}}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("setting the time of %s: %w", p, err)
		}
		return nil
	})
}
