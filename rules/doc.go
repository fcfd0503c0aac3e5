// Package rules is hdrlog's rule model: the syntax tree the front ends produce,
// the catalogue of packet fields, and the checker that turns a syntax tree into
// a typed rule set, the single source of a rule file's meaning.
//
// The package knows nothing of eBPF, files or flags. Front ends (package lang)
// build a File; Check resolves field names against the catalogue, types every
// literal and returns a RuleSet or positioned Diagnostics.
package rules
