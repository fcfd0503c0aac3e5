// Package examples holds hdrlog's example rule files; the demo's rules are
// compiled into the binary, so that `hdrlog demo` runs from any directory.
//
// Each directory is a rule set that runs as a whole: rules/ holds the
// library in the DSL, hcl/ the same library in HCL, and this directory the
// demo's rules alone.
package examples

import _ "embed"

// DemoRules is demo.rules, the rules `hdrlog demo` attaches by default.
//
//go:embed demo.rules
var DemoRules []byte
