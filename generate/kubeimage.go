package generate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/hoistctl/hoist/deploy/push"
	"github.com/hoistctl/hoist/discover"
)

// LocalImagePrefix starts the names of images that live in hoist's engine
// only; no cluster can pull them.
const LocalImagePrefix = "hoist.local/"

// kubeImage is the image the Kubernetes manifests run. A cluster cannot
// pull hoist.local/..., so when `hoist push` recorded a push of the image
// deployment.json runs (APP/containerize/push.json), the manifests use the
// pushed reference pinned by its digest. A record of another image, or of
// an earlier build under the same name, is reported and not used: the
// manifests would run something other than what deployment.json says.
// pinned says whether the pushed reference was used.
func kubeImage(ws discover.Workspace, id string, d *Deployment, w *warnings) (image string, pinned bool) {
	rec, err := push.ReadRecord(ws, id)
	if errors.Is(err, discover.ErrNotFound) {
		return d.Image, false
	}
	if err != nil {
		w.add("kubernetes", "image", fmt.Sprintf("%v; the manifests run %s", err, d.Image))
		return d.Image, false
	}
	p := push.RecordPath(ws, id)
	if rec.Image != d.Image {
		w.add("kubernetes", "image", fmt.Sprintf("%s records a push of %s, but deployment.json runs %s, so the manifests run %s: push it (`hoist push %s --registry REF`) and generate again", p, rec.Image, d.Image, d.Image, id))
		return d.Image, false
	}
	if built := builtDigest(ws, id); built != "" && built != rec.Digest {
		w.add("kubernetes", "image", fmt.Sprintf("%s records %s, but `hoist containerize` built %s since: push again (`hoist push %s --registry REF`) and generate again; the manifests run %s", p, rec.Digest, built, id, d.Image))
		return d.Image, false
	}
	named, err := reference.ParseNormalizedNamed(rec.Reference)
	if err != nil {
		w.add("kubernetes", "image", fmt.Sprintf("%s: reference %q: %v; push again to rewrite it", p, rec.Reference, err))
		return d.Image, false
	}
	dg, err := digest.Parse(rec.Digest)
	if err != nil {
		w.add("kubernetes", "image", fmt.Sprintf("%s: digest %q: %v; push again to rewrite it", p, rec.Digest, err))
		return d.Image, false
	}
	if c, ok := named.(reference.Canonical); ok && c.Digest() != dg {
		w.add("kubernetes", "image", fmt.Sprintf("%s: reference %s and digest %s disagree; push again to rewrite it", p, rec.Reference, dg))
		return d.Image, false
	}
	// Keep the tag for people reading the manifest; the digest decides.
	ref := rec.Reference
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	return ref + "@" + dg.String(), true
}

// builtDigest is the digest `hoist containerize` recorded, if it ran.
func builtDigest(ws discover.Workspace, id string) string {
	data, err := os.ReadFile(filepath.Join(ws.AppDir(id), "containerize", "image.json"))
	if err != nil {
		return ""
	}
	var r struct {
		Digest string `json:"digest"`
	}
	if json.Unmarshal(data, &r) != nil {
		return ""
	}
	return r.Digest
}
