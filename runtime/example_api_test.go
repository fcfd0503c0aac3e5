package runtime_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/testpkt"
	"github.com/hdrlog/hdrlog/runtime"
)

// TestAPIExample replays an API host's traffic through
// examples/rules/api.rules and its HCL twin, each frame with its time and
// direction (received: xdp and tc ingress; sent: tc egress), in the kernel
// and in the reference: the responses the host serves carry their
// requests' method, host, path and http.time, a failed call it makes is
// logged, a DNS failure has its dns.time (on both sides), the TLS servers'
// choices and handshake times are there, and what is healthy (a fast 200
// the host gets, a NOERROR answer, a TLS 1.3 server) logs nothing beyond
// what the rules ask.
func TestAPIExample(t *testing.T) {
	kerneltest.Require(t)
	host, client, upstream, resolver := "10.0.0.2", "10.0.0.1", "10.0.0.9", "10.0.0.53"
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at  time.Duration
		dir runtime.Direction
		fr  []byte
	}
	tcp := func(src, dst string, sport, dport uint16, seq uint32, payload []byte) []byte {
		return testpkt.New().IPv4(src, dst).TCP(sport, dport).Seq(seq).Flags(testpkt.ACK | testpkt.PSH).Payload(payload).Bytes()
	}
	resp := func(code string) []byte {
		return []byte("HTTP/1.1 " + code + "\r\nServer: api\r\nContent-Length: 0\r\n\r\n")
	}
	query := func(id uint16, name string) []byte {
		return testpkt.DNSMessage(id, 0x0100, 1, 0, testpkt.DNSName(name), 1, 1)
	}
	answer := func(id uint16, name string, rcode uint16) []byte {
		return testpkt.DNSMessage(id, 0x8180|rcode, 1, 0, testpkt.DNSName(name), 1, 1)
	}
	steps := []step{
		// The host serves /users/7 on 8081 (200 in 120 ms), then /orders (503 in 1.5 s), kept alive.
		{0, runtime.DirIn, tcp(client, host, 40000, 8081, 1000, testpkt.HTTPRequest("GET", "/users/7", "HTTP/1.1", "Host: api.example"))},
		{120 * time.Millisecond, runtime.DirOut, tcp(host, client, 8081, 40000, 5000, resp("200 OK"))},
		{200 * time.Millisecond, runtime.DirIn, tcp(client, host, 40000, 8081, 2000, testpkt.HTTPRequest("POST", "/orders", "HTTP/1.1", "Host: api.example"))},
		{1700 * time.Millisecond, runtime.DirOut, tcp(host, client, 8081, 40000, 6000, resp("503 Service Unavailable"))},
		// The host calls an upstream API on port 80: a fast 200, then a 502.
		{2 * time.Second, runtime.DirOut, tcp(host, upstream, 41000, 80, 100, testpkt.HTTPRequest("GET", "/ok", "HTTP/1.1", "Host: up.example"))},
		{2010 * time.Millisecond, runtime.DirIn, tcp(upstream, host, 80, 41000, 900, resp("200 OK"))},
		{2100 * time.Millisecond, runtime.DirOut, tcp(host, upstream, 41000, 80, 200, testpkt.HTTPRequest("GET", "/fail", "HTTP/1.1", "Host: up.example"))},
		{2130 * time.Millisecond, runtime.DirIn, tcp(upstream, host, 80, 41000, 1000, resp("502 Bad Gateway"))},
		// The host's lookups: one answered NOERROR, one NXDOMAIN in 30 ms.
		{3 * time.Second, runtime.DirOut, testpkt.New().IPv4(host, resolver).UDP(50000, 53).Payload(query(0x1111, "up.example")).Bytes()},
		{3005 * time.Millisecond, runtime.DirIn, testpkt.New().IPv4(resolver, host).UDP(53, 50000).Payload(answer(0x1111, "up.example", 0)).Bytes()},
		{3100 * time.Millisecond, runtime.DirOut, testpkt.New().IPv4(host, resolver).UDP(50001, 53).Payload(query(0x2222, "nx.example")).Bytes()},
		{3130 * time.Millisecond, runtime.DirIn, testpkt.New().IPv4(resolver, host).UDP(53, 50001).Payload(answer(0x2222, "nx.example", 3)).Bytes()},
		// A resolver on the host answers a client SERVFAIL in 2 ms.
		{4 * time.Second, runtime.DirIn, testpkt.New().IPv4(client, host).UDP(50002, 53).Payload(query(0x3333, "broken.example")).Bytes()},
		{4002 * time.Millisecond, runtime.DirOut, testpkt.New().IPv4(host, client).UDP(53, 50002).Payload(answer(0x3333, "broken.example", 2)).Bytes()},
		// The host connects to a TLS 1.2 server (ECDHE-RSA-AES128-GCM-SHA256, http/1.1) in 10 ms.
		{5 * time.Second, runtime.DirOut, tcp(host, upstream, 42000, 443, 1, testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("up.example"), testpkt.ALPNExt("h2", "http/1.1")}}.Bytes())},
		{5010 * time.Millisecond, runtime.DirIn, tcp(upstream, host, 443, 42000, 1, testpkt.TLSHello{Type: 2, CipherSuites: []uint16{0xc02f}, Extensions: []testpkt.TLSExt{testpkt.ALPNExt("http/1.1")}}.Bytes())},
		// A client of the host's server on 8443 gets TLS 1.0 in 4 ms.
		{6 * time.Second, runtime.DirIn, tcp(client, host, 43000, 8443, 1, testpkt.TLSHello{Type: 1, Extensions: []testpkt.TLSExt{testpkt.SNIExt("old.example")}}.Bytes())},
		{6004 * time.Millisecond, runtime.DirOut, tcp(host, client, 8443, 43000, 1, testpkt.TLSHello{Type: 2, Version: 0x0301, CipherSuites: []uint16{0x002f}}.Bytes())},
	}
	want := map[string][]map[string]any{
		"api_served": {
			{"ip.dst": client, "tcp.srcport": 8081, "http.response_for.method": "GET", "http.response_for.host": "api.example", "http.response_for.uri": "/users/7", "http.response.code": 200, "http.time": 0.12},
			{"ip.dst": client, "tcp.srcport": 8081, "http.response_for.method": "POST", "http.response_for.host": "api.example", "http.response_for.uri": "/orders", "http.response.code": 503, "http.time": 1.5},
		},
		"api_called_errors": {
			{"ip.src": upstream, "tcp.srcport": 80, "http.response_for.method": "GET", "http.response_for.host": "up.example", "http.response_for.uri": "/fail", "http.response.code": 502, "http.response.phrase": "Bad Gateway", "http.time": 0.03},
		},
		"dns_failed": {
			{"ip.src": resolver, "dns.qry.name": "nx.example", "dns.qry.type": 1, "dns.flags.rcode": 3, "dns.count.answers": 0, "dns.time": 0.03},
		},
		"dns_failed_served": {
			{"ip.dst": client, "dns.qry.name": "broken.example", "dns.flags.rcode": 2, "dns.time": 0.002},
		},
		"tls_server_choice": {
			{"ip.src": upstream, "tcp.srcport": 443, "tls.handshake.version": "0x0303", "tls.handshake.extensions.supported_version": nil, "tls.handshake.ciphersuite": "0xc02f", "tls.handshake.extensions_alpn_str": "http/1.1", "tls.handshake.time": 0.01},
		},
		"tls_served_old": {
			{"ip.dst": client, "tcp.srcport": 8443, "tls.handshake.version": "0x0301", "tls.handshake.ciphersuite": "0x002f", "tls.handshake.time": 0.004},
		},
	}
	for _, path := range []string{"../examples/rules/api.rules", "../examples/hcl/api.hcl"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, rs := exampleRuleFile(t, path)
			out, err := compiler.Compile(rs, compiler.Options{TestRun: true})
			if err != nil {
				t.Fatal(err)
			}
			var got [2]map[string][]map[string]any
			for j, noKernel := range []bool{false, true} {
				r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
				if err != nil {
					t.Fatal(err)
				}
				got[j] = map[string][]map[string]any{}
				for i, s := range steps {
					at := t0.Add(s.at)
					cf := &runtime.CapturedFrame{Number: i + 1, Time: at, Data: s.fr, OrigLen: len(s.fr), Dir: s.dir}
					if _, err := r.ReplayFrame(cf, func(ev *runtime.Event) error {
						var m map[string]any
						line := runtime.AppendJSON(nil, out.Schema, ev, runtime.Meta{Time: at, Frame: i + 1})
						if err := json.Unmarshal(line, &m); err != nil {
							return err
						}
						got[j][m["rule"].(string)] = append(got[j][m["rule"].(string)], m)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				r.Close()
			}
			for j, who := range []string{"kernel", "reference"} {
				for rule, evs := range want {
					if len(got[j][rule]) != len(evs) {
						t.Errorf("%s: %d events of %s, want %d: %v", who, len(got[j][rule]), rule, len(evs), got[j][rule])
						continue
					}
					for i, w := range evs {
						assertFields(t, got[j][rule][i], w)
					}
				}
				for rule, evs := range got[j] {
					if _, ok := want[rule]; !ok {
						t.Errorf("%s: unexpected events of %s: %v", who, rule, evs)
					}
				}
			}
		})
	}
}
