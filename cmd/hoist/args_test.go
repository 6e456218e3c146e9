package main

import (
	"strings"
	"testing"
)

func TestInterspersedFlags(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want string }{
		{"hoist push APP --registry 127.0.0.1:5000/x", "hoist push --registry 127.0.0.1:5000/x APP"},
		{"hoist -o json containerize APP --no-validate --output oci-archive=/tmp/x.tar", "hoist -o json containerize --no-validate --output oci-archive=/tmp/x.tar APP"},
		{"hoist --workspace ws analyze APP --force", "hoist --workspace ws analyze --force APP"},
		{"hoist runtime status", "hoist runtime status"},
		{"hoist analyze -- --odd-id", "hoist analyze -- --odd-id"},
		{"hoist analyze APP --bogus", "hoist analyze APP --bogus"},
		{"hoist", "hoist"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}
