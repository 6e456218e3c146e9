package diff

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

// apply replays the edit script on a and checks it against itself.
func apply(t *testing.T, a []string, edits []Edit) []string {
	t.Helper()
	var out []string
	ai := 0
	for _, e := range edits {
		switch e.Op {
		case Equal:
			if ai >= len(a) || a[ai] != e.Line || e.Old != ai+1 {
				t.Fatalf("equal edit %+v does not match old line %d", e, ai+1)
			}
			ai++
			out = append(out, e.Line)
		case Delete:
			if ai >= len(a) || a[ai] != e.Line || e.Old != ai+1 {
				t.Fatalf("delete edit %+v does not match old line %d", e, ai+1)
			}
			ai++
		case Insert:
			out = append(out, e.Line)
			if e.New != len(out) {
				t.Fatalf("insert edit %+v numbered %d, is line %d", e, e.New, len(out))
			}
		}
	}
	if ai != len(a) {
		t.Fatalf("script consumed %d of %d old lines", ai, len(a))
	}
	return out
}

// lcs is the textbook dynamic programme, to check that Lines is minimal.
func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestLinesRandom(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	words := []string{"a", "b", "c", "d", "e"}
	gen := func() []string {
		n := r.Intn(14)
		out := make([]string, n)
		for i := range out {
			out[i] = words[r.Intn(len(words))]
		}
		return out
	}
	for i := 0; i < 3000; i++ {
		a, b := gen(), gen()
		edits := Lines(a, b)
		got := apply(t, a, edits)
		if strings.Join(got, "\n") != strings.Join(b, "\n") || len(got) != len(b) {
			t.Fatalf("Lines(%q, %q) rebuilds %q", a, b, got)
		}
		cost := 0
		for _, e := range edits {
			if e.Op != Equal {
				cost++
			}
		}
		if want := len(a) + len(b) - 2*lcs(a, b); cost != want {
			t.Fatalf("Lines(%q, %q) costs %d edits, the minimum is %d", a, b, cost, want)
		}
	}
}

func TestLinesBeyondMaxCost(t *testing.T) {
	var a, b []string
	for i := 0; i < maxCost; i++ {
		a = append(a, "old "+itoa(i))
		b = append(b, "new "+itoa(i))
	}
	a = append(a, "shared")
	b = append(b, "shared")
	got := apply(t, a, Lines(a, b))
	if strings.Join(got, "\n") != strings.Join(b, "\n") {
		t.Fatal("the fallback for very different files does not rebuild the new file")
	}
}

func TestHunks(t *testing.T) {
	var a []string
	for i := 1; i <= 20; i++ {
		a = append(a, "line "+itoa(i))
	}
	b := append([]string(nil), a...)
	b[1] = "line two"             // change near the top
	b = append(b[:15], b[16:]...) // delete line 16
	b = append(b, "line 21")      // append at the end
	hs := Hunks(Lines(a, b), 3)
	var heads []string
	for _, h := range hs {
		heads = append(heads, h.Header())
	}
	// What GNU diff -u prints for the same change.
	want := []string{"@@ -1,5 +1,5 @@", "@@ -13,8 +13,8 @@"}
	if strings.Join(heads, " ") != strings.Join(want, " ") {
		t.Fatalf("hunk headers %q, want %q", heads, want)
	}
}

func TestHunksMatchGNUDiff(t *testing.T) {
	gnu, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("GNU diff is not installed (apt-get install diffutils)")
	}
	r := rand.New(rand.NewSource(11))
	dir := t.TempDir()
	for i := 0; i < 200; i++ {
		var a []string
		for j := 0; j < 40; j++ {
			a = append(a, "l"+itoa(j))
		}
		b := append([]string(nil), a...)
		for k := 0; k < 1+r.Intn(4); k++ {
			p := r.Intn(len(b))
			switch r.Intn(3) {
			case 0:
				b[p] = "changed " + itoa(k)
			case 1:
				b = append(b[:p], b[p+1:]...)
			default:
				b = append(b[:p], append([]string{"inserted " + itoa(k)}, b[p:]...)...)
			}
		}
		os.WriteFile(filepath.Join(dir, "a"), []byte(strings.Join(a, "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "b"), []byte(strings.Join(b, "\n")+"\n"), 0o644)
		out, _ := exec.Command(gnu, "-u", filepath.Join(dir, "a"), filepath.Join(dir, "b")).Output()
		var want []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "@@") {
				want = append(want, l)
			}
		}
		var got []string
		for _, h := range Hunks(Lines(a, b), 3) {
			got = append(got, h.Header())
		}
		// Lines only unique to each side here, so every minimal diff has
		// the same hunks.
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("case %d: hunks %q, GNU diff %q\nold %q\nnew %q", i, got, want, a, b)
		}
	}
}

// TestWriteRoundTrip applies hoist's diff with git apply and gets the new
// generation back, file for file, including added and removed files and a
// missing final newline.
func TestWriteRoundTrip(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	old := map[string][]byte{
		"ecs/task-definition.json": []byte("{\n  \"cpu\": \"256\",\n  \"memory\": \"512\"\n}\n"),
		"kubernetes/service.yaml":  []byte("kind: Service\nspec:\n  ports:\n  - port: 80\n"),
		"README.md":                []byte("old readme\nno newline"),
	}
	cur := map[string][]byte{
		"ecs/task-definition.json": []byte("{\n  \"cpu\": \"512\",\n  \"memory\": \"1024\"\n}\n"),
		"kubernetes/hpa.yaml":      []byte("kind: HorizontalPodAutoscaler\n"),
		"README.md":                []byte("old readme\nno newline\n"),
	}
	g := &Generation{HasPrevious: true, Files: Compare(old, cur, nil)}
	var buf bytes.Buffer
	if err := Write(&buf, g, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Fatal("colour codes without colour")
	}
	dir := t.TempDir()
	for p, data := range old {
		if err := discover.WriteFileAtomic(filepath.Join(dir, p), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(git, "apply", "-p1", "-")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply: %v\n%s\npatch:\n%s", err, out, buf.String())
	}
	for p, want := range cur {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after git apply: %q (%v), want %q", p, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "kubernetes/service.yaml")); err == nil {
		t.Error("the removed file is still there after git apply")
	}
	var col bytes.Buffer
	if err := Write(&col, g, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{colorRed + "-  \"cpu\": \"256\",", colorGreen + "+  \"cpu\": \"512\",", colorCyan + "@@"} {
		if !strings.Contains(col.String(), want) {
			t.Errorf("coloured diff lacks %q:\n%s", want, col.String())
		}
	}
	if s := Summary(g); s != "4 files changed, 4 insertions(+), 7 deletions(-)" {
		t.Errorf("summary %q", s)
	}
}

func TestMasker(t *testing.T) {
	m := NewMasker(discover.Secrets{
		"app/env/DB_PASSWORD": `s3cr"et\pw`,
		"app/env/PIN":         "123",
		"app/env/LONGER":      `s3cr"et\pw-and-more`,
	})
	in := "pw=s3cr\"et\\pw json=\"s3cr\\\"et\\\\pw\" b64=czNjciJldFxwdw== long=s3cr\"et\\pw-and-more pin=123"
	got := m.String(in)
	for _, leak := range []string{`s3cr"et\pw`, `s3cr\"et\\pw`, "czNjciJldFxwdw==", "and-more"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q still in %q", leak, got)
		}
	}
	if !strings.Contains(got, "[secret app/env/LONGER hidden]") || !strings.Contains(got, "[secret app/env/DB_PASSWORD hidden]") {
		t.Errorf("markers missing: %q", got)
	}
	if s := m.Short(); len(s) != 1 || s[0] != "app/env/PIN" {
		t.Errorf("short values: %q", s)
	}
}

func TestMaskSecretManifests(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
data:
  PLAIN: visible-config
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
stringData:
  DB_PASSWORD: hunter2-unknown-to-the-secrets-file
  EMPTY: ""
  "QUOTED.KEY": 'it''s secret'
  KEY_PEM: |
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkqhkiG9w0BAQ
    -----END PRIVATE KEY-----
data:
  TOKEN: c2VjcmV0LXRva2Vu
type: Opaque
`
	got := (*Masker)(nil).File("kubernetes/secret.yaml", in)
	for _, leak := range []string{"hunter2", "it''s secret", "MIIEvQ", "BEGIN PRIVATE", "c2VjcmV0LXRva2Vu"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q is still in:\n%s", leak, got)
		}
	}
	for _, keep := range []string{"PLAIN: visible-config", `EMPTY: ""`, "DB_PASSWORD: " + HiddenValue, `"QUOTED.KEY": ` + HiddenValue, "TOKEN: " + HiddenValue, "type: Opaque", "name: app-secrets"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%q is missing from:\n%s", keep, got)
		}
	}
	if strings.Count(got, "\n") != strings.Count(in, "\n") {
		t.Error("masking changed the number of lines")
	}
	if other := (*Masker)(nil).File("kubernetes/configmap.yaml", "kind: ConfigMap\ndata:\n  A: b\n"); other != "kind: ConfigMap\ndata:\n  A: b\n" {
		t.Errorf("a ConfigMap was changed: %q", other)
	}
}
