package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPrerequisitesSayWhatToDo(t *testing.T) {
	cfg := Config{BinDir: t.TempDir(), DataDir: t.TempDir(), StateDir: t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	err := cfg.withDefaults().checkPrerequisites()
	if !errors.Is(err, ErrPrerequisite) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"runc", "containerd not found", "buildkitd not found", "make build"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Daemons the user runs: hoist needs none of its own binaries.
	ext := Config{ContainerdAddr: "/nonexistent.sock", BuildkitAddr: "unix:///nonexistent.sock"}
	if _, err := Ensure(context.Background(), ext, t.Logf); !errors.Is(err, ErrEngineUnavailable) || !strings.Contains(err.Error(), "/nonexistent.sock") {
		t.Errorf("external daemons down: %v", err)
	}
}
