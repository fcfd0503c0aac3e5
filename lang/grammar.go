package lang

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The DSL grammar, as participle struct tags. Every node keeps the tokens it
// matched (Tokens), from which convert.go derives exact spans.
//
//	file   = (rule | set | redact)*
//	redact = "redact" ("header" | "query") name ("," name)*    (lang/redact.go)
//	rule   = "rule" Ident "{" stmt* "}"
//	set    = "set" Ident ("{" (elem (","? elem)*)? "}" | "file" String)
//	stmt   = "hook" Ident+ | "match" or | "log" field ("," field)*
//	       | "ports" Ident value ("," value)* | "maxlen" field value ("," field value)*
//	       | "unredact" field ("," field)*
//	       | "count" "by" field ("," field)* "every" value ("sum" field)? ("top" value)?
//	       | "sample" Number "/" Number ("by" Ident)?
//	       | "limit" Number "/" Ident ("burst" Number)?
//	or     = and (("||" | "or") and)*
//	and    = unary (("&&" | "and") unary)*
//	unary  = ("!" | "not") unary | "(" or ")" | test
//	test   = ("any" | "all")? field ("&" mask)? (cmpop value | "in" ("{" (elem (","? elem)*)? "}" | SetRef))?
//	field  = Ident ("(" Ident ")")? ("[" slice "]")?
//	         (lower(http.host): a function of a field; eth.src[0:3]: a byte range)
//	elem   = value (".." value)?
//
// A file is a sequence of rules and named sets; ParseDSL cuts the token
// stream at each "rule" and "set" keyword and parses one at a time, so that
// a syntax error in one rule does not hide the errors of the next.
//
// The grammar is LL(1): participle needs no backtracking, and the error it
// reports is at the first token that cannot continue the text.

type ruleNode struct {
	Tokens []lexer.Token
	// The words that start L7 statements are reserved only inside rules:
	// a rule may still be called ports.
	Name  string      `parser:"'rule' @(Ident | 'ports' | 'maxlen' | 'unredact' | 'count' | 'sample' | 'limit' | 'any' | 'all' | 'set' | 'redact') '{'"`
	Stmts []*stmtNode `parser:"@@* '}'"`
}

type stmtNode struct {
	Tokens   []lexer.Token
	Hook     *hookNode   `parser:"'hook' @@"`
	Match    *orNode     `parser:"| 'match' @@"`
	Log      *logNode    `parser:"| 'log' @@"`
	Ports    *portsNode  `parser:"| 'ports' @@"`
	MaxLen   *maxlenNode `parser:"| 'maxlen' @@"`
	Unredact *logNode    `parser:"| 'unredact' @@"`
	Count    *countNode  `parser:"| 'count' @@"`
	Sample   *sampleNode `parser:"| 'sample' @@"`
	Limit    *limitNode  `parser:"| 'limit' @@"`
}

// countNode is `count by ip.src, tcp.dstport every 10s sum frame.len top
// 10`; by, every, sum and top are plain words (a field may be called so),
// recognised by their place.
type countNode struct {
	Tokens []lexer.Token
	By     []*fieldNode `parser:"'by' @@ ( ',' @@ )*"`
	Every  *valueNode   `parser:"'every' @@"`
	Sum    *fieldNode   `parser:"( 'sum' @@ )?"`
	Top    *valueNode   `parser:"( 'top' @@ )?"`
}

// sampleNode is `sample 1/100` or `sample 1/100 by flow`.
type sampleNode struct {
	Tokens []lexer.Token
	One    *valueNode `parser:"@@ '/'"`
	N      *valueNode `parser:"@@"`
	By     *valueNode `parser:"( 'by' @@ )?"`
}

// limitNode is `limit 100/s` or `limit 100/s burst 20`.
type limitNode struct {
	Tokens []lexer.Token
	Rate   *valueNode `parser:"@@ '/'"`
	Unit   *valueNode `parser:"@@"`
	Burst  *valueNode `parser:"( 'burst' @@ )?"`
}

// portsNode is `ports http 8081, 9000`; the checker validates the words.
type portsNode struct {
	Tokens []lexer.Token
	Proto  string       `parser:"@Ident"`
	Ports  []*valueNode `parser:"@@ ( ',' @@ )*"`
}

type maxlenNode struct {
	Items []*maxlenItem `parser:"@@ ( ',' @@ )*"`
}

type maxlenItem struct {
	Field *fieldNode `parser:"@@"`
	Value *valueNode `parser:"@@"`
}

// hookNode collects the hook's words as written; the checker validates them,
// so that an unknown hook gets its own message rather than a syntax error.
type hookNode struct {
	Tokens []lexer.Token
	Words  []string `parser:"@Ident+"`
	// Path is a cgroup hook's cgroup (`hook cgroup egress "/sys/fs/cgroup/web"`).
	Path *string `parser:"@String?"`
}

type logNode struct {
	Fields []*fieldNode `parser:"@@ ( ',' @@ )*"`
}

type fieldNode struct {
	Tokens []lexer.Token
	Name   string `parser:"@Ident"`
	// Arg is set for a function call, lower(http.host): Name is the function.
	Arg string `parser:"( '(' @Ident ')' )?"`
	// Slice is a byte range, eth.src[0:3]; convert.go reads its tokens.
	Slice *sliceNode `parser:"@@?"`
}

type sliceNode struct {
	Tokens []lexer.Token
	Parts  []string `parser:"'[' @( Colon | Number | Ident | '-' )* ']'"`
}

type orNode struct {
	Tokens []lexer.Token
	Left   *andNode   `parser:"@@"`
	Rest   []*andNode `parser:"( ( '||' | 'or' ) @@ )*"`
}

type andNode struct {
	Tokens []lexer.Token
	Left   *unaryNode   `parser:"@@"`
	Rest   []*unaryNode `parser:"( ( '&&' | 'and' ) @@ )*"`
}

type unaryNode struct {
	Tokens []lexer.Token
	Not    *unaryNode `parser:"( '!' | 'not' ) @@"`
	Paren  *orNode    `parser:"| '(' @@ ')'"`
	Test   *testNode  `parser:"| @@"`
}

type testNode struct {
	Tokens []lexer.Token
	// Quant is Wireshark's quantifier: any vlan.id == 5, all vlan.id == 5.
	Quant string     `parser:"@( 'any' | 'all' )?"`
	Field *fieldNode `parser:"@@"`
	// A mask is never a bare word: `tcp.flags.syn & tcp.flags.ack` is a
	// mistyped &&, and says so (syntaxerr.go).
	Mask  *maskNode  `parser:"( '&' @@ )?"`
	Op    *cmpOpNode `parser:"( @@"`
	Value *valueNode `parser:"@@"`
	In    bool       `parser:"| @'in'"`
	// A named set, ip.src in $blocklist, or the elements in braces.
	// A long list of plain elements is one Bulk token (bulk.go).
	SetRef string      `parser:"( @SetRef"`
	Bulk   string      `parser:"| '{' ( @Bulk"`
	Elems  []*elemNode `parser:"| @@ ( ','? @@ )* )? '}' ) )?"`
}

// setNode is a named set: `set NAME { elems }` or `set NAME file "path"`.
type setNode struct {
	Tokens []lexer.Token
	Name   string      `parser:"'set' @(Ident | 'ports' | 'maxlen' | 'unredact' | 'any' | 'all' | 'redact')"`
	File   *valueNode  `parser:"( 'file' @@"`
	Brace  bool        `parser:"| @'{'"`
	Bulk   string      `parser:"( @Bulk"`
	Elems  []*elemNode `parser:"| @@ ( ','? @@ )* )? '}' )"`
}

type cmpOpNode struct {
	Tokens []lexer.Token
	Op     string `parser:"@( '==' | '!=' | '~=' | '<=' | '>=' | '<' | '>' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'contains' | 'matches' )"`
}

type valueNode struct {
	Tokens []lexer.Token
	Text   string `parser:"@( Number | Dotted | Colon | String | RawString | Ident )"`
}

type maskNode struct {
	Tokens []lexer.Token
	Text   string `parser:"@( Number | Dotted | Colon | String | RawString )"`
}

type elemNode struct {
	Lo *valueNode `parser:"@@"`
	Hi *valueNode `parser:"( '..' @@ )?"`
}

var (
	ruleParser = participle.MustBuild[ruleNode](participle.Lexer(tokens), participle.UseLookahead(0))
	exprParser = participle.MustBuild[orNode](participle.Lexer(tokens), participle.UseLookahead(0))
	// The HCL front end reads its sample and limit strings with these.
	sampleParser = participle.MustBuild[sampleNode](participle.Lexer(tokens), participle.UseLookahead(0))
	limitParser  = participle.MustBuild[limitNode](participle.Lexer(tokens), participle.UseLookahead(0))
	setParser    = participle.MustBuild[setNode](participle.Lexer(tokens), participle.UseLookahead(0))
)
