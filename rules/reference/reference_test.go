package reference

import (
	"testing"

	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
)

// The reference's cases against the kernel are in runtime (replay_edge_test.go,
// the differential tests); these check the package on its own.

// Every field of the catalogue has a decoding: the headers up to the
// transport layer in fields.go, the L7 ones in l7.go.
func TestEveryCatalogueFieldIsDecoded(t *testing.T) {
	for _, f := range rules.Fields() {
		if !Decodes(f) {
			t.Errorf("field %s has no decoding in fields.go or l7.go", f.Name)
		}
	}
	for name := range fields {
		if _, ok := rules.LookupField(name); !ok {
			t.Errorf("fields.go decodes %s, which the catalogue does not have", name)
		}
	}
}

// Values must fit the catalogue's widths: a field wider than its type would
// print differently from the kernel's.
func TestValuesFitTheirFields(t *testing.T) {
	frames := [][]byte{
		testpkt.New().VLAN(testpkt.TPID8021Q, 7, true, 4095).IPv4("255.255.255.255", "10.0.0.1").TOS(0xff).ID(0xffff).
			ReservedFlag().DF().MF().FragOffset(0).TTL(255).TCP(65535, 65535).Seq(0xffffffff).Ack(0xffffffff).
			Flags(0xfff).Window(0xffff).Urgent(0xffff).Bytes(),
		testpkt.New().IPv6("ff02::1", "::1").TrafficClass(0xff).FlowLabel(0xfffff).HopLimit(255).UDP(65535, 1).Bytes(),
	}
	for _, fr := range frames {
		p := Decode(fr)
		for _, f := range rules.Fields() {
			if f.Type != rules.TypeUint && f.Type != rules.TypeBool {
				continue
			}
			acc, ok := fields[f.Name]
			if !ok {
				continue
			}
			for layer := 1; layer <= f.MaxLayers(); layer++ {
				if v := acc(p, layer); v.Present && v.U > f.MaxValue() {
					t.Errorf("%s#%d = %d, more than its maximum %d", f.Name, layer, v.U, f.MaxValue())
				}
			}
		}
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		name  string
		frame []byte
		check func(*Packet) bool
	}{
		{"empty", nil, func(p *Packet) bool { return p.Eth == nil && p.Len == 0 }},
		{"QinQ", testpkt.New().VLAN(testpkt.TPID8021AD, 0, false, 1).VLAN(testpkt.TPID8021Q, 0, false, 2).IPv4("10.0.0.1", "10.0.0.2").UDP(1, 2).Bytes(),
			func(p *Packet) bool {
				return len(p.VLAN) == 2 && p.VLAN[1].VLANIdentifier == 2 && p.UDP != nil && p.HeadersEnd == 14+8+20+8
			}},
		{"IPv6 fragment then ICMPv6", testpkt.New().IPv6("fe80::1", "fe80::2").Fragment(0, true, 1).ICMPv6(128, 0).Bytes(),
			func(p *Packet) bool { return p.ICMPv6 != nil && p.ExtHeaders == 1 }},
		{"TSO", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TotalLength(0).TCP(1, 2).Bytes(),
			func(p *Packet) bool { return p.TCP != nil && !p.HasTCPLen && p.IPv4.Length == 0 }},
		{"tcp.len", testpkt.New().IPv4("10.0.0.1", "10.0.0.2").TCP(1, 2).Payload(make([]byte, 7)).PadTo(80).Bytes(),
			func(p *Packet) bool { return p.HasTCPLen && p.TCPLen == 7 }},
	} {
		if p := Decode(c.frame); !c.check(p) {
			t.Errorf("%s: unexpected decoding %+v", c.name, p)
		}
	}
}
