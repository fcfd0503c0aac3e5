// Package lang holds hdrlog's front ends: the .rules DSL and HCL, both producing the rules syntax tree.
//
// The DSL's grammar is written as participle struct tags over unexported
// parse-tree types (grammar.go); the tree is converted to rules.File so that
// the checker never sees front-end details. The match-expression parser
// (ParseExpr) is shared with the HCL front end: both front ends give the same
// text the same tree, hence the same meaning.
//
// Every syntax error is a rules.Diagnostic with an exact span and, where one
// helps, a hint; Render prints diagnostics with the source line and a caret.
package lang
