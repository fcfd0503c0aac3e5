package httpcorpus

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/captures/hdrlog/adversarial-http.pcap")

// CapturePath is the stored corpus, from this package's directory.
var capturePath = filepath.Join("..", "..", "testdata", "captures", "hdrlog", "adversarial-http.pcap")

// TestCaptureUpToDate: the stored capture is what Frames and WritePcap
// make (-update rewrites it), every frame plants a secret, and the marker
// is nowhere else (the Ethernet, IP and TCP headers, the names).
func TestCaptureUpToDate(t *testing.T) {
	frames := Frames()
	var buf bytes.Buffer
	if err := WritePcap(&buf, frames); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(capturePath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := os.ReadFile(capturePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, buf.Bytes()) {
		t.Errorf("%s is not what the generator makes (go test ./internal/httpcorpus -update rewrites it)", capturePath)
	}
	names := map[string]bool{}
	for _, f := range frames {
		if names[f.Name] {
			t.Errorf("two frames named %s", f.Name)
		}
		names[f.Name] = true
		if !bytes.Contains(f.Bytes, []byte(Marker)) {
			t.Errorf("frame %s plants no secret", f.Name)
		}
		if strings.Contains(f.Name, Marker) {
			t.Errorf("frame %s: the marker in a name", f.Name)
		}
		for _, r := range f.Fire {
			if !strings.Contains(Rules, "rule "+r+" {") {
				t.Errorf("frame %s: no rule %s", f.Name, r)
			}
		}
	}
	if strings.Contains(Rules, Marker) || strings.Contains(OpenRule, Marker) {
		t.Error("the marker in the rules")
	}
}
