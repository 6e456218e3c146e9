package main

import (
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/hoistctl/hoist/discover"
)

type tabw = tabwriter.Writer

// render prints a result in the format chosen with --output: a table for
// people, JSON or YAML (the same fields) for scripts.
func render(g *globals, v any, table func(*tabw)) error {
	switch g.output {
	case "json":
		data, err := discover.MarshalJSON(v)
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(data)
		return err
	case "yaml":
		j, err := discover.MarshalJSON(v)
		if err != nil {
			return err
		}
		data, err := yaml.JSONToYAML(j)
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(data)
		return err
	}
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// orDash prints "-" for empty table cells so columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
