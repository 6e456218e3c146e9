package generate

import (
	"testing"
)

// BenchmarkGenerate measures one full generate (render, validate, write)
// of the Tomcat case into a workspace that is already up to date.
func BenchmarkGenerate(b *testing.B) {
	ws, id := setupCaseB(b, "tomcat")
	if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Generate(Options{Workspace: ws, ID: id}); err != nil {
			b.Fatal(err)
		}
	}
}
