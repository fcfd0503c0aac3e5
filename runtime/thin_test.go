package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/compiler"
	"github.com/hdrlog/hdrlog/internal/kerneltest"
	"github.com/hdrlog/hdrlog/runtime"
)

// Sampling and limits in a replay: the kernel (with the replay clock: the
// capture time and the frame number) and the reference evaluator log the
// same frames, and every match is accounted for: logged + sampled out +
// over the limit.

const thinRules = `
rule s_rand {
    match udp
    log ip.src, udp.dstport
    sample 1/7
}
rule s_flow {
    match udp
    log ip.src, ipv6.src, udp.dstport
    sample 1/3 by flow
}
rule lim {
    match udp
    log udp.dstport
    limit 20/s burst 5
}
rule both {
    match udp.dstport == 53
    log ip.src
    sample 1/2
    limit 10/s
}
`

func replayThin(t *testing.T, path string, noKernel bool) (string, *runtime.ReplaySummary) {
	t.Helper()
	rs := mustRules(t, thinRules)
	out, err := compiler.Compile(rs, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.NewReplayer(rs, out, runtime.ReplayOptions{NoKernel: noKernel})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := runtime.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	s, err := runtime.Replay(r, c, &buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), s
}

func TestThinReplayKernelVsReference(t *testing.T) {
	kerneltest.Require(t)
	path, want, frames := countCapture(t)
	kernel, ks := replayThin(t, path, false)
	ref, rs := replayThin(t, path, true)
	t.Logf("kernel %+v", *ks)
	if kernel != ref {
		t.Fatalf("kernel and reference differ\nkernel:\n%s\nreference:\n%s", kernel, ref)
	}
	if fmt.Sprint(ks.Acct) != fmt.Sprint(rs.Acct) || fmt.Sprint(ks.Events) != fmt.Sprint(rs.Events) {
		t.Errorf("accounting differs: kernel %v %v, reference %v %v", ks.Events, ks.Acct, rs.Events, rs.Acct)
	}
	matched := map[string]int{"s_rand": frames, "s_flow": frames, "lim": frames, "both": frames / 3}
	for i, name := range ks.RuleNames {
		a := ks.Acct[i]
		sum := uint64(ks.Events[i]) + ks.Lost[i] + a[compiler.AcctSampledOut] + a[compiler.AcctOverLimit]
		if sum != uint64(matched[name]) {
			t.Errorf("%s: logged %d + lost %d + sampled out %d + over limit %d = %d, matched %d",
				name, ks.Events[i], ks.Lost[i], a[compiler.AcctSampledOut], a[compiler.AcctOverLimit], sum, matched[name])
		}
	}
	// Events per rule and flow; each event says its sampling rate.
	perFlow := map[countKey]int{}
	for _, l := range strings.Split(strings.TrimSpace(kernel), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		rate, _ := m["sample"].(float64)
		switch m["rule"] {
		case "s_rand", "s_flow", "both":
			if want := map[any]float64{"s_rand": 7, "s_flow": 3, "both": 2}[m["rule"]]; rate != want {
				t.Fatalf("event of %s says sample %v, want %v: %s", m["rule"], m["sample"], want, l)
			}
		default:
			if _, has := m["sample"]; has {
				t.Fatalf("an event of a rule that does not sample says sample: %s", l)
			}
		}
		if m["rule"] == "s_flow" {
			src, _ := m["ip.src"].(string)
			perFlow[countKey{src: src, port: int(m["udp.dstport"].(float64))}]++
		}
	}
	// A flow (source, port: one source port) is logged whole or not at all.
	inCapture := map[countKey]int{}
	for k, v := range want {
		if k.src != "" {
			inCapture[countKey{src: k.src, port: k.port}] += int(v[0])
		}
	}
	kept := 0
	for k, n := range inCapture {
		if got := perFlow[k]; got != 0 && got != n {
			t.Errorf("flow %v: %d of its %d frames logged", k, got, n)
		} else if got == n {
			kept++
		}
	}
	if kept == 0 || kept == len(inCapture) {
		t.Errorf("sample 1/3 by flow kept %d of %d flows", kept, len(inCapture))
	}
	// 5 s of capture at 20/s with a burst of 5: at most 5 + 20·5 events.
	if n := ks.Events[2]; n > 5+20*5 || n < 20*5-5 {
		t.Errorf("lim logged %d of %d matches over 5 s at 20/s burst 5", n, frames)
	}
}
