package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSupervisorCommand(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// No hoist-supervisor in BinDir (nor beside the test binary): this
	// executable's `runtime serve`.
	got, err := supervisorCommand(Config{BinDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{exe, "runtime", "serve"}; !slices.Equal(got, want) {
		t.Errorf("without hoist-supervisor: %v, want %v", got, want)
	}
	// A file that is not executable is not taken.
	p := filepath.Join(dir, SupervisorBinary)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := supervisorCommand(Config{BinDir: dir}); got[0] != exe {
		t.Errorf("a non-executable hoist-supervisor was taken: %v", got)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := supervisorCommand(Config{BinDir: dir}); !slices.Equal(got, []string{p}) {
		t.Errorf("with hoist-supervisor in BinDir: %v, want [%s]", got, p)
	}
	// Config.Supervisor wins.
	own := []string{"/opt/x/hoist", "runtime", "serve"}
	if got, _ := supervisorCommand(Config{BinDir: dir, Supervisor: own}); !slices.Equal(got, own) {
		t.Errorf("Config.Supervisor: %v, want %v", got, own)
	}
}

func TestConfigFromEnv(t *testing.T) {
	cfg := Config{DataDir: "/d", StateDir: "/s", Namespace: "ns", BinDir: "/b", Bridge: "br9", Subnet: "10.9.0.0/24", CNIPluginDir: "/c"}
	for _, kv := range cfg.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	got := ConfigFromEnv()
	if got.DataDir != "/d" || got.StateDir != "/s" || got.Namespace != "ns" || got.BinDir != "/b" || got.Bridge != "br9" || got.Subnet != "10.9.0.0/24" || got.CNIPluginDir != "/c" {
		t.Errorf("ConfigFromEnv = %+v, want %+v", got, cfg)
	}
	for _, kv := range cfg.env() {
		k, _, _ := strings.Cut(kv, "=")
		t.Setenv(k, "")
	}
	if got, want := ConfigFromEnv(), DefaultConfig(); got.DataDir != want.DataDir || got.Bridge != want.Bridge || got.Subnet != want.Subnet {
		t.Errorf("empty environment: %+v, want the defaults %+v", got, want)
	}
}
