package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// L7 fields: the HTTP/1.x request line and headers, the DNS header and first
// question, the TLS record and handshake header and the hellos' SNI and
// ALPN, decoded from the payload of one packet (docs/l7.md). What a field
// means is stated here and in the field docs; the compiler decodes it in the
// kernel and the reference evaluator (rules/reference) decodes it in Go,
// independently, by the same statement.

// L7Field says how an L7 field is decoded and shown.
type L7Field struct {
	// MaxLen is how many bytes of a string field an event carries by
	// default; a rule changes it with maxlen. Longer values are cut and
	// marked truncated.
	MaxLen int
	// HostName fields hold host names and compare ASCII case-insensitively
	// with every operator (Wireshark compares them case-sensitively).
	HostName bool
	// Redact fields are logged as "[redacted]" and their length unless the
	// rule unredacts them: the kernel never copies their bytes into events.
	Redact bool
	// Header is the HTTP header the field reads, in lower case.
	Header string
	// Keyed is the header accessor http.header["Name"], which takes the
	// header's name.
	Keyed bool
	// Exists marks a boolean that is true whenever it is present, like
	// Wireshark's FT_BOOLEAN fields without bits (http.request).
	Exists bool
	// List fields repeat in Wireshark (one occurrence per element of a
	// list, as the ALPN protocols): hdrlog logs the elements comma-joined,
	// as tshark prints them, and a test holds when it holds for one of
	// them (Wireshark's meaning of a comparison on a repeated field).
	List bool
}

// Limits of the L7 decoders. They are part of the semantics: the kernel
// program and the reference evaluator both apply them.
const (
	// L7Window is how many bytes of a segment's payload the decoders see:
	// an HTTP start line or header line counts only when its line feed is
	// within them; a TLS extension only when it ends within them.
	L7Window = 4096
	// MaxHTTPLines bounds the header lines read per request.
	MaxHTTPLines = 128
	// MaxDNSName is the longest DNS name, in bytes on the wire (RFC 1035);
	// a longer question name is absent.
	MaxDNSName = 255
	// MaxDNSSteps bounds the labels and compression pointers followed for
	// one name; a name needing more is absent.
	MaxDNSSteps = 255
	// MaxDNSRecords bounds the entries of a DNS message walked for the
	// response fields (dns.a, dns.aaaa, dns.cname, dns.resp.ttl): its
	// questions, then the records of the answer, authority and additional
	// sections, in order. A value in a later record is absent.
	MaxDNSRecords = 16
	// MaxDNSWalkSteps bounds the steps of that walk: one per label or
	// pointer of a record's owner name or a question's name, one per
	// record's fixed part. A walk that needs more stops there.
	MaxDNSWalkSteps = 512
	// MaxTLSExtensions bounds the hello extensions walked to find SNI and
	// ALPN.
	MaxTLSExtensions = 64
	// TLSHoldBytes is the most of a ClientHello's first segment kept to
	// finish it with the next segment (tls.go in the compiler, docs/l7.md).
	TLSHoldBytes = 2048
	// TLSHoldNanos is how long a held ClientHello waits for its next
	// segment.
	TLSHoldNanos = 3_000_000_000
	// MaxMaxLen bounds the bytes of one string field in an event.
	MaxMaxLen = 1024
	// MaxTextPerEvent bounds the bytes of strings one event carries.
	MaxTextPerEvent = 8192
	// MaxTextLiteral bounds the string literals rules compare with.
	MaxTextLiteral = 256
	// MaxPortsPerList bounds the ports of one `ports` statement.
	MaxPortsPerList = 32
	// MaxHeaderName bounds the name given to http.header[…].
	MaxHeaderName = 64
	// MaxHTTPRequests bounds the requests of one segment decoded (one after
	// the other, pipelined): each one's rules run, one event per request
	// per matching rule.
	MaxHTTPRequests = 4
)

// L7Limit is a limit at which an L7 decoder gives up (docs/l7.md, "When a
// decoder gives up"). A limit hit leaves a trace: the protocol's
// hdrlog-only field (http.truncated, dns.truncated, tls.truncated) is true
// on the packet, and the rule set counts it by reason (runtime.L7Limits).
// The kernel program and the reference evaluator set the fields alike.
type L7Limit int

const (
	// LimitHTTPCut: the start line or the headers go on past the bytes
	// decoded (the segment's payload, at most L7Window bytes of it)
	// without the empty line that ends them.
	LimitHTTPCut L7Limit = iota
	// LimitHTTPLines: MaxHTTPLines header lines were read and another line
	// starts within the bytes decoded.
	LimitHTTPLines
	// LimitHTTPRequests: bytes follow the empty line of the segment's
	// MaxHTTPRequests-th request (a further request, or a body): the
	// requests past the bound are not decoded.
	LimitHTTPRequests
	// LimitTLSCut: a hello goes on past the bytes decoded (its segment,
	// two with a held ClientHello, at most L7Window bytes) before the end
	// of its extensions.
	LimitTLSCut
	// LimitTLSExtensions: MaxTLSExtensions extensions were walked and the
	// list goes on.
	LimitTLSExtensions
	// LimitDNSCut: the record walk reached the end of the bytes decoded
	// while the message goes on (a TCP message longer than its segment, a
	// message longer than L7Window bytes).
	LimitDNSCut
	// LimitDNSEntries: MaxDNSRecords entries were walked and the message
	// announces more.
	LimitDNSEntries
	// LimitDNSSteps: the record walk took MaxDNSWalkSteps steps before its
	// end.
	LimitDNSSteps
	NumL7Limits
)

// L7LimitInfo names a limit: its protocol, its reason (as reports name it)
// and what it means.
type L7LimitInfo struct {
	Proto  Header
	Reason string
	Doc    string
}

// L7Limits describes every L7Limit.
var L7Limits = [NumL7Limits]L7LimitInfo{
	LimitHTTPCut:       {HdrHTTP, "cut", "the start line or the headers go on past the segment (or its first 4 KiB)"},
	LimitHTTPLines:     {HdrHTTP, "lines", "more than 128 header lines"},
	LimitHTTPRequests:  {HdrHTTP, "requests", "bytes after the 4th request of a segment (pipelined requests past the bound, not decoded)"},
	LimitTLSCut:        {HdrTLS, "cut", "the hello goes on past its segment (or two, or 4 KiB) before the end of its extensions"},
	LimitTLSExtensions: {HdrTLS, "extensions", "more than 64 extensions"},
	LimitDNSCut:        {HdrDNS, "cut", "the message goes on past the segment (or its first 4 KiB)"},
	LimitDNSEntries:    {HdrDNS, "entries", "more than 16 entries (questions and records)"},
	LimitDNSSteps:      {HdrDNS, "steps", "the record walk's 512 steps"},
}

// DefaultPorts are the ports on which a protocol is decoded without a
// `ports` statement, Wireshark's defaults (either direction), over TCP and
// UDP; DefaultUDPPorts adds those of UDP only. HTTP requests are also
// recognised on any TCP port by their method (HTTPMethods).
var DefaultPorts = map[Header][]uint16{
	HdrHTTP: {80, 8000, 8080},
	HdrDNS:  {53, MDNSPort},
	HdrTLS:  {443},
}

// Ports of multicast DNS and LLMNR, which Wireshark decodes with the DNS
// dissector (dns.* fields) over UDP, as the protocols mdns and llmnr.
const (
	MDNSPort  = 5353
	LLMNRPort = 5355
)

// DefaultUDPPorts are default ports over UDP only (Wireshark registers
// LLMNR on UDP only; 5353 is mDNS over UDP and plain DNS over TCP).
var DefaultUDPPorts = map[Header][]uint16{
	HdrDNS: {LLMNRPort},
}

// DefaultPortsOver are the default ports of protocol h over UDP (udp) or
// TCP.
func DefaultPortsOver(h Header, udp bool) []uint16 {
	ports := append([]uint16(nil), DefaultPorts[h]...)
	if udp {
		ports = append(ports, DefaultUDPPorts[h]...)
	}
	return ports
}

// DNSVariant is the protocol Wireshark calls a DNS message: dns, mdns or
// llmnr. The dns.* fields are the same in all three.
type DNSVariant int

const (
	DNSPlain DNSVariant = iota
	DNSMulticast
	DNSLLMNR
)

// DNSVariantOf says which variant a DNS message between these ports is,
// as Wireshark picks the dissector of a UDP payload: by the lower port when
// DNS, mDNS or LLMNR is registered on it, by the higher one otherwise. Over
// TCP it is always DNS. In mDNS, the top bit of a question's class is the
// unicast-response (QU) bit, not part of dns.qry.class.
func DNSVariantOf(sport, dport uint16, udp bool) DNSVariant {
	if !udp {
		return DNSPlain
	}
	lo, hi := min(sport, dport), max(sport, dport)
	decides := hi
	if lo == 53 || lo == MDNSPort || lo == LLMNRPort {
		decides = lo
	}
	switch decides {
	case MDNSPort:
		return DNSMulticast
	case LLMNRPort:
		return DNSLLMNR
	}
	return DNSPlain
}

// L7Protocols are the L7 headers, in the order the decoders run.
var L7Protocols = []Header{HdrHTTP, HdrDNS, HdrTLS}

// IsL7 reports whether h is an L7 header.
func (h Header) IsL7() bool { return h == HdrHTTP || h == HdrDNS || h == HdrTLS }

// HTTPMethods are the request methods hdrlog recognises. A request line
// starts with one of them and a space; on a port that is not an HTTP port,
// that start is what makes a TCP payload HTTP.
var HTTPMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func str(h Header, name string, l7 L7Field, doc string) *Field {
	return &Field{Name: name, Type: TypeString, Header: h, Computed: true, L7: &l7, Doc: doc}
}

var l7Fields = []*Field{
	proto(HdrHTTP, "HTTP/1.x message: a request line (a method of HTTPMethods, a space, the target, then a space and HTTP/d.d or nothing) or a status line (HTTP/1.) at the start of a TCP segment's payload, on ports 80, 8000 and 8080 or those of `ports http`; a request is also recognised on any port by its method. Only what the segment holds is decoded."),
	{Name: "http.request", Type: TypeBool, Header: HdrHTTP, Computed: true, L7: &L7Field{Exists: true},
		Doc: "True on a complete request line (method, target and version, or method and target alone as in HTTP/0.9, ended by a line feed within the segment)."},
	str(HdrHTTP, "http.request.method", L7Field{MaxLen: 16}, "Request method (GET, POST, ...)."),
	str(HdrHTTP, "http.request.uri", L7Field{MaxLen: 128}, "Request target as sent (path and query); its userinfo and secret query values are masked in events (docs/l7.md, Redaction)."),
	str(HdrHTTP, "http.request.version", L7Field{MaxLen: 16}, "Version of the request line (HTTP/1.1); empty in a version-less (HTTP/0.9) request line, as Wireshark shows it."),
	str(HdrHTTP, "http.host", L7Field{MaxLen: 64, HostName: true, Header: "host"}, "Host header (first one), compared case-insensitively."),
	str(HdrHTTP, "http.user_agent", L7Field{MaxLen: 128, Header: "user-agent"}, "User-Agent header (first one)."),
	str(HdrHTTP, "http.referer", L7Field{MaxLen: 128, Header: "referer"}, "Referer header (first one); its userinfo and secret query values are masked in events (docs/l7.md, Redaction)."),
	str(HdrHTTP, "http.content_type", L7Field{MaxLen: 64, Header: "content-type"}, "Content-Type header (first one)."),
	str(HdrHTTP, "http.content_length_header", L7Field{MaxLen: 24, Header: "content-length"}, "Content-Length header as sent (first one)."),
	str(HdrHTTP, "http.authorization", L7Field{MaxLen: 64, Redact: true, Header: "authorization"}, "Authorization header (first one); redacted unless the rule unredacts it."),
	str(HdrHTTP, "http.cookie", L7Field{MaxLen: 128, Redact: true, Header: "cookie"}, "Cookie header (first one); redacted unless the rule unredacts it."),
	{Name: "http.response", Type: TypeBool, Header: HdrHTTP, Computed: true, L7: &L7Field{Exists: true},
		Doc: "True on a complete status line (HTTP/d.d, a space, three digits, then a space and the phrase or the line's end), ended by a line feed within the segment."},
	{Name: "http.response.code", Type: TypeUint, Bits: 16, Header: HdrHTTP, Computed: true, L7: &L7Field{},
		Doc: "Status code of a response (200, 404)."},
	str(HdrHTTP, "http.response.phrase", L7Field{MaxLen: 64}, "Reason phrase of a response (OK, Not Found); empty when the status line has none."),
	str(HdrHTTP, "http.response.version", L7Field{MaxLen: 16}, "Version of the status line (HTTP/1.1)."),
	str(HdrHTTP, "http.server", L7Field{MaxLen: 64, Header: "server"}, "Server header (first one)."),
	str(HdrHTTP, "http.location", L7Field{MaxLen: 128, Header: "location"}, "Location header (first one); its userinfo and secret query values are masked in events (docs/l7.md, Redaction)."),
	str(HdrHTTP, "http.set_cookie", L7Field{MaxLen: 128, Redact: true, Header: "set-cookie"}, "Set-Cookie header (first one); redacted unless the rule unredacts it."),
	{Name: "http.time", Type: TypeUint, Bits: 32, Base: BaseSeconds, Header: HdrHTTP, Computed: true, L7: &L7Field{},
		Doc: "On a response paired with its request (docs/transactions.md): the seconds from the request to the response, to the microsecond (0.000250); compared with seconds (http.time > 0.5). Packet times are the kernel's clock live, the capture's in hdrlog test."},
	str(HdrHTTP, "http.response_for.uri", L7Field{MaxLen: 128}, "On a response paired with its request: the request's target (Wireshark shows the full URI, http://host/target), kept masked as http.request.uri is in events (userinfo, secret query values): rules match and unredact see the masked target; absent when the target was longer than 128 bytes."),
	str(HdrHTTP, "http.response_for.method", L7Field{MaxLen: 16}, "On a response paired with its request: the request's method (hdrlog's name; Wireshark has none)."),
	str(HdrHTTP, "http.response_for.host", L7Field{MaxLen: 64, HostName: true}, "On a response paired with its request: the request's Host header (hdrlog's name; Wireshark has none); absent when the request had none or one longer than 64 bytes. Compared case-insensitively."),
	{Name: "http.truncated", Type: TypeBool, Header: HdrHTTP, Computed: true, L7: &L7Field{Exists: true},
		Doc: "hdrlog's own field (Wireshark has none): true when the HTTP decoder gave up at one of its limits on this message, so that a field Wireshark shows may be missing: the start line or the headers going on past the segment (or its first 4 KiB) without their empty line, more than MaxHTTPLines header lines, or bytes after the segment's MaxHTTPRequests-th request (on that request). Absent otherwise."},
	str(HdrHTTP, "http.header", L7Field{MaxLen: 64, Keyed: true}, `Any header by name, case-insensitively: http.header["X-Request-Id"] (first one); logged as http.header.<Name>. The headers of rules.SecretHeaders (Authorization, Cookie, X-Api-Key…) and those of a redact header statement are redacted, and URLs in any header masked (docs/l7.md, Redaction), unless the rule unredacts them.`),

	proto(HdrDNS, "DNS message over UDP, or over TCP after its 2-byte length, on port 53 (and TCP port 5353) or on those of `ports dns`: its 12-byte header at the start of the payload. mDNS and LLMNR messages have the dns.* fields but are the protocols mdns and llmnr, as in Wireshark."),
	{Name: "mdns", Type: TypeProto, Header: HdrDNS, Doc: "Multicast DNS: a DNS message over UDP on port 5353 (the lower port decides when it is 53, 5353 or 5355, as in Wireshark); its fields are dns.*, the question's class without the unicast-response bit."},
	{Name: "llmnr", Type: TypeProto, Header: HdrDNS, Doc: "LLMNR: a DNS message over UDP on port 5355 (the lower port decides when it is 53, 5353 or 5355); its fields are dns.*."},
	{Name: "dns.id", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrDNS, Offset: 0, Size: 2, Doc: "Transaction ID."},
	{Name: "dns.flags.response", Type: TypeBool, Bits: 16, Header: HdrDNS, Offset: 2, Size: 2, Mask: 0x8000, Shift: 15, Doc: "Response (QR bit)."},
	{Name: "dns.flags.rcode", Type: TypeUint, Bits: 16, Header: HdrDNS, Offset: 2, Size: 2, Mask: 0x000f, Doc: "Response code of a response (0 no error, 3 no such name); absent in a query, as in Wireshark."},
	{Name: "dns.count.queries", Type: TypeUint, Bits: 16, Header: HdrDNS, Offset: 4, Size: 2, Doc: "Number of questions."},
	{Name: "dns.count.answers", Type: TypeUint, Bits: 16, Header: HdrDNS, Offset: 6, Size: 2, Doc: "Number of answer records."},
	str(HdrDNS, "dns.qry.name", L7Field{MaxLen: 128, HostName: true}, "Name of the first question, dotted as Wireshark prints it (<Root> for the root); a compression pointer makes it absent (nothing but the 12-byte header precedes the first question, and a name read from the header's ID, flags and counts names no host; Wireshark follows it). Compared case-insensitively."),
	{Name: "dns.qry.type", Type: TypeUint, Bits: 16, Header: HdrDNS, Computed: true, Doc: "Type of the first question (1 A, 28 AAAA, 65 HTTPS)."},
	{Name: "dns.qry.class", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrDNS, Computed: true, Doc: "Class of the first question (0x0001 IN); in mDNS without its top bit (the unicast-response bit), as Wireshark shows it."},
	{Name: "dns.resp.ttl", Type: TypeUint, Bits: 32, Header: HdrDNS, Computed: true, Doc: "Time to live of the message's first resource record (answer, authority or additional, OPT excepted), in seconds; among the first MaxDNSRecords entries walked."},
	{Name: "dns.a", Type: TypeIPv4, Header: HdrDNS, Computed: true, Doc: "Address of the message's first A record (the first 4 bytes of its data; absent when it has fewer), in any section as Wireshark shows it (answers come first); among the first MaxDNSRecords entries walked."},
	{Name: "dns.aaaa", Type: TypeIPv6, Header: HdrDNS, Computed: true, Doc: "Address of the message's first AAAA record (the first 16 bytes of its data; absent when it has fewer), in any section; among the first MaxDNSRecords entries walked."},
	{Name: "dns.time", Type: TypeUint, Bits: 32, Base: BaseSeconds, Header: HdrDNS, Computed: true, L7: &L7Field{},
		Doc: "On a response paired with its query (same flow, same id, same question; docs/transactions.md): the seconds from the query to the response, to the microsecond, as Wireshark's dns.time; compared with seconds (dns.time > 0.1)."},
	{Name: "dns.truncated", Type: TypeBool, Header: HdrDNS, Computed: true, L7: &L7Field{Exists: true},
		Doc: "hdrlog's own field (Wireshark has none; not the TC bit, which Wireshark calls dns.flags.truncated): true when the walk for the response fields gave up at one of its limits: the message going on past the segment (or its first 4 KiB), more than MaxDNSRecords entries or MaxDNSWalkSteps steps, so that a record Wireshark shows may be missing. Absent otherwise."},
	str(HdrDNS, "dns.cname", L7Field{MaxLen: 128, HostName: true}, "Canonical name of the message's first CNAME record, dotted; compression pointers are followed when they point before the label run they end (and at or after the message's start). Among the first MaxDNSRecords entries walked. Compared case-insensitively."),

	proto(HdrTLS, "TLS record at the start of a TCP segment's payload (content type 20-24, version 3.x), or an SSLv2-compatible ClientHello, on port 443 or those of `ports tls`. A ClientHello cut by the segment's end before its server_name is finished with the flow's next segment."),
	{Name: "tls.record.version", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrTLS, Offset: 1, Size: 2, Doc: "Version of the first record (0x0301 in most ClientHellos; 0x0002 for an SSLv2-compatible ClientHello, as Wireshark shows it)."},
	{Name: "tls.handshake.type", Type: TypeUint, Bits: 8, Header: HdrTLS, Offset: 5, Size: 1, Doc: "Type of the first handshake message of a handshake record (1 ClientHello, 2 ServerHello), the first record or the one after a ChangeCipherSpec record (a second ClientHello after a HelloRetryRequest); its length must fit the record."},
	{Name: "tls.handshake.version", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrTLS, Offset: 9, Size: 2, Doc: "Legacy version of a ClientHello or ServerHello (0x0303 for TLS 1.2 and 1.3)."},
	{Name: "tls.handshake.ciphersuite", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrTLS, Computed: true, Doc: "Cipher suite a ServerHello selected (0x1301 TLS_AES_128_GCM_SHA256, 0xc02f ECDHE-RSA-AES128-GCM-SHA256). Absent in a ClientHello, where Wireshark lists the offered suites under this name."},
	{Name: "tls.handshake.extensions.supported_version", Type: TypeUint, Bits: 16, Base: BaseHex, Header: HdrTLS, Computed: true, Doc: "Version a ServerHello's supported_versions extension selected (0x0304 for TLS 1.3); absent without the extension (TLS 1.2 and older: tls.handshake.version is the version) and in a ClientHello, where Wireshark lists the offered versions under this name."},
	{Name: "tls.handshake.time", Type: TypeUint, Bits: 32, Base: BaseSeconds, Header: HdrTLS, Computed: true, L7: &L7Field{},
		Doc: "On a ServerHello paired with its flow's ClientHello (docs/transactions.md): the seconds from the ClientHello to the ServerHello, to the microsecond. hdrlog's own field (Wireshark has none)."},
	str(HdrTLS, "tls.handshake.extensions_server_name", L7Field{MaxLen: 64, HostName: true}, "Server name (SNI) of a ClientHello: the first host_name entry. Compared case-insensitively."),
	{Name: "tls.truncated", Type: TypeBool, Header: HdrTLS, Computed: true, L7: &L7Field{Exists: true},
		Doc: "hdrlog's own field (Wireshark has none): true when the decoding of a hello gave up at one of its limits: the hello going on past the segment (two for a held ClientHello, 4 KiB at most) before the end of its extensions, or more than MaxTLSExtensions extensions, so that the server name or ALPN may be missing. Absent otherwise."},
	str(HdrTLS, "tls.handshake.extensions_alpn_str", L7Field{MaxLen: 32, List: true}, "Protocols of the ALPN extension of a ClientHello (or the one a ServerHello selected), comma-joined as tshark prints them (h2,http/1.1); a test holds when it holds for one of them (== \"http/1.1\" matches h2,http/1.1), as on Wireshark's repeated field. A list whose elements do not fill it exactly is absent."),
}

func init() {
	for name, hint := range map[string]string{
		"http.request.line":            `log the header you need by name: http.header["Name"]`,
		"http.request.full_uri":        "log http.host and http.request.uri",
		"http.request_in":              "log http.response_for.method, http.response_for.host and http.response_for.uri, the request's values, on the response",
		"http.response_in":             "the response's event carries the request's values (http.response_for.*) and http.time",
		"dns.response_to":              "a response paired with its query carries dns.time (docs/l7.md, DNS queries and responses)",
		"dns.response_in":              "the response's event carries dns.time; log the query's fields from a rule on the query",
		"tls.handshake.ja3":            "JA3 fingerprints are not computed (an MD5 of the ClientHello); log tls.handshake.extensions_server_name and tls.handshake.version",
		"tls.handshake.ja3s":           "JA3S fingerprints are not computed; log tls.handshake.ciphersuite and tls.handshake.extensions.supported_version",
		"tls.handshake.ja3_full":       "JA3 fingerprints are not computed (docs/l7.md, Differences from Wireshark); log tls.handshake.extensions_server_name and tls.handshake.version",
		"tls.handshake.ja4":            "JA4 fingerprints are not computed (docs/l7.md, Differences from Wireshark); log tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str and tls.handshake.version",
		"tls.handshake.ja4_r":          "JA4 fingerprints are not computed (docs/l7.md, Differences from Wireshark); log tls.handshake.extensions_server_name, tls.handshake.extensions_alpn_str and tls.handshake.version",
		"http.proxy_authorization":     `use http.header["Proxy-Authorization"] (redacted unless unredacted)`,
		"http.x_forwarded_for":         `use http.header["X-Forwarded-For"]`,
		"http.content_length":          "use http.content_length_header (the header as sent)",
		"dns.qry.name.len":             "log dns.qry.name: a truncated name carries its length",
		"dns.flags":                    "log dns.flags.response and dns.flags.rcode",
		"tls.handshake.extension.type": "extensions are walked for SNI and ALPN only",
	} {
		differs[name] = hint
	}
}

// headerToken is a header name as RFC 9110 allows it (a token).
var headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

var keyed = struct {
	sync.Mutex
	m map[string]*Field
}{m: map[string]*Field{}}

// HeaderField returns the field http.header["name"] (name in any case; the
// field is the same for every spelling).
func HeaderField(name string) *Field {
	key := strings.ToLower(name)
	keyed.Lock()
	defer keyed.Unlock()
	if f, ok := keyed.m[key]; ok {
		return f
	}
	tmpl := byName["http.header"]
	l7 := *tmpl.L7
	l7.Header = key
	l7.Redact = isSensitive(key)
	f := &Field{
		Name: `http.header["` + key + `"]`, Type: TypeString, Header: HdrHTTP, Computed: true, L7: &l7,
		Doc: "Header " + name + " (first one).",
	}
	keyed.m[key] = f
	return f
}

func isSensitive(header string) bool {
	for _, s := range SecretHeaders { // redact.go
		if s == header {
			return true
		}
	}
	return false
}

// splitKeyed recognises the header accessor, written http.header["Name"] or
// (as Wireshark names its custom header fields, and as it is logged)
// http.header.Name. It returns the name as written and where it starts in
// text.
func splitKeyed(text string) (name string, at int, keyedName bool, err error) {
	const base = "http.header"
	if !strings.HasPrefix(text, base) || len(text) == len(base) {
		return "", 0, false, nil
	}
	rest := text[len(base):]
	switch {
	case strings.HasPrefix(rest, `["`) && strings.HasSuffix(rest, `"]`) && len(rest) >= 4:
		n, uerr := strconv.Unquote(rest[1 : len(rest)-1])
		if uerr != nil {
			return "", 0, true, fmt.Errorf("invalid header name %s", rest[1:len(rest)-1])
		}
		return n, len(base) + 2, true, nil
	case rest[0] == '.':
		return rest[1:], len(base) + 1, true, nil
	case rest[0] == '[':
		return "", 0, true, fmt.Errorf("write the header name as a string: http.header[\"X-Request-Id\"]")
	}
	return "", 0, false, nil
}

// checkHeaderName validates a header name given to http.header.
func checkHeaderName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty header name")
	case len(name) > MaxHeaderName:
		return fmt.Errorf("header name of %d bytes; at most %d are supported", len(name), MaxHeaderName)
	case !headerToken.MatchString(name):
		return fmt.Errorf("%q is not a header name (a token: letters, digits and !#$%%&'*+-.^_`|~)", name)
	}
	return nil
}

// L7Ports are the extra ports a rule declares for one protocol (`ports`).
type L7Ports struct {
	Proto Header
	Ports []uint16 // sorted, without duplicates
}

// PortsFor returns the extra ports a rule declares for h (nil: none).
func (r *Rule) PortsFor(h Header) []uint16 {
	for _, p := range r.Ports {
		if p.Proto == h {
			return p.Ports
		}
	}
	return nil
}

// TextOp is how a string field is compared with a literal.
type TextOp int

const (
	TextEq       TextOp = iota // the whole value
	TextPrefix                 // the value starts with the literal
	TextSuffix                 // the value ends with the literal
	TextContains               // the literal occurs in the value
)

// PredText holds when the string field is present and its value satisfies
// Op with Lit. Fold makes the comparison ASCII case-insensitive (host names,
// lower()/upper(), matches without (?-i)): only the 26 letters fold.
type PredText struct {
	Ref  FieldRef
	Op   TextOp
	Lit  string
	Fold bool
	// All, on a list field, makes the test hold when it holds for every
	// element (Wireshark's all); without it, for some element.
	All bool
}

func (*PredText) isPred() {}

// String renders the predicate in the expression language: == and contains
// as written, the anchored and case-insensitive forms as the matches they
// come from. matches ignores case as in Wireshark, so a case-exact anchored
// form carries (?-i).
func (p *PredText) String() string {
	if p.All {
		q := *p
		q.All = false
		return "all " + q.String()
	}
	q := strconv.Quote
	switch {
	case p.Op == TextEq && !p.Fold:
		return fmt.Sprintf("%s == %s", p.Ref, q(p.Lit))
	case p.Op == TextContains && !p.Fold:
		return fmt.Sprintf("%s contains %s", p.Ref, q(p.Lit))
	}
	exact := ""
	if !p.Fold {
		exact = "(?-i)"
	}
	re := regexp.QuoteMeta(p.Lit)
	switch p.Op {
	case TextEq:
		re = "^" + re + "$"
	case TextPrefix:
		re = "^" + re
	case TextSuffix:
		re += "$"
	}
	return fmt.Sprintf("%s matches %s", p.Ref, q(exact+re))
}

// Holds evaluates the comparison on a present value. It is the meaning of
// PredText, shared by the reference evaluator and tests.
func (p *PredText) Holds(v []byte) bool {
	lit := p.Lit
	eq := func(a []byte, b string) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range len(a) {
			x, y := a[i], b[i]
			if p.Fold {
				x, y = FoldASCII(x), FoldASCII(y)
			}
			if x != y {
				return false
			}
		}
		return true
	}
	switch p.Op {
	case TextEq:
		return eq(v, lit)
	case TextPrefix:
		return len(v) >= len(lit) && eq(v[:len(lit)], lit)
	case TextSuffix:
		return len(v) >= len(lit) && eq(v[len(v)-len(lit):], lit)
	}
	for i := 0; i+len(lit) <= len(v); i++ {
		if eq(v[i:i+len(lit)], lit) {
			return true
		}
	}
	return false
}

// LowerASCII lowers the ASCII capitals of s and leaves every other byte
// alone. strings.ToLower would turn a byte that is not UTF-8 (a literal's
// \xe1) into U+FFFD, and lower Unicode capitals that no fold in the kernel
// (or in Wireshark's ASCII case-insensitive comparison) touches.
func LowerASCII(s string) string {
	for i := range len(s) {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = FoldASCII(b[j])
			}
			return string(b)
		}
	}
	return s
}

// FoldASCII lower-cases an ASCII letter and leaves every other byte alone.
func FoldASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// PredTextSet holds when the string field is present and its value is one
// of Lits: `http.host in {"a.example", "b.example"}`, `dns.qry.name in
// $domains`. Fold compares ASCII case-insensitively (host names, lower()
// and upper()); the literals are then lowered. Set names the named set the
// literals come from ("" for a set written inline): rules using one named
// set share its map, and a reload that changes only its elements updates
// the map in place. It means the same as the OR of a PredText TextEq per
// literal (Or), which is how the compiler emits a small set; from
// compiler.TextSetMapMin literals on, and for a named set, it is one
// lookup in a hash map keyed by the value's bytes.
type PredTextSet struct {
	Ref  FieldRef
	Lits []string // as written (lowered when Fold), in order; may repeat
	Fold bool
	Set  string
	// index holds the literals of a large set for Holds (nil: scan Lits).
	index map[string]struct{}
}

func (*PredTextSet) isPred() {}

// NewPredTextSet makes the test, with an index of its literals when they
// are many (the reference evaluator tests a blocklist of a million names
// per packet).
func NewPredTextSet(ref FieldRef, lits []string, fold bool, set string) *PredTextSet {
	p := &PredTextSet{Ref: ref, Lits: lits, Fold: fold, Set: set}
	if len(lits) >= textIndexMin {
		p.index = make(map[string]struct{}, len(lits))
		for _, l := range lits {
			p.index[l] = struct{}{}
		}
	}
	return p
}

// textIndexMin is the number of literals from which Holds looks a value up
// in an index rather than comparing it with each.
const textIndexMin = 8

// Or is the test as the OR of one equality per literal, in order.
func (p *PredTextSet) Or() Pred {
	if len(p.Lits) == 1 {
		return &PredText{Ref: p.Ref, Op: TextEq, Lit: p.Lits[0], Fold: p.Fold}
	}
	or := &PredOr{Terms: make([]Pred, len(p.Lits))}
	for i, l := range p.Lits {
		or.Terms[i] = &PredText{Ref: p.Ref, Op: TextEq, Lit: l, Fold: p.Fold}
	}
	return or
}

// Holds reports whether a present value is one of the literals.
func (p *PredTextSet) Holds(v []byte) bool {
	if p.Fold {
		var buf [MaxTextLiteral]byte
		if len(v) > len(buf) {
			return false // longer than any literal
		}
		for i, b := range v {
			buf[i] = FoldASCII(b)
		}
		v = buf[:len(v)]
	}
	if p.index != nil {
		_, ok := p.index[string(v)]
		return ok
	}
	for _, l := range p.Lits {
		if string(v) == l {
			return true
		}
	}
	return false
}

// String renders the test as written: `F in {"a", "b"}`, `F in $set`.
func (p *PredTextSet) String() string {
	return p.summary(0)
}

// summary renders it with at most max literals (0: all).
func (p *PredTextSet) summary(max int) string {
	ref := p.Ref.String()
	if p.Fold && !p.Ref.Field.L7.HostName {
		ref = "lower(" + ref + ")"
	}
	if p.Set != "" {
		return fmt.Sprintf("%s in $%s", ref, p.Set)
	}
	var q []string
	for i, l := range p.Lits {
		if max > 0 && i == max {
			q = append(q, fmt.Sprintf("… %d more", len(p.Lits)-max))
			break
		}
		q = append(q, strconv.Quote(l))
	}
	return fmt.Sprintf("%s in {%s}", ref, strings.Join(q, ", "))
}
