package runtime_test

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/l7test"
	"github.com/hdrlog/hdrlog/internal/netns"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// HTTP transactions live: curl in namespace A asks a Go server in B for
// several paths over one kept-alive connection (200, 404, 500, a slow
// one). The programs sit on B's end of the pair: requests arrive at tc
// ingress, responses leave at tc egress, and the two hooks share the flow
// state. The logged status codes are curl's, in curl's order, each
// response carries its request's target, and http.time lies between 0 and
// the time curl measured for the request. tcpdump records the same traffic;
// its replay gives tshark's http.time, to the microsecond.

const liveTxRules = `
rule api_in {
    match http.response
    log http.response.code, http.time, http.response_for.uri
}
rule api_out {
    hook tc egress
    match http.response
    log tcp.dstport, http.response.code, http.response.phrase, http.time, http.response_for.method, http.response_for.uri, http.response_for.host, http.server
}
`

func serveStatus(t *testing.T, p *netns.Pair, addr string) {
	t.Helper()
	var ln net.Listener
	if err := p.Do("B", func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "hdrlog-test")
		code := 200
		if s, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			code, _ = strconv.Atoi(s)
		}
		if r.URL.Path == "/slow" {
			time.Sleep(40 * time.Millisecond)
		}
		w.WriteHeader(code)
		fmt.Fprintln(w, "body")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func TestLiveHTTPTransactions(t *testing.T) {
	kerneltest.RequireRoot(t)
	haveTool(t, "curl")
	haveTool(t, "tcpdump")
	c := loadDSL(t, liveTxRules, 0)
	p := netns.NewPair(t)
	as := attachIn(t, p, "B", p.PeerIf, c)
	s := startStream(t, c, runtime.StreamOptions{Interfaces: as.Interfaces()})
	serveStatus(t, p, netip.AddrPortFrom(p.AddrB, 80).String())
	capture := filepath.Join(t.TempDir(), "tx.pcap")
	rec := l7test.Record(t, p, capture)

	paths := []string{"/", "/status/404", "/slow", "/status/500", "/users/7?x=1", "/status/201"}
	args := []string{"-sS", "-m", "10", "-H", "Host: api.example", "-w", `%{http_code} %{time_total}\n`}
	for _, path := range paths {
		args = append(args, "-o", "/dev/null", fmt.Sprintf("http://%s%s", p.AddrB, path))
	}
	out, err := p.Run("A", "curl", args...)
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var codes []int
	var times []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var code int
		var total float64
		if _, err := fmt.Sscanf(line, "%d %f", &code, &total); err != nil {
			t.Fatalf("curl printed %q: %v", line, err)
		}
		codes, times = append(codes, code), append(times, total)
	}
	if len(codes) != len(paths) {
		t.Fatalf("curl printed %d results for %d URLs:\n%s", len(codes), len(paths), out)
	}
	objs := s.waitFor(t, "a response event per request", 10*time.Second, func(objs []map[string]any) bool {
		return len(byRule(objs, "api_out")) >= len(paths)
	})
	rec.Stop(t)
	st := s.stop(t)
	evs := byRule(objs, "api_out")
	if len(evs) != len(paths) {
		t.Fatalf("%d response events, want %d: %v", len(evs), len(paths), evs)
	}
	port := evs[0]["tcp.dstport"]
	for i, ev := range evs {
		assertFields(t, ev, map[string]any{"http.response.code": codes[i], "http.response_for.uri": paths[i], "http.response_for.method": "GET",
			"http.response_for.host": "api.example", "http.server": "hdrlog-test", "tcp.dstport": port})
		secs, ok := ev["http.time"].(float64)
		if !ok || secs <= 0 || secs > times[i] {
			t.Errorf("response %d (%s): http.time %v, want in (0, %v] (curl's time)", i, paths[i], ev["http.time"], times[i])
		}
		if paths[i] == "/slow" && secs < 0.040 {
			t.Errorf("the slow response took %v s, the server waited 0.040 s", secs)
		}
	}
	if n := len(byRule(objs, "api_in")); n != 0 {
		t.Errorf("no response arrives at the server's tc ingress, %d events: %v", n, byRule(objs, "api_in"))
	}
	if len(st.Tx) != 1 || st.Tx[0].Requests != uint64(len(paths)) || st.Tx[0].Paired != uint64(len(paths)) || st.Tx[0].Unpaired() != 0 {
		t.Errorf("transaction counters %+v, want %d requests, all paired", st.Tx, len(paths))
	}

	// The recording, replayed, against tshark.
	checkTxAgainstTshark(t, capture, len(paths))
}

// checkTxAgainstTshark replays a capture through the kernel (frames with no
// direction go through every hook: the tc ingress rule logs each response
// once) and compares each response's code, http.time and the request's URI
// with tshark's (reassembly off, as hdrlog decodes each segment alone).
// want is how many paired responses the capture must hold (0: any).
func checkTxAgainstTshark(t *testing.T, capture string, want int) {
	t.Helper()
	haveTool(t, "tshark")
	out, err := exec.Command("tshark", "-r", capture, "-o", "tcp.desegment_tcp_streams:FALSE", "-Y", "http.response",
		"-T", "fields", "-E", "occurrence=f", "-e", "frame.number", "-e", "http.response.code", "-e", "http.time", "-e", "http.response_for.uri").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	type resp struct{ code, time, uri string }
	ts := map[int]resp{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		ts[n] = resp{f[1], micros(f[2]), f[3]}
	}
	rs := mustRules(t, `rule r {
    match http.response
    log http.response.code, http.time, http.response_for.uri, http.response_for.host
}`)
	cout, err := compiler.Compile(rs, compiler.Options{TestRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.NewReplayer(rs, cout, runtime.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	capf, err := runtime.OpenCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer capf.Close()
	hl := map[int]resp{}
	for {
		fr, err := capf.Next()
		if err != nil {
			break
		}
		if _, err := r.ReplayFrame(fr, func(ev *runtime.Event) error {
			v := ev.Values
			got := resp{code: fmt.Sprint(v[0].U)}
			if v[1].Present {
				got.time = string(rules.FormatMicros(nil, v[1].U))
				got.uri = "http://" + string(v[3].Bytes) + string(v[2].Bytes)
			}
			hl[fr.Number] = got
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	paired := 0
	for n, tv := range ts {
		if hl[n] != tv {
			t.Errorf("%s frame %d: tshark %+v, hdrlog %+v", filepath.Base(capture), n, tv, hl[n])
		}
		if tv.time != "" {
			paired++
		}
	}
	for n, hv := range hl {
		if _, ok := ts[n]; !ok {
			t.Errorf("%s frame %d: hdrlog logs a response %+v, tshark none", filepath.Base(capture), n, hv)
		}
	}
	if want > 0 && paired != want {
		t.Errorf("%s: %d paired responses, want %d", filepath.Base(capture), paired, want)
	}
}

// micros renders tshark's seconds (0.000250000) as hdrlog does, to the
// microsecond (cut, as the kernel divides nanoseconds by 1000).
func micros(s string) string {
	if s == "" {
		return ""
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000")[:6]
	us, _ := rules.ParseSeconds(whole + "." + frac)
	return string(rules.FormatMicros(nil, us))
}

func TestTxCapturesAgainstWireshark(t *testing.T) {
	kerneltest.Require(t)
	// libpcap/AH-IPcomp-IPv6.pcap has paired HTTP too, but its responses
	// are compressed (IPComp): tshark inflates them, hdrlog decodes no
	// compressed payload.
	// print-flags.pcap's response is a 5,625-byte frame, which a tc test
	// run refuses (TestRunLimits): replayed through the XDP build of the tc
	// rules, it pairs with the request the tc program stored (LoadOptions.TxOf).
	for _, c := range []string{"tcpdump/print-flags.pcap", "tcpdump/accecn_handshake.pcap"} {
		t.Run(c, func(t *testing.T) {
			checkTxAgainstTshark(t, filepath.Join("..", "testdata", "captures", c), 1)
		})
	}
}
