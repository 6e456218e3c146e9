package extract

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

// BenchmarkExtract archives a synthetic app of 5,000 files and about
// 200 MB: 4,900 small text and class-like files (scanned for secrets) and
// 100 incompressible 1.6 MB blobs standing in for jars, at the default
// gzip level and at level 6.
//
//	go test ./extract -run '^$' -bench Extract -benchtime 3x
func BenchmarkExtract(b *testing.B) {
	const id = "java-generic-be4c4b00"
	root := b.TempDir()
	rng := rand.New(rand.NewSource(42))
	var total int64
	write := func(p string, data []byte) {
		local := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(local, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	words := []string{"import", "class", "public", "static", "void", "return", "config", "value", "server", "request", "\n", "    "}
	for i := 0; i < 4900; i++ {
		n := 4<<10 + rng.Intn(12<<10)
		data := make([]byte, 0, n)
		if i%2 == 0 { // text
			for len(data) < n {
				data = append(data, words[rng.Intn(len(words))]...)
				data = append(data, ' ')
			}
		} else { // class-like: binary with some structure
			data = data[:n]
			rng.Read(data[:n/2])
			data[0] = 0xca
		}
		write(fmt.Sprintf("/opt/app/classes/pkg%02d/File%04d.%s", i%50, i, map[bool]string{true: "txt", false: "class"}[i%2 == 0]), data)
	}
	for i := 0; i < 100; i++ {
		data := make([]byte, 1600<<10)
		rng.Read(data)
		write(fmt.Sprintf("/opt/app/lib/blob%03d.dat", i), data)
	}
	a := &discover.Analysis{
		SchemaVersion: discover.SchemaVersion, ID: id, Type: discover.TypeJavaGen,
		Observed: discover.Observed{
			Runtime: discover.RuntimeInfo{Kind: "java", Home: "/usr/lib/jvm/java-17"},
			Files:   discover.FileLayout{App: []discover.FileRef{{Path: "/opt/app", Role: "workdir"}}},
		},
		ContainerParameters: discover.ContainerParameters{Include: []string{"/opt/app"}},
	}
	ws := discover.Workspace{Dir: filepath.Join(b.TempDir(), "ws")}
	data, _ := discover.MarshalJSON(a)
	if err := discover.WriteFileAtomic(ws.AnalysisPath(id), data, 0o644); err != nil {
		b.Fatal(err)
	}
	secrets, _ := discover.MarshalJSON(discover.Secrets{id + "/env/DB_PASSWORD": "bench-secret-value"})
	if err := discover.WriteFileAtomic(ws.SecretsPath(), secrets, 0o600); err != nil {
		b.Fatal(err)
	}
	host := discover.Host{Proc: "/nonexistent", Root: root}
	for _, level := range []int{0, 6} {
		name := "level=default"
		if level != 0 {
			name = fmt.Sprintf("level=%d", level)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			var size int64
			for i := 0; i < b.N; i++ {
				res, err := Extract(context.Background(), Options{Host: host, Workspace: ws, ID: id, CompressionLevel: level})
				if err != nil {
					b.Fatal(err)
				}
				if res.Manifest.Sizes.Files != 5000 {
					b.Fatalf("%d files", res.Manifest.Sizes.Files)
				}
				fi, _ := os.Stat(res.ArchivePath)
				size = fi.Size()
			}
			b.ReportMetric(float64(size)/float64(total), "ratio")
		})
	}
}
