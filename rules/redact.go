package rules

import (
	"regexp"
	"sort"
	"strings"
)

// Redaction of what carries secrets (docs/l7.md, Redaction).
//
// Two kinds:
//   - Headers whose value is a secret (Authorization, Cookie, X-Api-Key…) are
//     redacted whole: an event holds their length only. Which headers is
//     decided when the rules are checked (SecretHeaders, and a rule set's
//     `redact header NAME`).
//   - URLs keep their shape, their secret parts masked: the userinfo of an
//     absolute URL (http://user:pass@host/) and the values of query
//     parameters whose names are secret (SecretQuery, and a rule set's
//     `redact query NAME`). The kernel masks them while it copies the
//     value into the event (compiler/l7_mask.go); MaskURL is the same
//     masking, for the reference evaluator and the tests.
//
// `unredact FIELD` in a rule turns both off for that rule's field.

// SecretHeaders are the HTTP headers redacted by default (lower case),
// through their own field or through http.header[…].
var SecretHeaders = []string{
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	"x-api-key", "api-key", "apikey", "x-auth-token", "x-access-token",
	"x-amz-security-token", "x-goog-api-key", "x-vault-token", "private-token",
	"x-csrf-token", "x-xsrf-token", "x-session-token",
}

// SecretQuery are the query parameters whose values are masked by default.
// Names compare case-insensitively, with '-' and '_' alike, and whole:
// `token` is not `mytoken` (add it with `redact query mytoken`).
var SecretQuery = []string{
	"token", "access_token", "refresh_token", "id_token", "auth_token",
	"session_token", "api_token", "private_token", "apikey", "api_key", "key",
	"password", "passwd", "pwd", "pass", "secret", "client_secret",
	"sig", "signature", "x_amz_signature", "x_amz_credential", "x_amz_security_token",
	"x_goog_signature", "x_goog_credential", "auth", "jwt",
	"session", "sessionid", "jsessionid", "phpsessid",
}

// URLFields are the string fields that hold URLs (or may, as any header
// may): their values are masked (MaskURL) unless a rule unredacts them.
var URLFields = map[string]bool{
	"http.request.uri": true, "http.referer": true, "http.location": true,
	"http.response_for.uri": true,
}

// masksURL reports whether a logged string field is masked as a URL: the
// URL fields and every http.header[…] (a header may carry a URL).
func masksURL(f *Field) bool {
	return URLFields[f.Name] || f.L7 != nil && f.L7.Keyed || strings.HasPrefix(f.Name, `http.header["`)
}

// MaskByte replaces each masked byte in an event: a line feed, which no
// HTTP value can hold (a line feed ends its line). The output writes each
// run of them as "[redacted]" (runtime, MaskedText).
const MaskByte = '\n'

// RedactedText is what the output writes for a redacted value or part.
const RedactedText = "[redacted]"

// FNV-1a, 32 bits, of a query parameter's name: the kernel compares these.
const (
	QueryHashBasis = 2166136261
	QueryHashPrime = 16777619
)

// QueryHashStep adds one byte of a name to its hash: letters in lower
// case, '-' as '_'.
func QueryHashStep(h uint32, c byte) uint32 {
	if c >= 'A' && c <= 'Z' {
		c |= 0x20
	}
	if c == '-' {
		c = '_'
	}
	return (h ^ uint32(c)) * QueryHashPrime
}

// QueryHash is the hash of a query parameter's name.
func QueryHash(name string) uint32 {
	h := uint32(QueryHashBasis)
	for i := 0; i < len(name); i++ {
		h = QueryHashStep(h, name[i])
	}
	return h
}

// QueryHashes are the sorted, distinct hashes of names.
func QueryHashes(names []string) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for _, n := range names {
		if h := QueryHash(n); !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// URLUserinfo finds the userinfo of an absolute URL at the value's start:
// scheme "://" userinfo "@", the scheme a letter then letters, digits, '+',
// '-' or '.', the userinfo ending at the last '@' before the first '/',
// '?' or '#' after "://". It returns [a, u), a == u when there is none.
func URLUserinfo(v []byte) (a, u int) {
	st := 0
	for j, c := range v {
		switch st {
		case 0:
			if !isAlpha(c) {
				return 0, 0
			}
			st = 1
		case 1:
			switch {
			case isAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.':
			case c == ':':
				st = 2
			default:
				return 0, 0
			}
		case 2, 3:
			if c != '/' {
				return 0, 0
			}
			st++
			if st == 4 {
				a, u = j+1, j+1
			}
		case 4:
			if c == '/' || c == '?' || c == '#' {
				return a, u
			}
			if c == '@' {
				u = j
			}
		}
	}
	if st != 4 {
		return 0, 0
	}
	return a, u
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// MaskURL returns a copy of v with its userinfo and the values of the query
// parameters whose name hashes are in secret replaced by MaskByte. The
// query starts after the first '?' and ends at '#'; a parameter ends at '&'
// or ';', a secret value at '&' only (a ';' inside it stays masked).
func MaskURL(v []byte, secret []uint32) []byte {
	out := append([]byte(nil), v...)
	a, u := URLUserinfo(v)
	const (
		path = iota
		name
		plain
		masked
		frag
	)
	st, h := path, uint32(QueryHashBasis)
	for i, c := range v {
		if i >= a && i < u {
			out[i] = MaskByte
		}
		switch st {
		case path:
			if c == '?' {
				st, h = name, QueryHashBasis
			} else if c == '#' {
				st = frag
			}
		case name:
			switch c {
			case '=':
				st = plain
				for _, s := range secret {
					if s == h {
						st = masked
					}
				}
			case '&', ';':
				h = QueryHashBasis
			case '#':
				st = frag
			default:
				h = QueryHashStep(h, c)
			}
		case plain:
			if c == '&' || c == ';' {
				st, h = name, QueryHashBasis
			} else if c == '#' {
				st = frag
			}
		case masked:
			if c == '&' {
				st, h = name, QueryHashBasis
			} else if c == '#' {
				st = frag
			} else {
				out[i] = MaskByte
			}
		}
	}
	return out
}

// MaskedText writes each run of MaskByte in b as "[redacted]".
func MaskedText(b []byte) []byte {
	if !strings.Contains(string(b), string(rune(MaskByte))) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); i++ {
		if b[i] != MaskByte {
			out = append(out, b[i])
			continue
		}
		out = append(out, RedactedText...)
		for i+1 < len(b) && b[i+1] == MaskByte {
			i++
		}
	}
	return out
}

// RedactDecl is a rule set's `redact header NAME, …` or `redact query
// NAME, …`: more headers redacted, more query parameters masked, for every
// rule of the run.
type RedactDecl struct {
	Kind     string // "header" or "query"
	KindSpan Span
	Names    []*Literal
	Span     Span
}

var queryNameRE = regexp.MustCompile(`^[^&;=#?\s]+$`)

// declareRedact reads the redact statements of every file.
func (c *checker) declareRedact(files []*File) {
	c.secretHeaders = map[string]bool{}
	for _, h := range SecretHeaders {
		c.secretHeaders[h] = true
	}
	c.secretQuery = append([]string(nil), SecretQuery...)
	for _, f := range files {
		for _, d := range f.Redact {
			c.rule_ = ""
			switch d.Kind {
			case "header", "query":
			default:
				c.errorf(d.KindSpan, `header or query: redact header NAME (HCL: redact "header" { names = ["NAME"] })`, "unknown redact kind %q", d.Kind)
				continue
			}
			for _, lit := range d.Names {
				name := lit.Text
				switch {
				case d.Kind == "header" && !headerToken.MatchString(name):
					c.errorf(lit.Span, "a header name is letters, digits and -, e.g. X-Session-Key", "invalid header name %q", name)
				case d.Kind == "header":
					if c.secretHeaders[strings.ToLower(name)] {
						c.warnf(lit.Span, "remove it", "header %s is already redacted", name)
					}
					c.secretHeaders[strings.ToLower(name)] = true
				case !queryNameRE.MatchString(name):
					c.errorf(lit.Span, "a query parameter's name, e.g. session_key", "invalid query parameter name %q", name)
				default:
					h := QueryHash(name)
					dup := false
					for _, s := range c.secretQuery {
						dup = dup || QueryHash(s) == h
					}
					if dup {
						c.warnf(lit.Span, "remove it", "query parameter %s is already masked", name)
					}
					c.secretQuery = append(c.secretQuery, name)
				}
			}
		}
	}
	c.queryHashes = QueryHashes(c.secretQuery)
}
