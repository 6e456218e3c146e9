package extract

import (
	"archive/zip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/hoistctl/hoist/discover/appconfig"
	"github.com/hoistctl/hoist/extract/render"
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

// rewriteZip writes a copy of the zip with some entries replaced (see
// render.RewriteZip).
func rewriteZip(src io.ReaderAt, size int64, zr *zip.Reader, dst io.Writer, changes map[string]*zipEdit) error {
	data := make(map[string][]byte, len(changes))
	for name, e := range changes {
		data[name] = e.data
	}
	return render.RewriteZip(src, zr, dst, data)
}
