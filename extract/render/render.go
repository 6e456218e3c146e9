// Package render puts secret values back into the files and arguments
// hoist redacted: the inverse of extract's redaction. It is shared by
// extract (which proves every redaction renders back) and by the small
// entry point hoist puts into images (cmd/hoist-entry), which renders at
// container start from the environment, so it depends on the standard
// library only.
package render

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// Placeholder is what a secret value is replaced with in a file.
func Placeholder(ref string) string { return PlaceholderOpen + ref + PlaceholderClose }

// The placeholder's delimiters; references never hold "}}".
const (
	PlaceholderOpen  = "{{hoist-secret:"
	PlaceholderClose = "}}"
)

// Secret is one placeholder in a redacted file.
type Secret struct {
	Ref string `json:"ref"`
	// Key is the setting the secret was in, for config files.
	Key string `json:"key,omitempty"`
	// Encoding says how to write the secret's value in place of the
	// placeholder (EncodeSecret).
	Encoding string `json:"encoding"`
	// Indent is the indentation of a YAML block scalar's lines.
	Indent int `json:"indent,omitempty"`
}

// Encodings of a secret value written in place of its placeholder: the
// value from the secrets file is the value as the app reads it, so it must
// be escaped the way the file's format spells it.
const (
	EncodingVerbatim   = "verbatim"           // the bytes as they are
	EncodingProperties = "properties"         // Java properties value escapes
	EncodingJSON       = "json"               // inside a JSON string
	EncodingXML        = "xml"                // XML attribute or text
	EncodingYAMLDouble = "yaml-double-quoted" // inside "..."
	EncodingYAMLSingle = "yaml-single-quoted" // inside '...'
	EncodingYAMLPlain  = "yaml-plain"         // part of an unquoted scalar
	EncodingYAMLBlock  = "yaml-block"         // a | or > block scalar, indented by Indent
)

// EncodeSecret spells a secret's value for the place its placeholder is in.
func EncodeSecret(s Secret, value string) (string, error) {
	switch s.Encoding {
	case EncodingVerbatim, EncodingYAMLPlain:
		return value, nil
	case EncodingProperties:
		var b strings.Builder
		for i, r := range value {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\f':
				b.WriteString(`\f`)
			case r == ' ' && i == 0:
				b.WriteString(`\ `)
			case r < 0x20 || r > 0x7e:
				if r > 0xffff {
					for _, u := range utf16Pair(r) {
						fmt.Fprintf(&b, `\u%04x`, u)
					}
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
		return b.String(), nil
	case EncodingJSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(value); err != nil {
			return "", err
		}
		out := strings.TrimSuffix(buf.String(), "\n")
		return out[1 : len(out)-1], nil
	case EncodingXML:
		r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\n", "&#xA;", "\r", "&#xD;", "\t", "&#x9;")
		return r.Replace(value), nil
	case EncodingYAMLDouble:
		var b strings.Builder
		for _, r := range value {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case r == '"':
				b.WriteString(`\"`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, `\x%02x`, r)
			default:
				b.WriteRune(r)
			}
		}
		return b.String(), nil
	case EncodingYAMLSingle:
		if strings.ContainsAny(value, "\r\n") {
			return "", fmt.Errorf("secret %s holds a line break, which a single-quoted YAML string cannot keep; quote the value with \"...\" in the file", s.Ref)
		}
		return strings.ReplaceAll(value, "'", "''"), nil
	case EncodingYAMLBlock:
		v := strings.TrimSuffix(value, "\n")
		return strings.ReplaceAll(v, "\n", "\n"+strings.Repeat(" ", s.Indent)), nil
	}
	return "", fmt.Errorf("secret %s: unknown encoding %q", s.Ref, s.Encoding)
}

func utf16Pair(r rune) [2]rune {
	r -= 0x10000
	return [2]rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
}

// Render puts secret values back in place of their placeholders: the
// inverse of the redaction, for the files Manifest.Redacted lists. values
// maps references to values (the secrets file, or the environment).
func Render(data []byte, secrets []Secret, values map[string]string) ([]byte, error) {
	repl := map[string]string{}
	for _, s := range secrets {
		v, ok := values[s.Ref]
		if !ok {
			return nil, fmt.Errorf("rendering secret %s: no value for it; add it to the secrets file or the environment", s.Ref)
		}
		enc, err := EncodeSecret(s, v)
		if err != nil {
			return nil, err
		}
		repl[Placeholder(s.Ref)] = enc
	}
	var out bytes.Buffer
	rest := data
	for {
		i := bytes.Index(rest, []byte(PlaceholderOpen))
		if i < 0 {
			out.Write(rest)
			break
		}
		j := bytes.Index(rest[i:], []byte(PlaceholderClose))
		if j < 0 {
			out.Write(rest)
			break
		}
		ph := string(rest[i : i+j+len(PlaceholderClose)])
		out.Write(rest[:i])
		if v, ok := repl[ph]; ok {
			out.WriteString(v)
		} else {
			out.WriteString(ph)
		}
		rest = rest[i+j+len(PlaceholderClose):]
	}
	return out.Bytes(), nil
}

// RewriteZip writes a copy of the zip with some entries replaced. Every
// other entry is copied byte for byte (compressed data, headers, order);
// replaced entries keep their name, method, times and attributes, so the
// same input always gives the same output. Data before the first entry
// (the launch script of a "fully executable" Spring Boot jar) is kept.
func RewriteZip(src io.ReaderAt, zr *zip.Reader, dst io.Writer, changes map[string][]byte) error {
	prefix, err := zipPrefix(src, zr)
	if err != nil {
		return err
	}
	if _, err := dst.Write(prefix); err != nil {
		return err
	}
	w := zip.NewWriter(dst)
	w.SetOffset(int64(len(prefix)))
	for _, f := range zr.File {
		data, ok := changes[f.Name]
		if !ok {
			if err := w.Copy(f); err != nil {
				return fmt.Errorf("copying entry %s: %w", f.Name, err)
			}
			continue
		}
		fh := f.FileHeader
		fh.Flags &^= 0x8 // sizes go in the header, no data descriptor
		fh.CRC32 = crc32.ChecksumIEEE(data)
		fh.UncompressedSize64 = uint64(len(data))
		var body []byte
		switch fh.Method {
		case zip.Store:
			body = data
		case zip.Deflate:
			var buf bytes.Buffer
			fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
			if err != nil {
				return err
			}
			if _, err := fw.Write(data); err != nil {
				return err
			}
			if err := fw.Close(); err != nil {
				return err
			}
			body = buf.Bytes()
		default:
			return fmt.Errorf("entry %s uses compression method %d, which hoist cannot rewrite", f.Name, fh.Method)
		}
		fh.CompressedSize64 = uint64(len(body))
		out, err := w.CreateRaw(&fh)
		if err != nil {
			return fmt.Errorf("writing entry %s: %w", f.Name, err)
		}
		if _, err := out.Write(body); err != nil {
			return err
		}
	}
	if err := w.SetComment(zr.Comment); err != nil {
		return err
	}
	return w.Close()
}

// zipPrefix returns the bytes before the first local file header.
func zipPrefix(src io.ReaderAt, zr *zip.Reader) ([]byte, error) {
	if len(zr.File) == 0 {
		return nil, nil
	}
	first := int64(-1)
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil {
			return nil, err
		}
		if first < 0 || off < first {
			first = off
		}
	}
	head := make([]byte, first)
	if _, err := src.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	i := bytes.Index(head, []byte("PK\x03\x04"))
	if i < 0 {
		return nil, fmt.Errorf("no local file header before the first entry's data")
	}
	return head[:i], nil
}
