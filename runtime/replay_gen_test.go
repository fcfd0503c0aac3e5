package runtime_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/rules/reference"
)

// Generators of random frames and rule sets for the differential tests. They
// draw every decision from a byte string (chooser), so that the fuzzing
// engine's mutations of the input become structural changes of the frame
// and rules; the seeded short run feeds them pseudo-random bytes.

// chooser hands out decisions from a byte string; past its end every
// decision is 0 (the most ordinary choice).
type chooser struct {
	data []byte
}

func (c *chooser) byte() byte {
	if len(c.data) == 0 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return b
}

func (c *chooser) u16() uint16 { return uint16(c.byte())<<8 | uint16(c.byte()) }

func (c *chooser) u32() uint32 { return uint32(c.u16())<<16 | uint32(c.u16()) }

// intn returns a number in [0, n).
func (c *chooser) intn(n int) int {
	if n <= 256 {
		return int(c.byte()) % n
	}
	return int(c.u32() % uint32(n))
}

// chance is true with probability about num/den.
func (c *chooser) chance(num, den int) bool { return c.intn(den) < num }

func (c *chooser) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c.byte()
	}
	return b
}

func pick[T any](c *chooser, xs ...T) T { return xs[c.intn(len(xs))] }

// Values shared by frames and rules, so that rules match often.
var (
	genMACs  = []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"}
	genIPv4  = []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.1", "0.0.0.0", "255.255.255.255", "172.16.0.9"}
	genIPv6  = []string{"2001:db8::1", "2001:db8::2", "fe80::1", "::", "ff02::1", "fd00::a:b"}
	genPorts = []uint16{0, 22, 53, 80, 443, 1024, 1500, 2000, 2001, 8080, 65535}
	genVIDs  = []uint16{0, 1, 42, 165, 4095}
)

// genFrame builds a random Ethernet frame: mostly well-formed IPv4 or IPv6
// with a transport layer, with every kind of malformation mixed in.
func genFrame(c *chooser) []byte {
	f := testpkt.New()
	if c.chance(1, 3) {
		f.Eth(pick(c, genMACs...), pick(c, genMACs...))
	}
	tags := pick(c, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3)
	for range tags {
		f.VLAN(pick(c, testpkt.TPID8021Q, testpkt.TPID8021AD), uint8(c.intn(8)), c.chance(1, 4), pick(c, genVIDs...))
	}
	switch c.intn(12) {
	case 0, 1, 2, 3, 4:
		genIPv4Frame(c, f)
	case 5, 6, 7, 8:
		genIPv6Frame(c, f)
	case 9:
		if c.chance(1, 2) {
			genARP(c, f)
			break
		}
		// Something else: ARP, LLDP, or an IP ethertype over garbage.
		f.EtherType(pick(c, testpkt.EtherTypeARP, 0x88cc, testpkt.EtherTypeIPv4, testpkt.EtherTypeIPv6, testpkt.TPID8021Q))
		f.Payload(c.bytes(c.intn(64)))
	case 10:
		// 802.3: a length, not a type.
		f.EtherType(uint16(c.intn(0x600)))
		f.Payload(c.bytes(c.intn(64)))
	default:
		f.EtherType(c.u16())
		f.Payload(c.bytes(c.intn(48)))
	}
	switch c.intn(16) {
	case 0:
		f.Payload(c.bytes(3000 + c.intn(2500))) // around the tc and XDP test-run limits
	case 1, 2, 3, 4:
		f.Payload(c.bytes(c.intn(64)))
	}
	if c.chance(1, 2) {
		f.PadTo(testpkt.EthMinLen)
	}
	b := f.Bytes()
	if c.chance(1, 4) {
		b = testpkt.Truncate(b, c.intn(len(b)+1))
	}
	return b
}

func genIPv4Frame(c *chooser, f *testpkt.Frame) {
	ip := f.IPv4(pick(c, genIPv4...), pick(c, genIPv4...))
	ip.TOS(c.byte()).ID(c.u16()).TTL(c.byte())
	if c.chance(1, 3) {
		ip.DF()
	}
	if c.chance(1, 4) {
		ip.MF()
	}
	if c.chance(1, 8) {
		ip.ReservedFlag()
	}
	if c.chance(1, 5) {
		ip.FragOffset(pick(c, uint16(1), 185, 0x1fff, uint16(c.intn(0x2000))))
	}
	if c.chance(1, 5) {
		ip.Options(c.bytes(1 + c.intn(40)))
	}
	if c.chance(1, 12) {
		ip.Version(uint8(c.intn(16)))
	}
	if c.chance(1, 8) {
		ip.IHL(uint8(c.intn(16)))
	}
	if c.chance(1, 8) {
		ip.TotalLength(pick(c, 0, uint16(c.intn(64)), c.u16()))
	}
	if c.chance(1, 12) {
		ip.Proto(pick(c, uint8(1), 6, 17, 58, 51, c.byte()))
	}
	switch c.intn(8) {
	case 0, 1, 2:
		genTCP(c, f)
	case 3, 4:
		genUDP(c, f)
	case 5, 6:
		f.ICMP(pick(c, uint8(0), 3, 8, 11, c.byte()), pick(c, uint8(0), 1, c.byte())).Rest(c.u32())
	case 7:
		if c.chance(2, 3) {
			ip.Proto(genIPOther(c, f))
		}
	}
}

// genIPOther puts an SCTP or GRE header (or a cut one) after the IP header
// and returns its protocol number.
func genIPOther(c *chooser, f *testpkt.Frame) uint8 {
	var b []byte
	proto := uint8(testpkt.ProtoSCTP)
	if c.chance(1, 2) {
		b = testpkt.SCTP(pick(c, genPorts...), pick(c, genPorts...), pick(c, 0, c.u32()), c.bytes(c.intn(20)))
	} else {
		proto = testpkt.ProtoGRE
		b = testpkt.GRE(pick(c, testpkt.EtherTypeIPv4, testpkt.EtherTypeIPv6, 0x6558, c.u16()), c.bytes(c.intn(40)))
	}
	if c.chance(1, 4) {
		b = b[:c.intn(len(b)+1)]
	}
	f.Payload(b)
	return proto
}

// genARP builds an ARP packet, mostly IPv4 over Ethernet, with its fixed
// fields sometimes off (then the header table's guards make it absent).
func genARP(c *chooser, f *testpkt.Frame) {
	b := testpkt.ARP(pick(c, uint16(1), 2, c.u16()), pick(c, genMACs...), pick(c, genIPv4...), pick(c, genMACs...), pick(c, genIPv4...))
	if c.chance(1, 4) {
		b[c.intn(6)] = c.byte() // hardware or protocol type or size
	}
	if c.chance(1, 4) {
		b = b[:c.intn(len(b)+1)]
	}
	f.EtherType(testpkt.EtherTypeARP).Payload(b)
}

func genIPv6Frame(c *chooser, f *testpkt.Frame) {
	ip := f.IPv6(pick(c, genIPv6...), pick(c, genIPv6...))
	ip.TrafficClass(c.byte()).FlowLabel(c.u32() & 0xfffff).HopLimit(c.byte())
	if c.chance(1, 12) {
		ip.Version(uint8(c.intn(16)))
	}
	if c.chance(1, 10) {
		ip.PayloadLength(pick(c, 0, uint16(c.intn(64)), c.u16()))
	}
	if c.chance(1, 8) {
		// A hand-made chain, where the builder would not go: AH of 8 bytes,
		// headers whose length runs past the frame, a header with no next.
		ip.NextHeader(pick(c, uint8(0), 43, 44, 51, 60, 59))
		var chain []byte
		for n := c.intn(4); n >= 0; n-- {
			h := make([]byte, 8)
			h[0] = pick(c, uint8(6), 17, 58, 0, 43, 44, 51, 60, 59)
			h[1] = pick(c, uint8(0), 0, 1, c.byte())
			binary.BigEndian.PutUint16(h[2:], pick(c, uint16(0), uint16(1), c.u16()))
			chain = append(chain, h...)
		}
		f.Payload(chain)
		f.Payload(c.bytes(c.intn(40)))
		return
	}
	exts := pick(c, 0, 0, 0, 1, 1, 2, 3, 6, 7, 8, 9)
	for range exts {
		switch c.intn(5) {
		case 0:
			ip.HopByHop(c.bytes(c.intn(20)))
		case 1:
			ip.DestOpts(c.bytes(c.intn(20)))
		case 2:
			ip.Routing(pick(c, uint8(0), 2, 4), uint8(c.intn(3)), c.bytes(16*c.intn(2)))
		case 3:
			ip.Fragment(pick(c, uint16(0), uint16(0), 1, uint16(c.intn(0x2000))), c.chance(1, 2), c.u32())
		case 4:
			ip.AH(c.u32(), c.u32(), c.bytes(4*c.intn(5)))
		}
	}
	if c.chance(1, 12) {
		ip.Proto(pick(c, uint8(1), 6, 17, 58, 51, 59, c.byte()))
	}
	switch c.intn(8) {
	case 0, 1, 2:
		genTCP(c, f)
	case 3, 4:
		genUDP(c, f)
	case 5, 6:
		f.ICMPv6(pick(c, uint8(1), 128, 129, 133, 134, 135, 135, 136, 136, c.byte()), pick(c, uint8(0), c.byte())).Rest(c.u32())
		if c.chance(1, 2) {
			// A neighbour discovery target, or part of one.
			target := netip.MustParseAddr(pick(c, genIPv6...)).As16()
			f.Payload(target[:pick(c, 16, 16, c.intn(17))])
		}
	case 7:
		if c.chance(2, 3) {
			ip.Proto(genIPOther(c, f))
		}
	}
}

func genTCP(c *chooser, f *testpkt.Frame) {
	t := f.TCP(pick(c, genPorts...), pick(c, genPorts...))
	t.Seq(c.u32()).Ack(c.u32()).Window(c.u16()).Urgent(pick(c, 0, c.u16()))
	t.Flags(testpkt.TCPFlags(pick(c, uint16(testpkt.SYN), uint16(testpkt.SYN|testpkt.ACK), uint16(testpkt.ACK), uint16(testpkt.ACK|testpkt.PSH), c.u16()&0xfff)))
	if c.chance(1, 4) {
		t.Options(c.bytes(c.intn(41)))
	}
	if c.chance(1, 8) {
		t.DataOffset(uint8(c.intn(16)))
	}
	if c.chance(1, 2) {
		f.Payload(c.bytes(c.intn(32)))
	} else if c.chance(1, 3) {
		f.Payload(genMarkPayload(c)) // replay_gen_payload_test.go
	} else if c.chance(2, 3) {
		f.Payload(genL7Payload(c, true)) // replay_gen_l7_test.go
	}
}

func genUDP(c *chooser, f *testpkt.Frame) {
	sport, dport := pick(c, genPorts...), pick(c, genPorts...)
	vxlan := c.chance(1, 6)
	if vxlan {
		if c.chance(3, 4) {
			dport = testpkt.PortVXLAN
		} else {
			sport = testpkt.PortVXLAN
		}
	}
	u := f.UDP(sport, dport)
	if vxlan {
		b := testpkt.VXLAN(uint32(pick(c, 0, 1, 42, 0xffffff, int(c.u32()&0xffffff))), c.bytes(c.intn(20)))
		if c.chance(1, 4) {
			b = b[:c.intn(len(b)+1)]
		}
		f.Payload(b)
		return
	}
	if c.chance(1, 8) {
		u.Length(pick(c, 0, uint16(c.intn(16)), c.u16()))
	}
	if c.chance(1, 2) {
		f.Payload(c.bytes(c.intn(32)))
	} else if c.chance(1, 3) {
		f.Payload(genMarkPayload(c))
	} else if c.chance(1, 2) {
		f.Payload(genL7Payload(c, false))
	}
}

// genRules builds a random rule file: a few rules on random hooks, each
// with a random match expression and random logged fields; often also a
// group of rules of one shape (the compiler turns those into a decision
// tree, compiler/group.go).
func genRules(c *chooser) *rules.File {
	file := &rules.File{Name: "gen.rules"}
	fields := referenceFields()
	if c.chance(1, 3) {
		file.Rules = append(file.Rules, genGroup(c, fields)...)
	}
	for i, n := 0, c.intn(4); i < n || len(file.Rules) == 0; i++ {
		d := &rules.RuleDecl{Name: fmt.Sprintf("r%d", i), HasLog: true, Hook: genHook(c)}
		if c.intn(8) > 0 {
			d.Match = genExpr(c, fields, 3)
		}
		d.Log = genLog(c, fields)
		d.Ports = genL7Ports(c)
		file.Rules = append(file.Rules, d)
	}
	return file
}

// referenceFields are the catalogue fields the reference evaluator decodes
// (not the L7 ones yet): the differential test can only compare those.
func referenceFields() []*rules.Field {
	var out []*rules.Field
	for _, f := range rules.Fields() {
		if reference.Decodes(f) {
			out = append(out, f)
		}
	}
	return out
}

func genHook(c *chooser) *rules.HookDecl {
	if h := c.intn(4); h > 0 {
		return &rules.HookDecl{Text: rules.Hooks[h-1].String()}
	}
	return nil
}

func genLog(c *chooser, fields []*rules.Field) []rules.FieldName {
	var log []rules.FieldName
	logged := map[string]bool{}
	for j, m := 0, 1+c.intn(6); j < m; j++ {
		f := pick(c, fields...)
		if f.Type == rules.TypeProto || f.IsEither() {
			continue
		}
		name := f.Name
		if f.MaxLayers() > 1 {
			name += fmt.Sprintf("#%d", 1+c.intn(f.MaxLayers()))
		}
		if !logged[name] {
			logged[name] = true
			log = append(log, rules.FieldName{Name: name})
		}
	}
	if len(log) == 0 {
		log = []rules.FieldName{{Name: "frame.len"}}
	}
	return log
}

// genGroup returns 8 to 40 rules of one shape: the same key fields tested
// for equality or set membership with different constants, the same other
// tests, the same logged fields, at the same hook.
func genGroup(c *chooser, fields []*rules.Field) []*rules.RuleDecl {
	var keys []*rules.Field
	for _, f := range fields {
		if (f.Type == rules.TypeUint || f.Type == rules.TypeIPv4) && !f.IsEither() {
			keys = append(keys, f)
		}
	}
	dims := make([]rules.FieldName, 1+c.intn(3))
	for i := range dims {
		f := pick(c, keys...)
		dims[i] = rules.FieldName{Name: f.Name}
		if f.MaxLayers() > 1 {
			dims[i].Name += fmt.Sprintf("#%d", 1+c.intn(f.MaxLayers()))
		}
	}
	var residual rules.Expr
	if c.chance(1, 2) {
		residual = genExpr(c, fields, 1)
	}
	hook, log := genHook(c), genLog(c, fields)
	var out []*rules.RuleDecl
	for i, n := 0, 8+c.intn(33); i < n; i++ {
		var match rules.Expr = residual
		for _, dim := range dims {
			f, _ := rules.LookupField(strings.SplitN(dim.Name, "#", 2)[0])
			var test rules.Expr
			if c.chance(1, 2) {
				test = &rules.CompareExpr{Field: dim, Op: rules.CmpEq, Value: genLiteral(c, f)}
			} else {
				in := &rules.InExpr{Field: dim}
				for k := 1 + c.intn(3); k > 0; k-- {
					if c.chance(1, 3) {
						in.Elems = append(in.Elems, genRange(c, f))
					} else {
						in.Elems = append(in.Elems, rules.SetElem{Lo: genLiteral(c, f)})
					}
				}
				test = in
			}
			if match == nil {
				match = test
			} else {
				match = &rules.LogicalExpr{Op: rules.OpAnd, Left: test, Right: match}
			}
		}
		out = append(out, &rules.RuleDecl{Name: fmt.Sprintf("g%d", i), HasLog: true, Hook: hook, Match: match, Log: log})
	}
	return out
}

func genExpr(c *chooser, fields []*rules.Field, depth int) rules.Expr {
	if depth > 0 {
		switch c.intn(6) {
		case 0:
			return &rules.LogicalExpr{Op: rules.OpAnd, Left: genExpr(c, fields, depth-1), Right: genExpr(c, fields, depth-1)}
		case 1:
			return &rules.LogicalExpr{Op: rules.OpOr, Left: genExpr(c, fields, depth-1), Right: genExpr(c, fields, depth-1)}
		case 2:
			return &rules.NotExpr{X: genExpr(c, fields, depth-1)}
		}
	}
	f := pick(c, fields...)
	name := rules.FieldName{Name: f.Name}
	if f.MaxLayers() > 1 && c.chance(1, 2) {
		name.Name += fmt.Sprintf("#%d", 1+c.intn(f.MaxLayers()))
	}
	if rules.IsBytes(f) && (f.Type == rules.TypeBytes || c.chance(1, 2)) {
		return genBytesExpr(c, name) // replay_gen_payload_test.go
	}
	if f.Type == rules.TypeProto {
		return &rules.TestExpr{Field: name}
	}
	if f.Type == rules.TypeString || f.L7 != nil && f.L7.Exists {
		return genTextExpr(c, f) // replay_gen_l7_test.go
	}
	var mask *rules.Literal
	if f.Type == rules.TypeUint && c.chance(1, 5) {
		m := 1 + uint64(c.u32())%f.MaxValue()
		if c.chance(1, 2) {
			m = 1 << (c.intn(64) % (64 - clz(f.MaxValue())))
		}
		mask = &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", m)}
	}
	if mask == nil && c.chance(1, 6) {
		return genFieldCompare(c, fields, f, name)
	}
	if size := addrSize[f.Type]; size > 0 && mask == nil && c.chance(1, 4) {
		return genByteTest(c, name, size)
	}
	switch c.intn(6) {
	case 0:
		return &rules.TestExpr{Field: name, Mask: mask}
	case 1, 2:
		var elems []rules.SetElem
		for k := 1 + c.intn(4); k > 0; k-- {
			if f.Type != rules.TypeBool && c.chance(1, 3) {
				elems = append(elems, genRange(c, f))
			} else {
				elems = append(elems, rules.SetElem{Lo: genLiteral(c, f)})
			}
		}
		if f.Type != rules.TypeUint && c.chance(2, 3) || c.chance(1, 4) {
			// Large enough to be a map lookup (compiler/sets.go); addresses
			// half the time with prefixes (an LPM trie).
			elems = append(elems, setFiller(f, c.intn(4), compiler.SetMapMin+c.intn(8))...)
		}
		return &rules.InExpr{Quant: genQuant(c), Field: name, Mask: mask, Elems: elems}
	}
	op, quant := genOp(c, f)
	lit := genLiteral(c, f)
	if op != rules.CmpEq && op != rules.CmpNe && op != rules.CmpAnyNe {
		lit = genExactLiteral(c, f) // prefixes compare with == and != only
	}
	return &rules.CompareExpr{Quant: quant, Field: name, Mask: mask, Op: op, Value: lit}
}

// genOp picks a comparison operator for f, and a quantifier (~= takes no
// all).
func genOp(c *chooser, f *rules.Field) (rules.CmpOp, rules.Quantifier) {
	ops := []rules.CmpOp{rules.CmpEq, rules.CmpNe, rules.CmpAnyNe}
	if f.Type != rules.TypeBool {
		ops = append(ops, rules.CmpLt, rules.CmpLe, rules.CmpGt, rules.CmpGe)
	}
	op, quant := pick(c, ops...), genQuant(c)
	if op == rules.CmpAnyNe && quant == rules.QuantAll {
		quant = rules.QuantAny
	}
	return op, quant
}

// genQuant is most often no quantifier.
func genQuant(c *chooser) rules.Quantifier {
	return pick(c, rules.QuantNone, rules.QuantNone, rules.QuantNone, rules.QuantAny, rules.QuantAll)
}

// genFieldCompare compares f with another field of its type (any two
// integer fields compare), or with itself.
func genFieldCompare(c *chooser, fields []*rules.Field, f *rules.Field, name rules.FieldName) rules.Expr {
	var others []*rules.Field
	for _, g := range fields {
		if g.Type == f.Type {
			others = append(others, g)
		}
	}
	g := pick(c, others...)
	other := g.Name
	if g.MaxLayers() > 1 && c.chance(1, 2) {
		other += fmt.Sprintf("#%d", 1+c.intn(g.MaxLayers()))
	}
	op, quant := genOp(c, f)
	return &rules.CompareExpr{Quant: quant, Field: name, Op: op, Value: &rules.Literal{Kind: rules.LitWord, Text: other}}
}

var addrSize = map[rules.Type]int{rules.TypeMAC: 6, rules.TypeIPv4: 4, rules.TypeIPv6: 16}

// genByteTest tests the bytes of an address: a slice in one of
// Wireshark's forms compared with bytes (often the generated frames'),
// masked, or len().
func genByteTest(c *chooser, name rules.FieldName, size int) rules.Expr {
	if c.chance(1, 5) {
		name.Func = "len"
		op, quant := genOp(c, &rules.Field{Type: rules.TypeUint})
		return &rules.CompareExpr{Quant: quant, Field: name, Op: op, Value: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprint(pick(c, 4, 6, 16, c.intn(20)))}}
	}
	start, n := c.intn(size+2)-1, 1+c.intn(5)
	sl := &rules.Slice{Start: start, Len: n}
	switch c.intn(5) {
	case 0:
		sl.Text = fmt.Sprintf("%d:%d", start, n)
	case 1:
		sl.Text, n, sl.Len = fmt.Sprint(start), 1, 1
	case 2:
		start = max(start, 0)
		sl.Start, sl.Text = start, fmt.Sprintf("%d-%d", start, start+n-1)
	case 3:
		sl.Text, start, sl.Start = fmt.Sprintf(":%d", n), 0, 0
	default:
		sl.Text, sl.Len, n = fmt.Sprintf("%d:", start), rules.SliceToEnd, size-start
		if start < 0 {
			n = -start
		}
	}
	name.Slice = sl
	if n >= 1 && n <= 4 && c.chance(1, 3) {
		m := 1 + uint64(c.u32())%(uint64(1)<<(8*n)-1)
		if c.chance(1, 2) {
			return &rules.TestExpr{Field: name, Mask: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", m)}}
		}
		op, quant := genOp(c, &rules.Field{Type: rules.TypeUint})
		if op == rules.CmpAnyNe {
			op = rules.CmpNe
		}
		return &rules.CompareExpr{Quant: quant, Field: name, Mask: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", m)}, Op: op,
			Value: &rules.Literal{Kind: rules.LitNumber, Text: fmt.Sprintf("%#x", uint64(c.u32())&m)}}
	}
	// Bytes: from a value the frames carry, or random.
	src := []byte(nil)
	switch size {
	case 6:
		mac, _ := net.ParseMAC(pick(c, genMACs...))
		src = mac
	case 4:
		src = netip.MustParseAddr(pick(c, genIPv4...)).AsSlice()
	default:
		src = netip.MustParseAddr(pick(c, genIPv6...)).AsSlice()
	}
	lo := max(0, min(len(src)-1, start))
	if start < 0 {
		lo = max(0, len(src)+start)
	}
	lit := src[lo:min(len(src), lo+max(n, 1))]
	if c.chance(1, 4) {
		lit = c.bytes(1 + c.intn(3))
	}
	if len(lit) == 0 {
		lit = []byte{0}
	}
	parts := make([]string, len(lit))
	for i, b := range lit {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	op := pick(c, rules.CmpEq, rules.CmpNe, rules.CmpContains)
	text := strings.Join(parts, ":")
	if len(lit) == 1 {
		text += ":"
	}
	return &rules.CompareExpr{Quant: genQuant(c), Field: name, Op: op, Value: &rules.Literal{Kind: rules.LitColon, Text: text}}
}

// genExactLiteral is genLiteral without prefixes.
func genExactLiteral(c *chooser, f *rules.Field) *rules.Literal {
	lit := genLiteral(c, f)
	if i := strings.IndexByte(lit.Text, '/'); i >= 0 {
		lit.Text = lit.Text[:i]
	}
	return lit
}

// genRange returns an inclusive range of integers, addresses or MAC
// addresses, low bound first.
func genRange(c *chooser, f *rules.Field) rules.SetElem {
	switch f.Type {
	case rules.TypeIPv4, rules.TypeIPv6, rules.TypeMAC:
		a, b := genExactLiteral(c, f), genExactLiteral(c, f)
		if addrKey(b.Text) < addrKey(a.Text) {
			a, b = b, a
		}
		return rules.SetElem{Lo: a, Hi: b}
	}
	lo, hi := genUint(c, f), genUint(c, f)
	if lo > hi {
		lo, hi = hi, lo
	}
	return rules.SetElem{Lo: uintLiteral(c, lo), Hi: uintLiteral(c, hi)}
}

// addrKey orders addresses and MAC addresses as Wireshark does: byte by
// byte.
func addrKey(text string) string {
	if a, err := netip.ParseAddr(text); err == nil {
		return string(a.AsSlice())
	}
	mac, err := net.ParseMAC(text)
	if err != nil {
		panic(err)
	}
	return string(mac)
}

func clz(v uint64) int {
	n := 0
	for v&(1<<63) == 0 && n < 64 {
		v <<= 1
		n++
	}
	return n
}

// genLiteral returns a literal of f's type, often a value the frames carry.
func genLiteral(c *chooser, f *rules.Field) *rules.Literal {
	switch f.Type {
	case rules.TypeBool:
		return &rules.Literal{Kind: rules.LitNumber, Text: pick(c, "0", "1")}
	case rules.TypeIPv4:
		a := pick(c, genIPv4...)
		if c.chance(1, 3) {
			a += pick(c, "/0", "/8", "/16", "/24", "/31", "/32")
		}
		return &rules.Literal{Kind: rules.LitDotted, Text: a}
	case rules.TypeIPv6:
		a := pick(c, genIPv6...)
		if c.chance(1, 3) {
			a += pick(c, "/0", "/10", "/32", "/64", "/127")
		}
		return &rules.Literal{Kind: rules.LitColon, Text: a}
	case rules.TypeMAC:
		return &rules.Literal{Kind: rules.LitColon, Text: pick(c, genMACs...)}
	}
	return uintLiteral(c, genUint(c, f))
}

func genUint(c *chooser, f *rules.Field) uint64 {
	max := f.MaxValue()
	var v uint64
	switch c.intn(6) {
	case 0:
		v = 0
	case 1:
		v = max
	case 2:
		v = uint64(pick(c, genPorts...))
	case 3:
		v = uint64(pick(c, 4, 5, 6, 17, 20, 40, 64, 0x800, 0x86dd, 0x8100))
	default:
		v = uint64(c.u32())
	}
	return v % (max + 1)
}

func uintLiteral(c *chooser, v uint64) *rules.Literal {
	text := fmt.Sprint(v)
	if c.chance(1, 3) {
		text = fmt.Sprintf("%#x", v)
	}
	return &rules.Literal{Kind: rules.LitNumber, Text: text}
}

// dslString renders a rule file in the DSL, for failure messages and
// regression files.
func dslString(f *rules.File) string {
	var b strings.Builder
	for _, d := range f.Rules {
		fmt.Fprintf(&b, "rule %s {\n", d.Name)
		if d.Hook != nil {
			fmt.Fprintf(&b, "  hook %s\n", d.Hook.Text)
		}
		for _, p := range d.Ports {
			var ports []string
			for _, l := range p.Ports {
				ports = append(ports, l.Text)
			}
			fmt.Fprintf(&b, "  ports %s %s\n", p.Proto, strings.Join(ports, ", "))
		}
		if d.Match != nil {
			fmt.Fprintf(&b, "  match %s\n", exprString(d.Match))
		}
		var names []string
		for _, n := range d.Log {
			names = append(names, n.Name)
		}
		fmt.Fprintf(&b, "  log %s\n}\n", strings.Join(names, ", "))
	}
	return b.String()
}

func exprString(e rules.Expr) string {
	masked := func(name rules.FieldName, mask *rules.Literal) string {
		if name.Func != "" {
			return name.Func + "(" + name.Name + ")"
		}
		text := name.Name
		if name.Slice != nil {
			text += "[" + name.Slice.Text + "]"
		}
		if mask == nil {
			return text
		}
		return text + " & " + mask.Text
	}
	switch e := e.(type) {
	case *rules.LogicalExpr:
		return "(" + exprString(e.Left) + " " + e.Op.String() + " " + exprString(e.Right) + ")"
	case *rules.NotExpr:
		return "!" + exprString(e.X)
	case *rules.TestExpr:
		return masked(e.Field, e.Mask)
	case *rules.CompareExpr:
		return quantText[e.Quant] + masked(e.Field, e.Mask) + " " + e.Op.String() + " " + litText(e.Value)
	case *rules.InExpr:
		var items []string
		for _, el := range e.Elems {
			s := litText(el.Lo)
			if el.Hi != nil {
				s += ".." + el.Hi.Text
			}
			items = append(items, s)
		}
		return quantText[e.Quant] + masked(e.Field, e.Mask) + " in {" + strings.Join(items, ", ") + "}"
	}
	return fmt.Sprintf("%T", e)
}

var quantText = map[rules.Quantifier]string{rules.QuantAny: "any ", rules.QuantAll: "all "}

// setFiller returns n elements of f's type that frames rarely carry, to
// make a generated set large enough to be a map; kinds 0 and 1 add prefixes
// to addresses (an LPM trie), kind 2 ranges (which stay in code beside the lookup).
func setFiller(f *rules.Field, kind, n int) []rules.SetElem {
	var out []rules.SetElem
	lit := func(k rules.LitKind, format string, a ...any) *rules.Literal {
		return &rules.Literal{Kind: k, Text: fmt.Sprintf(format, a...)}
	}
	for i := range n {
		var e rules.SetElem
		switch f.Type {
		case rules.TypeIPv4:
			e.Lo = lit(rules.LitDotted, "198.18.%d.%d", i/256, i%256)
			if kind <= 1 && i%4 == 0 {
				e.Lo = lit(rules.LitDotted, "198.%d.0.0/%d", 19+i, 16+i%9)
			}
		case rules.TypeIPv6:
			e.Lo = lit(rules.LitColon, "2001:db8:ffff::%x", i)
			if kind <= 1 && i%4 == 0 {
				e.Lo = lit(rules.LitColon, "2001:db8:%x::/%d", 0x100+i, 40+i%20)
			}
		case rules.TypeMAC:
			e.Lo = lit(rules.LitColon, "02:00:5e:00:%02x:%02x", i/256, i%256)
		case rules.TypeUint:
			max := f.MaxValue()
			e.Lo = lit(rules.LitNumber, "%d", (uint64(i)*104729+7)%(max+1))
		default:
			return nil
		}
		out = append(out, e)
	}
	if kind == 2 && f.Type == rules.TypeUint && f.MaxValue() > 3 {
		m := f.MaxValue()
		out = append(out, rules.SetElem{Lo: lit(rules.LitNumber, "%d", m/3), Hi: lit(rules.LitNumber, "%d", m/3+m/7)})
	}
	return out
}
