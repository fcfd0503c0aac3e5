package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/pflag"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func init() {
	register(&command{
		name:    "version",
		args:    "",
		summary: "print the versions of hdrlog, Go and cilium/ebpf",
		detail:  "Version prints hdrlog's version, the Go version it was built with and the version of the cilium/ebpf library in it.",
		setup: func(fs *pflag.FlagSet) func([]string) error {
			return func(args []string) error {
				if len(args) > 0 {
					return usagef("version takes no arguments")
				}
				goVersion, ebpfVersion := "unknown", "unknown"
				if bi, ok := debug.ReadBuildInfo(); ok {
					goVersion = bi.GoVersion
					for _, d := range bi.Deps {
						if d.Path == "github.com/cilium/ebpf" {
							ebpfVersion = d.Version
							if d.Replace != nil {
								ebpfVersion += " (replaced by " + d.Replace.Path + " " + d.Replace.Version + ")"
							}
						}
					}
				}
				fmt.Fprintf(stdout, "hdrlog %s\ngo %s\ncilium/ebpf %s\n", version, goVersion, ebpfVersion)
				return nil
			}
		},
	})
}
