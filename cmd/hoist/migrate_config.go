package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/hoistctl/hoist/discover"
)

// migrateConfig is hoist.yaml, the settings of `hoist migrate` kept in the
// repository next to the pipeline that runs it. Flags on the command line
// win over the file.
type migrateConfig struct {
	// Apps are the app IDs to migrate; All migrates every app the
	// inventory finds.
	Apps []string `yaml:"apps"`
	All  bool     `yaml:"all"`
	// Target is where deploy goes: local, kubernetes, ecs or apprunner.
	Target string `yaml:"target"`
	// Registry is where push sends the image (kubernetes needs one).
	Registry string `yaml:"registry"`
	From     string `yaml:"from"`
	To       string `yaml:"to"`
	// Force runs every phase even when its inputs did not change.
	Force bool `yaml:"force"`
	// Flags are extra flags per phase, e.g. containerize: [--no-validate].
	Flags map[string][]string `yaml:"flags"`
}

// readMigrateConfig reads hoist.yaml strictly: an unknown key is an error
// with its line, so a typo does not silently do nothing.
func readMigrateConfig(path string) (*migrateConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("migrate --config %s: no such file: %w", path, discover.ErrNotFound)
		}
		return nil, fmt.Errorf("migrate --config %s: %w", path, err)
	}
	var cfg migrateConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %v (keys: apps, all, target, registry, from, to, force, flags)", discover.ErrInvalid, path, err)
	}
	for phase := range cfg.Flags {
		if phaseIndex(phase) < 0 {
			return nil, fmt.Errorf("%w: %s: flags: %q is no phase; use inventory, analyze, extract, containerize, push, generate or deploy", discover.ErrInvalid, path, phase)
		}
	}
	return &cfg, nil
}
