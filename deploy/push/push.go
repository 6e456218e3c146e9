// Package push copies an image from the engine's containerd store to an OCI
// registry (any registry: hoist's own `hoist registry serve`, ECR, a
// company registry), sending only the blobs the registry lacks, and records
// where it went in APP/containerize/push.json for the phases after.
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/extract/containerize"
)

// ErrUnauthorized is returned when the registry refuses the credentials
// (or wants some and none were found).
var ErrUnauthorized = errors.New("registry refused the credentials")

// ErrBadReference is returned for a --registry value that is no registry,
// repository or image reference.
var ErrBadReference = errors.New("not a registry reference")

// Options configures a push.
type Options struct {
	// ContainerdAddr and Namespace locate the engine's image store.
	ContainerdAddr string
	Namespace      string
	// Engine, when set, is called once the workspace checks passed, to
	// start the engine if needed and return its containerd address and
	// namespace (instead of ContainerdAddr and Namespace).
	Engine func(context.Context) (addr, namespace string, err error)
	// Credentials finds the registry's credentials; nil means the Docker
	// config at its usual place and, for ECR, the default AWS chain.
	Credentials *Credentials
	// Progress receives one line per blob (sent or already there).
	Progress io.Writer
	Logf     func(string, ...any)
	// Concurrency is how many blobs are sent at once (default 3).
	Concurrency int
	// Rebuild is the command that builds the image again, for messages
	// about a missing or changed image (default "build it again").
	Rebuild string

	// hosts maps a registry host to the address actually dialled (tests
	// reach an "ECR" host on loopback).
	hosts map[string]string
}

// Blob is one piece of the image and what the push did with it.
type Blob struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Sent is false when the registry already had it (or mounted it
	// from another of its repositories this engine pushed it to).
	Sent bool `json:"sent"`
}

// Result says what a push did.
type Result struct {
	// Image is the source, in the engine's store (hoist.local/APP:TAG).
	Image string `json:"image"`
	// Reference is where it went (REGISTRY/REPO:TAG) and Digest the
	// manifest digest the registry serves under it.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	Registry  string `json:"registry"`
	// Credentials says where the credentials came from ("" = anonymous).
	Credentials  string `json:"credentials,omitempty"`
	BlobsSent    int    `json:"blobsSent"`
	BlobsSkipped int    `json:"blobsSkipped"`
	BytesSent    int64  `json:"bytesSent"`
	Blobs        []Blob `json:"blobs"`
}

// ParseTarget turns what the user typed after --registry into a full
// reference for the image named image (hoist.local/NAME:TAG):
//
//	127.0.0.1:5000                 -> 127.0.0.1:5000/NAME:TAG (a registry host alone)
//	127.0.0.1:5000/team/app        -> 127.0.0.1:5000/team/app:TAG (a repository)
//	127.0.0.1:5000/team/app:v2     -> as given (a full reference)
//	REPO@sha256:...                -> by digest; it must be the image's digest
func ParseTarget(ref, image string) (reference.Named, error) {
	src, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, fmt.Errorf("the engine's image name %q: %w", image, err)
	}
	tag := "latest"
	if t, ok := src.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if ref == "" {
		return nil, fmt.Errorf("%w: no registry: name one, for example 127.0.0.1:5000, 127.0.0.1:5000/team/app or 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1", ErrBadReference)
	}
	if isHostOnly(ref) {
		ref = strings.TrimSuffix(ref, "/") + "/" + path(src)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: --registry %q: %v (use HOST[:PORT]/REPOSITORY[:TAG], lower case, for example 127.0.0.1:5000/%s)", ErrBadReference, ref, err, path(src))
	}
	if _, ok := named.(reference.Digested); ok {
		return named, nil
	}
	if _, ok := named.(reference.Tagged); ok {
		return named, nil
	}
	return reference.WithTag(named, tag)
}

func path(n reference.Named) string { return reference.Path(n) }

// isHostOnly says whether ref names a registry and no repository:
// "127.0.0.1:5000", "localhost:5000", "registry.example.com",
// "123456789012.dkr.ecr.us-east-1.amazonaws.com".
func isHostOnly(ref string) bool {
	ref = strings.TrimSuffix(ref, "/")
	if strings.Contains(ref, "/") || strings.ContainsAny(ref, "@") {
		return false
	}
	host, port, err := net.SplitHostPort(ref)
	if err != nil {
		host, port = ref, ""
	}
	if host == "localhost" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	// A name with a dot is a domain; "app:5000" is a repository and a tag.
	if strings.Contains(host, ".") {
		return port == "" || isDigits(port)
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Image pushes the engine's image (hoist.local/APP:TAG) to target. digest,
// when set, is what the image must be (from image.json): a rebuilt or
// removed image is an error instead of a push of something else.
func Image(ctx context.Context, image, want string, target reference.Named, o Options) (*Result, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Credentials == nil {
		o.Credentials = &Credentials{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 3
	}
	rebuild := "build it again"
	if o.Rebuild != "" {
		rebuild = "run `" + o.Rebuild + "`"
	}
	cc, ctx, err := o.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cc.Close()

	img, err := cc.ImageService().Get(ctx, image)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("pushing %s: %w: the engine has no such image (namespace %s); %s", image, discover.ErrNotFound, o.Namespace, rebuild)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s in the engine's containerd: %w: %v", image, discover.ErrUnavailable, err)
	}
	if want != "" && img.Target.Digest.String() != want {
		return nil, fmt.Errorf("pushing %s: %w: the engine's image is %s, not the %s that was built last; %s", image, discover.ErrNotFound, img.Target.Digest, want, rebuild)
	}

	host := reference.Domain(target)
	creds := o.Credentials
	var (
		credMu  sync.Mutex
		credSrc string
		credErr error
	)
	resolver := o.resolver(ctx, creds, func(src string, err error) {
		credMu.Lock()
		defer credMu.Unlock()
		if err != nil {
			credErr = err
			return
		}
		credSrc = src
	})

	targetRef := target.String()
	pushRef := targetRef
	if !strings.Contains(pushRef, "@") {
		// The tag is set on the top manifest only.
		pushRef += "@" + img.Target.Digest.String()
	} else if d := target.(reference.Digested).Digest(); d != img.Target.Digest {
		return nil, fmt.Errorf("%w: --registry %s names digest %s, but the image is %s; name a tag or the image's digest", ErrBadReference, targetRef, d, img.Target.Digest)
	}
	fail := func(err error) error {
		credMu.Lock()
		defer credMu.Unlock()
		return explain(err, fmt.Sprintf("pushing %s to %s", image, target), target, credSrc, credErr, o.Credentials)
	}
	pusher, err := resolver.Pusher(ctx, pushRef)
	if err != nil {
		return nil, fail(err)
	}
	rec := &recorder{Pusher: pusher, blobs: map[digest.Digest]*Blob{}, progress: o.Progress}
	o.Logf("pushing %s (%s) to %s", image, img.Target.Digest, targetRef)
	err = remotes.PushContent(ctx, rec, img.Target, cc.ContentStore(), semaphore.NewWeighted(int64(o.Concurrency)), platforms.All, nil)
	if err != nil {
		if errdefs.IsNotFound(err) && !isRemote(err) {
			return nil, fmt.Errorf("pushing %s: %w: a blob is missing from the engine's content store (%v); %s", image, discover.ErrNotFound, err, rebuild)
		}
		return nil, fail(err)
	}

	// Read back what the registry now serves under the reference.
	_, desc, err := resolver.Resolve(ctx, targetRef)
	if err != nil {
		return nil, fail(fmt.Errorf("resolving %s after the push: %w", targetRef, err))
	}
	if desc.Digest != img.Target.Digest {
		return nil, fmt.Errorf("pushing %s: the registry serves %s under %s, not the pushed %s", image, desc.Digest, targetRef, img.Target.Digest)
	}

	res := &Result{Image: image, Reference: targetRef, Digest: desc.Digest.String(), Registry: host}
	credMu.Lock()
	res.Credentials = credSrc
	credMu.Unlock()
	for _, b := range rec.blobs {
		res.Blobs = append(res.Blobs, *b)
		if b.Sent {
			res.BlobsSent++
			res.BytesSent += b.Size
		} else {
			res.BlobsSkipped++
		}
	}
	sort.Slice(res.Blobs, func(i, j int) bool { return res.Blobs[i].Digest < res.Blobs[j].Digest })
	rememberSource(ctx, cc.ContentStore(), targetRef, res.Blobs, o.Logf)
	return res, nil
}

// rememberSource labels the pushed blobs with the repository they are now
// in (as containerd's pull does), so that a later push to another
// repository of the same registry asks the registry to mount them from
// there instead of sending them again.
func rememberSource(ctx context.Context, cs content.Manager, ref string, blobs []Blob, logf func(string, ...any)) {
	label, err := docker.AppendDistributionSourceLabel(cs, ref)
	if err != nil {
		logf("not remembering where the blobs went: %v", err)
		return
	}
	for _, b := range blobs {
		if images.IsManifestType(b.MediaType) || images.IsIndexType(b.MediaType) {
			continue
		}
		if _, err := label(ctx, ocispec.Descriptor{Digest: digest.Digest(b.Digest), MediaType: b.MediaType, Size: b.Size}); err != nil {
			logf("labelling %s with its registry source: %v", b.Digest, err)
		}
	}
}

// isRemote says whether err came from the registry rather than the
// local content store.
func isRemote(err error) bool {
	var us remoteerrors.ErrUnexpectedStatus
	return errors.As(err, &us)
}

func httpClient() *http.Client {
	return &http.Client{Transport: docker.DefaultHTTPTransport(nil)}
}

// recorder counts what was sent and what the registry already had (its
// HEAD check answers 200: the pusher says "already exists").
type recorder struct {
	remotes.Pusher
	mu       sync.Mutex
	blobs    map[digest.Digest]*Blob
	progress io.Writer
}

func (r *recorder) Push(ctx context.Context, desc ocispec.Descriptor) (content.Writer, error) {
	w, err := r.Pusher.Push(ctx, desc)
	if errdefs.IsAlreadyExists(err) {
		r.note(desc, false)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return &countingWriter{Writer: w, done: func() { r.note(desc, true) }}, nil
}

func (r *recorder) note(desc ocispec.Descriptor, sent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blobs[desc.Digest]
	if ok && (b.Sent || !sent) {
		return
	}
	if !ok {
		b = &Blob{Digest: desc.Digest.String(), MediaType: desc.MediaType, Size: desc.Size}
		r.blobs[desc.Digest] = b
	}
	b.Sent = sent
	verb := "exists"
	if sent {
		verb = "sent  "
	}
	fmt.Fprintf(r.progress, "%s %s %s %s\n", verb, short(desc.Digest), kind(desc.MediaType), human(desc.Size))
}

type countingWriter struct {
	content.Writer
	done func()
}

func (w *countingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	err := w.Writer.Commit(ctx, size, expected, opts...)
	if err == nil || errdefs.IsAlreadyExists(err) {
		w.done()
	}
	return err
}

func short(d digest.Digest) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

func kind(mt string) string {
	switch {
	case images.IsManifestType(mt):
		return "manifest"
	case images.IsIndexType(mt):
		return "index   "
	case images.IsConfigType(mt):
		return "config  "
	case images.IsLayerType(mt):
		return "layer   "
	}
	return "blob    "
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// explain turns a registry error into one that says what to do.
func explain(err error, what string, target reference.Named, credSrc string, credErr error, c *Credentials) error {
	host := reference.Domain(target)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("%s: %w: finding credentials for %s: %v", what, ErrUnauthorized, host, credErr)
	}
	local := docker.IsLocalhost(host)
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) {
		hint := "check the address and the network (and HTTPS_PROXY)"
		if local {
			hint = fmt.Sprintf("is a registry running there? start one with `hoist registry serve --addr %s`", host)
		}
		return fmt.Errorf("%s: %w: the registry %s cannot be reached: %v; %s", what, discover.ErrUnavailable, host, rootCause(err), hint)
	}
	var us remoteerrors.ErrUnexpectedStatus
	status := 0
	if errors.As(err, &us) {
		status = us.StatusCode
	}
	_, isECR := ECRRegion(host)
	if errors.Is(err, docker.ErrInvalidAuthorization) || status == http.StatusUnauthorized || status == http.StatusForbidden {
		who := "the registry refused the credentials from " + credSrc
		if credSrc == "" {
			who = fmt.Sprintf("the registry wants credentials and none were found for %s in %s", host, orNone(c.ConfigPath()))
		}
		hint := fmt.Sprintf("log in with `docker login %s` (hoist reads the Docker config and its credential helpers)", host)
		if isECR {
			hint = "check that the AWS identity may push to this repository (ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage)"
			if strings.HasPrefix(what, "pulling") {
				hint = "check that the AWS identity may pull from this repository (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer)"
			}
		}
		return fmt.Errorf("%s: %w: %s (%s); %s", what, ErrUnauthorized, who, registryMessage(err, us), hint)
	}
	if status == http.StatusNotFound {
		repo := reference.Path(target)
		hint := "check the repository name"
		if isECR {
			hint = fmt.Sprintf("create it: aws ecr create-repository --repository-name %s --region %s", repo, regionOf(host))
		}
		return fmt.Errorf("%s: %w: the registry has no repository %s (%s); %s", what, discover.ErrNotFound, repo, registryMessage(err, us), hint)
	}
	if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
		return fmt.Errorf("%s: TLS with %s failed: %v; hoist talks plain HTTP only to loopback registries, so the registry needs a certificate this machine trusts", what, host, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func regionOf(host string) string { r, _ := ECRRegion(host); return r }

func orNone(p string) string {
	if p == "" {
		return "the Docker config (no home directory)"
	}
	return p
}

// registryMessage is the registry's own error text, when it sent one.
func registryMessage(err error, us remoteerrors.ErrUnexpectedStatus) string {
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if len(us.Body) > 0 && json.Unmarshal(us.Body, &body) == nil && len(body.Errors) > 0 {
		var parts []string
		for _, e := range body.Errors {
			parts = append(parts, strings.TrimSpace(e.Code+": "+e.Message))
		}
		return us.Status + ", " + strings.Join(parts, "; ")
	}
	if us.Status != "" {
		return us.Status
	}
	return rootCause(err).Error()
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Record is APP/containerize/push.json: where the image was pushed last,
// for the phases after (generate, deploy).
type Record struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	Registry  string `json:"registry"`
	// Image is the engine's name of what was pushed.
	Image string `json:"image"`
}

// RecordPath is APP/containerize/push.json.
func RecordPath(ws discover.Workspace, id string) string {
	return filepath.Join(containerize.Dir(ws, id), "push.json")
}

// ReadRecord reads APP/containerize/push.json.
func ReadRecord(ws discover.Workspace, id string) (*Record, error) {
	p := RecordPath(ws, id)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: %s was not pushed yet; run `hoist push --registry REF %s`", discover.ErrNotFound, p, id, id)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; push again to rewrite it", discover.ErrInvalid, p, err)
	}
	return &r, nil
}

// AppOptions configures App.
type AppOptions struct {
	Options
	Workspace discover.Workspace
	ID        string
	// Registry is what the user gave after --registry (see ParseTarget).
	Registry string
}

// App pushes the image `hoist containerize APP` built (named in
// APP/containerize/image.json) and writes APP/containerize/push.json.
func App(ctx context.Context, o AppOptions) (*Result, error) {
	if _, err := os.Stat(o.Workspace.AppDir(o.ID)); err != nil {
		return nil, fmt.Errorf("pushing %s: %w: no app %q in the workspace %s; run `hoist inventory` to list apps, then `hoist analyze`, `hoist extract` and `hoist containerize` it", o.ID, discover.ErrNotFound, o.ID, o.Workspace.Dir)
	}
	ip := filepath.Join(containerize.Dir(o.Workspace, o.ID), "image.json")
	data, err := os.ReadFile(ip)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pushing %s: %w: %s has not been built yet (no %s); run `hoist containerize %s` first", o.ID, discover.ErrNotFound, o.ID, ip, o.ID)
	}
	if err != nil {
		return nil, err
	}
	var built containerize.Result
	if err := json.Unmarshal(data, &built); err != nil || built.Image == "" {
		if err == nil {
			err = errors.New("no image named")
		}
		return nil, fmt.Errorf("pushing %s: %w: %s: %v; run `hoist containerize %s` again", o.ID, discover.ErrInvalid, ip, err, o.ID)
	}
	target, err := ParseTarget(o.Registry, built.Image)
	if err != nil {
		return nil, err
	}
	if o.Rebuild == "" {
		o.Rebuild = "hoist containerize " + o.ID
	}
	res, err := Image(ctx, built.Image, built.Digest, target, o.Options)
	if err != nil {
		return nil, err
	}
	rec, err := discover.MarshalJSON(Record{Reference: res.Reference, Digest: res.Digest, Registry: res.Registry, Image: res.Image})
	if err != nil {
		return nil, err
	}
	if err := discover.WriteFileAtomic(RecordPath(o.Workspace, o.ID), rec, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}
