package compiler_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

func ref(name string) rules.FieldRef {
	f, ok := rules.LookupField(name)
	if !ok {
		panic(name)
	}
	return rules.FieldRef{Field: f, Layer: 1}
}

func TestScratch(t *testing.T) {
	var logs []rules.LogField
	for _, n := range []string{"frame.len", "eth.src", "eth.type", "vlan.id", "ip.src", "ip.dst", "ip.hdr_len", "ip.flags.df", "ip.id", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.flags.syn", "tcp.seq_raw", "tcp.len", "ipv6.src", "udp.dstport"} {
		logs = append(logs, rules.LogField{Name: n, Ref: ref(n)})
	}
	rs := &rules.RuleSet{Rules: []*rules.Rule{
		{Index: 0, Name: "all", Hook: rules.HookTCIngress, Log: logs},
		{Index: 1, Name: "ssh", Hook: rules.HookTCIngress, Match: &rules.PredAnd{Terms: []rules.Pred{
			&rules.PredCompare{Ref: ref("tcp.dstport"), Op: rules.CmpEq, Value: rules.Value{Type: rules.TypeUint, U: 22}},
			&rules.PredCompare{Ref: ref("ip.src"), Op: rules.CmpEq, Value: rules.AddrValue(rules.TypeIPv4, netip.MustParseAddr("10.0.0.0"), 8)},
			&rules.PredCompare{Ref: ref("tcp.flags.syn"), Op: rules.CmpEq, Value: rules.Value{Type: rules.TypeBool, U: 1}},
		}}, Log: logs[:3]},
	}}
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%v\n", out.Programs[0].Insns)
	c, err := runtime.Load(out, runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := testpkt.New().VLAN(0x8100, 3, false, 42).IPv4("10.1.2.3", "192.168.1.1").DF().ID(0x1234).TCP(5555, 22).Seq(77).Flags(testpkt.SYN).Payload([]byte("hello")).Bytes()
	if err := c.Run(rules.HookTCIngress, frame); err != nil {
		t.Fatal(err)
	}
	c.Drain(func(ev *runtime.Event) error {
		fmt.Println(string(runtime.AppendJSON(nil, out.Schema, ev, runtime.Meta{Iface: "x"})))
		return nil
	})
}
