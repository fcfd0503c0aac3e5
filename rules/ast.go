package rules

// This file holds the syntax tree that the front ends (the .rules DSL and HCL)
// produce. It is untyped: names are not yet resolved and literals are text.
// Both front ends build the same tree, so the checker gives both the same meaning.

// File is one parsed rule file.
type File struct {
	Name  string
	Rules []*RuleDecl
	// Sets are the named sets the file declares (sets.go).
	Sets []*SetDecl
	// Redact are the file's redact statements (redact.go); they apply to
	// every rule of the run.
	Redact []*RedactDecl
}

// RuleDecl is one rule as written.
type RuleDecl struct {
	Name     string
	NameSpan Span
	Span     Span // the whole rule

	// Hook is the hook as written ("xdp", "tc ingress", "tc egress"); nil means
	// the default, tc ingress.
	Hook *HookDecl
	// Match is the match expression; nil means every packet.
	Match Expr
	// MatchSpan covers the whole match expression (for diagnostics on it as a whole).
	MatchSpan Span
	// Log lists the fields to log, in output order. Nil when the rule has no log
	// statement (an error the checker reports).
	Log     []FieldName
	HasLog  bool
	LogSpan Span

	// Dups records statements given more than once (the checker reports them).
	Dups []Duplicate

	// L7 statements (l7.go): `ports http 8081, 9000` (one per protocol),
	// `maxlen http.request.uri 512`, `unredact http.cookie`.
	Ports    []PortsDecl
	MaxLen   []MaxLenDecl
	Unredact []FieldName

	// Volume statements (volume.go): `count by … every …` in place of log,
	// `sample 1/N [by flow]` and `limit R/s [burst B]` beside it. Nil when
	// not given.
	Count  *CountDecl
	Sample *SampleDecl
	Limit  *LimitDecl
}

// CountDecl is `count by FIELD[, FIELD...] every DURATION [sum frame.len]
// [top N]`.
type CountDecl struct {
	By    []FieldName
	Every *Literal
	Sum   *FieldName // nil: no sum
	Top   *Literal   // nil: every key
	Span  Span
}

// SampleDecl is `sample 1/N [by flow]`.
type SampleDecl struct {
	One, N *Literal
	By     *Literal // nil: random
	Span   Span
}

// LimitDecl is `limit R/s [burst B]`.
type LimitDecl struct {
	Rate  *Literal
	Unit  *Literal
	Burst *Literal // nil: the rate
	Span  Span
}

// PortsDecl declares more ports on which a rule sees an L7 protocol.
type PortsDecl struct {
	Proto     string
	ProtoSpan Span
	Ports     []*Literal
	Span      Span
}

// MaxLenDecl sets how many bytes of a logged string field events carry.
type MaxLenDecl struct {
	Field FieldName
	Value *Literal
}

// Duplicate is a statement repeated inside one rule.
type Duplicate struct {
	Keyword string
	Span    Span
}

// HookDecl is a hook name as written.
type HookDecl struct {
	Text string
	Span Span
	// Cgroup is a cgroup hook's cgroup as the DSL writes it, quoted after
	// the hook; in HCL it is the hook text's third word.
	Cgroup string
}

// FieldName is a field reference as written, including a layer suffix
// ("vlan.id#2").
type FieldName struct {
	Name string
	Span Span
	// Func is "lower" or "upper" when the field is written inside one of
	// Wireshark's string functions (lower(http.request.uri)); FuncSpan
	// covers the whole call.
	Func     string
	FuncSpan Span
	// Slice is Wireshark's byte range after a field (eth.src[0:3]); nil
	// when there is none.
	Slice *Slice
}

// Slice is a byte range of a field, after Wireshark's forms: [i:n] (n bytes
// from i), [i-j] (i to j inclusive), [i] (one byte), [:n], [i:] (to the
// end). A negative Start counts from the end (-1 is the last byte).
type Slice struct {
	Start int
	Len   int // bytes; SliceToEnd: up to the end
	Text  string
	Span  Span
}

// SliceToEnd is the Len of a slice that runs to the end of the field.
const SliceToEnd = -1

func (s *Slice) String() string { return "[" + s.Text + "]" }

// Expr is a match expression node.
type Expr interface {
	ExprSpan() Span
	exprNode()
}

// LogicalOp is && or ||.
type LogicalOp int

const (
	OpAnd LogicalOp = iota
	OpOr
)

func (o LogicalOp) String() string {
	if o == OpOr {
		return "||"
	}
	return "&&"
}

// LogicalExpr is Left && Right or Left || Right.
type LogicalExpr struct {
	Op          LogicalOp
	Left, Right Expr
	Span        Span
}

// NotExpr is !X.
type NotExpr struct {
	X    Expr
	Span Span
}

// CmpOp is a comparison operator.
type CmpOp int

const (
	CmpEq CmpOp = iota
	CmpNe
	CmpLt
	CmpLe
	CmpGt
	CmpGe
	CmpContains
	CmpMatches
	// CmpAnyNe is Wireshark's ~= ("any not equal"): some occurrence of the
	// field differs. (!= is "all not equal".) The checker expands it into
	// != on single occurrences.
	CmpAnyNe
)

var cmpNames = [...]string{"==", "!=", "<", "<=", ">", ">=", "contains", "matches", "~="}

// Quantifier is Wireshark's any or all before a comparison: whether some
// or every occurrence of a field with several (the VLAN tags of a QinQ
// frame, both sides of ip.addr) must satisfy it.
type Quantifier int

const (
	// QuantNone is the default: any, except for != (all not equal).
	QuantNone Quantifier = iota
	QuantAny
	QuantAll
)

func (o CmpOp) String() string { return cmpNames[o] }

// CompareExpr is [Quant] Field [& Mask] Op Value.
type CompareExpr struct {
	Quant     Quantifier
	QuantSpan Span
	Field     FieldName
	Mask      *Literal // optional bitwise-and mask: (field & mask) op value
	Op        CmpOp
	OpSpan    Span
	Value     *Literal
	Span      Span
}

// InExpr is [Quant] Field [& Mask] in { elems }, or in $name: a named
// set (SetRef, without the $).
type InExpr struct {
	Quant      Quantifier
	QuantSpan  Span
	Field      FieldName
	Mask       *Literal
	Elems      []SetElem
	SetRef     string
	SetRefSpan Span
	Span       Span
}

// SetElem is a single value (Hi == nil) or an inclusive range Lo..Hi.
type SetElem struct {
	Lo, Hi *Literal
}

// TestExpr is a bare field or protocol (an existence test), or Field & Mask
// (true when the masked value is not zero).
type TestExpr struct {
	Field FieldName
	Mask  *Literal
	Span  Span
}

func (e *LogicalExpr) ExprSpan() Span { return e.Span }
func (e *NotExpr) ExprSpan() Span     { return e.Span }
func (e *CompareExpr) ExprSpan() Span { return e.Span }
func (e *InExpr) ExprSpan() Span      { return e.Span }
func (e *TestExpr) ExprSpan() Span    { return e.Span }
func (*LogicalExpr) exprNode()        {}
func (*NotExpr) exprNode()            {}
func (*CompareExpr) exprNode()        {}
func (*InExpr) exprNode()             {}
func (*TestExpr) exprNode()           {}

// LitKind is the lexical class of a literal; the checker gives it a type from
// the field it is compared with.
type LitKind int

const (
	LitNumber LitKind = iota // 22, 0x16
	LitDotted                // 10.0.0.1, 10.0.0.0/8
	LitColon                 // fe80::1, 2001:db8::/32, 00:11:22:33:44:55
	LitString                // "GET" (quotes removed, escapes resolved)
	LitWord                  // a bare word in value position: true, False, a host name
)

// Literal is a value as written.
type Literal struct {
	Kind LitKind
	Text string
	Span Span
}
