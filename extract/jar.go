package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"

	"github.com/hoistctl/hoist/discover/appconfig"
)

// Jars, wars and ears are zip files; their text entries are scanned for
// secret values and rewritten when a config inside holds a secret.

// isZipName says whether a file is a Java archive hoist looks into.
func isZipName(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".jar", ".war", ".ear", ".sar", ".rar", ".zip":
		return true
	}
	return false
}

// binaryEntry names zip entries that are never text.
func binaryEntry(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".class", ".jar", ".war", ".ear", ".zip", ".gz", ".png", ".gif", ".jpg", ".jpeg", ".ico",
		".so", ".dll", ".exe", ".bin", ".ttf", ".otf", ".woff", ".woff2", ".eot", ".pdf", ".jks", ".p12", ".ser":
		return true
	}
	return false
}

// zipEdit is the new content of a zip entry and what was redacted in it.
type zipEdit struct {
	kind    appconfig.Kind
	data    []byte
	secrets []RedactedSecret // from a config redaction
	occ     []occurrence     // from the scan
}

// scanZip applies the config redactions already decided for entries of
// this archive (edits) and scans every small text entry for secret values.
// It returns the entries that change.
func scanZip(zr *zip.Reader, edits map[string]*zipEdit, sc *scanner) (map[string]*zipEdit, error) {
	changes := map[string]*zipEdit{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		if e, ok := edits[f.Name]; ok {
			data, occ := sc.redact(e.data)
			changes[f.Name] = &zipEdit{kind: e.kind, data: data, secrets: e.secrets, occ: occ}
			continue
		}
		if sc == nil || len(sc.vals) == 0 || binaryEntry(f.Name) || f.UncompressedSize64 > maxScanSize {
			continue
		}
		data, err := readZipEntry(f, maxScanSize)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", f.Name, err)
		}
		if !isText(data) || !sc.find(data) {
			continue
		}
		out, occ := sc.redact(data)
		if len(occ) > 0 {
			changes[f.Name] = &zipEdit{data: out, occ: occ}
		}
	}
	return changes, nil
}

func readZipEntry(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than its header says (over %d bytes)", max)
	}
	return data, nil
}

// readJarEntry reads one entry of a zip.
func readJarEntry(r io.ReaderAt, size int64, name string, max int64) ([]byte, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	for _, f := range zr.File {
		if f.Name == name {
			return readZipEntry(f, max)
		}
	}
	return nil, fmt.Errorf("no entry %s in it", name)
}

// rewriteZip writes a copy of the zip with some entries replaced. Every
// other entry is copied byte for byte (compressed data, headers, order);
// replaced entries keep their name, method, times and attributes, so the
// same input always gives the same output. Data before the first entry
// (the launch script of a "fully executable" Spring Boot jar) is kept.
func rewriteZip(src io.ReaderAt, size int64, zr *zip.Reader, dst io.Writer, changes map[string]*zipEdit) error {
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
		e, ok := changes[f.Name]
		if !ok {
			if err := w.Copy(f); err != nil {
				return fmt.Errorf("copying entry %s: %w", f.Name, err)
			}
			continue
		}
		fh := f.FileHeader
		fh.Flags &^= 0x8 // sizes go in the header, no data descriptor
		fh.CRC32 = crc32.ChecksumIEEE(e.data)
		fh.UncompressedSize64 = uint64(len(e.data))
		var body []byte
		switch fh.Method {
		case zip.Store:
			body = e.data
		case zip.Deflate:
			var buf bytes.Buffer
			fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
			if err != nil {
				return err
			}
			if _, err := fw.Write(e.data); err != nil {
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
