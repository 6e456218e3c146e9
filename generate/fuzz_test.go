package generate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistctl/hoist/discover"
)

func seedFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		// Truncated and retyped variants reach the error paths sooner.
		f.Add(data[:len(data)/2])
		f.Add(bytes.Replace(data, []byte(`: 1`), []byte(`: "1"`), 1))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"schemaVersion": 1, "id": "x", "portMappings": [{"containerPort": -1}]}`))
}

// FuzzParseDeployment: malformed deployment.json gets an ErrInvalid error
// naming where it broke, never a panic; what parses survives a round trip.
func FuzzParseDeployment(f *testing.F) {
	seedFiles(f, "testdata/cases/*/want/deployment.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDeployment(data)
		if err != nil {
			if !errors.Is(err, discover.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		out, err := MarshalDeployment(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := ParseDeployment(out)
		if err != nil {
			t.Fatalf("re-reading what parsed: %v", err)
		}
		out2, _ := MarshalDeployment(d2)
		if !bytes.Equal(out, out2) {
			t.Fatal("not stable across a round trip")
		}
	})
}

// FuzzParseAnalysis: the reader of analysis.json, and DefaultDeployment on
// whatever it accepts.
func FuzzParseAnalysis(f *testing.F) {
	seedFiles(f, "testdata/cases/*/analysis.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAnalysis(data)
		if err != nil {
			if !errors.Is(err, discover.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		d := DefaultDeployment(a, "")
		if err := d.Validate(); err != nil {
			// Hand-edited analyses may hold values no target takes; that
			// must be a field-naming error, not a panic.
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("validation error without problems: %v", err)
			}
			for _, p := range ve.Problems {
				if p.Field == "" && !strings.Contains(p.Message, " ") {
					t.Fatalf("problem without a field: %+v", p)
				}
			}
		}
	})
}

// FuzzValidateTaskDefinition: the reader of an edited task-definition.json.
func FuzzValidateTaskDefinition(f *testing.F) {
	seedFiles(f, "testdata/cases/*/want/deploy/ecs/task-definition.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = validateTaskDefinition("task-definition.json", data)
	})
}
