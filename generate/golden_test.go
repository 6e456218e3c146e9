package generate

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/cases/*/want")

// The golden cases: testdata/cases/NAME holds analysis.json (and, for edited
// deployments, deployment.json); want/ holds what generate writes.
var goldenCases = []string{"tomcat", "jar-two-ports-secret", "dotnet", "batch"}

// setupCase makes a workspace holding the case's inputs.
func setupCase(t *testing.T, name string) (discover.Workspace, string) {
	return setupCaseB(t, name)
}

func setupCaseB(t testing.TB, name string) (discover.Workspace, string) {
	t.Helper()
	dir := filepath.Join("testdata", "cases", name)
	data, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAnalysis(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ws := discover.Workspace{Dir: t.TempDir()}
	if err := discover.WriteFileAtomic(ws.AnalysisPath(a.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if dep, err := os.ReadFile(filepath.Join(dir, "deployment.json")); err == nil {
		if err := discover.WriteFileAtomic(DeploymentPath(ws, a.ID), dep, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ws, a.ID
}

// generateWith writes d as the app's deployment.json and generates.
func generateWith(t *testing.T, ws discover.Workspace, id string, d *Deployment) *Result {
	t.Helper()
	data, err := MarshalDeployment(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := discover.WriteFileAtomic(DeploymentPath(ws, id), data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Generate(Options{Workspace: ws, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tree reads every regular file under dir, by slash path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			ws, id := setupCase(t, name)
			res, err := Generate(Options{Workspace: ws, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			got := tree(t, ws.AppDir(id))
			delete(got, "analysis.json")
			var warn bytes.Buffer
			for _, w := range res.Warnings {
				warn.WriteString(w.String() + "\n")
			}
			got["warnings.txt"] = warn.Bytes()

			wantDir := filepath.Join("testdata", "cases", name, "want")
			if *update {
				if err := os.RemoveAll(wantDir); err != nil {
					t.Fatal(err)
				}
				for p, data := range got {
					if err := discover.WriteFileAtomic(filepath.Join(wantDir, filepath.FromSlash(p)), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			want := tree(t, wantDir)
			var names []string
			for p := range want {
				names = append(names, p)
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					names = append(names, p)
				}
			}
			sort.Strings(names)
			for _, p := range names {
				g, okg := got[p]
				w, okw := want[p]
				switch {
				case !okg:
					t.Errorf("%s: not written (run go test ./generate -update if that is intended)", p)
				case !okw:
					t.Errorf("%s: written but not in the golden files", p)
				case !bytes.Equal(g, w):
					t.Errorf("%s differs from the golden file:\n%s", p, firstDiff(string(w), string(g)))
				}
			}
		})
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return ""
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
