package runtime_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// HTTP transactions, kernel against reference: random conversations on a
// few flows (requests, responses, pipelined bundles, bundles past the
// bound, retransmissions, interim responses, responses the wrong way,
// long silences past the timeout), every frame with its time, through both
// hooks' programs and through the reference evaluator: the same events, the
// same pairs, the same times.

const txDiffRules = `
rule resp_tci {
    match http.response
    log tcp.srcport, tcp.dstport, http.response.code, http.time, http.response_for.method, http.response_for.uri, http.response_for.host
}
rule req_tce {
    hook tc egress
    match http.request
    log tcp.srcport, http.request.uri, http.time
}
rule resp_tce {
    hook tc egress
    match http.time > 0.002
    log tcp.dstport, http.response.code, http.time, http.response_for.uri
}
rule resp_xdp {
    hook xdp
    match http.response.code >= 400 || http.response_for.uri matches "^/p"
    log http.response.code, http.time, http.response_for.uri
}
`

// txConversation returns frames of random conversations on flows flows
// and their times.
func txConversation(seed uint64, n, flows int) ([][]byte, []time.Time) {
	rng := rand.New(rand.NewPCG(seed, 7))
	type flow struct {
		cli, srv   uint32 // next sequence numbers
		port       uint16
		v6         bool
		lastReq    []byte
		lastResp   []byte
		lastRespAt uint32
	}
	fs := make([]*flow, flows)
	for i := range fs {
		fs[i] = &flow{cli: rng.Uint32(), srv: rng.Uint32(), port: uint16(30000 + i), v6: i%3 == 2}
	}
	var frames [][]byte
	var times []time.Time
	t := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	emit := func(f *flow, client bool, seq uint32, payload []byte) {
		cli, srv := "10.0.0.1", "10.0.0.2"
		if f.v6 {
			cli, srv = "2001:db8::1", "2001:db8::2"
		}
		sport, dport := f.port, uint16(80)
		if !client {
			cli, srv, sport, dport = srv, cli, dport, sport
		}
		fr := testpkt.New()
		var b []byte
		if f.v6 {
			b = fr.IPv6(cli, srv).TCP(sport, dport).Seq(seq).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
		} else {
			b = fr.IPv4(cli, srv).TCP(sport, dport).Seq(seq).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
		}
		frames = append(frames, b)
		times = append(times, t)
	}
	req := func(i int) []byte {
		host := []string{"api.example", "Shop.Example", strings.Repeat("h", 70)}[rng.IntN(3)]
		target := []string{"/", "/p/x?q=1", "/users/" + fmt.Sprint(i), "/" + strings.Repeat("long", 40)}[rng.IntN(4)]
		return testpkt.HTTPRequest([]string{"GET", "POST", "DELETE"}[rng.IntN(3)], target, "HTTP/1.1", "Host: "+host)
	}
	codes := []int{200, 201, 204, 301, 404, 500, 503, 100, 101}
	for i := range n {
		f := fs[rng.IntN(flows)]
		switch d := rng.IntN(100); {
		case d < 2:
			t = t.Add(time.Duration(rules.HTTPTxTimeoutNanos) + time.Second) // past every request's timeout
		default:
			t = t.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
		}
		switch d := rng.IntN(100); {
		case d < 35:
			p := req(i)
			emit(f, true, f.cli, p)
			f.lastReq = p
			f.cli += uint32(len(p))
		case d < 40: // a pipelined bundle, sometimes past the bound
			var p []byte
			for range 2 + rng.IntN(4) {
				p = append(p, req(i)...)
			}
			emit(f, true, f.cli, p)
			f.cli += uint32(len(p))
		case d < 45 && f.lastReq != nil: // a retransmitted request
			emit(f, true, f.cli-uint32(len(f.lastReq)), f.lastReq)
		case d < 50 && f.lastResp != nil: // a retransmitted response
			emit(f, false, f.lastRespAt, f.lastResp)
		case d < 53: // a status line the requests' way
			emit(f, true, f.cli, []byte("HTTP/1.1 200 OK\r\n\r\n"))
		default:
			p := []byte(fmt.Sprintf("HTTP/1.1 %d Phrase\r\nServer: s\r\n\r\n", codes[rng.IntN(len(codes))]))
			emit(f, false, f.srv, p)
			f.lastResp, f.lastRespAt = p, f.srv
			f.srv += uint32(len(p))
		}
	}
	return frames, times
}

func TestTxKernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	rs := mustRules(t, txDiffRules)
	out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	paired := 0
	for seed := range uint64(3) {
		frames, times := txConversation(seed, 400, 3)
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
			paired += strings.Count(got[0], `"http.response_for.uri":"/`)
		}
		kern.Close()
	}
	// Not a vacuous agreement: many responses were paired.
	if paired < 100 {
		t.Errorf("only %d paired responses in the conversations", paired)
	}
}
