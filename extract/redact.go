package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hoistctl/hoist/discover"
	"github.com/hoistctl/hoist/discover/appconfig"
	"github.com/hoistctl/hoist/extract/render"
)

// Placeholder is what a secret value is replaced with in the archive.
func Placeholder(ref string) string { return render.Placeholder(ref) }

const (
	placeholderOpen  = render.PlaceholderOpen
	placeholderClose = render.PlaceholderClose
)

// Encodings of a secret value written in place of its placeholder (see
// package render, which the container's entry point shares).
const (
	EncodingVerbatim   = render.EncodingVerbatim
	EncodingProperties = render.EncodingProperties
	EncodingJSON       = render.EncodingJSON
	EncodingXML        = render.EncodingXML
	EncodingYAMLDouble = render.EncodingYAMLDouble
	EncodingYAMLSingle = render.EncodingYAMLSingle
	EncodingYAMLPlain  = render.EncodingYAMLPlain
	EncodingYAMLBlock  = render.EncodingYAMLBlock
)

// EncodeSecret spells a secret's value for the place its placeholder is in.
func EncodeSecret(s RedactedSecret, value string) (string, error) {
	return render.EncodeSecret(s, value)
}

// Render puts secret values back in place of their placeholders.
func Render(data []byte, secrets []RedactedSecret, values map[string]string) ([]byte, error) {
	return render.Render(data, secrets, values)
}

// ErrSecretFound is returned (wrapped) when a secret value was found in a
// file the analysis did not parse and Options.RefuseFoundSecrets is set.
var ErrSecretFound = errors.New("secret value found in a file")

// placeholderRe finds placeholders; references never hold "}}".
var placeholderRe = regexp.MustCompile(`\{\{hoist-secret:(.*?)\}\}`)

// redactConfig replaces the secrets of one config file by placeholders and
// proves the result renders back to what the app reads now.
func redactConfig(name string, kind appconfig.Kind, data []byte, locs []discover.SecretLocation, values discover.Secrets, id string) ([]byte, []RedactedSecret, []string, error) {
	f, err := appconfig.Parse(kind, data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parsing %s to redact its secrets: %w; fix the file, or exclude it and provide it at deploy time", name, err)
	}
	var warnings []string
	for _, w := range f.Warnings {
		if strings.Contains(w, "redact it by hand") {
			return nil, nil, nil, fmt.Errorf("%s: %s; hoist cannot redact that secret, so it refuses to archive the file: write the value plainly and run `hoist analyze %s` again, or exclude the file", name, w, id)
		}
	}
	// Pair each secret with the reference the analysis gave it: by key,
	// in file order (a key may hold different values in several documents).
	byKey := map[string][]string{}
	for _, l := range locs {
		byKey[l.Key] = append(byKey[l.Key], l.Ref)
	}
	used := map[string]int{}
	refOfValue := map[string]string{}
	keyOfRef := map[string]string{}
	for _, s := range f.Secrets {
		refs := byKey[s.Key]
		n := used[s.Key]
		if n >= len(refs) {
			return nil, nil, nil, fmt.Errorf("%s holds a secret at %s that analysis.json does not know: the file changed since it was analyzed; run `hoist analyze %s` again", name, s.Key, id)
		}
		used[s.Key]++
		ref := refs[n]
		v, ok := values[ref]
		if !ok {
			return nil, nil, nil, fmt.Errorf("the secrets file has no value for %s (%s in %s); run `hoist analyze %s` again", ref, s.Key, name, id)
		}
		if v != s.Plain() {
			return nil, nil, nil, fmt.Errorf("the secret at %s in %s differs from the secrets file's value for %s: the file changed since it was analyzed; run `hoist analyze %s` again so the container gets the current value", s.Key, name, ref, id)
		}
		if _, ok := refOfValue[s.Value]; !ok {
			refOfValue[s.Value] = ref
		}
		keyOfRef[ref] = s.Key
	}
	for k, refs := range byKey {
		if used[k] < len(refs) {
			warnings = append(warnings, fmt.Sprintf("%s no longer holds the secret at %s (analysis.json lists it); nothing to redact there", name, k))
		}
	}
	if len(f.Secrets) == 0 {
		return nil, nil, warnings, nil
	}
	out := appconfig.Redact(data, f.Secrets, func(s appconfig.Secret) string { return Placeholder(refOfValue[s.Value]) })
	var occ []occurrence
	if kind == appconfig.KindSpringYAML {
		out, occ = yamlPlaceholders(out)
	} else {
		enc := EncodingXML
		switch kind {
		case appconfig.KindSpringProps, appconfig.KindJavaProperties:
			enc = EncodingProperties
		case appconfig.KindAppSettingsJSON:
			enc = EncodingJSON
		}
		for _, m := range placeholderRe.FindAllSubmatchIndex(out, -1) {
			occ = append(occ, occurrence{ref: string(out[m[2]:m[3]]), enc: RedactedSecret{Encoding: enc}})
		}
	}
	secrets, err := mergeOccurrences(name, occ, keyOfRef, values)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := verifyRedaction(name, kind, f, out, secrets, values); err != nil {
		return nil, nil, nil, err
	}
	return out, secrets, warnings, nil
}

type occurrence struct {
	ref string
	enc RedactedSecret
}

// mergeOccurrences gives one encoding per reference; occurrences of one
// secret that need different spellings are refused.
func mergeOccurrences(name string, occ []occurrence, keyOfRef map[string]string, values discover.Secrets) ([]RedactedSecret, error) {
	byRef := map[string]RedactedSecret{}
	var order []string
	for _, o := range occ {
		s := o.enc
		s.Ref, s.Key = o.ref, keyOfRef[o.ref]
		prev, ok := byRef[o.ref]
		if !ok {
			byRef[o.ref] = s
			order = append(order, o.ref)
			continue
		}
		if prev.Encoding == s.Encoding && prev.Indent == s.Indent {
			continue
		}
		a, errA := EncodeSecret(prev, values[o.ref])
		b, errB := EncodeSecret(s, values[o.ref])
		if errA != nil || errB != nil || a != b {
			return nil, fmt.Errorf("%s holds the secret %s in places written differently (%s and %s); hoist cannot put it back in both: keep one copy, or write both alike, and run the command again", name, o.ref, prev.Encoding, s.Encoding)
		}
	}
	sort.Strings(order)
	out := make([]RedactedSecret, 0, len(order))
	for _, r := range order {
		out = append(out, byRef[r])
	}
	return out, nil
}

// verifyRedaction proves that the redacted file parses and, once rendered
// with the current values, says exactly what the original says.
func verifyRedaction(name string, kind appconfig.Kind, orig *appconfig.File, redacted []byte, secrets []RedactedSecret, values discover.Secrets) error {
	hint := "quote the value in the file (\"...\"), or exclude the file and provide it at deploy time"
	if _, err := appconfig.Parse(kind, redacted); err != nil {
		return fmt.Errorf("%s no longer parses once its secrets are replaced by placeholders (%v); %s", name, err, hint)
	}
	rendered, err := Render(redacted, secrets, values)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	back, err := appconfig.Parse(kind, rendered)
	if err != nil {
		return fmt.Errorf("%s does not parse when its secrets are put back (%v); %s", name, err, hint)
	}
	if len(back.Secrets) != len(orig.Secrets) {
		return fmt.Errorf("%s: putting its secrets back gives %d secrets instead of %d; %s", name, len(back.Secrets), len(orig.Secrets), hint)
	}
	for i, s := range orig.Secrets {
		if b := back.Secrets[i]; b.Key != s.Key || b.Plain() != s.Plain() {
			return fmt.Errorf("%s: the secret at %s would not read back the same once rendered; %s", name, s.Key, hint)
		}
	}
	if len(back.Settings) != len(orig.Settings) {
		return fmt.Errorf("%s: its settings would change once its secrets are rendered; %s", name, hint)
	}
	for i, s := range orig.Settings {
		if back.Settings[i] != s {
			return fmt.Errorf("%s: setting %s would change once its secrets are rendered; %s", name, s.Key, hint)
		}
	}
	return nil
}

// yamlPlaceholders finds the placeholders of a redacted YAML file, quotes
// those that start an unquoted scalar (a plain scalar may not start with
// "{"), and says how each must be encoded.
func yamlPlaceholders(data []byte) ([]byte, []occurrence) {
	var out bytes.Buffer
	var occ []occurrence
	pos := 0
	for _, m := range placeholderRe.FindAllSubmatchIndex(data, -1) {
		start, end := m[0], m[1]
		ref := string(data[m[2]:m[3]])
		enc, indent, wrap := yamlContext(data, start, end)
		out.Write(data[pos:start])
		if wrap {
			out.WriteByte('"')
			out.Write(data[start:end])
			out.WriteByte('"')
		} else {
			out.Write(data[start:end])
		}
		pos = end
		occ = append(occ, occurrence{ref: ref, enc: RedactedSecret{Encoding: enc, Indent: indent}})
	}
	out.Write(data[pos:])
	return out.Bytes(), occ
}

var blockHeaderRe = regexp.MustCompile(`(^|[:\-\s])[|>][+-]?[0-9]?[+-]?\s*(#.*)?$`)

// yamlContext tells where in a YAML line the text at [start,end) is.
func yamlContext(data []byte, start, end int) (enc string, indent int, wrap bool) {
	ls := bytes.LastIndexByte(data[:start], '\n') + 1
	prefix := data[ls:start]
	if len(bytes.TrimLeft(prefix, " ")) == 0 {
		// At the start of a line's content: a block scalar's line if the
		// line that opens it ends with | or >.
		ind := len(prefix)
		for p := ls - 1; p > 0; {
			ps := bytes.LastIndexByte(data[:p], '\n') + 1
			line := data[ps:p]
			trimmed := bytes.TrimLeft(line, " ")
			if len(bytes.TrimSpace(line)) > 0 && len(line)-len(trimmed) < ind {
				if blockHeaderRe.Match(bytes.TrimRight(line, " \r")) {
					return EncodingYAMLBlock, ind, false
				}
				break
			}
			p = ps - 1
		}
		return EncodingYAMLPlain, 0, false
	}
	// Scan the line up to the placeholder, tracking quoted scalars (a
	// quote opens one only where a scalar starts).
	var quote byte
	atStart := true
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		switch quote {
		case '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote, atStart = 0, false
			}
			continue
		case '\'':
			if c == '\'' {
				if i+1 < len(prefix) && prefix[i+1] == '\'' {
					i++
				} else {
					quote, atStart = 0, false
				}
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t':
			// keeps atStart as it is
		case (c == '"' || c == '\'') && atStart:
			quote = c
		case c == ':' || c == '-' || c == '[' || c == '{' || c == ',' || c == '?':
			atStart = i+1 == len(prefix) || prefix[i+1] == ' ' || prefix[i+1] == '\t' || c == '[' || c == '{' || c == ','
		default:
			atStart = false
		}
	}
	switch quote {
	case '"':
		return EncodingYAMLDouble, 0, false
	case '\'':
		return EncodingYAMLSingle, 0, false
	}
	lastSpace := len(prefix) > 0 && (prefix[len(prefix)-1] == ' ' || prefix[len(prefix)-1] == '\t')
	if atStart && (lastSpace || bytes.HasSuffix(prefix, []byte("[")) || bytes.HasSuffix(prefix, []byte(","))) {
		// The placeholder starts a plain scalar: quote it if the scalar is
		// nothing but the placeholder.
		rest := data[end:]
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[:nl]
		}
		rest = bytes.TrimRight(rest, " \t\r")
		trimmed := bytes.TrimLeft(rest, " \t")
		comment := len(trimmed) < len(rest) && len(trimmed) > 0 && trimmed[0] == '#'
		if len(rest) == 0 || comment || rest[0] == ',' || rest[0] == ']' || rest[0] == '}' {
			return EncodingYAMLDouble, 0, true
		}
	}
	return EncodingYAMLPlain, 0, false
}

// secretValue is one value the scan looks for.
type secretValue struct {
	ref      string
	value    []byte
	encoding string
}

// scanner finds secret values in files the analysis did not parse.
type scanner struct {
	vals []secretValue // longest first
}

// minScanLen is the shortest secret value the scan looks for: shorter
// ones match ordinary text everywhere.
const minScanLen = 4

// maxScanSize is the largest file (or jar entry) the scan reads.
const maxScanSize = 1 << 20

func newScanner(vals []secretValue) *scanner {
	seen := map[string]bool{}
	s := &scanner{}
	for _, v := range vals {
		if len(v.value) < minScanLen || seen[string(v.value)] {
			continue
		}
		seen[string(v.value)] = true
		s.vals = append(s.vals, v)
	}
	sort.SliceStable(s.vals, func(i, j int) bool { return len(s.vals[i].value) > len(s.vals[j].value) })
	return s
}

// isText says whether data looks like text: no NUL byte.
func isText(data []byte) bool { return bytes.IndexByte(data, 0) < 0 }

// find reports whether data holds a secret value outside placeholders.
func (s *scanner) find(data []byte) bool {
	if s == nil || len(s.vals) == 0 {
		return false
	}
	for _, v := range s.vals {
		if bytes.Contains(data, v.value) {
			return true
		}
	}
	return false
}

// redact replaces every secret value outside existing placeholders, longest
// first, and says which references it used with which encoding.
func (s *scanner) redact(data []byte) ([]byte, []occurrence) {
	if !s.find(data) {
		return data, nil
	}
	var first [256]bool
	for _, v := range s.vals {
		first[v.value[0]] = true
	}
	out := make([]byte, 0, len(data)+64)
	var occ []occurrence
	open := []byte(placeholderOpen)
	for i := 0; i < len(data); {
		if data[i] == '{' && bytes.HasPrefix(data[i:], open) {
			if j := bytes.Index(data[i:], []byte(placeholderClose)); j >= 0 {
				out = append(out, data[i:i+j+len(placeholderClose)]...)
				i += j + len(placeholderClose)
				continue
			}
		}
		if first[data[i]] {
			matched := false
			for _, v := range s.vals {
				if bytes.HasPrefix(data[i:], v.value) {
					out = append(out, Placeholder(v.ref)...)
					occ = append(occ, occurrence{ref: v.ref, enc: RedactedSecret{Encoding: v.encoding}})
					i += len(v.value)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		out = append(out, data[i])
		i++
	}
	return out, occ
}

// inJSONValues finds secret values among the string values of a JSON
// document (analysis.json, which a user may have edited by hand): a value
// equal to a secret, or holding one of 8 bytes or more. Shorter secrets
// are only matched whole, since paths and names in the analysis would hold
// them by chance ("orders" in /srv/orders).
func (s *scanner) inJSONValues(data []byte) []string {
	if s == nil || len(s.vals) == 0 {
		return nil
	}
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	found := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			for _, sv := range s.vals {
				if v == string(sv.value) || len(sv.value) >= 8 && strings.Contains(v, string(sv.value)) {
					found[sv.ref] = true
				}
			}
		}
	}
	walk(doc)
	var refs []string
	for r := range found {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	return refs
}
