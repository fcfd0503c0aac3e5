package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/hdrlog/hdrlog/runtime"
)

func init() {
	register(&command{
		name:    "doctor",
		args:    "",
		summary: "check that this host and process can run hdrlog, and say what to do where not",
		detail: `
Doctor looks at everything hdrlog needs from the kernel and the process:
the kernel version, the capabilities held and needed (CAP_BPF,
CAP_NET_ADMIN, CAP_PERFMON), the memlock limit, kernel BTF, the program
types, ring buffers, tcx and XDP links, BPF_PROG_TEST_RUN (for hdrlog
test) and whether the kernel's run-time statistics are on. For each piece
that is missing it says what to do. It attaches nothing: its probe
programs are unloaded before it returns.

Exit status: 0 when everything hdrlog needs is there, 1 otherwise.`,
		setup: func(fs *pflag.FlagSet) func([]string) error {
			return func(args []string) error {
				if len(args) > 0 {
					return usagef("doctor takes no arguments")
				}
				return runDoctor()
			}
		},
	})
}

func runDoctor() error {
	findings := runtime.Doctor()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tstatus\tdetail")
	missing := 0
	for _, f := range findings {
		status := "ok"
		switch {
		case f.Info:
			status = "info"
		case !f.OK:
			status = "MISSING"
			missing++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Check, status, f.Detail)
	}
	tw.Flush()
	// One line per remedy, naming every check it is for: without
	// privileges, most probes fail for the same reason.
	var fixes []string
	checks := map[string][]string{}
	for _, f := range findings {
		if !f.OK && f.Fix != "" {
			if checks[f.Fix] == nil {
				fixes = append(fixes, f.Fix)
			}
			checks[f.Fix] = append(checks[f.Fix], f.Check)
		}
	}
	for _, fix := range fixes {
		fmt.Fprintf(stdout, "%s: %s\n", strings.Join(checks[fix], ", "), fix)
	}
	if missing > 0 {
		return &reportedError{summary: plural(missing, "thing") + " hdrlog needs " + isAre(missing) + " missing (see above)"}
	}
	fmt.Fprintln(stdout, "ok: this host and process can run hdrlog")
	return nil
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
