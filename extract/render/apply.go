package render

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// PlanPath is where an image keeps its Plan.
const PlanPath = "/.hoist/render.json"

// EntryPath is where an image keeps hoist's entry point.
const EntryPath = "/.hoist/entry"

// EnvPrefix starts the names of the environment variables that carry
// secret values into a container for rendering (EnvName).
const EnvPrefix = "HOIST_SECRET_"

// Plan says what the entry point renders before it starts the app.
type Plan struct {
	// Files are files (or entries of jars) that hold placeholders.
	Files []File `json:"files,omitempty"`
	// Env maps each secret reference to the environment variable that
	// carries its value.
	Env map[string]string `json:"env"`
}

// File is one file to render.
type File struct {
	Path string `json:"path"`
	// Entry names an entry inside the zip (jar, war) at Path.
	Entry   string   `json:"entry,omitempty"`
	Secrets []Secret `json:"secrets"`
}

var notEnvChar = regexp.MustCompile(`[^A-Z0-9]+`)

// EnvName is the environment variable that carries the value of the secret
// ref into a container: readable (from the reference's last parts) and
// unique (a short hash of the whole reference).
func EnvName(ref string) string {
	parts := strings.Split(ref, "/")
	if len(parts) > 1 {
		parts = parts[1:] // the app ID is the same for every secret of an app
	}
	name := strings.Trim(notEnvChar.ReplaceAllString(strings.ToUpper(strings.Join(parts, "_")), "_"), "_")
	if len(name) > 60 {
		name = strings.Trim(name[len(name)-60:], "_")
	}
	sum := sha256.Sum256([]byte(ref))
	return EnvPrefix + name + "_" + strings.ToUpper(hex.EncodeToString(sum[:3]))
}

// argRe finds the placeholders the analysis writes into command lines.
var argRe = regexp.MustCompile(`\{\{(?:hoist-)?secret:(.*?)\}\}`)

// ArgRefs lists the secret references in arguments.
func ArgRefs(args []string) []string {
	var refs []string
	for _, a := range args {
		for _, m := range argRe.FindAllStringSubmatch(a, -1) {
			refs = append(refs, m[1])
		}
	}
	return refs
}

// Args puts secret values into arguments in place of their placeholders.
func Args(args []string, lookup func(ref string) (string, bool)) ([]string, error) {
	out := make([]string, len(args))
	var missing []string
	for i, a := range args {
		out[i] = argRe.ReplaceAllStringFunc(a, func(ph string) string {
			ref := argRe.FindStringSubmatch(ph)[1]
			v, ok := lookup(ref)
			if !ok {
				missing = append(missing, ref)
				return ph
			}
			return v
		})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no value for the secrets %s in the command line", strings.Join(missing, ", "))
	}
	return out, nil
}

// Apply renders every file of the plan in place. lookup gives a secret's
// value by reference. A file whose placeholders are already gone (a
// restarted container) is left alone.
func Apply(p *Plan, lookup func(ref string) (string, bool)) error {
	var missing []string
	for _, f := range p.Files {
		for _, s := range f.Secrets {
			if _, ok := lookup(s.Ref); !ok {
				missing = append(missing, fmt.Sprintf("%s (%s)", p.Env[s.Ref], s.Ref))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no value for %s: supply these environment variables from your secret store (the generated task definition and manifests reference them)", strings.Join(dedupe(missing), ", "))
	}
	for _, f := range p.Files {
		if err := applyFile(f, lookup); err != nil {
			return fmt.Errorf("rendering %s: %w", f.display(), err)
		}
	}
	return nil
}

func (f File) display() string {
	if f.Entry != "" {
		return f.Path + "!" + f.Entry
	}
	return f.Path
}

func applyFile(f File, lookup func(string) (string, bool)) error {
	values := map[string]string{}
	for _, s := range f.Secrets {
		values[s.Ref], _ = lookup(s.Ref)
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return err
	}
	var out []byte
	if f.Entry == "" {
		if !bytes.Contains(data, []byte(PlaceholderOpen)) {
			return nil
		}
		if out, err = Render(data, f.Secrets, values); err != nil {
			return err
		}
	} else {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return err
		}
		var entry []byte
		for _, e := range zr.File {
			if e.Name != f.Entry {
				continue
			}
			r, err := e.Open()
			if err != nil {
				return err
			}
			var b bytes.Buffer
			_, err = b.ReadFrom(r)
			r.Close()
			if err != nil {
				return err
			}
			entry = b.Bytes()
		}
		if entry == nil {
			return fmt.Errorf("no entry %s", f.Entry)
		}
		if !bytes.Contains(entry, []byte(PlaceholderOpen)) {
			return nil
		}
		rendered, err := Render(entry, f.Secrets, values)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := RewriteZip(bytes.NewReader(data), zr, &b, map[string][]byte{f.Entry: rendered}); err != nil {
			return err
		}
		out = b.Bytes()
	}
	// In place: the directory may not be writable by the app's user, the
	// file is (containerize gives it to that user).
	w, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("%w (the file must be writable by the container's user, and the root file system not read-only)", err)
	}
	if _, err := w.Write(out); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
