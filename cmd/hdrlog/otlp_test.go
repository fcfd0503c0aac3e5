package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/internal/netns"
)

// The OpenTelemetry Collector of the tests: internal/otelcoltest (the OTLP
// receiver and the file exporter), a module of its own, built once into a
// cache directory named by the hash of its sources (`make test` builds it
// first: `make otelcol`). Building takes minutes on a small machine.

func otelcolKey(t *testing.T) (dir, key string) {
	t.Helper()
	dir = filepath.Join(repoRoot, "internal", "otelcoltest")
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return dir, hex.EncodeToString(h.Sum(nil))[:16]
}

// otelcolBinary returns the collector, building it if the cache lacks it.
func otelcolBinary(t *testing.T) string {
	t.Helper()
	dir, key := otelcolKey(t)
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(strings.TrimSpace(string(gocache))), "hdrlog-otelcol", key, "otelcoltest")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("building the OpenTelemetry Collector of the tests into %s (once; minutes)", bin)
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	build := exec.Command("go", "build", "-o", tmp, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the collector: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// collector is a running collector writing what it receives to a file.
type collector struct {
	cmd       *exec.Cmd
	out       *syncBuffer
	file      string
	grpc, web string // host:port of the OTLP receivers
}

func startCollector(t *testing.T, p *netns.Pair, bin, dir, file string, grpcPort, httpPort int) *collector {
	t.Helper()
	c := &collector{out: &syncBuffer{}, file: file,
		grpc: fmt.Sprintf("127.0.0.1:%d", grpcPort), web: fmt.Sprintf("127.0.0.1:%d", httpPort)}
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 50ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
`, c.grpc, c.web, file)
	cfg := filepath.Join(dir, "collector-"+filepath.Base(file)+".yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if p != nil {
		c.cmd, err = p.Command("B", bin, "--config=file:"+cfg)
	} else {
		c.cmd = exec.Command(bin, "--config=file:"+cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.out.String(), "Everything is ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the collector did not start:\n%s", c.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// stop ends the collector as a service manager would (SIGTERM).
func (c *collector) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the collector did not stop:\n%s", c.out)
	}
}

// otlpRecord is a log record as the file exporter writes it (OTLP JSON).
type otlpRecord struct {
	resource map[string]any
	time     string
	body     string
	attrs    map[string]any
}

// readCollectorFile reads the records the collector wrote.
func readCollectorFile(t *testing.T, name string) []otlpRecord {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type kv struct {
		Key   string
		Value map[string]any
	}
	value := func(v map[string]any) any {
		for k, x := range v {
			if k == "intValue" {
				n, _ := strconv.ParseInt(fmt.Sprint(x), 10, 64)
				return float64(n)
			}
			return x
		}
		return nil
	}
	var out []otlpRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var req struct {
			ResourceLogs []struct {
				Resource  struct{ Attributes []kv }
				ScopeLogs []struct {
					LogRecords []struct {
						TimeUnixNano string
						Body         map[string]any
						Attributes   []kv
					}
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			t.Fatalf("collector file: %v", err)
		}
		for _, rl := range req.ResourceLogs {
			res := map[string]any{}
			for _, a := range rl.Resource.Attributes {
				res[a.Key] = value(a.Value)
			}
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					r := otlpRecord{resource: res, time: lr.TimeUnixNano, body: fmt.Sprint(value(lr.Body)), attrs: map[string]any{}}
					for _, a := range lr.Attributes {
						r.attrs[a.Key] = value(a.Value)
					}
					out = append(out, r)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func freePorts() (int, int) {
	p := 20000 + rand.IntN(20000)
	return p, p + 1
}

// hdrlog -> collector -> file, over OTLP/HTTP and OTLP/gRPC: every event
// arrives exactly once, with its fields as attributes (as in the JSON
// lines of the same run), its time, and the resource attributes.
func TestOTLPExportToCollector(t *testing.T) {
	kerneltest.Require(t)
	bin := otelcolBinary(t)
	dir := t.TempDir()
	capture := capturePath(t, "tcpdump/dns_udp.pcap")
	for i, scheme := range []string{"http", "grpc"} {
		grpcPort, httpPort := freePorts()
		c := startCollector(t, nil, bin, dir, filepath.Join(dir, scheme+".json"), grpcPort, httpPort)
		endpoint := "http://" + c.web
		if scheme == "grpc" {
			endpoint = "grpc://" + c.grpc
		}
		code, out, errOut := hdrlog(t, dir, "test", "-r", capture,
			"-e", "udp || tcp", "--log", "ip.src,udp.srcport,tcp.srcport,dns.qry.name,frame.len", "--otlp-endpoint", endpoint, "--stdout")
		if code != 0 || !strings.Contains(errOut, "OTLP export to "+endpoint+": 2 events exported, 0 dropped") {
			t.Fatalf("%s: exit %d:\n%s", scheme, code, errOut)
		}
		lines, _ := jsonLines(t, out)
		c.stop(t) // flushes the file
		recs := readCollectorFile(t, c.file)
		if len(recs) != len(lines) {
			t.Fatalf("%s: the collector got %d records, hdrlog wrote %d events", scheme, len(recs), len(lines))
		}
		host, _ := os.Hostname()
		for j, r := range recs {
			l := lines[j]
			for k, v := range l {
				if k == "time" {
					continue
				}
				if v == nil {
					if _, ok := r.attrs[k]; ok {
						t.Errorf("%s: record %d: absent field %s is an attribute", scheme, j, k)
					}
					continue
				}
				if fmt.Sprint(r.attrs[k]) != fmt.Sprint(v) {
					t.Errorf("%s: record %d: attribute %s = %v, the JSON line says %v", scheme, j, k, r.attrs[k], v)
				}
			}
			ts, _ := time.Parse(time.RFC3339Nano, l["time"].(string))
			if r.time != strconv.FormatInt(ts.UnixNano(), 10) || r.body != l["rule"] {
				t.Errorf("%s: record %d: time %s body %s, want %d and %v", scheme, j, r.time, r.body, ts.UnixNano(), l["rule"])
			}
			if r.resource["host.name"] != host || r.resource["service.name"] != "hdrlog" {
				t.Errorf("%s: resource %v", scheme, r.resource)
			}
		}
		_ = i
	}
}

// The collector stopped and restarted in the middle of a stream: every
// event either arrives once or is counted dropped (queue full, export
// failed), in the stream, on stderr; the numbers add up to the packets sent.
func TestOTLPCollectorRestart(t *testing.T) {
	kerneltest.RequireRoot(t)
	kerneltest.Require(t)
	bin := otelcolBinary(t)
	p := netns.NewPair(t)
	dir := t.TempDir()
	grpcPort, httpPort := freePorts()
	c := startCollector(t, p, bin, dir, filepath.Join(dir, "first.json"), grpcPort, httpPort)
	r := startRun(t, p, "--poll-interval", "5ms", "-e", "udp.dstport >= 20000 && udp.dstport < 30000", "--log", "udp.dstport",
		"--otlp-endpoint", "grpc://"+c.grpc, "--otlp-queue-size", "500", "--otlp-batch-size", "200",
		"--otlp-batch-interval", "50ms", "--stdout")
	const phase = 1500
	floodUDP(t, p, 20000, phase)
	time.Sleep(500 * time.Millisecond)
	c.stop(t)
	floodUDP(t, p, 20000+phase, phase) // the queue fills; the rest is dropped
	time.Sleep(300 * time.Millisecond)
	c2 := startCollector(t, p, bin, dir, filepath.Join(dir, "second.json"), grpcPort, httpPort)
	floodUDP(t, p, 20000+2*phase, phase)
	time.Sleep(time.Second)
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := r.wait(t); st.ExitCode() != 0 {
		t.Fatalf("exit %v:\n%s", st, r.errOut)
	}
	c2.stop(t)
	const sent = 3 * phase
	if !regexp.MustCompile(`(?m)^e1 +tc ingress +` + strconv.Itoa(sent) + ` +0$`).MatchString(r.errOut.String()) {
		t.Fatalf("want %d events written, none lost in the ring:\n%s", sent, r.errOut)
	}

	arrived := map[float64]int{}
	for _, f := range []string{c.file, c2.file} {
		for _, rec := range readCollectorFile(t, f) {
			arrived[rec.attrs["udp.dstport"].(float64)]++
		}
	}
	for port, n := range arrived {
		if n != 1 {
			t.Errorf("the event of port %v arrived %d times", port, n)
		}
	}
	dropped := map[string]float64{}
	for _, l := range r.lines(t) {
		if lost, ok := l["lost"].(map[string]any); ok {
			dropped[fmt.Sprint(l["reason"])] += lost["e1"].(float64)
		}
	}
	total := dropped["export_queue_full"] + dropped["export_failed"]
	t.Logf("%d events sent: %d arrived, dropped %v", sent, len(arrived), dropped)
	if dropped["export_queue_full"] == 0 {
		t.Errorf("no event was dropped for a full queue while the collector was down: %v", dropped)
	}
	if float64(len(arrived))+total != sent {
		t.Errorf("%d events arrived + %v dropped (%v) != %d sent", len(arrived), total, dropped, sent)
	}
	want := fmt.Sprintf("%d events exported, %d dropped", len(arrived), int(total))
	if !strings.Contains(r.errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
	}
	if len(readCollectorFile(t, c2.file)) == 0 {
		t.Errorf("nothing reached the restarted collector")
	}
}
