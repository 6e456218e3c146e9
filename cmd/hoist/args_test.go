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
		// Global flags after the arguments go in front of the command
		// names; a command's own flag of the same name stays its own.
		{"hoist runtime stop nosuch -o json", "hoist -o json runtime stop nosuch"},
		{"hoist deploy APP --delete --workspace=ws -v", "hoist --workspace=ws -v deploy --delete APP"},
		{"hoist containerize APP --output oci-archive=/tmp/x.tar -w ws", "hoist -w ws containerize --output oci-archive=/tmp/x.tar APP"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}
