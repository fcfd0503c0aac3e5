package output

import (
	"strconv"
	"strings"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/runtime"
)

// The Elastic Common Schema (ECS) names of `--schema ecs`: the one table of
// how a Wireshark field becomes an ECS field (docs/outputs.md shows it).
// Fields without an ECS equivalent keep their Wireshark name under
// "hdrlog." (hdrlog.tcp.flags). Absent fields are left out, as ECS wants;
// two fields mapped to one name (ip.src and ipv6.src) give the one present.

// ECSField maps one Wireshark field to ECS.
type ECSField struct {
	Wireshark string
	ECS       string
	// Convert, when not nil, turns the value into ECS's form (ECS wants
	// MAC addresses as 00-00-5E-00-53-23, DNS types by name...).
	Convert func(a Attr, v *runtime.Value) Attr
}

// ECSFields is the mapping table.
var ECSFields = []ECSField{
	{"eth.src", "source.mac", ecsMAC},
	{"eth.dst", "destination.mac", ecsMAC},
	{"vlan.id", "network.vlan.id", ecsString},
	{"ip.src", "source.ip", nil},
	{"ip.dst", "destination.ip", nil},
	{"ipv6.src", "source.ip", nil},
	{"ipv6.dst", "destination.ip", nil},
	{"ip.proto", "network.iana_number", ecsString},
	{"ipv6.nxt", "network.iana_number", ecsString},
	{"tcp.srcport", "source.port", nil},
	{"tcp.dstport", "destination.port", nil},
	{"udp.srcport", "source.port", nil},
	{"udp.dstport", "destination.port", nil},
	{"frame.len", "network.bytes", nil},
	{"http.request.method", "http.request.method", nil},
	{"http.request.uri", "url.original", nil},
	{"http.request.version", "http.version", ecsHTTPVersion},
	{"http.host", "url.domain", nil},
	{"http.user_agent", "user_agent.original", nil},
	{"http.referer", "http.request.referrer", nil},
	{"http.content_type", "http.request.mime_type", nil},
	{"dns.id", "dns.id", ecsDecimal},
	{"dns.qry.name", "dns.question.name", nil},
	{"dns.qry.type", "dns.question.type", ecsDNSType},
	{"dns.qry.class", "dns.question.class", ecsDNSClass},
	{"dns.flags.response", "dns.type", ecsDNSMessageType},
	{"dns.flags.rcode", "dns.response_code", ecsDNSRcode},
	{"tls.handshake.extensions_server_name", "tls.client.server_name", nil},
}

// ecsDerived are ECS fields computed from the mapped ones.
//   - url.path: http.request.uri up to its query.
//   - network.transport, network.type: from the protocols of the fields
//     present (tcp, udp, icmp, ipv6-icmp; ipv4, ipv6).

// ECS is the naming of `--schema ecs`.
type ECS struct {
	schema *compiler.Schema
	rules  []ecsRule
}

type ecsRule struct {
	fields    []*ECSField // per logged value; nil: unmapped
	transport []string    // per logged value: its transport protocol, or ""
	network   []string    // per logged value: its network type, or ""
}

var ecsByName = func() map[string]*ECSField {
	m := map[string]*ECSField{}
	for i := range ECSFields {
		m[ECSFields[i].Wireshark] = &ECSFields[i]
	}
	return m
}()

// ecsProtocols give network.transport and network.type by the field-name
// prefix of a present field.
var ecsProtocols = map[string]struct{ transport, network string }{
	"ip":     {"", "ipv4"},
	"ipv6":   {"", "ipv6"},
	"tcp":    {"tcp", ""},
	"udp":    {"udp", ""},
	"icmp":   {"icmp", "ipv4"},
	"icmpv6": {"ipv6-icmp", "ipv6"},
}

// NewECS returns the ECS naming of a schema's events.
func NewECS(s *compiler.Schema) Naming {
	e := &ECS{schema: s}
	for _, r := range s.Rules {
		var er ecsRule
		for _, f := range r.Fields {
			er.fields = append(er.fields, ecsByName[f.Name])
			proto, _, _ := strings.Cut(f.Name, ".")
			p := ecsProtocols[proto]
			er.transport = append(er.transport, p.transport)
			er.network = append(er.network, p.network)
		}
		e.rules = append(e.rules, er)
	}
	return e
}

func (*ECS) TimeKey() string { return "@timestamp" }

// Attrs: event.*, rule.name, the observer's interface, network.direction,
// then the fields.
func (e *ECS) Attrs(dst []Attr, ev *runtime.Event, m runtime.Meta) []Attr {
	rule := &e.schema.Rules[ev.Rule]
	er := &e.rules[ev.Rule]
	direction := "ingress"
	if rule.Hook == "tc egress" {
		direction = "egress"
	}
	dst = append(dst,
		Attr{Key: "event.kind", S: "event"},
		Attr{Key: "event.category", S: "network"},
		Attr{Key: "event.type", S: "info"},
		Attr{Key: "event.module", S: "hdrlog"},
		Attr{Key: "event.dataset", S: "hdrlog.events"},
		Attr{Key: "rule.name", S: rule.Name},
		Attr{Key: "network.direction", S: direction},
	)
	if m.Iface != "" {
		dst = append(dst, Attr{Key: "observer." + direction + ".interface.name", S: m.Iface})
	}
	dst = append(dst, Attr{Key: "hdrlog.hook", S: rule.Hook})
	if m.Frame > 0 {
		dst = append(dst, Attr{Key: "hdrlog.frame", Kind: AttrInt, I: int64(m.Frame)})
	}
	start := len(dst)
	transport, network := "", ""
	for i := range ev.Values {
		v := &ev.Values[i]
		if !v.Present {
			continue
		}
		if t := er.transport[i]; t != "" {
			transport = t
		}
		if n := er.network[i]; n != "" && network == "" {
			network = n
		}
		f := er.fields[i]
		key := "hdrlog." + v.Slot.Name
		if f != nil {
			key = f.ECS
		}
		if hasKey(dst[start:], key) {
			continue
		}
		a, _ := valueAttr(key, v)
		if f != nil && f.Convert != nil {
			a = f.Convert(a, v)
		}
		dst = append(dst, a)
		if f != nil && f.Wireshark == "http.request.uri" && !v.Redacted {
			path, _, _ := strings.Cut(a.S, "?")
			dst = append(dst, Attr{Key: "url.path", S: path})
		}
	}
	if transport != "" {
		dst = append(dst, Attr{Key: "network.transport", S: transport})
	}
	if network != "" {
		dst = append(dst, Attr{Key: "network.type", S: network})
	}
	return dst
}

func hasKey(as []Attr, key string) bool {
	for i := range as {
		if as[i].Key == key {
			return true
		}
	}
	return false
}

// Converters to ECS's forms.

func ecsString(a Attr, v *runtime.Value) Attr {
	if a.Kind == AttrInt {
		return Attr{Key: a.Key, S: strconv.FormatInt(a.I, 10)}
	}
	return a
}

// ecsDecimal writes a number (hex in Wireshark) in decimal, as a string.
func ecsDecimal(a Attr, v *runtime.Value) Attr {
	return Attr{Key: a.Key, S: strconv.FormatUint(v.U, 10)}
}

func ecsMAC(a Attr, v *runtime.Value) Attr {
	a.S = strings.ToUpper(strings.ReplaceAll(a.S, ":", "-"))
	return a
}

func ecsHTTPVersion(a Attr, v *runtime.Value) Attr {
	a.S = strings.TrimPrefix(a.S, "HTTP/")
	return a
}

// dnsTypes are the DNS types ECS writes by name (IANA's mnemonics); others
// are TYPEn as in RFC 3597.
var dnsTypes = map[uint64]string{1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 35: "NAPTR", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 255: "ANY", 257: "CAA"}

func ecsDNSType(a Attr, v *runtime.Value) Attr {
	if n, ok := dnsTypes[v.U]; ok {
		return Attr{Key: a.Key, S: n}
	}
	return Attr{Key: a.Key, S: "TYPE" + strconv.FormatUint(v.U, 10)}
}

func ecsDNSClass(a Attr, v *runtime.Value) Attr {
	names := map[uint64]string{1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
	if n, ok := names[v.U]; ok {
		return Attr{Key: a.Key, S: n}
	}
	return Attr{Key: a.Key, S: "CLASS" + strconv.FormatUint(v.U, 10)}
}

func ecsDNSMessageType(a Attr, v *runtime.Value) Attr {
	if v.U != 0 {
		return Attr{Key: a.Key, S: "answer"}
	}
	return Attr{Key: a.Key, S: "query"}
}

// dnsRcodes are the response codes ECS writes by name.
var dnsRcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

func ecsDNSRcode(a Attr, v *runtime.Value) Attr {
	if v.U < uint64(len(dnsRcodes)) {
		return Attr{Key: a.Key, S: dnsRcodes[v.U]}
	}
	return Attr{Key: a.Key, S: "RCODE" + strconv.FormatUint(v.U, 10)}
}
