package main

import (
	"strings"
	"testing"
)

// TestContainerizeBadInput: what is missing is said before any engine is
// started (the engine flags point nowhere, so starting one would fail
// differently).
func TestContainerizeBadInput(t *testing.T) {
	ws := t.TempDir()
	base := []string{"--workspace", ws, "--containerd-addr", "/nonexistent/containerd.sock", "--buildkit-addr", "unix:///nonexistent/buildkitd.sock"}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"containerize", "java-nosuch-00000000"}, exitNotFound, "hoist extract java-nosuch-00000000"},
		{[]string{"containerize", "--build-only", "java-nosuch-00000000"}, exitNotFound, "hoist containerize java-nosuch-00000000"},
		{[]string{"containerize", "--input-archive", "/nonexistent.tar.gz", "java-nosuch-00000000"}, exitNotFound, "/nonexistent.tar.gz"},
		{[]string{"containerize", "--output", "oci-archive=", "java-nosuch-00000000"}, exitUsage, "oci-archive=PATH"},
		{[]string{"containerize"}, exitUsage, "app ID"},
	} {
		_, stderr, code := run(t, nil, append(append([]string{}, base...), tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.code, stderr, tc.msg)
		}
	}
}
