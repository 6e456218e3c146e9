package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildVersion is set by the Makefile with -ldflags "-X main.buildVersion=...".
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print hoist's version",
		Action: func(c *cli.Context) error {
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
			}{version(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
			return render(g, v, func(w *tabw) {
				fmt.Fprintf(w, "hoist\t%s\ngo\t%s\nplatform\t%s/%s\n", v.Version, v.Go, v.OS, v.Arch)
			})
		},
	}
}
