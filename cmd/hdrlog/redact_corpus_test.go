package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hdrlog/hdrlog/internal/httpcorpus"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
)

// pcapngComments returns the packet comments (opt_comment) of the enhanced
// packet blocks of a little-endian pcapng file, and how many blocks it has.
func pcapngComments(t *testing.T, b []byte) (comments []string, packets int) {
	t.Helper()
	for len(b) >= 12 {
		typ, n := binary.LittleEndian.Uint32(b), int(binary.LittleEndian.Uint32(b[4:]))
		if n < 12 || n > len(b) {
			t.Fatalf("pcapng: block of %d bytes with %d left", n, len(b))
		}
		if typ == 6 { // enhanced packet block
			packets++
			capLen := int(binary.LittleEndian.Uint32(b[20:]))
			opts := b[28+(capLen+3)&^3 : n-4]
			for len(opts) >= 4 {
				code, l := binary.LittleEndian.Uint16(opts), int(binary.LittleEndian.Uint16(opts[2:]))
				if code == 0 || 4+l > len(opts) {
					break
				}
				if code == 1 {
					comments = append(comments, string(opts[4:4+l]))
				}
				opts = opts[4+(l+3)&^3:]
			}
		}
		b = b[n:]
	}
	return comments, packets
}

// TestTestAdversarialHTTPCorpus: hdrlog test replays the adversarial HTTP
// corpus (internal/httpcorpus) through the kernel and the reference
// evaluator, writing JSON to standard output, OTLP to a collector and the
// matching frames with -w, then text: no output holds a planted secret
// (the OTLP requests as sent, the -w file's packet comments), while the
// frames -w writes do (they are the packets, as they came).
func TestTestAdversarialHTTPCorpus(t *testing.T) {
	kerneltest.Require(t)
	dir := t.TempDir()
	rulesFile := writeFile(t, dir, "corpus.rules", httpcorpus.Rules)
	capture, err := filepath.Abs(filepath.Join(repoRoot, "testdata", "captures", "hdrlog", "adversarial-http.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var otlp [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		otlp = append(otlp, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	marker := httpcorpus.Marker
	for _, mode := range []string{"kernel", "no-kernel"} {
		t.Run(mode, func(t *testing.T) {
			extra := []string{}
			if mode == "no-kernel" {
				extra = []string{"--no-kernel"}
			}
			mu.Lock()
			otlp = nil
			mu.Unlock()
			pcap := filepath.Join(dir, mode+".pcapng")
			args := append([]string{"test", "-r", capture, "--otlp-endpoint", srv.URL, "--otlp-batch-interval", "10ms", "--stdout", "-w", pcap}, extra...)
			code, stdout, stderr := hdrlog(t, dir, append(args, rulesFile)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			events := strings.Count(stdout, `"rule":`)
			if events < len(httpcorpus.Frames()) {
				t.Fatalf("%d events for %d frames:\n%s\n%s", events, len(httpcorpus.Frames()), stdout, stderr)
			}
			for _, out := range []struct{ name, s string }{{"json", stdout}, {"stderr", stderr}} {
				if i := strings.Index(out.s, marker); i >= 0 {
					t.Errorf("%s holds a planted secret: %q", out.name, out.s[max(i-80, 0):min(i+40, len(out.s))])
				}
			}
			mu.Lock()
			all := bytes.Join(otlp, nil)
			mu.Unlock()
			if len(all) == 0 || !bytes.Contains(all, []byte("[redacted]")) {
				t.Errorf("the collector got %d bytes, none of them [redacted]", len(all))
			}
			if i := bytes.Index(all, []byte(marker)); i >= 0 {
				t.Errorf("an OTLP request holds a planted secret: %q", all[max(i-80, 0):min(i+40, len(all))])
			}
			b, err := os.ReadFile(pcap)
			if err != nil {
				t.Fatal(err)
			}
			comments, packets := pcapngComments(t, b)
			if packets != len(httpcorpus.Frames()) || len(comments) != packets {
				t.Errorf("-w wrote %d packets, %d comments; want every frame of the corpus, each with its rules", packets, len(comments))
			}
			for _, c := range comments {
				if strings.Contains(c, marker) {
					t.Errorf("a packet comment holds a planted secret: %q", c)
				}
			}
			if !bytes.Contains(b, []byte(marker)) {
				t.Error("-w wrote the frames without their payload")
			}

			code, text, stderr := hdrlog(t, dir, append([]string{"test", "-r", capture, "--format", "text"}, append(extra, rulesFile)...)...)
			if code != 0 || !strings.Contains(text, "[redacted]") {
				t.Fatalf("--format text: exit %d, no [redacted] in:\n%s\n%s", code, text, stderr)
			}
			if i := strings.Index(text, marker); i >= 0 {
				t.Errorf("the text output holds a planted secret: %q", text[max(i-80, 0):min(i+40, len(text))])
			}
		})
	}
}
