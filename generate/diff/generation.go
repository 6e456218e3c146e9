package diff

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/generate"
)

// Context is the number of unchanged lines shown around a change.
const Context = 3

// File statuses.
const (
	Added     = "added"
	Removed   = "removed"
	Modified  = "modified"
	Unchanged = "unchanged"
)

// FileDiff is the difference of one artifact between two generations.
type FileDiff struct {
	// Path is relative to APP/deploy, with slashes.
	Path   string `json:"path"`
	Status string `json:"status"`
	// Binary is set when either side is not UTF-8 text; Hunks is empty.
	Binary  bool   `json:"binary,omitempty"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
	Hunks   []Hunk `json:"hunks,omitempty"`
	// OldNoEOL and NewNoEOL are set when that side's last line has no
	// newline.
	OldNoEOL bool `json:"oldNoEOL,omitempty"`
	NewNoEOL bool `json:"newNoEOL,omitempty"`
	// OldTotal and NewTotal are the line counts of each side.
	OldTotal int `json:"oldTotal"`
	NewTotal int `json:"newTotal"`
}

// Generation compares the artifacts in APP/deploy with the generation
// before them.
type Generation struct {
	ID  string `json:"id"`
	Dir string `json:"dir"`
	// Previous is APP/deploy/.previous; HasPrevious is false when generate
	// has run at most once (or never changed anything), and every file is
	// then reported as added.
	Previous    string `json:"previous"`
	HasPrevious bool   `json:"hasPrevious"`
	// Files lists every artifact of either generation, by path; unchanged
	// ones have no hunks.
	Files []FileDiff `json:"files"`
	// Current holds the current generation's files, masked, by path (for
	// the report, which shows them).
	Current map[string]string `json:"-"`
}

// Changed returns the files that differ.
func (g *Generation) Changed() []FileDiff {
	var out []FileDiff
	for _, f := range g.Files {
		if f.Status != Unchanged {
			out = append(out, f)
		}
	}
	return out
}

// Load reads APP/deploy and APP/deploy/.previous and compares them, with
// every secret value of the workspace's secrets file masked on both sides.
func Load(ws discover.Workspace, id string) (*Generation, error) {
	secrets, err := ws.ReadSecrets()
	if err != nil {
		return nil, err
	}
	return LoadMasked(ws, id, NewMasker(secrets))
}

// LoadMasked is Load with a masker the caller already built.
func LoadMasked(ws discover.Workspace, id string, m *Masker) (*Generation, error) {
	g := &Generation{ID: id, Dir: generate.DeployDir(ws, id), Previous: generate.PreviousDir(ws, id)}
	cur, err := readTree(g.Dir)
	if err != nil {
		return nil, err
	}
	if len(cur) == 0 {
		hint := "run `hoist generate " + id + "` first"
		if _, err := os.Stat(ws.AnalysisPath(id)); err != nil {
			hint = "no analysis either: run `hoist analyze " + id + "` and `hoist generate " + id + "`"
		}
		return nil, fmt.Errorf("comparing %s's artifacts: %w: nothing generated in %s; %s", id, discover.ErrNotFound, g.Dir, hint)
	}
	prev, err := readTree(g.Previous)
	if err != nil {
		return nil, err
	}
	g.HasPrevious = len(prev) > 0
	g.Current = map[string]string{}
	for p, data := range cur {
		g.Current[p] = m.File(p, string(data))
	}
	g.Files = Compare(prev, cur, m)
	return g, nil
}

// Compare diffs two sets of files by path, masking both sides.
func Compare(old, cur map[string][]byte, m *Masker) []FileDiff {
	names := map[string]bool{}
	for p := range old {
		names[p] = true
	}
	for p := range cur {
		names[p] = true
	}
	var paths []string
	for p := range names {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []FileDiff
	for _, p := range paths {
		o, inOld := old[p]
		n, inNew := cur[p]
		fd := FileDiff{Path: p}
		switch {
		case !inOld:
			fd.Status = Added
		case !inNew:
			fd.Status = Removed
		case bytes.Equal(o, n) || m.File(p, string(o)) == m.File(p, string(n)):
			// Equal once masked: a change of secret value only is not
			// shown (it would tell which secret changed, nothing more).
			fd.Status = Unchanged
		default:
			fd.Status = Modified
		}
		if fd.Status == Unchanged {
			out = append(out, fd)
			continue
		}
		if !utf8.Valid(o) || !utf8.Valid(n) || bytes.IndexByte(o, 0) >= 0 || bytes.IndexByte(n, 0) >= 0 {
			fd.Binary = true
			out = append(out, fd)
			continue
		}
		a, aNoEOL := SplitLines(m.File(p, string(o)))
		b, bNoEOL := SplitLines(m.File(p, string(n)))
		fd.OldNoEOL, fd.NewNoEOL = aNoEOL, bNoEOL
		fd.OldTotal, fd.NewTotal = len(a), len(b)
		edits := Lines(a, b)
		// A changed last newline changes the last line.
		if aNoEOL != bNoEOL && len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
			last := len(edits) - 1
			e := edits[last]
			edits = append(edits[:last], Edit{Op: Delete, Line: e.Line, Old: e.Old}, Edit{Op: Insert, Line: e.Line, New: e.New})
		}
		for _, e := range edits {
			switch e.Op {
			case Insert:
				fd.Added++
			case Delete:
				fd.Removed++
			}
		}
		fd.Hunks = Hunks(edits, Context)
		out = append(out, fd)
	}
	return out
}

// readTree reads every regular file under dir, except dot files and dot
// directories (hoist's temporaries, the .previous generation).
func readTree(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if de.IsDir() {
			// .previous, generate's .previous.tmp and any other dot
			// directory are not artifacts.
			if p != dir && strings.HasPrefix(de.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return out, nil
}

// MinSecretLen is the shortest secret value the masker hides. Shorter
// values (a one-letter password) would also hide every ordinary occurrence
// of those characters and make the text unreadable; they are reported by
// Masker.Short so a reader can be told.
const MinSecretLen = 4

// Masker replaces secret values in text by a marker naming their
// reference. It hides each value as written, JSON-escaped (as it appears
// in a JSON artifact), YAML single-quoted, base64-encoded (a Kubernetes
// Secret's data), HTML-escaped (in a page already rendered), and each line
// of a multi-line value on its own.
type Masker struct {
	r     *strings.Replacer
	short []string
}

// NewMasker builds a masker for every value of the secrets file.
func NewMasker(secrets discover.Secrets) *Masker {
	type pair struct{ from, to string }
	var pairs []pair
	m := &Masker{}
	refs := make([]string, 0, len(secrets))
	for ref := range secrets {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		v := secrets[ref]
		if len(v) < MinSecretLen {
			if v != "" {
				m.short = append(m.short, ref)
			}
			continue
		}
		to := "[secret " + ref + " hidden]"
		forms := []string{v, base64.StdEncoding.EncodeToString([]byte(v)), html.EscapeString(v),
			// YAML single-quoted.
			strings.ReplaceAll(v, "'", "''")}
		if j, err := json.Marshal(v); err == nil {
			forms = append(forms, string(j[1:len(j)-1]))
		}
		// A multi-line value (a private key) is written over several
		// lines, in YAML block scalars say: hide each line too.
		if strings.Contains(v, "\n") {
			for _, l := range strings.Split(v, "\n") {
				if l = strings.TrimSpace(l); len(l) >= MinSecretLen {
					forms = append(forms, l, html.EscapeString(l))
				}
			}
		}
		for _, f := range forms {
			pairs = append(pairs, pair{f, to})
		}
	}
	// Longest first, so a value containing another is hidden whole.
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].from) > len(pairs[j].from) })
	var args []string
	seen := map[string]bool{}
	for _, p := range pairs {
		if !seen[p.from] {
			seen[p.from] = true
			args = append(args, p.from, p.to)
		}
	}
	if len(args) > 0 {
		m.r = strings.NewReplacer(args...)
	}
	return m
}

// String returns s with every secret value hidden.
func (m *Masker) String(s string) string {
	if m == nil || m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Short lists the references whose values are too short to hide.
func (m *Masker) Short() []string {
	if m == nil {
		return nil
	}
	return m.short
}
