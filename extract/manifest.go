package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
	"github.com/hoistctl/hoist/extract/render"
)

// ManifestSchemaVersion is the version of manifest.json. It changes only
// when a field changes meaning or is removed.
const ManifestSchemaVersion = 1

// Paths inside the archive. App files live under Rootfs at their absolute
// host path; the manifest comes first so that Unpack can check every entry
// as it streams past.
const (
	ArchiveRootfs   = "rootfs"
	ArchiveManifest = ".hoist/manifest.json"
	ArchiveAnalysis = ".hoist/analysis.json"
)

// Extraction modes.
const (
	// ModeApplication is used for application servers: the server, its
	// config, the web apps and the libraries the server links to.
	ModeApplication = "application"
	// ModeProcess is used for standalone processes: the app's directories
	// minus logs, temporary files and caches.
	ModeProcess = "process"
)

// File types in the manifest.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Roles say where a file came from.
const (
	RoleServer  = "server"  // the application server's own files
	RoleLibrary = "library" // a library the server or app links to from elsewhere
	RoleWebApp  = "webapp"  // a deployed web application
	RoleConfig  = "config"  // configuration
	RoleApp     = "app"     // the application's own files
	// RoleParent marks directories above the included paths, kept so that
	// their owner and mode survive.
	RoleParent = "parent"
)

// Layers, from least to most often changed. Containerize builds one image
// layer per value, in this order, so a config change rebuilds only the last.
const (
	LayerServer    = "server"
	LayerLibraries = "libraries"
	LayerApp       = "app"
	LayerConfig    = "config"
)

// Layers lists the layers in the order containerize stacks them.
var Layers = []string{LayerServer, LayerLibraries, LayerApp, LayerConfig}

func layerRank(l string) int {
	for i, x := range Layers {
		if x == l {
			return i
		}
	}
	return len(Layers)
}

// Manifest is manifest.json: every file of the archive with its checksum
// and metadata, what was redacted and what was left out.
type Manifest struct {
	SchemaVersion int              `json:"schemaVersion"`
	App           string           `json:"app"`
	Type          discover.AppType `json:"type"`
	Mode          string           `json:"mode"`
	Host          string           `json:"host,omitempty"`
	// Runtime is not in the archive: containerize provides it.
	Runtime Runtime `json:"runtime"`
	// User is the uid:gid the app runs as (containerParameters.user).
	User string `json:"user,omitempty"`
	// SourceDateEpoch is the modification time of every archive entry.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
	// Analysis is the analysis.json the archive was made from, stored at
	// ArchiveAnalysis.
	Analysis ArchivedFile `json:"analysis"`
	// Include lists the paths collected (containerParameters.include plus
	// the external library links the analysis observed).
	Include  []string       `json:"include"`
	Files    []File         `json:"files"`
	Redacted []RedactedFile `json:"redacted,omitempty"`
	Excluded []Excluded     `json:"excluded,omitempty"`
	Sizes    Sizes          `json:"sizes"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Runtime is the language runtime the app needs, left out of the archive.
type Runtime struct {
	Kind    string `json:"kind,omitempty"`
	Version string `json:"version,omitempty"`
	Home    string `json:"home,omitempty"`
	// Paths are the runtime's directories on the host (symlinks
	// resolved). Nothing below them is archived unless an include names
	// a path inside them; Excluded says where the walk met them.
	Paths []string `json:"paths,omitempty"`
}

// ArchivedFile is a metadata file stored in the archive.
type ArchivedFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is one entry of the archive. Path is the absolute host path; the
// archive holds it at ArchiveRootfs+Path.
type File struct {
	Path       string `json:"path"`
	Type       string `json:"type"`
	Size       int64  `json:"size,omitempty"`
	Mode       Mode   `json:"mode"`
	UID        uint32 `json:"uid"`
	GID        uint32 `json:"gid"`
	SHA256     string `json:"sha256,omitempty"`
	LinkTarget string `json:"linkTarget,omitempty"`
	// HostLinkTarget is the link's target on the host when it was absolute
	// (or climbed above /): the archive holds the equivalent relative
	// target, so that links never point out of an unpacked tree.
	HostLinkTarget string `json:"hostLinkTarget,omitempty"`
	Role           string `json:"role"`
	Layer          string `json:"layer"`
	// Redacted is set when the content differs from the host's because
	// secret values were replaced by placeholders (see Manifest.Redacted).
	Redacted bool `json:"redacted,omitempty"`
}

// ArchiveName is where the file is in the archive.
func (f File) ArchiveName() string {
	if f.Type == TypeDir {
		return ArchiveRootfs + f.Path + "/"
	}
	return ArchiveRootfs + f.Path
}

// RedactedFile is a file whose secret values were replaced by
// Placeholder(ref). A later phase renders them from the environment when
// the container starts (Render).
type RedactedFile struct {
	// Path is the host path of the file (of the jar, for a jar entry).
	Path string `json:"path"`
	// Entry is the entry inside the jar or war, when the secret was there.
	Entry string `json:"entry,omitempty"`
	// Kind is the config format, when the file was parsed as one.
	Kind appconfig.Kind `json:"kind,omitempty"`
	// Source is "config" (a config file the analysis parsed) or "scan" (a
	// secret value found in a file the analysis did not parse).
	Source  string           `json:"source"`
	Secrets []RedactedSecret `json:"secrets"`
}

// RedactedSecret is one placeholder in a redacted file.
type RedactedSecret = render.Secret

// Excluded is a path left out of the archive, and why.
type Excluded struct {
	Path string `json:"path"`
	// Rule is the exclude entry or built-in pattern that matched, or
	// "runtime", "special file".
	Rule  string `json:"rule"`
	Size  int64  `json:"size,omitempty"`
	Files int    `json:"files,omitempty"`
	// KeptEmpty is set for directories kept (empty) so the app can still
	// write into them.
	KeptEmpty bool `json:"keptEmpty,omitempty"`
}

// Sizes reports where the bytes of the archive come from.
type Sizes struct {
	Total   int64       `json:"total"`
	Files   int         `json:"files"`
	Include []SizeEntry `json:"include"`
	Layers  []SizeEntry `json:"layers"`
	// Largest are the biggest files, biggest first.
	Largest []SizeEntry `json:"largest"`
	// Excluded is what the excludes saved.
	Excluded SizeEntry `json:"excluded"`
}

// SizeEntry is a size and a file count for a path or a layer.
type SizeEntry struct {
	Path  string `json:"path,omitempty"`
	Layer string `json:"layer,omitempty"`
	Size  int64  `json:"size"`
	Files int    `json:"files"`
}

// Mode is a file's permission bits plus setuid, setgid and sticky, as in
// chmod(1); JSON writes it as an octal string ("0755").
type Mode uint32

const (
	modeSetuid = 0o4000
	modeSetgid = 0o2000
	modeSticky = 0o1000
)

func modeOf(fm fs.FileMode) Mode {
	m := Mode(fm.Perm())
	if fm&fs.ModeSetuid != 0 {
		m |= modeSetuid
	}
	if fm&fs.ModeSetgid != 0 {
		m |= modeSetgid
	}
	if fm&fs.ModeSticky != 0 {
		m |= modeSticky
	}
	return m
}

// FileMode converts m to an fs.FileMode (permissions and special bits).
func (m Mode) FileMode() fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&modeSetuid != 0 {
		fm |= fs.ModeSetuid
	}
	if m&modeSetgid != 0 {
		fm |= fs.ModeSetgid
	}
	if m&modeSticky != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// MarshalJSON writes the mode as an octal string.
func (m Mode) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

// UnmarshalJSON reads an octal string.
func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be an octal string such as \"0644\": %w", err)
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("mode %q is not an octal permission between 0000 and 7777", s)
	}
	*m = Mode(v)
	return nil
}

// ArchivePath is where Extract writes the archive of an app.
func ArchivePath(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "extract", id+".tar.gz")
}

// ManifestPath is where Extract writes the manifest of an app.
func ManifestPath(ws discover.Workspace, id string) string {
	return filepath.Join(ws.AppDir(id), "extract", "manifest.json")
}

// decodeManifest parses manifest.json strictly, so that a hand-edited or
// corrupt manifest is caught rather than half-read.
func decodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON document")
	}
	if m.SchemaVersion != ManifestSchemaVersion {
		return nil, fmt.Errorf("schemaVersion %d, this hoist reads %d", m.SchemaVersion, ManifestSchemaVersion)
	}
	return &m, nil
}
