package runtime_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/lang"
	"github.com/hdrlog/hdrlog/rules"
	"github.com/hdrlog/hdrlog/runtime"
)

// Helpers shared by the replay tests.

func mustRules(t testing.TB, src string) *rules.RuleSet {
	t.Helper()
	f, diags := lang.ParseDSL("test.rules", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	rs, diags := rules.Check(f)
	if diags.HasErrors() {
		t.Fatalf("check: %v", diags)
	}
	return rs
}

var replayEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// replayFrame returns the JSON lines and skip reports of one frame.
func replayFrame(r *runtime.Replayer, s *compiler.Schema, number int, frame []byte) (string, error) {
	var b []byte
	rep, err := r.Frame(number, frame, func(ev *runtime.Event) error {
		b = runtime.AppendJSON(b, s, ev, runtime.Meta{Time: replayEpoch, Frame: number})
		b = append(b, '\n')
		return nil
	})
	for _, sk := range rep.Skips {
		b = append(b, sk.String()...)
		b = append(b, '\n')
	}
	b = fmt.Appendf(b, "via xdp: %d\n", rep.ViaXDP)
	return string(b), err
}

// compact renders replay output (JSON lines, skip lines) for comparisons in
// tests: "rule field=value ..." per event, the header members left out.
func compact(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			if line != "" && line != "via xdp: 0" {
				b.WriteString(line + "\n")
			}
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		dec.Token() // {
		var parts []string
		for dec.More() {
			k, _ := dec.Token()
			var v json.RawMessage
			dec.Decode(&v)
			switch k {
			case "time", "iface", "frame":
			case "rule":
				var s string
				json.Unmarshal(v, &s)
				parts = append([]string{s}, parts...)
			case "hook":
				var s string
				json.Unmarshal(v, &s)
				if s != rules.HookTCIngress.String() {
					parts = append(parts, "@"+strings.ReplaceAll(s, " ", "-"))
				}
			default:
				parts = append(parts, fmt.Sprintf("%s=%s", k, v))
			}
		}
		b.WriteString(strings.Join(parts, " ") + "\n")
	}
	return b.String()
}

// requireTool returns the path of a program the test needs: missing, the
// test is skipped, or fails under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if kerneltest.InCI() {
		t.Fatalf("%s is not installed (CI must install it: see docs/testing.md)", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}
