package runtime_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// DNS transactions, kernel against reference: random conversations on a
// few flows (UDP and TCP) with a few ids and names, so that ids are reused
// for other questions, queries are retransmitted, responses come twice,
// late, the wrong way or for nothing, every frame with its time, through
// three hooks' programs sharing the flow state and through the reference
// evaluator: the same events and the same dns.time; ClientHellos and
// ServerHellos among them, the same tls.handshake.time.

const dnsTxDiffRules = `
rule dns_tci {
    match dns.flags.response == 1
    log udp.dstport, tcp.dstport, dns.id, dns.qry.name, dns.time
}
rule dns_tce {
    hook tc egress
    match dns.time > 0.5 || dns.flags.response == 0
    log dns.id, dns.time
}
rule dns_xdp {
    hook xdp
    match dns.time
    log dns.id, dns.time, dns.a
}
rule tls_tci {
    match tls.handshake.type == 2
    log tcp.dstport, tls.handshake.time
}
rule tls_xdp {
    hook xdp
    match tls.handshake.time
    log tls.handshake.time, tls.handshake.ciphersuite
}
`

func dnsTxConversation(seed uint64, n int) ([][]byte, []time.Time) {
	rng := rand.New(rand.NewPCG(seed, 11))
	names := []string{"a.example", "b.example", "c.example"}
	t := time.Unix(1_700_000_000, 0)
	var frames [][]byte
	var times []time.Time
	for range n {
		switch rng.IntN(10) {
		case 0:
			t = t.Add(time.Duration(rng.IntN(15)) * time.Second)
		default:
			t = t.Add(time.Duration(rng.IntN(300_000)) * time.Microsecond)
		}
		port := uint16(30000 + rng.IntN(2))
		tcp := rng.IntN(4) == 0
		id := uint16(rng.IntN(3))
		resp := rng.IntN(2) == 0
		flags := uint16(0x0100)
		if resp {
			flags = 0x8180
		}
		msg := testpkt.DNSMessage(id, flags, 1, 0, testpkt.DNSName(names[rng.IntN(len(names))]), 1, 1)
		if resp {
			msg = append(msg, testpkt.DNSRR([]byte{0xc0, 12}, 1, 1, 60, []byte{192, 0, 2, byte(rng.IntN(256))})...)
			msg[7] = 1
		}
		src, dst, sport, dport := "10.0.0.1", "10.0.0.53", port, uint16(53)
		if resp != (rng.IntN(8) == 0) { // now and then a message the wrong way
			src, dst, sport, dport = dst, src, dport, sport
		}
		var fr []byte
		if rng.IntN(3) == 0 { // a hello instead: ClientHello from the client, ServerHello from the server
			typ := uint8(1)
			if src == "10.0.0.53" {
				typ = 2
			}
			if rng.IntN(8) == 0 {
				typ = 3 - typ
			}
			hello := testpkt.TLSHello{Type: typ, CipherSuites: []uint16{0x1301}}.Bytes()
			if src == "10.0.0.53" {
				sport = 443
			} else {
				dport = 443
			}
			fr = testpkt.New().IPv4(src, dst).TCP(sport, dport).Seq(rng.Uint32()).Flags(testpkt.ACK | testpkt.PSH).Payload(hello).Bytes()
		} else if tcp {
			fr = testpkt.New().IPv4(src, dst).TCP(sport, dport).Seq(rng.Uint32()).Flags(testpkt.ACK | testpkt.PSH).Payload(testpkt.DNSOverTCP(msg)).Bytes()
		} else {
			fr = testpkt.New().IPv4(src, dst).UDP(sport, dport).Payload(msg).Bytes()
		}
		frames = append(frames, fr)
		times = append(times, t)
	}
	return frames, times
}

func TestDNSTxKernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, dnsTxDiffRules)
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	paired, hellos := 0, 0
	for seed := range uint64(3) {
		frames, times := dnsTxConversation(seed, 400)
		kern, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, fr := range frames {
			cf := &runtime.CapturedFrame{Number: i + 1, Time: times[i], Data: fr, OrigLen: len(fr)}
			var got [2]string
			for j, r := range []*runtime.Replayer{kern, ref} {
				var b []byte
				if _, err := r.ReplayFrame(cf, func(ev *runtime.Event) error {
					b = runtime.AppendJSON(b, out.Schema, ev, runtime.Meta{Time: times[i], Frame: i + 1})
					b = append(b, '\n')
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				got[j] = string(b)
			}
			if got[0] != got[1] {
				t.Fatalf("seed %d frame %d: kernel and reference disagree\nkernel:\n%sreference:\n%s", seed, i+1, got[0], got[1])
			}
			paired += strings.Count(got[0], `"rule":"dns_xdp"`)
			hellos += strings.Count(got[0], `"rule":"tls_xdp"`)
		}
		kern.Close()
	}
	if paired < 30 || hellos < 20 {
		t.Errorf("only %d paired responses and %d paired ServerHellos in the conversations", paired, hellos)
	}
	t.Logf("%d paired DNS responses and %d paired ServerHellos at XDP", paired, hellos)
}
