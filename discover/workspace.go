package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Error classes every phase uses, so the CLI can map them to exit codes.
var (
	// ErrNotFound: an app ID, file or object the user named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: an input file or argument is malformed.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable: a daemon, host resource or process is not reachable.
	ErrUnavailable = errors.New("unavailable")
)

// Workspace is the directory every phase reads and writes; it is meant to be
// committed to git, so nothing in it holds a secret value except SecretsFile,
// which .gitignore excludes.
type Workspace struct {
	Dir string
}

const (
	inventoryFile = "inventory.json"
	analysisFile  = "analysis.json"
	// SecretsFile is the only file in a workspace holding secret values.
	SecretsFile = "secrets.json"
)

// InventoryPath is where inventory.json lives.
func (w Workspace) InventoryPath() string { return filepath.Join(w.Dir, inventoryFile) }

// AppDir is the directory of one app.
func (w Workspace) AppDir(id string) string { return filepath.Join(w.Dir, id) }

// AnalysisPath is APP/analysis.json.
func (w Workspace) AnalysisPath(id string) string {
	return filepath.Join(w.Dir, id, analysisFile)
}

// SecretsPath is the workspace's secrets file.
func (w Workspace) SecretsPath() string { return filepath.Join(w.Dir, SecretsFile) }

// gitignored are the workspace's files that must never be committed.
// The build context (the runtime copied from the host, the unpacked files)
// and the records of a validation run, which differ from run to run, stay
// out too.
var gitignored = []string{SecretsFile, "*/extract/*.tar.gz", "*/containerize/context/", "*/containerize/context.unpack/", "*/containerize/validate.log", "*/containerize/validation.json"}

// init creates the workspace and its .gitignore.
func (w Workspace) init() error {
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: workspace %s: %v; --workspace (or HOIST_WORKSPACE) must name a directory, or a path where one can be made", ErrInvalid, w.Dir, err)
		}
		return fmt.Errorf("creating workspace %s: %w; pass --workspace (or HOIST_WORKSPACE) a directory you can write", w.Dir, err)
	}
	gi := filepath.Join(w.Dir, ".gitignore")
	cur, _ := os.ReadFile(gi)
	have := map[string]bool{}
	for _, l := range strings.Split(string(cur), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var add []string
	for _, l := range gitignored {
		if !have[l] {
			add = append(add, l)
		}
	}
	if len(add) == 0 {
		return nil
	}
	want := string(cur)
	if want != "" && !strings.HasSuffix(want, "\n") {
		want += "\n"
	}
	if want == "" {
		want = "# written by hoist: secret values and archives of app files stay out of git\n"
	}
	want += strings.Join(add, "\n") + "\n"
	return WriteFileAtomic(gi, []byte(want), 0o644)
}

// MarshalJSON renders v the way every hoist file is written: indented, with a
// final newline, so that equal inputs give byte-identical files.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFileAtomic writes a file through a temporary file and a rename, so a
// crash or a full disk never leaves a half-written file where a good one was.
func WriteFileAtomic(name string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
		return DirInTheWay(name)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// ReadFile reads a workspace file like os.ReadFile, except that a
// directory where the file belongs is ErrInvalid saying so and what to do.
func ReadFile(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, syscall.EISDIR) {
		return nil, DirInTheWay(name)
	}
	return data, err
}

// DirInTheWay is the error for a directory where hoist keeps (or is about
// to write) a file.
func DirInTheWay(name string) error {
	return fmt.Errorf("%w: %s is a directory where hoist keeps a file; move it out of the way", ErrInvalid, name)
}

// WriteInventory writes inventory.json.
func (w Workspace) WriteInventory(inv *Inventory) error {
	if err := w.init(); err != nil {
		return err
	}
	data, err := MarshalJSON(inv)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(w.InventoryPath(), data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", w.InventoryPath(), err)
	}
	return nil
}

// ReadInventory reads inventory.json.
func (w Workspace) ReadInventory() (*Inventory, error) {
	var inv Inventory
	if err := readJSONFile(w.InventoryPath(), &inv, "run `hoist inventory` to write it again"); err != nil {
		return nil, err
	}
	return &inv, nil
}

// ReadAnalysis reads APP/analysis.json and checks what a hand edit can
// break: the schema version, the app's ID and containerParameters.
func (w Workspace) ReadAnalysis(id string) (*Analysis, error) {
	var a Analysis
	name, hint := w.AnalysisPath(id), "fix it by hand or run `hoist analyze "+id+" --force` to write it again"
	if err := readJSONFile(name, &a, hint); err != nil {
		return nil, err
	}
	if a.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%w: %s: schemaVersion is %d, this hoist reads %d; %s", ErrInvalid, name, a.SchemaVersion, SchemaVersion, hint)
	}
	if a.ID != id {
		return nil, fmt.Errorf("%w: %s: id is %q, not %q; %s", ErrInvalid, name, a.ID, id, hint)
	}
	if err := a.ContainerParameters.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; %s", ErrInvalid, name, err, hint)
	}
	return &a, nil
}

// readJSONFile decodes a workspace file strictly (unknown fields are errors,
// so a typo in a hand edit is caught rather than silently ignored).
func readJSONFile(name string, v any, hint string) error {
	data, err := ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading %s: %w", name, ErrNotFound)
		}
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %s; %s", ErrInvalid, name, DescribeJSONError(data, err, dec.InputOffset()), hint)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: unexpected data after the JSON document; %s", ErrInvalid, name, hint)
	}
	return nil
}

// DescribeJSONError says where and how a JSON document broke, for a user
// who edits it by hand: the line and column (fallback is the decoder's
// offset, for errors that carry none, such as an unknown field), the field
// and the kind of value it wants, and an empty or cut-short file as such.
func DescribeJSONError(data []byte, err error, fallback int64) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "the file is empty"
	}
	at := func(off int64) string {
		line := 1 + bytes.Count(data[:off], []byte("\n"))
		col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
		return fmt.Sprintf("line %d, column %d", line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return at(int64(len(data))) + ": the file ends in the middle of the JSON document (cut short?)"
	}
	off := fallback
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	msg := err.Error()
	// The decoder reports an unknown field only once the whole object is
	// read: place it at the key itself.
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		off = -1
		if key, err := strconv.Unquote(name); err == nil {
			if loc := regexp.MustCompile(regexp.QuoteMeta(strconv.Quote(key)) + `\s*:`).FindIndex(data); loc != nil {
				off = int64(loc[0])
			}
		}
	}
	if te != nil && te.Field != "" {
		k := te.Type.Kind().String()
		switch {
		case strings.HasPrefix(te.Value, "number") && (strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint")):
			msg = fmt.Sprintf("field %s: %s is not a whole number this field can hold", te.Field, strings.TrimPrefix(te.Value, "number "))
		case strings.HasPrefix(te.Value, "number") && strings.HasPrefix(k, "float"):
			msg = fmt.Sprintf("field %s: %s is out of range", te.Field, strings.TrimPrefix(te.Value, "number "))
		default:
			msg = fmt.Sprintf("field %s: got a JSON %s, want %s", te.Field, te.Value, jsonKind(k))
		}
	}
	if off < 0 || off > int64(len(data)) {
		return msg
	}
	return at(off) + ": " + msg
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice", k == "array":
		return "array"
	case k == "struct", k == "map":
		return "object"
	case k == "bool":
		return "true or false"
	}
	return k
}

// Secrets is the content of the secrets file: secret references to values.
type Secrets map[string]string

// MissingSecret is the error for a secret (what names it) whose reference
// the secrets file has no value for. A workspace cloned from git has no
// secrets file at all (it is git-ignored): the error says so, and where
// the file comes from.
func (w Workspace) MissingSecret(what, id string) error {
	if _, err := os.Stat(w.SecretsPath()); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s: the workspace has no secrets file %s (it is kept out of git, so a cloned workspace has none); copy it from the machine that ran `hoist analyze %s`, or write it: a JSON object of secret reference to value", ErrNotFound, what, w.SecretsPath(), id)
	}
	return fmt.Errorf("%w: %s has no value in the secrets file %s; add it there (or run `hoist analyze %s` again on the source host)", ErrNotFound, what, w.SecretsPath(), id)
}

// ReadSecrets reads the secrets file; a missing file is empty.
func (w Workspace) ReadSecrets() (Secrets, error) {
	s := Secrets{}
	data, err := ReadFile(w.SecretsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: secrets file %s: %s; fix it or delete it and run `hoist analyze` again", ErrInvalid, w.SecretsPath(), DescribeJSONError(data, err, -1))
	}
	return s, nil
}

// replaceAppSecrets replaces every secret of one app in the secrets file,
// keeping other apps' secrets, with mode 0600.
func (w Workspace) replaceAppSecrets(id string, vals Secrets) error {
	all, err := w.ReadSecrets()
	if err != nil {
		return err
	}
	for k := range all {
		if strings.HasPrefix(k, id+"/") {
			delete(all, k)
		}
	}
	for k, v := range vals {
		all[k] = v
	}
	data, err := MarshalJSON(all) // encoding/json sorts map keys
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(w.SecretsPath(), data, 0o600); err != nil {
		return fmt.Errorf("writing secrets file: %w", err)
	}
	return nil
}
